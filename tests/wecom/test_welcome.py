"""Welcome messages: sent by the add callback's task with the WelcomeCode, the channel QR code's own text or the
workspace's default, and never twice for one code."""

from io import BytesIO

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from PIL import Image

from tests.wecom.signing import event_xml
from wecom import callbacks, contact_ways, events, welcome
from wecom.models import WelcomeMessage

pytestmark = pytest.mark.django_db

SEND = "externalcontact/send_welcome_msg"


@pytest.fixture
def deliver(credentials, django_capture_on_commit_callbacks):
    def deliver(**fields):
        with django_capture_on_commit_callbacks(execute=True):
            return callbacks.event_store(credentials, event_xml("add_external_contact", UserID="zhangsan",
                                                                ExternalUserID="wmNEW", **fields))

    return deliver


def test_a_new_customer_gets_the_default_welcome_message(deliver, wecom, seller, workspace):
    welcome.default_text_set(workspace=workspace, text="欢迎！有问题随时问我")
    deliver(WelcomeCode="WC1")
    assert wecom.welcomes == [{"welcome_code": "WC1", "text": {"content": "欢迎！有问题随时问我"}}]
    assert WelcomeMessage.objects.get().status == WelcomeMessage.Status.SENT


def test_the_channel_qr_codes_own_welcome_message_wins(deliver, wecom, seller, workspace):
    welcome.default_text_set(workspace=workspace, text="默认欢迎语")
    way = contact_ways.contact_way_create(workspace=workspace, actor=None, label="门店", accounts=[seller],
                                          welcome_text="欢迎来到门店！")
    deliver(WelcomeCode="WC1", State=way.state)
    assert wecom.welcomes[0]["text"] == {"content": "欢迎来到门店！"}
    assert WelcomeMessage.objects.get().contact_way == way


def test_a_code_without_a_message_of_its_own_sends_the_default(deliver, wecom, seller, workspace):
    welcome.default_text_set(workspace=workspace, text="默认欢迎语")
    way = contact_ways.contact_way_create(workspace=workspace, actor=None, label="门店", accounts=[seller])
    deliver(WelcomeCode="WC1", State=way.state)
    assert wecom.welcomes[0]["text"] == {"content": "默认欢迎语"}


def test_a_welcome_picture_goes_as_an_image_attachment(deliver, wecom, seller, workspace):
    out = BytesIO()
    Image.new("RGB", (20, 20), "red").save(out, format="JPEG")
    way = contact_ways.contact_way_create(
        workspace=workspace, actor=None, label="门店", accounts=[seller], welcome_text="欢迎",
        welcome_image=SimpleUploadedFile("w.jpg", out.getvalue(), content_type="image/jpeg"))
    deliver(WelcomeCode="WC1", State=way.state)
    assert wecom.welcomes[0]["attachments"] == [{"msgtype": "image", "image": {"media_id": "media-1"}}]


def test_a_welcome_message_goes_once_per_welcome_code(deliver, wecom, seller, workspace, credentials):
    welcome.default_text_set(workspace=workspace, text="欢迎！")
    event = deliver(WelcomeCode="WC1")
    deliver(WelcomeCode="WC1")  # WeCom delivers the callback again: refused as a duplicate
    events.event_process(event_id=event.pk)  # the task run again
    assert welcome.welcome_send(workspace_id=workspace.pk, welcome_code="WC1") == ""  # asked once more
    assert len(wecom.server.calls_to(SEND)) == 1
    assert WelcomeMessage.objects.count() == 1


def test_a_customer_adding_again_gets_the_welcome_message_of_the_new_code(deliver, wecom, seller, workspace,
                                                                          credentials):
    welcome.default_text_set(workspace=workspace, text="欢迎！")
    deliver(WelcomeCode="WC1")
    deliver(WelcomeCode="WC2", CreateTime="1700000999")
    assert [w["welcome_code"] for w in wecom.welcomes] == ["WC1", "WC2"]


def test_no_welcome_message_set_sends_nothing(deliver, wecom, seller):
    deliver(WelcomeCode="WC1")
    assert not wecom.server.calls_to(SEND)
    assert WelcomeMessage.objects.get().status == WelcomeMessage.Status.NONE


def test_an_add_without_a_welcome_code_sends_nothing(deliver, wecom, seller, workspace):
    welcome.default_text_set(workspace=workspace, text="欢迎！")
    deliver()
    assert not wecom.server.calls_to(SEND) and not WelcomeMessage.objects.exists()


def test_wecom_refusing_the_code_is_recorded_and_the_contact_still_made(deliver, wecom, seller, workspace,
                                                                        fake_wecom):
    from crm.models import Contact

    welcome.default_text_set(workspace=workspace, text="欢迎！")
    fake_wecom.fail_next(SEND, 41051)
    deliver(WelcomeCode="WC1")
    message = WelcomeMessage.objects.get()
    assert message.status == WelcomeMessage.Status.FAILED and "41051" in message.error
    assert Contact.objects.filter(external_id="wmNEW").exists()


def test_the_default_welcome_message_is_set_on_the_channel_qr_page(teammate_client, workspace):
    response = teammate_client.post(reverse("wecom:default_welcome"), {"text": "欢迎光临"})
    assert response.status_code == 302
    assert welcome.default_text(workspace=workspace) == "欢迎光临"


def test_an_outsider_sets_only_their_own_default(outsider_client, workspace, outsider):
    outsider_client.post(reverse("wecom:default_welcome"), {"text": "别家欢迎语"})
    assert welcome.default_text(workspace=workspace) == ""
    assert welcome.default_text(workspace=outsider.workspace) == "别家欢迎语"
