"""A broadcast's images: verified, EXIF stripped, scaled down, at most nine; anything else refused with a reason."""

import struct
import zlib
from io import BytesIO

import pytest
from django.core.exceptions import ValidationError
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from PIL import Image, PngImagePlugin

from campaigns import drafts
from campaigns.images import broadcast_image_from_upload
from campaigns.models import Broadcast, BroadcastImage

pytestmark = pytest.mark.django_db

ENGLISH = {"HTTP_ACCEPT_LANGUAGE": "en"}


def image_upload(size=(800, 600), fmt="JPEG", mode="RGB", name=None, **save_options):
    buffer = BytesIO()
    Image.new(mode, size, "red" if mode != "1" else 1).save(buffer, format=fmt, **save_options)
    name = name or f"photo.{fmt.lower()}"
    return SimpleUploadedFile(name, buffer.getvalue(), content_type=f"image/{fmt.lower()}")


def gps_exif(orientation=None):
    exif = Image.Exif()
    exif[0x010F] = "PhoneMaker"  # Make
    exif[0x8825] = {1: "N", 2: (39.0, 54.0, 0.0), 3: "E", 4: (116.0, 23.0, 0.0)}  # GPSInfo: Beijing
    if orientation:
        exif[0x0112] = orientation
    return exif


def png_header_only(width, height) -> bytes:
    """A PNG that claims width × height pixels: a few dozen bytes that would unpack to gigabytes."""
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\x00" * 64))
            + chunk(b"IEND", b""))


def stored(content) -> Image.Image:
    return Image.open(BytesIO(content.read() if hasattr(content, "read") else content))


def compose(client, images, **fields):
    data = {"name": "上新", "text": "新品到了", "when": "now", "images": images, **fields}
    return client.post(reverse("campaigns:broadcast_create"), data, **ENGLISH)


# Made safe -------------------------------------------------------------------------------------------------------------


def test_a_photos_gps_and_camera_data_are_stripped():
    data = broadcast_image_from_upload(image_upload(exif=gps_exif())).read()
    image = stored(data)
    assert image.format == "JPEG" and not image.getexif()
    assert b"PhoneMaker" not in data and b"Exif" not in data


def test_the_orientation_the_phone_recorded_is_applied_before_the_exif_goes():
    image = stored(broadcast_image_from_upload(image_upload(size=(200, 100), exif=gps_exif(orientation=6))))
    assert image.size == (100, 200) and not image.getexif()


def test_a_large_photo_is_scaled_down_to_1600_pixels_on_its_long_edge():
    image = stored(broadcast_image_from_upload(image_upload(size=(3200, 2400))))
    assert image.size == (1600, 1200)


def test_a_small_image_keeps_its_size():
    assert stored(broadcast_image_from_upload(image_upload(size=(640, 480)))).size == (640, 480)


def test_png_webp_and_gif_are_accepted_in_their_own_format():
    for fmt, mode in (("PNG", "RGBA"), ("WEBP", "RGB"), ("GIF", "P")):
        result = broadcast_image_from_upload(image_upload(fmt=fmt, mode=mode, size=(2000, 500)))
        image = stored(result)
        assert (image.format, image.size) == (fmt, (1600, 400)), fmt
        assert result.name.endswith({"PNG": ".png", "WEBP": ".webp", "GIF": ".gif"}[fmt])


def test_a_pngs_text_metadata_is_dropped():
    info = PngImagePlugin.PngInfo()
    info.add_text("Comment", "拍摄地点：北京市朝阳区")
    image = stored(broadcast_image_from_upload(image_upload(fmt="PNG", pnginfo=info)))
    assert "Comment" not in image.info


def test_an_animated_gif_keeps_its_frames():
    buffer = BytesIO()
    frames = [Image.new("RGB", (2000, 1000), color) for color in ("red", "green", "blue")]
    frames[0].save(buffer, format="GIF", save_all=True, append_images=frames[1:], duration=200, loop=0)
    image = stored(broadcast_image_from_upload(SimpleUploadedFile("dance.gif", buffer.getvalue(), "image/gif")))
    assert (image.format, image.size, image.n_frames) == ("GIF", (1600, 800), 3)


# Refused ---------------------------------------------------------------------------------------------------------------


def test_an_image_over_ten_megabytes_is_refused():
    big = SimpleUploadedFile("big.jpg", b"\xff\xd8" + b"0" * (20 * 1024 * 1024), "image/jpeg")
    with pytest.raises(ValidationError, match="20.0 MB; the limit is 10 MB"):
        broadcast_image_from_upload(big)


def test_a_text_file_named_jpg_is_refused():
    with pytest.raises(ValidationError, match="not an image"):
        broadcast_image_from_upload(SimpleUploadedFile("photo.jpg", "这不是图片，是文字。".encode(), "image/jpeg"))


def test_an_image_in_another_format_is_refused():
    with pytest.raises(ValidationError, match="JPEG, PNG, GIF or WebP"):
        broadcast_image_from_upload(image_upload(fmt="BMP", name="photo.bmp"))


