"""Fraud rules: each one refuses, holds or flags, with its reason kept on the invite; held invites wait for the
seller's approval."""

from datetime import timedelta

import pytest
from django.utils import timezone

from crm import services as crm_services
from crm.models import Contact
from referrals import qualification, scans, services
from referrals.models import Invite, Scan
from tests.factories import ContactFactory, OrderFactory
from tests.referrals.conftest import bring, enrol, new_friend

pytestmark = pytest.mark.django_db


def rules(invite):
    return [(entry["rule"], entry["action"]) for entry in invite.reasons]


def test_a_participant_bringing_themselves_is_refused(participant):
    invite = bring(participant, participant.contact)
    assert invite.status == Invite.Status.REFUSED
    assert rules(invite) == [("self_referral", "refuse")]
    participant.contact.refresh_from_db()
    assert participant.contact.referred_by is None


@pytest.mark.parametrize("field, value", [("phone", "+8613800000001"), ("wechat_id", "wang_jie"),
                                          ("union_id", "o6_union_1")])
def test_a_second_account_of_the_participant_is_a_self_referral(participant, field, value):
    Contact.objects.filter(pk=participant.contact_id).update(**{field: value})
    participant.contact.refresh_from_db()
    invite = bring(participant, **{field: value})
    assert invite.status == Invite.Status.REFUSED
    assert rules(invite) == [("self_referral", "refuse")]


def test_a_contact_already_on_another_account_is_an_existing_customer(workspace, participant, manual_account):
    ContactFactory(workspace=workspace, owner_account=manual_account, phone="+8613911112222",
                   added_at=timezone.now() - timedelta(days=100))
    invite = bring(participant, phone="+8613911112222")
    assert invite.status == Invite.Status.REFUSED
    assert rules(invite) == [("existing_customer", "refuse")]


def test_a_contact_added_before_the_campaign_is_an_existing_customer(workspace, participant, outbox_account):
    old = ContactFactory(workspace=workspace, owner_account=outbox_account,
                         added_at=timezone.now() - timedelta(days=10))
    assert rules(bring(participant, old)) == [("existing_customer", "refuse")]


def test_a_contact_with_a_merged_duplicate_is_an_existing_customer(workspace, participant, outbox_account):
    friend = new_friend(workspace, outbox_account)
    ContactFactory(workspace=workspace, merged_into=friend)
    assert rules(bring(participant, friend)) == [("existing_customer", "refuse")]


def test_a_contact_who_ordered_before_the_campaign_is_an_existing_customer(workspace, participant, outbox_account):
    friend = new_friend(workspace, outbox_account)
    OrderFactory(contact=friend, placed_at=timezone.now() - timedelta(days=30))
    assert rules(bring(participant, friend)) == [("existing_customer", "refuse")]


def test_a_cycle_is_refused(campaign, participant):
    brought = bring(participant)  # 王姐 brings B
    b_as_participant = enrol(campaign, brought.invitee)
    # B now "brings" 王姐 back: she was in the book already, and she brought B.
    invite = bring(b_as_participant, participant.contact)
    assert ("cycle", "refuse") in rules(invite)


def test_a_longer_cycle_is_refused_too(campaign, participant):
    b = bring(participant).invitee  # A → B
    c = bring(enrol(campaign, b)).invitee  # B → C
    invite = bring(enrol(campaign, c), participant.contact)  # C → A
    assert ("cycle", "refuse") in rules(invite)


def test_a_burst_of_invites_is_held_for_approval(campaign, participant):
    campaign.burst_per_hour = 2
    campaign.save()
    first, second, third = (bring(participant) for _ in range(3))
    assert [first.status, second.status] == [Invite.Status.PENDING, Invite.Status.PENDING]
    assert third.status == Invite.Status.HELD and rules(third) == [("burst", "hold")]
    assert qualification.invites_check_due(now=third.attributed_at + timedelta(days=4)) == 2


def test_an_approved_held_invite_goes_on_to_qualify(campaign, participant, owner):
    campaign.burst_per_hour = 1
    campaign.save()
    bring(participant)
    held = bring(participant)
    assert services.invite_approve(invite=held, actor=owner.user) is True
    assert services.invite_approve(invite=held, actor=owner.user) is False
    assert qualification.invite_check(invite_id=held.pk, now=held.attributed_at + timedelta(days=4)) is True
    held.refresh_from_db()
    assert ("burst", "hold") in rules(held) and ("approved_by_seller", "flag") in rules(held)


def test_a_refused_held_invite_never_counts(campaign, participant, owner):
    campaign.burst_per_hour = 1
    campaign.save()
    bring(participant)
    held = bring(participant)
    assert services.invite_refuse(invite=held, actor=owner.user) is True
    held.refresh_from_db()
    assert held.status == Invite.Status.REFUSED
    assert qualification.invite_check(invite_id=held.pk, now=held.attributed_at + timedelta(days=4)) is False


def test_scans_from_one_device_past_the_limit_are_not_counted(workspace, campaign, outbox_account):
    campaign.device_scan_limit = 2
    campaign.save()
    participants = [enrol(campaign, ContactFactory(workspace=workspace, owner_account=outbox_account))
                    for _ in range(3)]
    for participant in participants:
        scans.scan_record(participant=participant, device="d" * 32)
    assert list(Scan.objects.order_by("id").values_list("counted", flat=True)) == [True, True, False]


def test_an_invitee_who_deletes_us_soon_after_qualifying_is_flagged(participant, committed):
    invite = bring(participant)
    Invite.objects.filter(pk=invite.pk).update(status=Invite.Status.QUALIFIED, qualified_at=timezone.now())
    with committed():
        crm_services.contact_friend_deleted(contact=invite.invitee, actor=None)
    invite.refresh_from_db()
    assert invite.status == Invite.Status.QUALIFIED
    assert ("early_delete", "flag") in rules(invite)


def test_a_deletion_long_after_qualifying_is_not_flagged(participant, committed):
    invite = bring(participant)
    Invite.objects.filter(pk=invite.pk).update(status=Invite.Status.QUALIFIED,
                                               qualified_at=timezone.now() - timedelta(days=30))
    with committed():
        crm_services.contact_friend_deleted(contact=invite.invitee, actor=None)
    invite.refresh_from_db()
    assert rules(invite) == []
