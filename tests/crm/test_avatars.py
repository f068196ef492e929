from io import BytesIO

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from PIL import Image

from tests.factories import ContactFactory

pytestmark = pytest.mark.django_db


def image_upload(size=(800, 600), fmt="JPEG", mode="RGB", exif=None, name="photo.jpg"):
    buffer = BytesIO()
    image = Image.new(mode, size, "red")
    image.save(buffer, format=fmt, **({"exif": exif} if exif else {}))
    return SimpleUploadedFile(name, buffer.getvalue(), content_type=f"image/{fmt.lower()}")


def gps_exif():
    exif = Image.Exif()
    exif[0x010F] = "PhoneMaker"  # Make
    exif[0x8825] = {1: "N", 2: (39.0, 54.0, 0.0)}  # GPSInfo
    return exif


def upload(client, contact, file):
    return client.post(reverse("crm:contact_avatar", args=[contact.pk]), {"avatar": file})


def test_an_avatar_becomes_a_square_thumbnail_without_exif(owner_client, workspace):
    contact = ContactFactory(workspace=workspace)
    response = upload(owner_client, contact, image_upload(size=(1200, 800), exif=gps_exif()))
    assert response.status_code == 302
    contact.refresh_from_db()
    with Image.open(contact.avatar.path) as stored:
        assert stored.size == (256, 256)
        assert not stored.getexif()


def test_a_file_that_is_not_an_image_is_refused_clearly(owner_client, workspace):
    contact = ContactFactory(workspace=workspace)
    response = upload(owner_client, contact, SimpleUploadedFile("x.jpg", b"%PDF-1.4 not an image", "image/jpeg"))
    assert response.status_code == 400
    assert "not an image" in response.content.decode() or "不是" in response.content.decode()
    contact.refresh_from_db()
    assert not contact.avatar


def test_an_image_over_ten_megabytes_is_refused(owner_client, workspace):
    contact = ContactFactory(workspace=workspace)
    big = SimpleUploadedFile("big.jpg", b"\xff\xd8" + b"0" * (10 * 1024 * 1024 + 1), "image/jpeg")
    response = upload(owner_client, contact, big)
    assert response.status_code == 400
    assert "10 MB" in response.content.decode()
    contact.refresh_from_db()
    assert not contact.avatar


def test_an_image_over_forty_megapixels_is_refused(owner_client, workspace):
    contact = ContactFactory(workspace=workspace)
    response = upload(owner_client, contact, image_upload(size=(7000, 6000), fmt="PNG", mode="L", name="huge.png"))
    assert response.status_code == 400
    assert "40" in response.content.decode()
    contact.refresh_from_db()
    assert not contact.avatar


def test_the_avatar_is_served_to_members_only(owner_client, outsider_client, client, workspace):
    contact = ContactFactory(workspace=workspace)
    upload(owner_client, contact, image_upload())
    url = reverse("crm:contact_avatar_image", args=[contact.pk])
    assert owner_client.get(url).status_code == 200
    assert outsider_client.get(url).status_code == 404
    assert client.get(url).status_code == 302
