"""Reads for the referral pages: campaigns, participants and their progress, the leaderboard, the referral tree a
level at a time, held and flagged invites, and the campaign's report. Every read is scoped by the workspace; a
member limited to some accounts sees the participants and invites of their accounts' contacts only. Lists are
paged by the caller and counted by indexes: a campaign may have a million participants."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from django.db.models import Count, Exists, OuterRef, Q, QuerySet, Subquery, Sum
from django.db.models.functions import Coalesce

from crm import selectors as crm_selectors
from crm.models import Contact, Member, Workspace
from referrals import fraud
from referrals.models import AcquisitionCost, Campaign, Invite, Participant, Reward, RewardTier, Scan

EARNING = (Reward.Status.GRANTED, Reward.Status.DELIVERED)


def campaigns_of_workspace(*, workspace: Workspace) -> QuerySet[Campaign]:
    return Campaign.objects.filter(workspace=workspace).prefetch_related("tiers")


def _visible_contacts(member: Member):
    return crm_selectors.contacts_visible_to(member=member).values("pk")


def participants_visible_to(*, member: Member, campaign: Campaign) -> QuerySet[Participant]:
    participants = Participant.objects.filter(campaign=campaign, workspace_id=member.workspace_id)
    if not member.sees_all_accounts:
        participants = participants.filter(contact__in=_visible_contacts(member))
    return participants.select_related("contact")


def invites_visible_to(*, member: Member, campaign: Campaign) -> QuerySet[Invite]:
    invites = Invite.objects.filter(campaign=campaign, workspace_id=member.workspace_id)
    if not member.sees_all_accounts:
        invites = invites.filter(invitee__in=_visible_contacts(member))
    return invites.select_related("invitee", "participant__contact")


def leaderboard(*, member: Member, campaign: Campaign) -> QuerySet[Participant]:
    """Most qualified invites first (the referral_leaderboard index)."""
    return participants_visible_to(member=member, campaign=campaign).order_by("-qualified_count", "id")


# A participant's progress ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Progress:
    qualified: int
    next_tier: RewardTier | None  # None: every tier reached
    waiting: int  # invites still to qualify (pending or held)

    @property
    def needed(self) -> int:
        return self.next_tier.invites if self.next_tier else self.qualified


def participant_progress(*, participant: Participant) -> Progress:
    """"2 of 3": the participant's qualified invites against their next tier."""
    tiers = list(participant.campaign.tiers.all())
    waiting = participant.invites.filter(status__in=(Invite.Status.PENDING, Invite.Status.HELD)).count()
    next_tier = next((tier for tier in tiers if tier.invites > participant.qualified_count), None)
    return Progress(qualified=participant.qualified_count, next_tier=next_tier, waiting=waiting)


def reward_cap_reached(*, participant: Participant) -> bool:
    """Whether a tier the participant reaches was withheld by the campaign's reward cap (fraud.reward_cap)."""
    cap = participant.campaign.reward_cap
    if not cap:
        return False
    held = Reward.objects.filter(participant=participant, status__in=EARNING).count()
    reached = RewardTier.objects.filter(campaign_id=participant.campaign_id,
                                        invites__lte=participant.qualified_count).count()
    return held >= cap and reached > held


def invites_of_participant(*, participant: Participant) -> list[Invite]:
    invites = list(participant.invites.select_related("invitee").order_by("-attributed_at", "-id")[:200])
    for invite in invites:
        invite.reason_texts = fraud.describe(invite.reasons)
    return invites


# The referral tree ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TreeNode:
    contact: Contact
    brought: int  # contacts this one brought (one level down)
    code: str  # their code in the campaign, "" when they are not a participant


def tree_children(*, member: Member, campaign: Campaign, parent: Contact | None) -> QuerySet[Contact]:
    """One level of the tree, to be paged: without a parent, the campaign's participants who brought somebody
    (the roots, most first); under a contact, the contacts they brought. Each with `brought`, the count one
    level further down, so a level is one query however big the tree."""
    contacts = crm_selectors.contacts_visible_to(member=member)
    if parent is None:
        contacts = contacts.filter(Exists(Invite.objects.filter(campaign=campaign,
                                                                participant__contact=OuterRef("pk"))))
    else:
        contacts = contacts.filter(referred_by=parent)
    brought = Contact.objects.filter(referred_by=OuterRef("pk"), merged_into__isnull=True).order_by().values(
        "referred_by").annotate(n=Count("pk")).values("n")
    return contacts.annotate(brought=Coalesce(Subquery(brought), 0)).order_by("-brought", "id")


