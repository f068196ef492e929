"""What each callback event does to the customer book, and that doing it twice changes nothing more."""

import pytest
from django.core.exceptions import ValidationError

from crm.models import Contact, TimelineEvent, WeChatAccount
from tests.factories import ContactFactory, WeChatAccountFactory
from wecom import events
from wecom.models import CallbackEvent

pytestmark = pytest.mark.django_db


class FakeAttribution:
    def __init__(self, known_codes):
        self.known_codes, self.attributed = known_codes, []

    def attribute(self, *, contact, code, actor):
        if code not in self.known_codes:
            raise ValidationError("No referral campaign has that code.")
        self.attributed.append((contact.pk, code))
        Contact.objects.filter(pk=contact.pk).update(source=Contact.Source.REFERRAL)

    def recent_codes(self, *, workspace):
        return []


@pytest.fixture
def referrals(monkeypatch):
    attribution = pytest.importorskip("crm.attribution")
    fake = FakeAttribution({"K7M2QX9A"})
    monkeypatch.setattr(attribution, "_CURRENT", [fake])
    return fake


def test_a_new_customer_becomes_a_contact_of_the_staff_members_account(deliver, seller):
    deliver("add_external_contact", UserID="zhangsan", ExternalUserID="wmNEW", State="", WelcomeCode="WC1")
    contact = Contact.objects.get(external_id="wmNEW")
    assert (contact.workspace_id, contact.owner_account, contact.source) == (
        seller.workspace_id, seller, Contact.Source.ORGANIC)
    assert CallbackEvent.objects.get().status == CallbackEvent.Status.DONE


def test_the_contact_is_created_once_even_if_the_callback_is_delivered_twice(deliver, seller):
    deliver("add_external_contact", UserID="zhangsan", ExternalUserID="wmNEW")
    assert deliver("add_external_contact", UserID="zhangsan", ExternalUserID="wmNEW") is None
    assert Contact.objects.filter(external_id="wmNEW").count() == 1


def test_an_event_processed_again_changes_nothing(deliver, seller):
    event = deliver("add_external_contact", UserID="zhangsan", ExternalUserID="wmNEW")
    events.event_process(event_id=event.pk)
    assert Contact.objects.filter(external_id="wmNEW").count() == 1


def test_a_second_add_of_a_known_customer_creates_no_duplicate(deliver, seller, workspace):
    known = ContactFactory(workspace=workspace, external_id="wmOLD", owner_account=None)
    deliver("add_external_contact", UserID="zhangsan", ExternalUserID="wmOLD", CreateTime="1700000001")
    assert Contact.objects.filter(external_id="wmOLD").count() == 1
    known.refresh_from_db()
    assert known.owner_account == seller


def test_a_state_with_a_referral_code_credits_the_referrer(deliver, seller, referrals):
    deliver("add_external_contact", UserID="zhangsan", ExternalUserID="wmREF", State="ref:K7M2QX9A")
    contact = Contact.objects.get(external_id="wmREF")
    assert referrals.attributed == [(contact.pk, "K7M2QX9A")]
    assert contact.source == Contact.Source.REFERRAL


def test_an_unknown_code_leaves_the_contact_from_a_channel_qr_code(deliver, seller, referrals):
    deliver("add_external_contact", UserID="zhangsan", ExternalUserID="wmQR", State="ZZZZ9999")
    assert referrals.attributed == []
    assert Contact.objects.get(external_id="wmQR").source == Contact.Source.CHANNEL_QR


def test_a_state_naming_a_source_sets_it(deliver, seller):
    deliver("add_external_contact", UserID="zhangsan", ExternalUserID="wmADS", State="src:ads")
    assert Contact.objects.get(external_id="wmADS").source == Contact.Source.ADS


def test_a_customer_who_deleted_the_seller_is_lost_with_a_timeline_event(deliver, seller, workspace):
    contact = ContactFactory(workspace=workspace, external_id="wmBYE", owner_account=seller)
    deliver("del_follow_user", UserID="zhangsan", ExternalUserID="wmBYE")
    deliver("del_follow_user", UserID="zhangsan", ExternalUserID="wmBYE", CreateTime="1700000009")
    contact.refresh_from_db()
    assert contact.stage == Contact.Stage.LOST and contact.friend_deleted_at is not None
    kinds = list(contact.timeline_events.values_list("kind", flat=True))
    assert kinds == [TimelineEvent.Kind.FRIEND_DELETED]


