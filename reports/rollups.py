"""Writing the rollups (reports.models) from the orders: run by Celery (reports.tasks) when the customer book has
changed since the last refresh, and from the dashboard's "refresh now". Running it twice writes the same rows."""

import time as clock
from datetime import date, datetime

from django.db import connection, transaction
from django.db.models.functions import TruncDate, TruncMonth
from django.utils import timezone

from crm import selectors as crm_selectors
from crm.models import Workspace
from reports import rfm
from reports.models import CohortCell, CustomerRollup, OrderSequence, RollupState
from reports.orders import as_subquery, day_gap_sql, valid_orders, workspace_zone
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


# Each valid order with its customer's previous five and next order (ties on the same instant in id order, as the
# report numbers them) and the local days since the previous one: reports.models.OrderSequence. Written in time
# order, so that the range index and the row ids grow at their right edge instead of splitting pages all over.
_SEQUENCES_SQL = """
INSERT INTO {table} (order_id, workspace_id, contact_id, placed_at, amount, gap_days,
                     prev1_at, prev2_at, prev3_at, prev4_at, prev5_at, next_at)
SELECT o.id, %s, o.contact_id, o.placed_at, o.amount, {gap},
       LAG(o.placed_at, 1) OVER w, LAG(o.placed_at, 2) OVER w, LAG(o.placed_at, 3) OVER w,
       LAG(o.placed_at, 4) OVER w, LAG(o.placed_at, 5) OVER w, LEAD(o.placed_at, 1) OVER w
FROM {orders} o
{where}
WINDOW w AS (PARTITION BY o.contact_id ORDER BY o.placed_at, o.id)
ORDER BY o.placed_at
"""

# The contacts whose sequence rows no longer match their valid orders: an order added, refunded, deleted, changed
# in time or amount, or moved to another contact by a merge (then both contacts). Two anti-joins over the orders
# and the rows: a few seconds for two million orders, against rewriting (and vacuuming) every row.
_CHANGED_SQL = """
INSERT INTO {changed} (contact_id)
SELECT o.contact_id FROM {orders} o
WHERE NOT EXISTS (
    SELECT 1 FROM {table} s
    WHERE s.workspace_id = %s AND s.order_id = o.id AND s.contact_id = o.contact_id
      AND s.placed_at = o.placed_at AND s.amount = o.amount
)
UNION
SELECT s.contact_id FROM {table} s
WHERE s.workspace_id = %s AND NOT EXISTS (
    SELECT 1 FROM {orders} o
    WHERE o.id = s.order_id AND o.contact_id = s.contact_id AND o.placed_at = s.placed_at AND o.amount = s.amount
)
"""
_CHANGED_TABLE = "reports_sequence_changed"


def rollups_refresh(*, workspace: Workspace) -> RollupState:
    """Rewrite the workspace's rollups in one transaction: a reader sees the old rows or the new, never half."""
    started = clock.monotonic()
    version = crm_selectors.book_version(workspace_id=workspace.pk)  # read first: a change meanwhile stays "stale"
    with transaction.atomic():
        state = _locked_state(workspace)
        customers = _write_customers(workspace)
        state.sequence_orders = _write_sequences(workspace, state)
        state.sequence_zone = workspace_zone(workspace).key
        _write_cohorts(workspace)
        state.rfm_cuts = rfm.cuts_compute(workspace=workspace)
        state.refreshed_at = timezone.now()
        state.book_version = version
        state.customers = customers
        state.duration_ms = int((clock.monotonic() - started) * 1000)
        state.save()
    sequences_vacuum()
    return state


def sequences_vacuum() -> None:
    """Let PostgreSQL mark the rewritten pages all-visible now rather than when autovacuum comes by: until then
    the report's index-only scan visits the table for every row. VACUUM cannot run inside a transaction: inside
    one (a test, a caller's atomic block) this is left to autovacuum."""
    if connection.vendor != "postgresql" or connection.in_atomic_block:
        return
    with connection.cursor() as cursor:
        cursor.execute(f"VACUUM (ANALYZE) {OrderSequence._meta.db_table}")


def default_report_warm(*, workspace: Workspace) -> None:
    """Count the dashboard's first view (the default range, no filter) into the cache now, in the background job,
    so that the seller opening the page does not wait for a count over every order of the year."""
    since, until = default_range(today=workspace_today(workspace))
    repeat_purchase(workspace=workspace, filters=ReportFilter(since=since, until=until))


def rollups_are_stale(*, workspace: Workspace) -> bool:
    """The book changed since the last refresh, or the order sequences are missing (a refresh from before they
    existed) or in another time zone than the workspace's now."""
    state = RollupState.objects.filter(workspace=workspace).first()
    return (
        state is None
        or state.book_version != crm_selectors.book_version(workspace_id=workspace.pk)
        or state.sequence_zone != workspace_zone(workspace).key
    )


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


def _write_sequences(workspace: Workspace, state: RollupState) -> int:
    """Bring the workspace's order sequences up to date with its valid orders; the number of rows it now has.
    Only the contacts whose orders changed are rewritten, unless there is nothing to compare with yet, or the rows
    were written in another time zone (their local days are wrong): then every row."""
    zone = workspace_zone(workspace)
    orders = valid_orders(workspace=workspace).annotate(
        day=TruncDate("placed_at", tzinfo=zone)
    ).values("id", "contact_id", "placed_at", "amount", "day")
    subquery, params = as_subquery(orders)
    table = OrderSequence._meta.db_table

    def insert(where: str) -> int:
        sql = _SEQUENCES_SQL.format(
            table=table, orders=subquery, where=where, gap=day_gap_sql("o.day", "LAG(o.day, 1) OVER w")
        )
        with connection.cursor() as cursor:
            cursor.execute(sql, (workspace.pk, *params))
            return cursor.rowcount

    if state.sequence_zone != zone.key:
        OrderSequence.objects.filter(workspace=workspace).delete()
        return insert("")
    with connection.cursor() as cursor:
        cursor.execute(f"DROP TABLE IF EXISTS {_CHANGED_TABLE}")
        cursor.execute(f"CREATE TEMPORARY TABLE {_CHANGED_TABLE} (contact_id bigint PRIMARY KEY)")
        cursor.execute(
            _CHANGED_SQL.format(changed=_CHANGED_TABLE, table=table, orders=subquery),
            (*params, workspace.pk, workspace.pk, *params),
        )
        cursor.execute(
            f"DELETE FROM {table} WHERE workspace_id = %s AND contact_id IN (SELECT contact_id FROM {_CHANGED_TABLE})",
            (workspace.pk,),
        )
        deleted = cursor.rowcount
    inserted = insert(f"WHERE o.contact_id IN (SELECT contact_id FROM {_CHANGED_TABLE})")
    with connection.cursor() as cursor:
        cursor.execute(f"DROP TABLE {_CHANGED_TABLE}")
    return state.sequence_orders - deleted + inserted


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
