"""Reads behind the reports: repeat purchase from the order sequences or the orders, cohorts and RFM from the rollups
(reports.rollups).

Every selector takes the workspace and counts in SQL (GROUP BY, window functions): a million orders never come into
Python, only a few dozen aggregated rows. Definitions: docs/reports.md.
"""

import hashlib
import json
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import Decimal

from django.db import connection
from django.db.models import Count, DecimalField, Q, QuerySet, Sum
from django.db.models.functions import TruncDate, TruncMonth

from crm import segments, selectors as crm_selectors
from crm.models import Order, Segment, Workspace
from reports.models import CohortCell, OrderSequence, RollupState
from reports.orders import as_subquery, day_gap_sql, valid_orders, workspace_zone

CENT = Decimal("0.01")
# Customers with this many orders or more share the distribution's last bar ("5+").
DISTRIBUTION_CAP = 5
# The cohort table shows this many months after the first (the cumulative revenue still counts them all).
COHORT_MONTHS_SHOWN = 12


def money(value) -> Decimal:
    """A sum as SQL returned it (Decimal on PostgreSQL, float or int on SQLite), to the cent."""
    if value is None:
        return Decimal("0.00")
    return Decimal(str(value)).quantize(CENT)


def ratio(part, whole) -> float | None:
    return round(float(part) / float(whole), 4) if whole else None


@dataclass(frozen=True)
class ReportFilter:
    """What the repeat-purchase report counts: local days `since`..`until` (both included) and optional filters,
    each already checked against the workspace."""

    since: date
    until: date
    channel: str = ""
    account_id: int | None = None
    segment_id: int | None = None

    def fingerprint(self) -> str:
        return hashlib.sha1(json.dumps(asdict(self), sort_keys=True, default=str).encode()).hexdigest()


def range_bounds(*, workspace: Workspace, filters: ReportFilter) -> tuple[datetime, datetime]:
    """The filter's local days as the instants [start, end) in the workspace's zone."""
    zone = workspace_zone(workspace)
    start = datetime.combine(filters.since, time.min, tzinfo=zone)
    end = datetime.combine(filters.until + timedelta(days=1), time.min, tzinfo=zone)
    return start, end


def filtered_orders(*, workspace: Workspace, filters: ReportFilter) -> QuerySet[Order]:
    """The valid orders placed on the filter's local days, narrowed by channel, contact's account and segment."""
    start, end = range_bounds(workspace=workspace, filters=filters)
    orders = valid_orders(workspace=workspace).filter(placed_at__gte=start, placed_at__lt=end)
    if filters.channel:
        orders = orders.filter(channel=filters.channel)
    return _narrowed_to_contacts(orders, workspace=workspace, filters=filters)


def _narrowed_to_contacts(rows: QuerySet, *, workspace: Workspace, filters: ReportFilter) -> QuerySet:
    """Rows (orders or order sequences) of the contacts the account and segment filters choose: these filters
    take a customer with all their orders or not at all."""
    if filters.account_id:
        rows = rows.filter(contact__owner_account_id=filters.account_id)
    if filters.segment_id:
        segment = Segment.objects.get(workspace=workspace, pk=filters.segment_id)
        audience = segments.segment_contacts(workspace=workspace, rule=segment.rule).order_by().values("pk")
        rows = rows.filter(contact__in=audience)
    return rows


@dataclass
class RepeatPurchase:
    customers: int = 0
    repeat_customers: int = 0
    orders: int = 0
    revenue: Decimal = Decimal("0.00")
    repeat_revenue: Decimal = Decimal("0.00")
    first_orders_revenue: Decimal = Decimal("0.00")
    median_days_to_second_order: float | None = None
    # customers by their number of orders: {1: n, 2: n, ..., DISTRIBUTION_CAP: n (that many or more)}
    orders_per_customer: dict = field(default_factory=dict)
    # When the rollups these figures come from were written; None: counted from the orders just now.
    as_of: datetime | None = field(default=None, compare=False)

    @property
    def repeat_rate(self) -> float | None:
        return ratio(self.repeat_customers, self.customers)

    @property
    def repeat_revenue_share(self) -> float | None:
        return ratio(self.repeat_revenue, self.revenue) if self.revenue else None

    @property
    def average_first_order(self) -> Decimal | None:
        return (self.first_orders_revenue / self.customers).quantize(CENT) if self.customers else None

    @property
    def average_repeat_order(self) -> Decimal | None:
        repeat_orders = self.orders - self.customers
        if not repeat_orders:
            return None
        return ((self.revenue - self.first_orders_revenue) / repeat_orders).quantize(CENT)

    def as_json(self) -> dict:
        def text(value):
            return None if value is None else str(value)

        return {
            "customers": self.customers,
            "repeat_customers": self.repeat_customers,
            "repeat_rate": self.repeat_rate,
            "orders": self.orders,
            "revenue": str(self.revenue),
            "median_days_to_second_order": self.median_days_to_second_order,
            "repeat_revenue_share": self.repeat_revenue_share,
            "average_first_order": text(self.average_first_order),
            "average_repeat_order": text(self.average_repeat_order),
            "orders_per_customer": {str(k): v for k, v in sorted(self.orders_per_customer.items())},
            "fresh_as_of": None if self.as_of is None else self.as_of.isoformat(),
        }


