"""Lifecycle stages from behaviour (docs/reports.md, "Lifecycle stages"), and the lost-customer digest.

The stage pass computes every contact's stage in SQL (one CASE over subqueries per batch of contact ids), updates
only the contacts whose stage changed and writes one "stage changed" timeline event each, in bulk. Run twice, the
second pass finds nothing to change and writes nothing.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import transaction
from django.db.models import Case, CharField, Count, Exists, F, OuterRef, Q, QuerySet, Subquery, Sum, Value, When
from django.db.models.functions import Coalesce
from django.utils import timezone

from crm.models import Contact, TimelineEvent, Workspace
from crm.selectors import book_changed
from reports.models import LifecycleSettings
from reports.orders import valid_orders

Stage = Contact.Stage

# What counts as the customer engaging with the seller: replying, liking or commenting on a moments post.
INTERACTION_KINDS = [
    TimelineEvent.Kind.REPLY, TimelineEvent.Kind.MOMENT_LIKED, TimelineEvent.Kind.MOMENT_COMMENTED,
]
# Contacts per batch: each batch is one query, one UPDATE per stage and one INSERT of events, in one transaction.
BATCH_SIZE = 2000
# How far back the digest looks by default.
DIGEST_DAYS = 7


def lifecycle_settings(*, workspace: Workspace) -> LifecycleSettings:
    """The workspace's thresholds, or the defaults (unsaved) when the seller never changed them."""
    return LifecycleSettings.objects.filter(workspace=workspace).first() or LifecycleSettings(workspace=workspace)


def stage_change_body(old: str, new: str) -> str:
    """The timeline event's body: the two stage codes, shown as names in the reader's language (crm.selectors)."""
    return f"{old} → {new}"


def _computed_stage(
    *, workspace: Workspace, thresholds: LifecycleSettings, now: datetime
) -> tuple[Case, Coalesce, Subquery]:
    """Each contact's stage from its valid orders and interactions, the first rule that holds winning; with the
    order count and the sum spent it reads as `lc_orders` and `lc_spent`, to annotate first."""
    orders = valid_orders(workspace=workspace).filter(contact=OuterRef("pk"))
    interactions = TimelineEvent.objects.filter(contact=OuterRef("pk"), kind__in=INTERACTION_KINDS)
    lost_since = now - timedelta(days=thresholds.lost_days)
    per_contact = orders.values("contact")
    order_count = Coalesce(Subquery(per_contact.annotate(n=Count("id")).values("n")[:1]), 0)
    spent = Subquery(per_contact.annotate(total=Sum("amount")).values("total")[:1])
    return Case(
        When(friend_deleted_at__isnull=False, then=Value(Stage.LOST)),
        When(
            Q(added_at__lt=lost_since)
            & ~Exists(orders.filter(placed_at__gte=lost_since))
            & ~Exists(interactions.filter(occurred_at__gte=lost_since)),
            then=Value(Stage.LOST),
        ),
        When(
            Exists(orders) & ~Exists(orders.filter(placed_at__gte=now - timedelta(days=thresholds.dormant_days))),
            then=Value(Stage.DORMANT),
        ),
        When(Q(lc_orders__gte=thresholds.vip_orders) | Q(lc_spent__gte=thresholds.vip_spent), then=Value(Stage.VIP)),
        When(lc_orders__gte=2, then=Value(Stage.REPEAT)),
        When(lc_orders=1, then=Value(Stage.FIRST_ORDER)),
        When(
            Exists(interactions.filter(occurred_at__gte=now - timedelta(days=thresholds.engaged_days))),
            then=Value(Stage.ENGAGED),
        ),
        default=Value(Stage.NEW),
        output_field=CharField(),
    ), order_count, spent


def _stage_changes(*, workspace: Workspace, thresholds: LifecycleSettings, now: datetime, first_id: int,
                   last_id: int) -> list[tuple[int, str, str]]:
    """(contact id, old stage, new stage) for the batch's contacts whose stage is no longer right."""
    stage, order_count, spent = _computed_stage(workspace=workspace, thresholds=thresholds, now=now)
    return list(
        _live_contacts(workspace).filter(pk__gte=first_id, pk__lte=last_id)
        .annotate(lc_orders=order_count, lc_spent=spent)
        .annotate(new_stage=stage)
        .exclude(new_stage=F("stage"))
        .values_list("pk", "stage", "new_stage")
    )


def _live_contacts(workspace: Workspace) -> QuerySet[Contact]:
    # A duplicate merged into another contact is hidden and keeps the stage it had.
    return Contact.objects.filter(workspace=workspace, merged_into__isnull=True).order_by()


@transaction.atomic
def _apply(*, workspace: Workspace, changes: list[tuple[int, str, str]], now: datetime) -> None:
    by_move: dict[tuple[str, str], list[int]] = {}
    for contact_id, old, new in changes:
        by_move.setdefault((old, new), []).append(contact_id)
    events = []
    for (old, new), contact_ids in by_move.items():
        # Only rows still at the old stage move, so a concurrent pass cannot write a second event for them.
        moved = Contact.objects.filter(pk__in=contact_ids, stage=old).values_list("pk", flat=True)
        moved_ids = list(moved)
        Contact.objects.filter(pk__in=moved_ids).update(stage=new)
        events += [
            TimelineEvent(workspace=workspace, contact_id=pk, kind=TimelineEvent.Kind.STAGE_CHANGED,
                          body=stage_change_body(old, new), occurred_at=now)
            for pk in moved_ids
        ]
    TimelineEvent.objects.bulk_create(events, batch_size=BATCH_SIZE)


def stages_refresh(*, workspace: Workspace, now: datetime | None = None) -> int:
    """Bring every contact's stage up to date; returns how many changed."""
    now = now or timezone.now()
    thresholds = lifecycle_settings(workspace=workspace)
    ids = _live_contacts(workspace).order_by("pk").values_list("pk", flat=True)
    changed, after = 0, 0
    while batch := list(ids.filter(pk__gt=after)[:BATCH_SIZE]):
        after = batch[-1]
        changes = _stage_changes(workspace=workspace, thresholds=thresholds, now=now, first_id=batch[0],
                                 last_id=after)
        if changes:
            _apply(workspace=workspace, changes=changes, now=now)
            changed += len(changes)
    if changed:
        book_changed(workspace_id=workspace.pk)
    return changed


@dataclass(frozen=True)
class LostDigest:
    since: datetime
    deleted_us: list[Contact]
    vips_gone_dormant: list[Contact]


def lost_digest(*, workspace: Workspace, days: int = DIGEST_DAYS, limit: int = 50,
                now: datetime | None = None) -> LostDigest:
    """Contacts who deleted the seller and VIPs who became dormant in the last `days` days, newest first."""
    since = (now or timezone.now()) - timedelta(days=days)
    contacts = _live_contacts(workspace).select_related("owner_account")
    deleted = contacts.filter(friend_deleted_at__gte=since).order_by("-friend_deleted_at", "-pk")[:limit]
    went_dormant = TimelineEvent.objects.filter(
        workspace=workspace, kind=TimelineEvent.Kind.STAGE_CHANGED, occurred_at__gte=since,
        body=stage_change_body(Stage.VIP, Stage.DORMANT),
    ).values("contact_id")
    dormant = contacts.filter(stage=Stage.DORMANT, pk__in=went_dormant).order_by("-pk")[:limit]
    return LostDigest(since=since, deleted_us=list(deleted), vips_gone_dormant=list(dormant))
