"""Writing the rollups (reports.models) from the orders: run by Celery (reports.tasks) when the customer book has
changed since the last refresh, and from the dashboard's "refresh now". Running it twice writes the same rows."""

import time as clock
from datetime import date, datetime

from django.db import connection, transaction
from django.db.models.functions import TruncMonth
from django.utils import timezone

from crm import selectors as crm_selectors
from crm.models import Workspace
from reports import rfm
from reports.models import CohortCell, CustomerRollup, RollupState
from reports.orders import as_subquery, valid_orders, workspace_zone
from reports.forms import default_range, workspace_today
from reports.selectors import ReportFilter, money, months_between, repeat_purchase

_CUSTOMERS_SQL = """
INSERT INTO {table} (workspace_id, contact_id, first_order_at, last_order_at, order_count, revenue)
SELECT %s, o.contact_id, MIN(o.placed_at), MAX(o.placed_at), COUNT(*), SUM(o.amount)
FROM {orders} o
GROUP BY o.contact_id
"""

# A customer's orders folded per local month, then each month labelled with the customer's first month.
_COHORTS_SQL = """
WITH monthly AS (
    SELECT o.contact_id, o.month, SUM(o.amount) AS revenue FROM {orders} o GROUP BY o.contact_id, o.month
), labelled AS (
    SELECT month, revenue, MIN(month) OVER (PARTITION BY contact_id) AS cohort FROM monthly
)
SELECT cohort, month, COUNT(*), SUM(revenue) FROM labelled GROUP BY cohort, month
"""


def rollups_refresh(*, workspace: Workspace) -> RollupState:
    """Rewrite the workspace's rollups in one transaction: a reader sees the old rows or the new, never half."""
    started = clock.monotonic()
    version = crm_selectors.book_version(workspace_id=workspace.pk)  # read first: a change meanwhile stays "stale"
    with transaction.atomic():
        state = _locked_state(workspace)
        customers = _write_customers(workspace)
        _write_cohorts(workspace)
        state.rfm_cuts = rfm.cuts_compute(workspace=workspace)
        state.refreshed_at = timezone.now()
        state.book_version = version
        state.customers = customers
        state.duration_ms = int((clock.monotonic() - started) * 1000)
        state.save()
    return state


def default_report_warm(*, workspace: Workspace) -> None:
    """Count the dashboard's first view (the default range, no filter) into the cache now, in the background job,
    so that the seller opening the page does not wait for a count over every order of the year."""
    since, until = default_range(today=workspace_today(workspace))
    repeat_purchase(workspace=workspace, filters=ReportFilter(since=since, until=until))


def rollups_are_stale(*, workspace: Workspace) -> bool:
    state = RollupState.objects.filter(workspace=workspace).first()
    return state is None or state.book_version != crm_selectors.book_version(workspace_id=workspace.pk)


def _locked_state(workspace: Workspace) -> RollupState:
    # The state row is the lock: two refreshes of one workspace take turns instead of both inserting its rows.
    RollupState.objects.get_or_create(workspace=workspace, defaults={"refreshed_at": timezone.now()})
    return RollupState.objects.select_for_update().get(workspace=workspace)


def _write_customers(workspace: Workspace) -> int:
    CustomerRollup.objects.filter(workspace=workspace).delete()
    orders = valid_orders(workspace=workspace).values("contact_id", "placed_at", "amount")
    subquery, params = as_subquery(orders)
    sql = _CUSTOMERS_SQL.format(table=CustomerRollup._meta.db_table, orders=subquery)
    with connection.cursor() as cursor:
        cursor.execute(sql, (workspace.pk, *params))
        return cursor.rowcount


def _write_cohorts(workspace: Workspace) -> None:
    CohortCell.objects.filter(workspace=workspace).delete()
    orders = valid_orders(workspace=workspace).annotate(
        month=TruncMonth("placed_at", tzinfo=workspace_zone(workspace))
    ).values("contact_id", "amount", "month")
    subquery, params = as_subquery(orders)
    with connection.cursor() as cursor:
        cursor.execute(_COHORTS_SQL.format(orders=subquery), params)
        rows = cursor.fetchall()
    cells = []
    for cohort, month, customers, revenue in rows:
        cohort, month = _month(cohort), _month(month)
        cells.append(CohortCell(
            workspace=workspace, cohort=cohort, months_later=months_between(cohort, month),
            customers=customers, revenue=money(revenue),
        ))
    CohortCell.objects.bulk_create(cells, batch_size=1000)


def _month(value) -> date:
    """A truncated month as the database returned it: a datetime (PostgreSQL) or ISO text (SQLite)."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value.date() if isinstance(value, datetime) else value