# One row per (orders bucket, days from first to second order): each customer's orders numbered in time (ties on
# the same instant by id), folded per customer, then counted. A few hundred rows at most come back.
_REPEAT_SQL = """
WITH numbered AS (
    SELECT o.contact_id, o.amount, o.day,
           ROW_NUMBER() OVER (PARTITION BY o.contact_id ORDER BY o.placed_at, o.id) AS rn
    FROM {orders} o
), per_customer AS (
    SELECT contact_id, COUNT(*) AS n, SUM(amount) AS revenue,
           SUM(CASE WHEN rn = 1 THEN amount ELSE 0 END) AS first_amount,
           MAX(CASE WHEN rn = 1 THEN day END) AS first_day,
           MAX(CASE WHEN rn = 2 THEN day END) AS second_day
    FROM numbered GROUP BY contact_id
)
SELECT CASE WHEN n >= {cap} THEN {cap} ELSE n END AS bucket,
       {gap} AS gap,
       COUNT(*), SUM(n), SUM(revenue), SUM(first_amount)
FROM per_customer
GROUP BY 1, 2
"""


def repeat_purchase(*, workspace: Workspace, filters: ReportFilter) -> RepeatPurchase:
    """The repeat-purchase figures for the filter, from the order sequences when they can answer it (see
    sequences_to_use), else from the orders; kept per version of the customer book and of the rollups."""
    state = sequences_to_use(workspace=workspace, filters=filters)
    source = f"sequences:{state.refreshed_at.timestamp()}" if state else "orders"
    return crm_selectors.cached_for_workspace(
        workspace_id=workspace.pk, name=f"reports:repeat:{source}:{filters.fingerprint()}",
        compute=lambda: _repeat_purchase(workspace=workspace, filters=filters, state=state),
    )


# A workspace with at most this many valid orders at its last refresh is counted from the orders when its book has
# changed since (the window query takes ~0.1 s there): a small shop sees an order it has just entered at once.
LIVE_COUNT_MAX_ORDERS = 100_000


def sequences_to_use(*, workspace: Workspace, filters: ReportFilter) -> RollupState | None:
    """The rollup state whose order sequences answer the filter, or None to count from the orders: no sequences
    yet, or written in another time zone, or a channel filter (it drops orders from the middle of a customer's
    sequence, so the positions change), or a small workspace whose book changed since the refresh."""
    if filters.channel:
        return None
    state = rollup_state(workspace=workspace)
    if state is None or state.sequence_zone != workspace_zone(workspace).key:
        return None
    stale = state.book_version != crm_selectors.book_version(workspace_id=workspace.pk)
    if stale and state.sequence_orders <= LIVE_COUNT_MAX_ORDERS:
        return None
    return state


_UNKNOWN = object()


def _repeat_purchase(*, workspace: Workspace, filters: ReportFilter, state=_UNKNOWN) -> RepeatPurchase:
    if state is _UNKNOWN:
        state = sequences_to_use(workspace=workspace, filters=filters)
    if state is None:
        return repeat_purchase_from_orders(workspace=workspace, filters=filters)
    report = repeat_purchase_from_sequences(workspace=workspace, filters=filters)
    report.as_of = state.refreshed_at
    return report