def test_a_decompression_bomb_is_refused_without_being_unpacked():
    bomb = SimpleUploadedFile("bomb.png", png_header_only(50_000, 50_000), "image/png")
    assert bomb.size < 200
    with pytest.raises(ValidationError, match="too many pixels to open safely"):
        broadcast_image_from_upload(bomb)


@pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning")
def test_a_tiny_file_of_a_hundred_megapixels_is_refused():
    upload = image_upload(size=(10_000, 10_000), fmt="PNG", mode="1", name="flat.png")
    assert upload.size < 100_000
    with pytest.raises(ValidationError, match="10000×10000 pixels; the limit is 40 megapixels"):
        broadcast_image_from_upload(upload)


def test_an_animation_with_too_many_pixels_in_all_is_refused():
    buffer = BytesIO()
    frames = [Image.new("P", (2000, 2000), n % 200) for n in range(12)]
    frames[0].save(buffer, format="GIF", save_all=True, append_images=frames[1:])
    with pytest.raises(ValidationError, match="12 frames"):
        broadcast_image_from_upload(SimpleUploadedFile("long.gif", buffer.getvalue(), "image/gif"))


# Through the pages ------------------------------------------------------------------------------------------------------


def test_the_composer_stores_the_images_stripped_and_in_order(owner_client, workspace):
    response = compose(owner_client, [image_upload(exif=gps_exif(), name="一.jpg"), image_upload(fmt="PNG", name="二.png")])
    assert response.status_code == 302
    broadcast = Broadcast.objects.get(workspace=workspace)
    images = list(broadcast.images.all())
    assert [image.image.name.rsplit(".", 1)[1] for image in images] == ["jpg", "png"]
    with Image.open(images[0].image.path) as first:
        assert not first.getexif()
    served = owner_client.get(reverse("campaigns:broadcast_image", args=[broadcast.pk, images[0].pk]))
    assert served.status_code == 200 and served["Content-Type"] == "image/jpeg"


@pytest.mark.parametrize("upload, reason", [
    (lambda: SimpleUploadedFile("big.jpg", b"\xff\xd8" + b"0" * (20 * 1024 * 1024), "image/jpeg"), "the limit is 10 MB"),
    (lambda: SimpleUploadedFile("notes.jpg", b"just some text", "image/jpeg"), "not an image"),
    (lambda: SimpleUploadedFile("bomb.png", png_header_only(50_000, 50_000), "image/png"), "too many pixels"),
])
def test_a_bad_upload_is_refused_by_name_and_nothing_is_saved(owner_client, workspace, upload, reason):
    good = image_upload(name="好图.jpg")
    bad = upload()
    response = compose(owner_client, [good, bad])
    assert response.status_code == 400
    content = response.content.decode()
    assert reason in content and bad.name in content
    assert not Broadcast.objects.filter(workspace=workspace).exists()
    assert not BroadcastImage.objects.exists()


def test_a_tenth_image_is_refused(owner, owner_client, workspace):
    broadcast = drafts.broadcast_create(member=owner, name="九宫格", images=[image_upload(size=(50, 50)) for _ in range(9)])
    assert broadcast.images.count() == 9
    response = owner_client.post(reverse("campaigns:broadcast_edit", args=[broadcast.pk]),
                                 {"name": "九宫格", "when": "now", "images": [image_upload(size=(50, 50))]}, **ENGLISH)
    assert response.status_code == 400
    assert "at most 9 images; this would make 10" in response.content.decode()
    assert broadcast.images.count() == 9
    with pytest.raises(ValidationError, match="at most 9 images"):
        drafts.broadcast_image_add(broadcast=broadcast, member=owner, upload=image_upload(size=(50, 50)))
    assert broadcast.images.count() == 9


def test_ten_images_at_once_are_refused(owner_client, workspace):
    response = compose(owner_client, [image_upload(size=(40, 40)) for _ in range(10)])
    assert response.status_code == 400
    assert "this would make 10" in response.content.decode()
    assert not Broadcast.objects.filter(workspace=workspace).exists()


def test_removing_an_image_deletes_its_file_and_makes_room_for_another(owner, owner_client, workspace, django_capture_on_commit_callbacks):
    broadcast = drafts.broadcast_create(member=owner, name="九宫格", images=[image_upload(size=(50, 50)) for _ in range(9)])
    first = broadcast.images.first()
    name = first.image.name
    with django_capture_on_commit_callbacks(execute=True):
        response = owner_client.post(reverse("campaigns:broadcast_edit", args=[broadcast.pk]), {
            "name": "九宫格", "when": "now", "remove_images": [first.pk], "images": [image_upload(size=(60, 60))],
        })
    assert response.status_code == 302
    assert broadcast.images.count() == 9 and not broadcast.images.filter(pk=first.pk).exists()
    assert not default_storage.exists(name)


def test_images_and_a_link_card_together_are_refused(owner_client, workspace):
    response = compose(owner_client, [image_upload()], link_title="店铺", link_url="https://example.com")
    assert response.status_code == 400
    assert "images or a link card, not both" in response.content.decode()
    assert not Broadcast.objects.filter(workspace=workspace).exists()
