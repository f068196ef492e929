"""The orders every report counts, and the one place that says which those are.

A refunded order (Order.refunded_at set) is no sale: it counts in no report, no rollup and no RFM score. A duplicate
merged into another contact has no orders left to count: the merge moves them to the survivor (crm.duplicates), so
the orders are read without a join to the contacts.
"""

from zoneinfo import ZoneInfo

from django.db import connection
from django.db.models import QuerySet

from crm.models import Order, Workspace

DEFAULT_TIME_ZONE = "Asia/Shanghai"


def valid_orders(*, workspace: Workspace) -> QuerySet[Order]:
    """The workspace's orders that count as sales."""
    return Order.objects.filter(workspace=workspace, refunded_at__isnull=True).order_by()


def workspace_zone(workspace: Workspace) -> ZoneInfo:
    """The zone whose local days and months the reports count in (an unknown name falls back to Asia/Shanghai)."""
    try:
        return ZoneInfo(workspace.time_zone or DEFAULT_TIME_ZONE)
    except (ValueError, KeyError, OSError):
        return ZoneInfo(DEFAULT_TIME_ZONE)


def as_subquery(queryset: QuerySet) -> tuple[str, tuple]:
    """A queryset's SQL and parameters, to read from in a query the ORM cannot say (window functions under
    GROUP BY): the filters stay written once, in the ORM."""
    sql, params = queryset.query.sql_with_params()
    return f"({sql})", tuple(params)


def day_gap_sql(later: str, earlier: str) -> str:
    """Whole days between two local dates (columns of DATE type on PostgreSQL, ISO text on SQLite)."""
    if connection.vendor == "postgresql":
        return f"({later} - {earlier})"
    return f"CAST(julianday({later}) - julianday({earlier}) AS INTEGER)"