def test_a_customer_the_seller_removed_is_lost_with_a_note(deliver, seller, workspace):
    contact = ContactFactory(workspace=workspace, external_id="wmDEL", owner_account=seller)
    deliver("del_external_contact", UserID="zhangsan", ExternalUserID="wmDEL")
    contact.refresh_from_db()
    assert contact.stage == Contact.Stage.LOST and contact.friend_deleted_at is None
    note = contact.timeline_events.get()
    assert note.kind == TimelineEvent.Kind.NOTE and "zhangsan" in note.body


def test_an_edit_touches_the_contact_and_syncs_it(deliver, seller, workspace, fake_wecom):
    contact = ContactFactory(workspace=workspace, external_id="wmEDIT", owner_account=seller)
    before = contact.updated_at
    deliver("edit_external_contact", UserID="zhangsan", ExternalUserID="wmEDIT")
    contact.refresh_from_db()
    assert contact.updated_at > before
    assert CallbackEvent.objects.get().status == CallbackEvent.Status.DONE  # the sync's own tests: test_sync_events


def test_an_event_about_an_unknown_customer_is_ignored(deliver):
    deliver("del_follow_user", UserID="zhangsan", ExternalUserID="wmNOBODY")
    assert CallbackEvent.objects.get().status == CallbackEvent.Status.IGNORED


def test_an_event_that_fails_is_recorded_as_failed(deliver, seller, monkeypatch):
    def explode(event):
        raise RuntimeError("boom")

    monkeypatch.setitem(events.CONTACT_CHANGES, "add_external_contact", explode)
    deliver("add_external_contact", UserID="zhangsan", ExternalUserID="wmX")
    event = CallbackEvent.objects.get()
    assert (event.status, event.error) == (CallbackEvent.Status.FAILED, "RuntimeError: boom")
    assert not Contact.objects.filter(external_id="wmX").exists()


def test_events_stay_in_their_workspace(deliver, seller, outsider):
    other = ContactFactory(workspace=outsider.workspace, external_id="wmBYE")
    deliver("del_follow_user", UserID="zhangsan", ExternalUserID="wmBYE")
    other.refresh_from_db()
    assert other.stage != Contact.Stage.LOST


def test_a_customer_who_adds_a_second_staff_member_is_a_contact_of_each_account(deliver, seller, workspace):
    WeChatAccountFactory(workspace=workspace, wechat_id="lisi", channel=WeChatAccount.Channel.WECOM)
    deliver("add_external_contact", UserID="zhangsan", ExternalUserID="wmBOTH")
    deliver("add_external_contact", UserID="lisi", ExternalUserID="wmBOTH")
    owners = set(Contact.objects.filter(external_id="wmBOTH").values_list("owner_account__wechat_id", flat=True))
    assert owners == {"zhangsan", "lisi"}


def test_deleting_one_staff_member_loses_only_that_accounts_contact(deliver, seller, workspace):
    other = WeChatAccountFactory(workspace=workspace, wechat_id="lisi", channel=WeChatAccount.Channel.WECOM)
    kept = ContactFactory(workspace=workspace, external_id="wmBOTH", owner_account=other)
    gone = ContactFactory(workspace=workspace, external_id="wmBOTH", owner_account=seller)
    deliver("del_follow_user", UserID="zhangsan", ExternalUserID="wmBOTH")
    kept.refresh_from_db(), gone.refresh_from_db()
    assert (gone.stage, kept.stage) == (Contact.Stage.LOST, Contact.Stage.NEW)


def test_a_lost_customer_who_adds_the_seller_again_is_new_again(deliver, seller, workspace):
    contact = ContactFactory(workspace=workspace, external_id="wmBACK", owner_account=seller,
                             stage=Contact.Stage.LOST)
    deliver("add_external_contact", UserID="zhangsan", ExternalUserID="wmBACK")
    contact.refresh_from_db()
    assert contact.stage == Contact.Stage.NEW
    assert Contact.objects.filter(external_id="wmBACK").count() == 1


def test_a_failed_event_is_applied_when_its_task_runs_again(deliver, seller, monkeypatch):
    monkeypatch.setitem(events.CONTACT_CHANGES, "add_external_contact", lambda event: 1 / 0)
    event = deliver("add_external_contact", UserID="zhangsan", ExternalUserID="wmRETRY")
    monkeypatch.undo()
    events.event_process(event_id=event.pk)
    event.refresh_from_db()
    assert event.status == CallbackEvent.Status.DONE
    assert Contact.objects.filter(external_id="wmRETRY").count() == 1
