"""Broadcast and moments effect: for each finished broadcast and each published moments post of a range, the
audience's valid orders in the N days after the send against the same audience's in the N days before.
Definitions: docs/reports.md, "Broadcast and moments effect".

Who the audience is stays with the app that sent: a broadcast's sent deliveries (campaigns), a publication's
visibility rule (moments.selectors.publication_audience, the same audience the post's own page counts its orders
from). What counts as an order stays in reports.orders.valid_orders. Both apps are optional to the reports: each
is imported inside the function that reads it, behind apps.is_installed(), and a missing one gives no rows.

Speed: one aggregate query over the orders per send (and a count of its audience), the audience as a subquery
(IN (SELECT contact_id ...)), the two windows told apart by FILTER (WHERE placed_at ...). No new index: the two on the orders serve it. The planner
either probes order_contact_placed (contact, placed_at) once per audience member for their orders of the 2N days,
or reads the workspace's orders of the 2N days through order_ws_placed (workspace, placed_at) INCLUDE (contact) and
hashes them against the audience; (contact, placed_at) is the "(workspace, contact, placed_at)" index in effect, a
contact's id belonging to one workspace. Measured on PostgreSQL with 1,000,000 contacts and 2,000,000 orders, an
audience of 100,000 and 7 or 14 days either side: 0.2 to 0.3 s with the pages in memory (probing a random tenth of
the book, or hashing the 233,000 orders of a busy month), up to 1.6 s read from disk (the heap reads of amount and
refunded_at are most of it). So each send's row is cached on its own (send_effect), and the page counts ten sends
at a time.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from decimal import Decimal

from django.apps import apps
from django.core.cache import cache
from django.db.models import Count, Q, QuerySet, Sum
from django.utils import timezone

from crm import selectors as crm_selectors
from crm.models import Workspace
from reports.acquisition import AcquisitionFilter, local_bounds
from reports.orders import valid_orders
from reports.selectors import money

# The latest sends of each kind of a range (a seller who sends daily narrows the range to see earlier ones), and
# how many the page counts at a time: each is a query over its audience's orders, up to a second for an audience
# of 100,000 in a book of a million.
MAX_SENDS = 30
PAGE_SIZE = 10
# How long the figures of a send whose N days after have passed are kept (see send_effect).
EFFECT_COMPLETE_SECONDS = 6 * 3600
BROADCAST, MOMENTS = "broadcast", "moments"


@dataclass(frozen=True)
class Window:
    orders: int = 0
    revenue: Decimal = Decimal("0.00")
    customers: int = 0  # audience members with at least one order in the window


@dataclass(frozen=True)
class EffectRow:
    kind: str  # BROADCAST or MOMENTS
    pk: int  # the broadcast's, or the moments publication's
    name: str
    sent_at: datetime
    days: int
    audience: int
    before: Window
    after: Window
    complete: bool  # the N days after have passed: the figures will not grow any more
    counted_at: datetime | None = None

    @property
    def orders_difference(self) -> int:
        return self.after.orders - self.before.orders

    @property
    def revenue_difference(self) -> Decimal:
        return self.after.revenue - self.before.revenue

    @property
    def revenue_difference_abs(self) -> Decimal:
        return abs(self.revenue_difference)

    @property
    def customers_difference(self) -> int:
        return self.after.customers - self.before.customers

    def as_json(self) -> dict:
        def window(w: Window) -> dict:
            return {"orders": w.orders, "revenue": str(w.revenue), "customers": w.customers}

        return {
            "kind": self.kind, "id": self.pk, "name": self.name, "sent_at": self.sent_at.isoformat(),
            "days": self.days, "audience": self.audience, "before": window(self.before), "after": window(self.after),
            "difference": {"orders": self.orders_difference, "revenue": str(self.revenue_difference),
                           "customers": self.customers_difference},
            "complete": self.complete,
        }


@dataclass(frozen=True)
class Effect:
    rows: list[EffectRow]
    counted_at: datetime  # when the oldest of the rows was counted
    page: int = 1
    pages: int = 1


def audience_orders(*, workspace: Workspace, audience: QuerySet, sent_at: datetime, days: int) -> tuple[Window, Window]:
    """The audience's valid orders placed in the `days` days before `sent_at` and in the `days` days from it, in one
    query. `audience` is a queryset of contact ids (values("pk") or values("contact_id")). Both windows are half
    open: an order exactly `days` days after the send is outside, one at the instant of the send is after."""
    window = timedelta(days=days)
    after, before = Q(placed_at__gte=sent_at), Q(placed_at__lt=sent_at)
    found = valid_orders(workspace=workspace).filter(
        placed_at__gte=sent_at - window, placed_at__lt=sent_at + window, contact_id__in=audience,
    ).aggregate(
        after_orders=Count("pk", filter=after), after_revenue=Sum("amount", filter=after),
        after_customers=Count("contact_id", filter=after, distinct=True),
        before_orders=Count("pk", filter=before), before_revenue=Sum("amount", filter=before),
        before_customers=Count("contact_id", filter=before, distinct=True),
    )
    return tuple(
        Window(orders=found[f"{side}_orders"], revenue=money(found[f"{side}_revenue"]),
               customers=found[f"{side}_customers"])
        for side in ("before", "after")
    )


@dataclass(frozen=True)
class Send:
    """A broadcast or a moments publication of the range: what is needed to count its effect."""

    kind: str
    pk: int
    name: str
    sent_at: datetime
    audience: QuerySet  # contact ids

    def cache_name(self, days: int) -> str:
        return f"reports:effect:{self.kind}:{self.pk}:{self.sent_at.timestamp()}:{days}"


def sends_of_range(*, workspace: Workspace, filters: AcquisitionFilter) -> list[Send]:
    """The finished broadcasts and published moments posts of the range, newest first (two small queries)."""
    start, end = local_bounds(workspace, filters.since, filters.until)
    found = [*_broadcasts(workspace, start, end), *_publications(workspace, start, end)]
    found.sort(key=lambda send: (send.sent_at, send.kind, send.pk), reverse=True)
    return found


def send_effect(*, workspace: Workspace, send: Send, days: int) -> EffectRow:
    """One send's row. Cached per send, not per range, so that a new order (a new version of the book) recounts
    only the sends whose N days after are still running: the figures of a send whose windows have both passed
    change only with an order placed back then (an import, a refund), so they are kept for
    EFFECT_COMPLETE_SECONDS whatever else the book does."""
    now = timezone.now()
    complete = send.sent_at + timedelta(days=days) <= now

    def compute():
        before, after = audience_orders(workspace=workspace, audience=send.audience, sent_at=send.sent_at,
                                        days=days)
        return EffectRow(kind=send.kind, pk=send.pk, name=send.name, sent_at=send.sent_at, days=days,
                         audience=send.audience.count(), before=before, after=after, complete=complete,
                         counted_at=now)

    if complete:
        row = cache.get_or_set(f"crm:{workspace.pk}:{send.cache_name(days)}", compute, EFFECT_COMPLETE_SECONDS)
    else:
        row = crm_selectors.cached_for_workspace(workspace_id=workspace.pk, name=send.cache_name(days),
                                                 compute=compute)
    return replace(row, name=send.name)  # a broadcast renamed since shows its new name


def campaign_effect(*, workspace: Workspace, filters: AcquisitionFilter, page: int | None = None) -> Effect:
    """The sends of the range with their effect, newest first: PAGE_SIZE of them from `page` (1 is the newest),
    or all of them without one (the export, the command)."""
    sends = sends_of_range(workspace=workspace, filters=filters)
    pages = max(1, -(-len(sends) // PAGE_SIZE))
    if page is not None:
        page = min(max(page, 1), pages)
        sends = sends[(page - 1) * PAGE_SIZE:page * PAGE_SIZE]
    rows = [send_effect(workspace=workspace, send=send, days=filters.days) for send in sends]
    return Effect(rows=rows, page=page or 1, pages=pages if page is not None else 1,
                  counted_at=min((row.counted_at for row in rows), default=timezone.now()))


def _broadcasts(workspace, start, end) -> list[Send]:
    """Finished broadcasts that started sending in the range; their audience the contacts whose delivery was sent
    (skipped and failed ones got nothing), counted over the delivery_progress index (broadcast, status, id)."""
    if not apps.is_installed("campaigns"):
        return []
    from campaigns.models import Broadcast, Delivery

    broadcasts = Broadcast.objects.filter(
        workspace=workspace, status=Broadcast.Status.FINISHED, started_at__gte=start, started_at__lt=end,
    ).order_by("-started_at", "-id")[:MAX_SENDS]
    return [
        Send(kind=BROADCAST, pk=broadcast.pk, name=broadcast.name, sent_at=broadcast.started_at,
             audience=Delivery.objects.filter(broadcast=broadcast, status=Delivery.Status.SENT)
             .order_by().values("contact_id"))
        for broadcast in broadcasts
    ]


def _publications(workspace, start, end) -> list[Send]:
    """Published moments posts, a row per account that published one (each has its time and its friends); the
    audience the customers its visibility rule matches now who were already friends when it was published."""
    if not apps.is_installed("moments"):
        return []
    from moments.models import Publication
    from moments.selectors import publication_audience, publication_sent_at

    publications = Publication.objects.filter(
        workspace=workspace, status=Publication.Status.PUBLISHED, published_at__gte=start, published_at__lt=end,
    ).select_related("post__workspace", "account").order_by("-published_at", "-id")[:MAX_SENDS]
    sends = []
    for publication in publications:
        post = publication.post
        sent_at = publication_sent_at(post=post, publication=publication)
        audience = publication_audience(post=post, publication=publication).filter(
            added_at__lt=sent_at).order_by().values("pk")
        sends.append(Send(kind=MOMENTS, pk=publication.pk, name=f"{post} · {publication.account.name}",
                          sent_at=sent_at, audience=audience))
    return sends
