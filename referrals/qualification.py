"""Qualification and rewards: an invite qualifies once, a reward is granted once, and a refund claws it back.

An invite waits (PENDING) until the campaign's rule is met: the invitee stays a friend for `stay_days` and, when
the campaign asks for it, places an order of at least `order_min_amount` within `order_within_days`. The beat's
tick (every 30 s) checks the invites whose `check_at` has come; an order placed sets it to now (events). The
invite's move PENDING → QUALIFIED is a conditional update, so of two checks running at once only one wins; the
winner counts the participant's qualified invites again and grants the tiers reached, each a Reward row unique per
(participant, tier) inserted under the participant's row lock: twice, or concurrently, it is granted once.

A deletion before qualifying voids the invite; one soon after qualifying flags it (fraud.early_delete). A refund
of the qualifying order voids the invite and claws back the rewards the participant no longer reaches.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import IntegrityError, transaction
from django.utils import timezone

from crm.models import Order
from referrals import fraud, messaging
from referrals.models import Campaign, Invite, Participant, Reward, RewardTier

logger = logging.getLogger(__name__)

TICK_BATCH = 500


@dataclass(frozen=True)
class Verdict:
    outcome: str  # "qualify", "void" or "wait"
    order: Order | None = None
    rule: str = ""  # why it is void
    check_at: datetime | None = None  # when to look again


def _qualifying_order(invite: Invite, until: datetime) -> Order | None:
    campaign = invite.campaign
    return (
        Order.objects.filter(contact_id=invite.invitee_id, refunded_at__isnull=True,
                             placed_at__gte=invite.invitee.added_at, placed_at__lt=until,
                             amount__gte=campaign.order_min_amount)
        .order_by("placed_at", "id").first()
    )


def verdict(invite: Invite, now: datetime) -> Verdict:
    """What the rule says about a pending invite now."""
    campaign = invite.campaign
    if invite.invitee.friend_deleted_at is not None:
        return Verdict("void", rule="friend_deleted")
    stayed_until = invite.attributed_at + timedelta(days=campaign.stay_days)
    order = None
    if campaign.require_order:
        order_deadline = invite.attributed_at + timedelta(days=campaign.order_within_days)
        order = _qualifying_order(invite, order_deadline)
        if order is None:
            if now >= order_deadline:
                return Verdict("void", rule="no_order")
            # An order placed meanwhile brings the check forward (events.ORDER_PLACED).
            return Verdict("wait", check_at=max(order_deadline, stayed_until))
    if now < stayed_until:
        return Verdict("wait", order=order, check_at=stayed_until)
    return Verdict("qualify", order=order)


def invites_check_due(*, now: datetime | None = None) -> int:
    """What the beat runs: every pending invite whose time has come is checked; how many qualified."""
    now = now or timezone.now()
    due = Invite.objects.filter(status=Invite.Status.PENDING, check_at__lte=now).order_by("check_at", "id")
    return sum(invite_check(invite_id=pk, now=now) for pk in list(due.values_list("pk", flat=True)[:TICK_BATCH]))


def invite_check(*, invite_id: int, now: datetime | None = None) -> bool:
    """Check one invite; True only for the run that qualified it."""
    now = now or timezone.now()
    invite = Invite.objects.filter(pk=invite_id).select_related("campaign", "invitee").first()
    if invite is None or invite.status != Invite.Status.PENDING:
        return False
    found = verdict(invite, now)
    if found.outcome == "wait":
        Invite.objects.filter(pk=invite_id, status=Invite.Status.PENDING).update(check_at=found.check_at)
        return False
    if found.outcome == "void":
        _void(invite, rule=found.rule, from_statuses=(Invite.Status.PENDING,))
        return False
    return _qualify(invite, order=found.order, now=now)


@transaction.atomic
def _qualify(invite: Invite, *, order: Order | None, now: datetime) -> bool:
    won = Invite.objects.filter(pk=invite.pk, status=Invite.Status.PENDING).update(
        status=Invite.Status.QUALIFIED, qualified_at=now, qualifying_order=order, check_at=None
    )
    if won != 1:  # another check got there first
        return False
    participant = _recounted(invite.participant_id)
    rewards_grant(participant=participant, now=now)
    messaging.progress_on_commit(participant)
    logger.info("Referral invite %s qualified (participant %s)", invite.pk, participant.pk)
    return True


@transaction.atomic
def _void(invite: Invite, *, rule: str, from_statuses) -> bool:
    """The invite void with its reason; a qualified one takes its rewards back with it."""
    was_qualified = invite.status == Invite.Status.QUALIFIED
    won = Invite.objects.filter(pk=invite.pk, status__in=from_statuses).update(
        status=Invite.Status.VOID, check_at=None, reasons=[*invite.reasons, fraud.reason(rule, fraud.VOID)]
    )
    if won != 1:
        return False
    if was_qualified:
        rewards_claw_back(participant=_recounted(invite.participant_id))
    return True


def _recounted(participant_id: int) -> Participant:
    """The participant locked (grants and clawbacks of one participant wait for each other), its qualified count
    made true again."""
    participant = Participant.objects.select_for_update().select_related("campaign").get(pk=participant_id)
    participant.qualified_count = Invite.objects.filter(
        participant_id=participant_id, status=Invite.Status.QUALIFIED
    ).count()
    Participant.objects.filter(pk=participant_id).update(qualified_count=participant.qualified_count)
    return participant


def rewards_grant(*, participant: Participant, now: datetime | None = None) -> list[Reward]:
    """Every tier the participant reaches and does not hold, up to the campaign's reward cap; the new rewards.
    Called with the participant's row locked (_recounted)."""
    now = now or timezone.now()
    campaign: Campaign = participant.campaign
    rewards = {reward.tier_id: reward for reward in Reward.objects.filter(participant=participant)}
    held = sum(1 for reward in rewards.values() if reward.status != Reward.Status.CLAWED_BACK)
    granted = []
    for tier in RewardTier.objects.filter(campaign=campaign, invites__lte=participant.qualified_count):
        existing = rewards.get(tier.pk)
        if existing is not None and existing.status != Reward.Status.CLAWED_BACK:
            continue
        if campaign.reward_cap and held >= campaign.reward_cap:
            break
        reward = _reward_insert(participant, tier, now) if existing is None else _reward_regrant(existing, now)
        if reward is not None:
            granted.append(reward)
            held += 1
    return granted


