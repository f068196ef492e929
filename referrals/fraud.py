"""Fraud rules: each one flags, holds or refuses, and leaves its reason on the invite for the seller to see.

    rule               when                                                                  action
    self_referral      the invitee is the participant (same contact, phone, WeChat or union ID)  refuse
    existing_customer  the invitee was in the book already: another contact with the same      refuse
                       phone, WeChat ID or union ID, a merged duplicate, added or ordering
                       before the campaign
    cycle              the invitee brought the participant, directly or further up (A→B→A)  refuse
    burst              the participant brought more than N friends within an hour           hold
    reward_cap         the participant holds as many rewards as one may                     tier not granted
    device             one device scanned more than N codes of the campaign                 scans not counted
    early_delete       the invitee deleted the seller within N days of qualifying           flag

Held invites wait for the seller's approval (services.invite_approve / invite_refuse).
"""

from datetime import datetime, timedelta

from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from crm.models import Contact, Order
from referrals.models import Invite, Participant

FLAG, HOLD, REFUSE, VOID = "flag", "hold", "refuse", "void"
MAX_CHAIN = 50  # how far up the referrer chain a cycle is looked for

RULE_LABELS = {
    "self_referral": _("Self-referral: the invitee is the participant"),
    "existing_customer": _("Existing customer: in the book before this invite"),
    "cycle": _("Cycle: the invitee brought the participant"),
    "burst": _("Burst: too many invites within an hour"),
    "reward_cap": _("Reward cap reached"),
    "early_delete": _("Deleted us soon after qualifying"),
    "friend_deleted": _("Deleted us before qualifying"),
    "no_order": _("No qualifying order in time"),
    "refunded": _("The qualifying order was refunded"),
    "refused_by_seller": _("Refused by the seller"),
    "approved_by_seller": _("Approved by the seller"),
}
ACTION_LABELS = {FLAG: _("flagged"), HOLD: _("held"), REFUSE: _("refused"), VOID: _("voided")}


def reason(rule: str, action: str) -> dict:
    return {"rule": rule, "action": action}


def status_for(reasons: list[dict]) -> str:
    actions = {entry["action"] for entry in reasons}
    if REFUSE in actions:
        return Invite.Status.REFUSED
    if HOLD in actions:
        return Invite.Status.HELD
    return Invite.Status.PENDING


def invite_reasons(*, participant: Participant, invitee: Contact, now: datetime) -> list[dict]:
    """What the rules say about a new invite, in the order above (empty: nothing against it)."""
    referrer = participant.contact
    campaign = participant.campaign
    found = []
    if _same_person(referrer, invitee):
        found.append(reason("self_referral", REFUSE))
    elif _existing_customer(invitee, campaign_start=campaign.starts_at, now=now):
        found.append(reason("existing_customer", REFUSE))
    if _brought_by(referrer, invitee):
        found.append(reason("cycle", REFUSE))
    if campaign.burst_per_hour and _invites_within_hour(participant, now) >= campaign.burst_per_hour:
        found.append(reason("burst", HOLD))
    return found


def _identities(contact: Contact) -> Q | None:
    """Who else is the same person: a phone, WeChat ID or union ID in common (empty ones say nothing)."""
    q = Q()
    for field in ("phone", "wechat_id", "union_id"):
        if getattr(contact, field):
            q |= Q(**{field: getattr(contact, field)})
    return q or None


def _same_person(referrer: Contact, invitee: Contact) -> bool:
    if referrer.pk == invitee.pk:
        return True
    return any(getattr(referrer, field) and getattr(referrer, field) == getattr(invitee, field)
               for field in ("phone", "wechat_id", "union_id"))


def _existing_customer(invitee: Contact, *, campaign_start: datetime, now: datetime) -> bool:
    if invitee.merged_into_id or invitee.added_at < campaign_start:
        return True
    if Contact.objects.filter(merged_into=invitee).exists():
        return True
    same = _identities(invitee)
    others = Contact.objects.filter(workspace_id=invitee.workspace_id).exclude(pk=invitee.pk)
    if same is not None and others.filter(same).exists():
        return True
    return Order.objects.filter(contact=invitee, placed_at__lt=campaign_start).exists()


def _brought_by(referrer: Contact, invitee: Contact) -> bool:
    """Whether the invitee is somewhere up the referrer's chain of referrers."""
    seen = {referrer.pk}
    current = referrer.referred_by_id
    for _step in range(MAX_CHAIN):
        if current is None or current in seen:
            return False
        if current == invitee.pk:
            return True
        seen.add(current)
        current = Contact.objects.filter(pk=current).values_list("referred_by_id", flat=True).first()
    return False


def _invites_within_hour(participant: Participant, now: datetime) -> int:
    return Invite.objects.filter(participant=participant, attributed_at__gt=now - timedelta(hours=1)).count()


def describe(reasons: list[dict]) -> list[str]:
    """The reasons as the seller reads them: "Burst: too many invites within an hour (held)"."""
    return [f"{RULE_LABELS.get(entry['rule'], entry['rule'])} ({ACTION_LABELS.get(entry['action'], entry['action'])})"
            for entry in reasons or []]
