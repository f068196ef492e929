"""Pictures in mass sends: uploaded to WeCom once (multipart), sent as image attachments, refused when too large."""

from datetime import timedelta

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.utils import timezone

from crm.wechat import Message, Outcome, channel_for
from tests.factories import ContactFactory
from wecom import media
from wecom.models import MediaUpload

pytestmark = pytest.mark.django_db

SEND = "externalcontact/add_msg_template"
PICTURE = b"\xff\xd8\xff\xe0" + b"jpeg" * 1000


@pytest.fixture
def customers(workspace, seller):
    return [ContactFactory(workspace=workspace, owner_account=seller, external_id=f"wm{n}") for n in range(3)]


def stored(name: str, content: bytes = PICTURE) -> str:
    return default_storage.save(name, ContentFile(content))


def messages_to(contacts, seller, *, prefix="bd", **content):
    return [Message(ref=f"{prefix}:{c.pk}", workspace_id=c.workspace_id, account_id=seller.pk, contact_id=c.pk,
                    text="新品到了", **content) for c in contacts]


def test_a_picture_is_uploaded_and_sent_as_an_image_attachment(wecom, credentials, seller, customers):
    picture = stored("broadcasts/a.jpg")
    results = channel_for(seller).send(messages_to(customers, seller, images=(picture,)))
    assert {r.outcome for r in results} == {Outcome.PENDING}
    [upload] = wecom.uploads
    assert (upload["type"], upload["filename"], upload["size"]) == ("image", "a.jpg", len(PICTURE))
    [(_, body)] = wecom.server.calls_to(SEND)
    assert body["attachments"] == [{"msgtype": "image", "image": {"media_id": "media-1"}}]


def test_pictures_and_a_link_go_together_pictures_first(wecom, credentials, seller, customers):
    pictures = (stored("broadcasts/a.jpg"), stored("broadcasts/b.png"))
    link = {"title": "秋季上新", "url": "https://shop.example.com/new"}
    channel_for(seller).send(messages_to(customers[:1], seller, images=pictures, link=link))
    [(_, body)] = wecom.server.calls_to(SEND)
    assert [a["msgtype"] for a in body["attachments"]] == ["image", "image", "link"]
    assert [u["content_type"] for u in wecom.uploads] == ["image/jpeg", "image/png"]


def test_a_picture_is_uploaded_once_for_three_days(wecom, credentials, seller, customers):
    picture = stored("broadcasts/a.jpg")
    channel_for(seller).send(messages_to(customers[:2], seller, images=(picture,)))
    channel_for(seller).send(messages_to(customers[2:], seller, prefix="again", images=(picture,)))
    assert len(wecom.uploads) == 1
    assert len(wecom.server.calls_to(SEND)) == 2


def test_an_expired_upload_is_made_again(wecom, credentials, seller, customers):
    picture = stored("broadcasts/a.jpg")
    channel_for(seller).send(messages_to(customers[:1], seller, images=(picture,)))
    MediaUpload.objects.update(expires_at=timezone.now() + timedelta(minutes=5))
    channel_for(seller).send(messages_to(customers[1:], seller, prefix="again", images=(picture,)))
    assert len(wecom.uploads) == 2
    assert MediaUpload.objects.get().media_id == "media-2"


def test_a_picture_over_wecoms_limit_fails_its_messages_with_a_reason(wecom, credentials, seller, customers):
    huge = stored("broadcasts/huge.jpg", b"\xff\xd8" + b"0" * (20 * 1024 * 1024))
    results = channel_for(seller).send(messages_to(customers, seller, images=(huge,)))
    assert {(r.outcome, r.error) for r in results} == {(Outcome.FAILED, media.TOO_LARGE)}
    assert not wecom.uploads and not wecom.server.calls_to(SEND)


def test_an_upload_with_an_expired_token_renews_it(wecom, credentials, seller, customers, fake_wecom):
    picture = stored("broadcasts/a.jpg")
    media.media_id_for(credentials=credentials, name=stored("broadcasts/warm.jpg"))  # a token is cached
    fake_wecom.expire_tokens()
    results = channel_for(seller).send(messages_to(customers[:1], seller, images=(picture,)))
    assert results[0].outcome == Outcome.PENDING
    assert len(wecom.uploads) == 2


def test_an_unreachable_wecom_sends_the_chunk_again_later(wecom, credentials, seller, customers, fake_wecom):
    from crm.wechat import ChannelUnavailable

    fake_wecom.fail_next("media/upload", 45009)
    with pytest.raises(ChannelUnavailable):
        channel_for(seller).send(messages_to(customers, seller, images=(stored("broadcasts/a.jpg"),)))
    assert not wecom.server.calls_to(SEND)


def test_a_picture_whose_file_is_gone_fails_its_messages_instead_of_the_chunk(wecom, credentials, seller, customers):
    results = channel_for(seller).send(messages_to(customers, seller, images=("broadcasts/gone.jpg",)))
    assert {r.outcome for r in results} == {Outcome.FAILED}
    assert not wecom.server.calls_to(SEND)