def repeat_purchase_from_orders(*, workspace: Workspace, filters: ReportFilter) -> RepeatPurchase:
    """The definition: every customer's orders in the range numbered in time, folded per customer."""
    orders = filtered_orders(workspace=workspace, filters=filters).annotate(
        day=TruncDate("placed_at", tzinfo=workspace_zone(workspace))
    ).values("contact_id", "placed_at", "id", "amount", "day")
    subquery, params = as_subquery(orders)
    sql = _REPEAT_SQL.format(orders=subquery, cap=DISTRIBUTION_CAP, gap=day_gap_sql("second_day", "first_day"))
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    return _fold_repeat_rows(rows)


def repeat_purchase_from_sequences(*, workspace: Workspace, filters: ReportFilter) -> RepeatPurchase:
    """The same figures from the order sequences (reports.models.OrderSequence) as they were last written: one pass
    over the range's rows with conditional counts, no window and no grouping per customer.

    An order in [start, end) is its customer's k-th in the range when k - 1 of its previous orders are at or after
    start (they are before it, so before end too). Hence: the orders with at least k previous ones in the range
    number sum over customers of max(0, n - k); the first orders in the range are one per customer; the second
    ones carry the days from the first; a customer with one order is a first order whose next one is after end.
    """
    if filters.channel:
        raise ValueError("A channel filter changes the sequences: count it from the orders.")
    start, end = range_bounds(workspace=workspace, filters=filters)
    rows = _narrowed_to_contacts(
        OrderSequence.objects.filter(workspace=workspace, placed_at__gte=start, placed_at__lt=end),
        workspace=workspace, filters=filters,
    )
    earlier = {k: Q(**{f"prev{k}_at__gte": start}) for k in range(1, DISTRIBUTION_CAP + 1)}
    first, second = ~earlier[1], earlier[1] & ~earlier[2]
    alone = first & (Q(next_at__isnull=True) | Q(next_at__gte=end))
    total = DecimalField(max_digits=20, decimal_places=2)  # a year's revenue outgrows the amount's 12 digits
    # Grouped by the gap itself, not by "the gap of a second order": the planner knows how many gaps there are
    # (a few thousand at most) and so counts in parallel, each worker folding its share into as many groups.
    groups = rows.order_by().values("gap_days").annotate(
        seconds=Count("placed_at", filter=second),
        orders=Count("placed_at"),
        revenue=Sum("amount", output_field=total),
        first_amount=Sum("amount", filter=first, output_field=total),
        alone_amount=Sum("amount", filter=alone, output_field=total),
        **{f"after{k}": Count("placed_at", filter=earlier[k]) for k in earlier},
    )
    return _fold_sequence_groups(list(groups))


def _fold_sequence_groups(groups: list[dict]) -> RepeatPurchase:
    report = RepeatPurchase()
    # at_position[k]: the orders that are at least their customer's k-th in the range
    at_position = {k: 0 for k in range(1, DISTRIBUTION_CAP + 2)}
    alone_revenue = Decimal("0.00")
    gaps: dict[int, int] = {}
    for group in groups:
        at_position[1] += group["orders"]
        for k in range(1, DISTRIBUTION_CAP + 1):
            at_position[k + 1] += group[f"after{k}"]
        report.revenue += money(group["revenue"])
        report.first_orders_revenue += money(group["first_amount"])
        alone_revenue += money(group["alone_amount"])
        if group["seconds"]:  # second orders in the range: one per repeat customer
            gaps[int(group["gap_days"])] = group["seconds"]
    # customers with at least k orders in the range = their k-th orders
    at_least = {k: at_position[k] - at_position[k + 1] for k in range(1, DISTRIBUTION_CAP + 1)}
    report.orders = at_position[1]
    report.customers = at_least[1]
    report.repeat_customers = at_least[2]
    report.orders_per_customer = {
        k: at_least[k] - (at_least[k + 1] if k < DISTRIBUTION_CAP else 0) for k in range(1, DISTRIBUTION_CAP + 1)
    }
    report.repeat_revenue = report.revenue - alone_revenue
    report.median_days_to_second_order = median_of_counts(gaps)
    return report