def tree_nodes(*, campaign: Campaign, contacts) -> list[TreeNode]:
    contacts = list(contacts)
    codes = dict(Participant.objects.filter(campaign=campaign, contact__in=[c.pk for c in contacts])
                 .values_list("contact_id", "code"))
    return [TreeNode(contact=c, brought=c.brought, code=codes.get(c.pk, "")) for c in contacts]


# Held and flagged invites ----------------------------------------------------------------------------------------


def held_invites(*, member: Member, campaign: Campaign) -> QuerySet[Invite]:
    return invites_visible_to(member=member, campaign=campaign).filter(status=Invite.Status.HELD).order_by(
        "attributed_at", "id")


def flagged_invites(*, member: Member, campaign: Campaign) -> QuerySet[Invite]:
    """Refused invites, and invites that went through with a flag, newest first."""
    return invites_visible_to(member=member, campaign=campaign).filter(
        Q(status=Invite.Status.REFUSED) | (Q(status=Invite.Status.QUALIFIED) & ~Q(reasons=[]))
    ).order_by("-attributed_at", "-id")


def with_reason_texts(invites) -> list[Invite]:
    invites = list(invites)
    for invite in invites:
        invite.reason_texts = fraud.describe(invite.reasons)
    return invites


def recent_scans(*, campaign: Campaign, limit: int = 20) -> list[Scan]:
    return list(Scan.objects.filter(campaign=campaign).select_related("participant__contact")
                .order_by("-scanned_at")[:limit])


# The report -------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CostComparison:
    channel: str
    cost_per_customer: Decimal
    saving: Decimal | None  # what each new customer costs less through the campaign (None: no customers yet)


@dataclass(frozen=True)
class Report:
    participants: int
    scans: int
    scans_not_counted: int
    new_contacts: int  # invites that were not refused
    qualified: int
    held: int
    refused: int
    rewards: int
    reward_cost: Decimal
    clawed_back: int
    cost_per_customer: Decimal | None
    comparisons: list[CostComparison]


def campaign_report(*, campaign: Campaign) -> Report:
    """The campaign's numbers, each a count over an index (campaign, ...)."""
    participants = Participant.objects.filter(campaign=campaign).count()
    scans = Scan.objects.filter(campaign=campaign).aggregate(
        total=Count("pk", filter=Q(counted=True)), not_counted=Count("pk", filter=Q(counted=False)))
    invites = dict(Invite.objects.filter(campaign=campaign).order_by().values_list("status").annotate(n=Count("pk")))
    rewards = Reward.objects.filter(participant__campaign=campaign).aggregate(
        granted=Count("pk", filter=Q(status__in=EARNING)),
        cost=Sum("tier__cost", filter=Q(status__in=EARNING)),
        clawed_back=Count("pk", filter=Q(status=Reward.Status.CLAWED_BACK)),
    )
    qualified = invites.get(Invite.Status.QUALIFIED, 0)
    cost = rewards["cost"] or Decimal("0.00")
    per_customer = (cost / qualified).quantize(Decimal("0.01")) if qualified else None
    comparisons = [
        CostComparison(channel=row.channel, cost_per_customer=row.cost_per_customer,
                       saving=None if per_customer is None else row.cost_per_customer - per_customer)
        for row in AcquisitionCost.objects.filter(workspace_id=campaign.workspace_id)
    ]
    return Report(
        participants=participants, scans=scans["total"], scans_not_counted=scans["not_counted"],
        new_contacts=sum(n for status, n in invites.items() if status != Invite.Status.REFUSED),
        qualified=qualified, held=invites.get(Invite.Status.HELD, 0), refused=invites.get(Invite.Status.REFUSED, 0),
        rewards=rewards["granted"], reward_cost=cost, clawed_back=rewards["clawed_back"],
        cost_per_customer=per_customer, comparisons=comparisons,
    )


def campaign_counts(*, campaign: Campaign) -> dict:
    """The few numbers the campaign page shows at the top."""
    return {
        "participants": Participant.objects.filter(campaign=campaign).count(),
        "held": Invite.objects.filter(campaign=campaign, status=Invite.Status.HELD).count(),
        "qualified": Invite.objects.filter(campaign=campaign, status=Invite.Status.QUALIFIED).count(),
    }


def rewards_of_participant(*, participant: Participant) -> QuerySet[Reward]:
    return participant.rewards.select_related("tier").order_by("tier__invites")

