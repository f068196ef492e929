"""Customers due to reorder, and the follow-up queued for them (docs/reports.md, "Due to reorder").

A customer's usual interval is the mean gap between their valid orders, (last − first) / (orders − 1); with one
order it is the workspace's median days from first to second order. They are due once the days since their last
order exceed it. The numbers come from the rollups (reports.rollups), so the list is as fresh as the reports.
"""

from dataclasses import dataclass
from datetime import date, datetime

from django.db import IntegrityError, connection, transaction
from django.db.models import BooleanField, QuerySet
from django.db.models.expressions import RawSQL
from django.utils import timezone

from campaigns.texts import personalise
from crm.models import Contact, Member, Workspace
from crm.selectors import contacts_visible_to
from crm.wechat import ChannelUnavailable, Message, channel_for
from reports import selectors
from reports.lifecycle import lifecycle_settings
from reports.models import CustomerRollup, ReorderNudge
from reports.orders import workspace_zone

# Every order since this day counts towards the workspace's median gap.
ALL_TIME = date(2000, 1, 1)
_ROLLUP = CustomerRollup._meta.db_table


def _days(column: str) -> str:
    """A moment as a number of days (with fractions) since an epoch, on either database."""
    if connection.vendor == "postgresql":
        return f"(EXTRACT(EPOCH FROM {column}) / 86400.0)"
    return f"julianday({column})"


def workspace_median_gap(*, workspace: Workspace, today: date) -> float | None:
    """The median days from first to second order over all the workspace's repeat customers (None: none yet)."""
    filters = selectors.ReportFilter(since=ALL_TIME, until=today)
    return selectors.repeat_purchase(workspace=workspace, filters=filters).median_days_to_second_order


def _due_condition(*, now: datetime, median_gap: float | None) -> RawSQL:
    first, last = _days(f'"{_ROLLUP}"."first_order_at"'), _days(f'"{_ROLLUP}"."last_order_at"')
    count, today = f'"{_ROLLUP}"."order_count"', _days("%s")
    own_history = f"({count} >= 2 AND ({today} - {last}) * ({count} - 1) > ({last} - {first}))"
    if median_gap is None:
        return RawSQL(own_history, (now,), output_field=BooleanField())
    one_order = f"({count} = 1 AND ({today} - {last}) > %s)"
    return RawSQL(f"({own_history} OR {one_order})", (now, now, median_gap), output_field=BooleanField())


def due_to_reorder(*, member: Member, now: datetime | None = None) -> QuerySet[CustomerRollup]:
    """The rollups of the customers the member sees who are due, longest overdue first. Lost, opted-out and
    deleted-us customers are left out: nothing should be sent to them."""
    now = now or timezone.now()
    workspace = member.workspace
    median_gap = workspace_median_gap(workspace=workspace, today=timezone.localdate(now, workspace_zone(workspace)))
    contacts = contacts_visible_to(member=member).filter(
        opted_out_at__isnull=True, friend_deleted_at__isnull=True
    ).exclude(stage=Contact.Stage.LOST)
    return (
        CustomerRollup.objects.filter(workspace=workspace, contact__in=contacts.values("pk"))
        .filter(_due_condition(now=now, median_gap=median_gap))
        .select_related("contact", "contact__owner_account")
        .order_by("last_order_at", "contact_id")
    )


@dataclass(frozen=True)
class DueRow:
    rollup: CustomerRollup
    interval_days: float | None
    nudged_today: bool

    @property
    def contact(self) -> Contact:
        return self.rollup.contact


def due_rows(*, rollups, median_gap: float | None, nudged_ids: set[int]) -> list[DueRow]:
    """A page of the list, each with its usual interval in days and whether today's follow-up is queued."""
    def interval(rollup: CustomerRollup) -> float | None:
        if rollup.order_count < 2:
            return median_gap
        return (rollup.last_order_at - rollup.first_order_at).total_seconds() / 86400 / (rollup.order_count - 1)

    return [DueRow(r, interval(r), r.contact_id in nudged_ids) for r in rollups]


def nudged_today(*, workspace: Workspace, contact_ids, today: date) -> set[int]:
    return set(ReorderNudge.objects.filter(workspace=workspace, day=today, contact_id__in=contact_ids)
               .values_list("contact_id", flat=True))


def reorder_follow_up(*, member: Member, contact_ids: list[int], now: datetime | None = None) -> int:
    """Queue today's follow-up for each of these due contacts the member sees; returns how many were queued.

    The ReorderNudge row (one per contact per local day) is claimed first, so a double click or two staff at once
    send one message; the message's ref is the nudge's, so a channel handed it twice keeps one.
    """
    now = now or timezone.now()
    workspace = member.workspace
    today = timezone.localdate(now, workspace_zone(workspace))
    text = lifecycle_settings(workspace=workspace).reorder_text
    due = due_to_reorder(member=member, now=now).filter(contact_id__in=contact_ids)
    queued = 0
    for rollup in due:
        contact = rollup.contact
        if contact.owner_account is None or not _claim(workspace=workspace, contact=contact, today=today,
                                                       member=member):
            continue
        message = Message(
            ref=f"reorder:{contact.pk}:{today:%Y%m%d}", workspace_id=workspace.pk,
            account_id=contact.owner_account_id, contact_id=contact.pk,
            text=personalise(text, remark_name=contact.remark_name, nickname=contact.nickname),
        )
        try:
            channel_for(contact.owner_account).send([message])
        except ChannelUnavailable:
            # Unsent: give the claim back so that a later click can try again.
            ReorderNudge.objects.filter(workspace=workspace, contact=contact, day=today).delete()
            continue
        queued += 1
    return queued


def _claim(*, workspace: Workspace, contact: Contact, today: date, member: Member) -> bool:
    try:
        with transaction.atomic():
            ReorderNudge.objects.create(workspace=workspace, contact=contact, day=today, created_by=member.user)
    except IntegrityError:
        return False
    return True
