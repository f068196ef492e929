"""Qualification: the invitee stays a friend N days (a deletion voids the invite), optionally orders at least X
within D days; rewards are granted once per tier however often the check runs, and clawed back on a refund."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from crm import services as crm_services
from crm.models import OutboxMessage
from referrals import messaging, qualification, selectors, services, tasks
from referrals.models import Invite, Reward
from tests.factories import OrderFactory
from tests.referrals.conftest import bring

pytestmark = pytest.mark.django_db

LATER = timedelta(days=3, minutes=1)


def statuses(participant):
    return sorted(participant.rewards.values_list("tier__name", "status"))


def test_an_invite_waits_until_the_friend_has_stayed_the_campaigns_days(participant):
    invite = bring(participant)
    assert invite.status == Invite.Status.PENDING
    assert qualification.invite_check(invite_id=invite.pk, now=invite.attributed_at + timedelta(days=2)) is False
    invite.refresh_from_db()
    assert invite.status == Invite.Status.PENDING
    assert invite.check_at == invite.attributed_at + timedelta(days=3)
    assert qualification.invite_check(invite_id=invite.pk, now=invite.attributed_at + LATER) is True
    invite.refresh_from_db()
    participant.refresh_from_db()
    assert invite.status == Invite.Status.QUALIFIED and participant.qualified_count == 1
    assert statuses(participant) == [("试吃装", "granted")]


def test_the_tick_qualifies_the_invites_whose_time_has_come(participant):
    invites = [bring(participant) for _ in range(3)]
    assert services.referrals_tick(now=timezone.now())["qualified"] == 0
    assert qualification.invites_check_due(now=invites[0].attributed_at + LATER) == 3
    participant.refresh_from_db()
    assert participant.qualified_count == 3
    assert statuses(participant) == [("正装海参", "granted"), ("试吃装", "granted")]


def test_a_friend_who_deletes_us_before_qualifying_voids_the_invite(participant, committed):
    invite = bring(participant)
    with committed():
        crm_services.contact_friend_deleted(contact=invite.invitee, actor=None)
    invite.refresh_from_db()
    assert invite.status == Invite.Status.VOID
    assert invite.reasons[-1] == {"rule": "friend_deleted", "action": "void"}
    assert qualification.invite_check(invite_id=invite.pk, now=invite.attributed_at + LATER) is False
    assert not Reward.objects.exists()


def test_a_friend_deleted_before_the_check_voids_it_at_the_check(participant):
    invite = bring(participant)
    type(invite.invitee).objects.filter(pk=invite.invitee_id).update(friend_deleted_at=timezone.now())
    assert qualification.invite_check(invite_id=invite.pk, now=invite.attributed_at + LATER) is False
    invite.refresh_from_db()
    assert invite.status == Invite.Status.VOID


def test_an_order_rule_waits_for_an_order_of_at_least_the_amount(campaign, participant, committed):
    campaign.require_order, campaign.order_min_amount, campaign.order_within_days = True, Decimal("99.00"), 7
    campaign.save()
    invite = bring(participant)
    OrderFactory(contact=invite.invitee, amount=Decimal("50.00"))
    assert qualification.invite_check(invite_id=invite.pk, now=invite.attributed_at + LATER) is False
    invite.refresh_from_db()
    assert invite.status == Invite.Status.PENDING
    with committed():
        crm_services.order_create(contact=invite.invitee, amount=Decimal("129.00"), placed_at=timezone.now(),
                                  channel="wechat", actor=None)
    invite.refresh_from_db()
    assert invite.check_at <= timezone.now()  # the order brought the check forward
    assert qualification.invite_check(invite_id=invite.pk, now=invite.attributed_at + LATER) is True
    invite.refresh_from_db()
    assert invite.qualifying_order.amount == Decimal("129.00")


def test_an_order_rule_voids_the_invite_when_no_order_came_in_time(campaign, participant):
    campaign.require_order, campaign.order_within_days = True, 7
    campaign.save()
    invite = bring(participant)
    assert qualification.invite_check(invite_id=invite.pk, now=invite.attributed_at + timedelta(days=8)) is False
    invite.refresh_from_db()
    assert invite.status == Invite.Status.VOID and invite.reasons[-1]["rule"] == "no_order"


def test_the_check_run_twice_grants_the_reward_once(participant):
    invite = bring(participant)
    at = invite.attributed_at + LATER
    assert qualification.invite_check(invite_id=invite.pk, now=at) is True
    assert qualification.invite_check(invite_id=invite.pk, now=at) is False
    qualification.invites_check_due(now=at)
    services.referrals_tick(now=at)
    assert Reward.objects.filter(participant=participant).count() == 1


def test_granting_again_for_the_same_count_adds_nothing(participant):
    invite = bring(participant)
    qualification.invite_check(invite_id=invite.pk, now=invite.attributed_at + LATER)
    participant.refresh_from_db()
    assert qualification.rewards_grant(participant=participant) == []
    assert Reward.objects.filter(participant=participant).count() == 1


def test_a_refund_of_the_qualifying_order_claws_the_reward_back(campaign, participant, committed):
    campaign.require_order = True
    campaign.save()
    invite = bring(participant)
    order = crm_services.order_create(contact=invite.invitee, amount=Decimal("99.00"), placed_at=timezone.now(),
                                      channel="wechat", actor=None)
    qualification.invite_check(invite_id=invite.pk, now=invite.attributed_at + LATER)
    assert statuses(participant) == [("试吃装", "granted")]
    with committed():
        assert crm_services.order_refund(order=order, actor=None) is True
        assert crm_services.order_refund(order=order, actor=None) is False  # once
    invite.refresh_from_db()
    participant.refresh_from_db()
    assert invite.status == Invite.Status.VOID and invite.reasons[-1]["rule"] == "refunded"
    assert participant.qualified_count == 0
    assert statuses(participant) == [("试吃装", "clawed_back")]
    tasks.order_refunded.delay(order.pk)  # redelivered: nothing more happens
    assert statuses(participant) == [("试吃装", "clawed_back")]


def test_a_delivered_reward_is_clawed_back_too_and_granted_again_when_reached_again(participant, committed):
    first = bring(participant)
    order = OrderFactory(contact=first.invitee)
    qualification.invite_check(invite_id=first.pk, now=first.attributed_at + LATER)
    Invite.objects.filter(pk=first.pk).update(qualifying_order=order)
    reward = participant.rewards.get()
    assert services.reward_deliver(reward=reward) is True
    with committed():
        crm_services.order_refund(order=order, actor=None)
    assert statuses(participant) == [("试吃装", "clawed_back")]
    second = bring(participant)
    qualification.invite_check(invite_id=second.pk, now=second.attributed_at + LATER)
    assert statuses(participant) == [("试吃装", "granted")]
    assert Reward.objects.filter(participant=participant).count() == 1


def test_the_reward_cap_withholds_tiers_past_it(campaign, participant):
    campaign.reward_cap = 1
    campaign.burst_per_hour = 0
    campaign.save()
    invites = [bring(participant) for _ in range(3)]
    qualification.invites_check_due(now=invites[0].attributed_at + LATER)
    participant.refresh_from_db()
    assert participant.qualified_count == 3
    assert statuses(participant) == [("试吃装", "granted")]
    assert selectors.reward_cap_reached(participant=participant) is True


def test_progress_is_messaged_once_per_count_when_the_campaign_says_so(campaign, participant, committed):
    campaign.notify_progress = True
    campaign.save()
    invite = bring(participant)
    with committed():
        qualification.invite_check(invite_id=invite.pk, now=invite.attributed_at + LATER)
    with committed():
        qualification.invite_check(invite_id=invite.pk, now=invite.attributed_at + LATER)
    messaging.progress_send(participant_id=participant.pk, count=1)  # handed over again: the same ref
    messages = OutboxMessage.objects.filter(contact=participant.contact)
    assert messages.count() == 1
    message = messages.get()
    assert message.ref == f"referral-progress:{participant.pk}:1"
    assert "正装海参" in message.text  # the next tier, in the customers' language


def test_no_progress_message_unless_the_campaign_asks(participant, committed):
    invite = bring(participant)
    with committed():
        qualification.invite_check(invite_id=invite.pk, now=invite.attributed_at + LATER)
    assert not OutboxMessage.objects.exists()


def test_the_tick_starts_and_ends_campaigns_by_their_dates(campaign):
    now = timezone.now()
    campaign.status, campaign.starts_at = "scheduled", now - timedelta(minutes=1)
    campaign.save()
    assert services.campaigns_tick(now=now) == 1
    campaign.refresh_from_db()
    assert campaign.status == "active"
    assert services.campaigns_tick(now=campaign.ends_at) == 1
    campaign.refresh_from_db()
    assert campaign.status == "ended"
