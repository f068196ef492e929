"""A moments post's pictures: each made safe exactly as a broadcast's (campaigns.images: verified, EXIF and GPS
dropped, the long edge at most 1600 px, a clear refusal for anything else), plus the square thumbnail the calendar,
the preview's 3×3 grid and the send-today card show."""

from dataclasses import dataclass
from io import BytesIO

from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile
from django.utils.translation import gettext as _
from PIL import Image, ImageOps

from campaigns.images import broadcast_image_from_upload

THUMBNAIL_SIZE = 360  # a 3×3 cell on a phone's screen, twice over for sharp displays


@dataclass(frozen=True)
class PreparedImage:
    image: ContentFile
    thumbnail: ContentFile


def moment_image_from_upload(upload) -> PreparedImage:
    """The upload as a picture to post and its thumbnail; ValidationError (naming the file) when it is refused."""
    try:
        image = broadcast_image_from_upload(upload)
    except ValidationError as error:
        raise ValidationError(
            _("“%(name)s”: %(error)s"), params={"name": getattr(upload, "name", ""), "error": " ".join(error.messages)}
        ) from None
    return PreparedImage(image=image, thumbnail=_thumbnail(image))


def _thumbnail(content: ContentFile) -> ContentFile:
    """A square JPEG from the prepared picture (an animation's first frame), centred like WeChat's grid."""
    with Image.open(BytesIO(content.read())) as picture:
        picture.seek(0)
        square = ImageOps.fit(picture.convert("RGB"), (THUMBNAIL_SIZE, THUMBNAIL_SIZE), Image.Resampling.LANCZOS)
    content.seek(0)
    out = BytesIO()
    square.save(out, format="JPEG", quality=80, optimize=True)
    return ContentFile(out.getvalue(), name="thumb.jpg")
