"""Uploaded images made safe to keep: verified, EXIF stripped, resized. Pillow does the work."""

from io import BytesIO

from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile
from django.utils.translation import gettext as _
from PIL import Image, ImageOps, UnidentifiedImageError

MAX_UPLOAD_BYTES = 10 * 1024 * 1024
# The brands of an ISO media file ("....ftypheic") that iPhones and many Android phones write photos as. Pillow
# cannot read them without a plugin, so they get their own explanation instead of "not an image".
HEIF_BRANDS = {b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"mif1", b"msf1", b"avif"}
MAX_PIXELS = 40_000_000
AVATAR_SIZE = 256


def avatar_from_upload(upload) -> ContentFile:
    """A square JPEG thumbnail of an uploaded avatar, with no metadata; ValidationError for anything else."""
    check_upload_size(upload)
    image = open_verified(upload)
    image = ImageOps.exif_transpose(image)  # keep the orientation the phone recorded, then drop EXIF
    image = ImageOps.fit(image.convert("RGB"), (AVATAR_SIZE, AVATAR_SIZE), Image.Resampling.LANCZOS)
    out = BytesIO()
    image.save(out, format="JPEG", quality=85, optimize=True)  # no exif= argument: nothing carried over
    return ContentFile(out.getvalue(), name="avatar.jpg")


def check_upload_size(upload) -> None:
    if upload.size > MAX_UPLOAD_BYTES:
        raise ValidationError(
            _("The image is %(size).1f MB; the limit is 10 MB."), params={"size": upload.size / 1024 / 1024}
        )


def open_verified(upload) -> Image.Image:
    """The upload opened by Pillow after a verify() pass; ValidationError saying why when it cannot be trusted."""
    not_an_image = ValidationError(_("The file is not an image Siyu can read (JPEG, PNG, GIF or WebP)."))
    try:
        upload.seek(0)
        with Image.open(upload) as probe:
            width, height = probe.size
            if width * height > MAX_PIXELS:
                raise ValidationError(
                    _("The image is %(width)d×%(height)d pixels; the limit is 40 megapixels."),
                    params={"width": width, "height": height},
                )
            probe.verify()
        upload.seek(0)
        image = Image.open(upload)
        image.load()
        return image
    except ValidationError:
        raise
    except Image.DecompressionBombError:  # a few kilobytes that would unpack to gigabytes
        raise ValidationError(
            _("The image has far too many pixels to open safely; the limit is 40 megapixels.")
        ) from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError):
        if _is_heif(upload):
            raise ValidationError(
                _("This is a HEIC photo, the format iPhones save in, which Siyu cannot read: export it as JPEG "
                  "(on the iPhone, share it to Files or email it as “Most Compatible”) and upload it again.")
            ) from None
        raise not_an_image from None


def _is_heif(upload) -> bool:
    upload.seek(0)
    head = upload.read(12)
    upload.seek(0)
    return head[4:8] == b"ftyp" and head[8:12] in HEIF_BRANDS
