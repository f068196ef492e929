"""The wecom channel: a batch becomes add_msg_template calls; results are PENDING, fail_list's are FAILED."""

import pytest

from crm.wechat import ChannelUnavailable, Message, Outcome, channel_for
from tests.factories import ContactFactory
from wecom import channel as wecom_channel
from wecom.models import MassSend

pytestmark = pytest.mark.django_db

SEND = "externalcontact/add_msg_template"


@pytest.fixture
def customers(workspace, seller):
    return [ContactFactory(workspace=workspace, owner_account=seller, external_id=f"wm{n}") for n in range(4)]


def messages_to(contacts, seller, **content):
    return [
        Message(ref=f"delivery:{c.pk}", workspace_id=c.workspace_id, account_id=seller.pk, contact_id=c.pk,
                **{"text": "新品到了", **content})
        for c in contacts
    ]


def test_a_wecom_account_sends_through_the_wecom_channel(seller):
    assert channel_for(seller).name == "wecom"


def test_a_broadcast_is_one_call_per_sender_and_pending_until_wecom_reports(fake_wecom, credentials, seller,
                                                                            customers):
    results = channel_for(seller).send(messages_to(customers, seller))
    assert {r.outcome for r in results} == {Outcome.PENDING}
    [(params, body)] = fake_wecom.calls_to(SEND)
    assert body == {"chat_type": "single", "sender": "zhangsan", "external_userid": ["wm0", "wm1", "wm2", "wm3"],
                    "text": {"content": "新品到了"}}
    mass_send = MassSend.objects.get()
    assert mass_send.status == MassSend.Status.SUBMITTED and mass_send.msgid
    assert mass_send.recipients["wm2"] == f"delivery:{customers[2].pk}"


def test_customers_in_the_fail_list_fail_and_the_rest_are_pending(fake_wecom, credentials, seller, customers):
    fake_wecom.refuse_customers("wm1", "wm3")
    results = channel_for(seller).send(messages_to(customers, seller))
    assert [r.outcome for r in results] == [Outcome.PENDING, Outcome.FAILED, Outcome.PENDING, Outcome.FAILED]
    assert MassSend.objects.get().failed == ["wm1", "wm3"]


def test_a_batch_handed_over_again_is_not_sent_twice(fake_wecom, credentials, seller, customers):
    batch = messages_to(customers, seller)
    channel_for(seller).send(batch)
    again = channel_for(seller).send(batch)
    assert {r.outcome for r in again} == {Outcome.PENDING}
    assert len(fake_wecom.calls_to(SEND)) == 1


def test_customers_are_split_into_calls_of_at_most_the_limit(fake_wecom, credentials, seller, customers,
                                                             monkeypatch):
    monkeypatch.setattr(wecom_channel, "MAX_CUSTOMERS_PER_CALL", 3)
    channel_for(seller).send(messages_to(customers, seller))
    assert [len(body["external_userid"]) for _, body in fake_wecom.calls_to(SEND)] == [3, 1]


def test_a_link_goes_as_an_attachment(fake_wecom, credentials, seller, customers):
    link = {"title": "秋季上新", "url": "https://shop.example.com/new", "description": "满99包邮"}
    channel_for(seller).send(messages_to(customers[:1], seller, link=link))
    [(_, body)] = fake_wecom.calls_to(SEND)
    assert body["attachments"] == [{"msgtype": "link", "link": {
        "title": "秋季上新", "url": "https://shop.example.com/new", "desc": "满99包邮"}}]


def test_contacts_without_an_external_id_fail_with_a_reason(fake_wecom, credentials, seller, workspace):
    stranger = ContactFactory(workspace=workspace, owner_account=seller, external_id="")
    results = channel_for(seller).send(messages_to([stranger], seller))
    assert [r.error for r in results] == [wecom_channel.NOT_A_WECOM_CUSTOMER]
    assert not fake_wecom.calls_to(SEND)


def test_an_unreachable_wecom_makes_the_channel_unavailable_and_sends_nothing(fake_wecom, credentials, seller,
                                                                           customers, settings):
    settings.WECOM_MAX_ATTEMPTS = 2
    fake_wecom.fail_next(SEND, 45009, 45009)
    with pytest.raises(ChannelUnavailable):
        channel_for(seller).send(messages_to(customers, seller))
    assert not MassSend.objects.exists()  # handed over again later, it is sent then
    channel_for(seller).send(messages_to(customers, seller))
    assert MassSend.objects.get().status == MassSend.Status.SUBMITTED


def test_a_workspace_without_credentials_is_unavailable(seller, customers):
    with pytest.raises(ChannelUnavailable):
        channel_for(seller).send(messages_to(customers, seller))
