"""RFM: recency, frequency and monetary scores 1-5 by quintile, and the named groups of the recency x frequency
grid. Read from the customer rollups (reports.models.CustomerRollup); the boundaries are fixed at each refresh.

A score is one more than the number of quintile boundaries the customer's value lies above (a boundary is the
largest value of its fifth, customers ordered by the value): customers with equal values share a score.
"""

from dataclasses import dataclass
from datetime import datetime, timezone as dt_timezone
from decimal import Decimal

from django.db import connection
from django.db.models import Case, Count, IntegerField, Q, QuerySet, Sum, Value, When
from django.utils.translation import gettext_lazy as _

from crm.models import Workspace
from reports.models import CustomerRollup

QUINTILES = 5

# The groups, best first, and the cells of the grid (recency score, frequency score) that belong to each.
GROUPS = {
    "champions": (_("Champions"), [(5, 4), (5, 5)]),
    "loyal": (_("Loyal customers"), [(3, 4), (3, 5), (4, 4), (4, 5)]),
    "potential_loyalists": (_("Potential loyalists"), [(4, 2), (4, 3), (5, 2), (5, 3)]),
    "new_customers": (_("New customers"), [(5, 1)]),
    "promising": (_("Promising"), [(4, 1)]),
    "need_attention": (_("Need attention"), [(3, 3)]),
    "about_to_sleep": (_("About to sleep"), [(3, 1), (3, 2)]),
    "cannot_lose": (_("Can't lose them"), [(1, 5), (2, 5)]),
    "at_risk": (_("At risk"), [(1, 3), (1, 4), (2, 3), (2, 4)]),
    "hibernating": (_("Hibernating"), [(1, 1), (1, 2), (2, 1), (2, 2)]),
}
GROUP_OF_CELL = {cell: key for key, (_label, cells) in GROUPS.items() for cell in cells}

_METRICS = {"r": "last_order_at", "f": "order_count", "m": "revenue"}

_NTILE_SQL = """
SELECT tile, MAX(value) FROM (
    SELECT {column} AS value, NTILE({n}) OVER (ORDER BY {column}) AS tile FROM {table} WHERE workspace_id = %s
) t GROUP BY tile
"""


def cuts_compute(*, workspace: Workspace) -> dict:
    """The four quintile boundaries of each metric, as JSON (times in ISO form, sums as text)."""
    return {key: [_to_json(value) for value in _boundaries(workspace, column)] for key, column in _METRICS.items()}


def _boundaries(workspace: Workspace, column: str) -> list:
    sql = _NTILE_SQL.format(column=column, n=QUINTILES, table=CustomerRollup._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(sql, [workspace.pk])
        largest = dict(cursor.fetchall())
    if not largest:
        return []
    # Fewer customers than quintiles: the missing fifths end at the largest value (nobody lies above them).
    top = largest[max(largest)]
    return [largest.get(tile, top) for tile in range(1, QUINTILES)]


def _to_json(value):
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)


def _aware(text: str) -> datetime:
    # SQLite hands back naive UTC text; PostgreSQL an aware datetime (stored above in ISO form with its offset).
    value = datetime.fromisoformat(text)
    return value if value.tzinfo else value.replace(tzinfo=dt_timezone.utc)


def _score(column: str, boundaries: list) -> Case:
    whens = [
        When(**{f"{column}__gt": boundary}, then=Value(score))
        for score, boundary in reversed(list(enumerate(boundaries, start=2)))
    ]
    return Case(*whens, default=Value(1), output_field=IntegerField())


def scored_customers(*, workspace: Workspace, cuts: dict) -> QuerySet[CustomerRollup]:
    """The workspace's customer rollups with their r, f and m scores."""
    return CustomerRollup.objects.filter(workspace=workspace).annotate(
        r=_score("last_order_at", [_aware(value) for value in cuts.get("r", [])]),
        f=_score("order_count", [int(value) for value in cuts.get("f", [])]),
        m=_score("revenue", [Decimal(value) for value in cuts.get("m", [])]),
    )


@dataclass
class GroupRow:
    key: str
    label: str
    customers: int = 0
    orders: int = 0
    revenue: Decimal = Decimal("0.00")
    monetary_score_sum: int = 0

    @property
    def average_monetary_score(self) -> float | None:
        return round(self.monetary_score_sum / self.customers, 1) if self.customers else None

    @property
    def average_revenue(self) -> Decimal | None:
        return (self.revenue / self.customers).quantize(Decimal("0.01")) if self.customers else None


def rfm_groups(*, workspace: Workspace, cuts: dict) -> tuple[list[GroupRow], dict]:
    """Every named group (empty ones too) and the recency x frequency grid {(r, f): customers}."""
    cells = (
        scored_customers(workspace=workspace, cuts=cuts).order_by().values("r", "f")
        .annotate(n=Count("id"), orders=Sum("order_count"), revenue=Sum("revenue"), m_sum=Sum("m"))
    )
    groups = {key: GroupRow(key=key, label=str(label)) for key, (label, _cells) in GROUPS.items()}
    grid = {}
    for cell in cells:
        grid[(cell["r"], cell["f"])] = cell["n"]
        group = groups[GROUP_OF_CELL[(cell["r"], cell["f"])]]
        group.customers += cell["n"]
        group.orders += int(cell["orders"])
        group.revenue += Decimal(str(cell["revenue"])).quantize(Decimal("0.01"))
        group.monetary_score_sum += int(cell["m_sum"])
    return list(groups.values()), grid


def rfm_group_contact_ids(*, workspace: Workspace, cuts: dict, group: str) -> QuerySet:
    """The contact ids of one named group (a lazy query: the caller reads it in batches)."""
    in_group = Q(pk__in=[])
    for r, f in GROUPS[group][1]:
        in_group |= Q(r=r, f=f)
    return scored_customers(workspace=workspace, cuts=cuts).filter(in_group).order_by("contact_id").values_list(
        "contact_id", flat=True
    )

