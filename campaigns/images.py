"""A broadcast's images: an upload verified, its EXIF (GPS, phone model) dropped, its long edge at most 1600 px.

The checks are crm.images' own (size limit, Pillow's verify, the pixel limit); this module adds what a picture
sent to customers needs: the formats WeChat shows (JPEG, PNG, WebP, GIF, animations kept), the orientation the
phone recorded applied before the EXIF goes, and a clear word for a decompression bomb.
"""

from io import BytesIO

from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile
from django.utils.translation import gettext as _
from PIL import Image, ImageOps, ImageSequence

from crm.images import MAX_PIXELS, check_upload_size, open_verified

MAX_EDGE = 1600
# Pillow's format name → the stored file's extension; the image is saved in the format it came in.
ACCEPTED = {"JPEG": "jpg", "PNG": "png", "WEBP": "webp", "GIF": "gif"}
# The modes each format saves as they are; any other is converted to RGBA first.
KEEP_MODES = {"PNG": ("1", "L", "LA", "P", "RGB", "RGBA"), "WEBP": ("RGB", "RGBA"), "GIF": ("P", "L", "RGB", "RGBA")}


def broadcast_image_from_upload(upload) -> ContentFile:
    """The upload as an image safe to store and send; ValidationError (a sentence a seller understands) if it is
    over 10 MB, not a JPEG, PNG, WebP or GIF, or too many pixels to open safely."""
    check_upload_size(upload)
    image = open_verified(upload)
    # Phones often write MPO: a JPEG with more pictures (depth, a preview) after the first, which is the photo.
    kind = "JPEG" if image.format == "MPO" else image.format
    if kind not in ACCEPTED:
        raise ValidationError(_("The file is not an image Siyu can read (JPEG, PNG, GIF or WebP)."))
    if kind in ("GIF", "WEBP") and getattr(image, "n_frames", 1) > 1:
        return _animation(image, kind)
    icc = image.info.get("icc_profile")  # colours, not personal data: kept
    image = ImageOps.exif_transpose(image)
    image = _resized(image)
    out = BytesIO()
    if kind == "JPEG":
        image = image if image.mode in ("RGB", "L") else image.convert("RGB")
        image.info = {}
        image.save(out, format="JPEG", quality=85, optimize=True, **({"icc_profile": icc} if icc else {}))
    else:
        if image.mode not in KEEP_MODES[kind]:
            image = image.convert("RGBA")
        # A palette or single-colour transparency; an alpha channel carries its own.
        transparency = image.info.get("transparency") if image.mode in ("1", "L", "P", "RGB") else None
        # Nothing from the original's metadata is carried over (text chunks, comments, XMP, EXIF): only what
        # the pixels need.
        image.info = {"transparency": transparency} if transparency is not None else {}
        options = {"quality": 85} if kind == "WEBP" else {"optimize": True}
        if icc and kind in ("PNG", "WEBP"):
            options["icc_profile"] = icc
        image.save(out, format=kind, **options)
    return ContentFile(out.getvalue(), name=f"image.{ACCEPTED[kind]}")


def _resized(image: Image.Image) -> Image.Image:
    if max(image.size) <= MAX_EDGE:
        return image
    if image.mode in ("1", "P"):  # palette images resize badly (nearest neighbour only)
        image = image.convert("RGBA")
    image = image.copy()
    image.thumbnail((MAX_EDGE, MAX_EDGE), Image.Resampling.LANCZOS)
    return image


def _animation(image: Image.Image, kind: str) -> ContentFile:
    """An animated GIF or WebP, every frame resized; the frames count towards the pixel limit together."""
    width, height = image.size
    if width * height * image.n_frames > MAX_PIXELS:
        raise ValidationError(
            _("The animation has %(frames)d frames of %(width)d×%(height)d pixels; together they may be at most "
              "40 megapixels."),
            params={"frames": image.n_frames, "width": width, "height": height},
        )
    frames, durations = [], []
    for frame in ImageSequence.Iterator(image):
        durations.append(frame.info.get("duration", 100))
        still = frame.convert("RGBA")
        if max(still.size) > MAX_EDGE:
            still.thumbnail((MAX_EDGE, MAX_EDGE), Image.Resampling.LANCZOS)
        still.info = {}
        frames.append(still)
    out = BytesIO()
    options = {"quality": 85} if kind == "WEBP" else {"disposal": 2}
    frames[0].save(
        out, format=kind, save_all=True, append_images=frames[1:], duration=durations,
        loop=image.info.get("loop", 0), **options,
    )
    return ContentFile(out.getvalue(), name=f"image.{ACCEPTED[kind]}")