def _fold_repeat_rows(rows) -> RepeatPurchase:
    report = RepeatPurchase(orders_per_customer={n: 0 for n in range(1, DISTRIBUTION_CAP + 1)})
    gaps: dict[int, int] = {}
    for bucket, gap, customers, orders, revenue, first_amount in rows:
        # PostgreSQL sums integers as NUMERIC (Decimal): counts come back to int here.
        bucket, customers, orders, revenue = int(bucket), int(customers), int(orders), money(revenue)
        report.customers += customers
        report.orders += orders
        report.revenue += revenue
        report.first_orders_revenue += money(first_amount)
        report.orders_per_customer[bucket] += customers
        if bucket >= 2:
            report.repeat_customers += customers
            report.repeat_revenue += revenue
            gaps[int(gap)] = gaps.get(int(gap), 0) + customers
    report.median_days_to_second_order = median_of_counts(gaps)
    return report


def median_of_counts(counts: dict[int, int]) -> float | None:
    """The median of values given as {value: how many times}: the middle one, or the mean of the two middle ones.
    The same answer as PERCENTILE_CONT(0.5) on PostgreSQL, on every database, from a histogram of a few hundred
    rows rather than a sort of every customer."""
    total = sum(counts.values())
    if not total:
        return None
    wanted = [(total - 1) // 2, total // 2]  # the 0-based positions of the middle value(s)
    found = []
    seen = 0
    for value in sorted(counts):
        while wanted and wanted[0] < seen + counts[value]:
            found.append(value)
            wanted.pop(0)
        seen += counts[value]
    return sum(found) / 2


@dataclass(frozen=True)
class MonthPoint:
    month: date
    orders: int
    revenue: Decimal


def orders_by_month(*, workspace: Workspace, filters: ReportFilter) -> list[MonthPoint]:
    """Orders and revenue per local month of the filter's range (the dashboard's line chart)."""
    def compute():
        rows = (
            filtered_orders(workspace=workspace, filters=filters)
            .annotate(month=TruncMonth("placed_at", tzinfo=workspace_zone(workspace)))
            .values("month").annotate(n=Count("id"), total=Sum("amount")).order_by("month")
        )
        return [MonthPoint(month=_as_date(row["month"]), orders=row["n"], revenue=money(row["total"])) for row in rows]

    return crm_selectors.cached_for_workspace(
        workspace_id=workspace.pk, name=f"reports:months:{filters.fingerprint()}", compute=compute
    )


def _as_date(value) -> date:
    return value.date() if isinstance(value, datetime) else value


# Cohorts -----------------------------------------------------------------------------------------------------------


@dataclass
class CohortRow:
    cohort: date
    customers: int
    # share of the cohort who ordered again 1, 2, ... months after the first (None: that month is still to come)
    retention: list = field(default_factory=list)
    # revenue of the cohort up to and including each month, the first month included
    cumulative_revenue: list = field(default_factory=list)

    @property
    def total_revenue(self) -> Decimal:
        return self.cumulative_revenue[-1] if self.cumulative_revenue else Decimal("0.00")


def rollup_state(*, workspace: Workspace) -> RollupState | None:
    return RollupState.objects.filter(workspace=workspace).first()


def cohort_table(*, workspace: Workspace, since: date, until: date, today: date) -> list[CohortRow]:
    """The cohorts whose first month lies between `since` and `until`, from the rollups (reports.rollups)."""
    first_month, last_month = since.replace(day=1), until.replace(day=1)
    cells = CohortCell.objects.filter(workspace=workspace, cohort__gte=first_month, cohort__lte=last_month)
    by_cohort: dict[date, dict[int, CohortCell]] = {}
    for cell in cells.order_by("cohort", "months_later"):
        by_cohort.setdefault(cell.cohort, {})[cell.months_later] = cell
    return [_cohort_row(cohort, found, today) for cohort, found in by_cohort.items()]


def months_between(earlier: date, later: date) -> int:
    return (later.year - earlier.year) * 12 + later.month - earlier.month


def _cohort_row(cohort: date, cells: dict, today: date) -> CohortRow:
    size = cells[0].customers if 0 in cells else 0
    elapsed = months_between(cohort, today)
    row = CohortRow(cohort=cohort, customers=size)
    for months_later in range(1, COHORT_MONTHS_SHOWN + 1):
        if months_later > elapsed:
            row.retention.append(None)
        else:
            cell = cells.get(months_later)
            row.retention.append(ratio(cell.customers if cell else 0, size) or 0.0)
    running = Decimal("0.00")
    for months_later in range(0, max(elapsed, max(cells, default=0)) + 1):
        cell = cells.get(months_later)
        running += cell.revenue if cell else Decimal("0.00")
        row.cumulative_revenue.append(running)
    return row