def _reward_insert(participant: Participant, tier: RewardTier, now: datetime) -> Reward | None:
    try:
        with transaction.atomic():
            return Reward.objects.create(workspace_id=participant.workspace_id, participant=participant, tier=tier,
                                         granted_at=now)
    except IntegrityError:  # granted meanwhile: the unique (participant, tier) keeps it once
        return None


def _reward_regrant(reward: Reward, now: datetime) -> Reward | None:
    """A tier clawed back and reached again."""
    changed = Reward.objects.filter(pk=reward.pk, status=Reward.Status.CLAWED_BACK).update(
        status=Reward.Status.GRANTED, granted_at=now, clawed_back_at=None, delivered_at=None
    )
    return Reward.objects.get(pk=reward.pk) if changed else None


def rewards_claw_back(*, participant: Participant, now: datetime | None = None) -> int:
    """The rewards of tiers the participant no longer reaches, clawed back (delivered ones too: the seller asks
    for the gift back or writes it off); how many."""
    now = now or timezone.now()
    return Reward.objects.filter(
        participant=participant, tier__invites__gt=participant.qualified_count,
        status__in=(Reward.Status.GRANTED, Reward.Status.DELIVERED),
    ).update(status=Reward.Status.CLAWED_BACK, clawed_back_at=now)


# What happens in the book ---------------------------------------------------------------------------------------


def order_refunded(*, order_id: int) -> int:
    """Invites this order qualified are void and their rewards clawed back; how many invites."""
    voided = 0
    for invite in Invite.objects.filter(qualifying_order_id=order_id, status=Invite.Status.QUALIFIED):
        voided += _void(invite, rule="refunded", from_statuses=(Invite.Status.QUALIFIED,))
    return voided


def orders_placed(*, contact_ids: list[int], now: datetime | None = None) -> int:
    """An invitee ordered: their pending invites are checked at the next tick."""
    return Invite.objects.filter(invitee_id__in=contact_ids, status=Invite.Status.PENDING).update(
        check_at=now or timezone.now()
    )


def orders_placed_listener(*, workspace_id: int, contact_ids: list[int], **data) -> None:
    """crm.events.ORDER_PLACED: one UPDATE, so it runs right after the commit rather than in a task."""
    orders_placed(contact_ids=contact_ids)


def friends_deleted(*, contact_ids: list[int], now: datetime | None = None) -> None:
    """Invitees who deleted the seller: a waiting invite is void; one that qualified within the campaign's
    early_delete_days is flagged."""
    now = now or timezone.now()
    waiting = Invite.objects.filter(invitee_id__in=contact_ids,
                                    status__in=(Invite.Status.PENDING, Invite.Status.HELD))
    for invite in waiting:
        _void(invite, rule="friend_deleted", from_statuses=(Invite.Status.PENDING, Invite.Status.HELD))
    qualified = Invite.objects.filter(invitee_id__in=contact_ids, status=Invite.Status.QUALIFIED).select_related(
        "campaign")
    for invite in qualified:
        window = timedelta(days=invite.campaign.early_delete_days)
        if invite.campaign.early_delete_days and invite.qualified_at and now - invite.qualified_at <= window:
            _flag(invite, "early_delete")


def _flag(invite: Invite, rule: str) -> None:
    if any(entry["rule"] == rule for entry in invite.reasons):
        return
    Invite.objects.filter(pk=invite.pk).update(reasons=[*invite.reasons, fraud.reason(rule, fraud.FLAG)])
