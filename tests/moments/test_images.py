"""A post's pictures: verified, EXIF and GPS stripped, scaled down, with a thumbnail; a non-image, an oversized
file, a decompression bomb and a HEIC photo are refused with a reason, and a refused upload saves nothing."""

from io import BytesIO

import pytest
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from PIL import Image

from moments.images import THUMBNAIL_SIZE, moment_image_from_upload
from moments.models import Post, PostImage
from tests.campaigns.test_broadcast_images import gps_exif, png_header_only
from tests.moments.conftest import ENGLISH, image_upload

pytestmark = pytest.mark.django_db


def heic_upload() -> SimpleUploadedFile:
    """The first bytes of an iPhone photo: an ISO media file of brand "heic"."""
    return SimpleUploadedFile("IMG_0001.HEIC", b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic" + b"\x00" * 64,
                              content_type="image/heic")


def opened(content) -> Image.Image:
    return Image.open(BytesIO(content.read()))


def test_a_photos_gps_and_camera_data_are_stripped_from_the_picture_and_its_thumbnail():
    prepared = moment_image_from_upload(image_upload(exif=gps_exif()))
    data = prepared.image.read()
    assert b"PhoneMaker" not in data and not Image.open(BytesIO(data)).getexif()
    assert not opened(prepared.thumbnail).getexif()


def test_a_large_photo_is_scaled_down_and_gets_a_square_thumbnail():
    prepared = moment_image_from_upload(image_upload(size=(4000, 3000)))
    assert opened(prepared.image).size == (1600, 1200)
    assert opened(prepared.thumbnail).size == (THUMBNAIL_SIZE, THUMBNAIL_SIZE)


@pytest.mark.parametrize("fmt", ["PNG", "WEBP", "JPEG"])
def test_png_webp_and_jpeg_are_accepted(fmt):
    assert opened(moment_image_from_upload(image_upload(fmt=fmt)).image).format == fmt


def test_a_text_file_is_refused_by_name():
    with pytest.raises(ValidationError, match="“notes.jpg”: The file is not an image"):
        moment_image_from_upload(SimpleUploadedFile("notes.jpg", "这不是图片".encode(), "image/jpeg"))


def test_a_file_over_ten_megabytes_is_refused():
    big = SimpleUploadedFile("big.jpg", b"\xff\xd8" + b"0" * (11 * 1024 * 1024), "image/jpeg")
    with pytest.raises(ValidationError, match="the limit is 10 MB"):
        moment_image_from_upload(big)


def test_a_decompression_bomb_is_refused_without_being_unpacked():
    with pytest.raises(ValidationError, match="too many pixels to open safely"):
        moment_image_from_upload(SimpleUploadedFile("bomb.png", png_header_only(50_000, 50_000), "image/png"))


def test_a_heic_photo_is_refused_with_the_advice_to_export_it_as_jpeg():
    with pytest.raises(ValidationError, match="HEIC photo.*export it as JPEG"):
        moment_image_from_upload(heic_upload())


@pytest.mark.parametrize("bad, reason", [
    (lambda: SimpleUploadedFile("notes.jpg", b"just text", "image/jpeg"), "not an image"),
    (lambda: SimpleUploadedFile("bomb.png", png_header_only(50_000, 50_000), "image/png"), "too many pixels"),
    (heic_upload, "export it as JPEG"),
])
def test_a_bad_upload_on_the_composer_saves_no_post_and_no_file(owner_client, workspace, manual_account, bad,
                                                                  reason, settings):
    upload = bad()
    response = owner_client.post(reverse("moments:post_create"), {
        "text": "新品", "accounts": [manual_account.pk], "visibility": "everyone", "action": "draft",
        "images": [image_upload(name="good.jpg"), upload],
    }, **ENGLISH)
    assert response.status_code == 400
    assert reason in response.content.decode() and upload.name in response.content.decode()
    assert not Post.objects.filter(workspace=workspace).exists() and not PostImage.objects.exists()
    media = settings.MEDIA_ROOT
    assert not media.exists() or not any(path.is_file() for path in media.rglob("*"))


def test_the_composer_stores_the_pictures_stripped_with_their_thumbnails(owner_client, workspace, manual_account):
    response = owner_client.post(reverse("moments:post_create"), {
        "text": "九宫格", "accounts": [manual_account.pk], "visibility": "everyone", "action": "draft",
        "images": [image_upload(exif=gps_exif(), name=f"{n}.jpg") for n in range(4)],
    })
    assert response.status_code == 302
    post = Post.objects.get(workspace=workspace)
    images = list(post.images.all())
    assert len(images) == 4 and [image.position for image in images] == [0, 1, 2, 3]
    with Image.open(images[0].image.path) as stored:
        assert not stored.getexif()
    thumb = owner_client.get(reverse("moments:post_image", args=[post.pk, images[0].pk, "thumb"]))
    assert thumb.status_code == 200 and thumb["Content-Type"] == "image/jpeg"


def test_a_tenth_picture_is_refused(owner_client, workspace, manual_account):
    response = owner_client.post(reverse("moments:post_create"), {
        "accounts": [manual_account.pk], "visibility": "everyone", "action": "draft",
        "images": [image_upload(size=(40, 40)) for _ in range(10)],
    }, **ENGLISH)
    assert response.status_code == 400 and "at most 9 images; this would make 10" in response.content.decode()
    assert not Post.objects.exists()


def test_pictures_are_served_to_members_only(owner_client, outsider_client, client, workspace, manual_account):
    owner_client.post(reverse("moments:post_create"), {
        "accounts": [manual_account.pk], "visibility": "everyone", "action": "draft", "images": [image_upload()],
    })
    image = PostImage.objects.get()
    url = reverse("moments:post_image", args=[image.post_id, image.pk, "full"])
    assert owner_client.get(url).status_code == 200
    assert outsider_client.get(url).status_code == 404
    assert client.get(url).status_code == 302  # to the sign-in page
