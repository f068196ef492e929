"""How the importers write rows: COPY on PostgreSQL (crm.bulkload), one executemany on SQLite; new rows' ids known
before the tags and timeline events that name them are written; the planner's statistics kept up with an import
that grows a table. crm.imports.writing decides what to write; this module writes it.
"""

from __future__ import annotations

from contextlib import contextmanager
from datetime import datetime

from django.db import connection
from django.db.models import Model
from django.utils import timezone

from crm import bulkload
from crm.models import TimelineEvent


def is_postgresql() -> bool:
    return connection.vendor == "postgresql"


# How the batch lookups are planned (lookups_by_key): SET LOCAL for each, undone with TO DEFAULT.
LOOKUP_PLANNER_SETTINGS = (
    ("enable_bitmapscan", "off"),
    ("enable_seqscan", "off"),
    ("max_parallel_workers_per_gather", "0"),
)


@contextmanager
def lookups_by_key():
    """PostgreSQL, inside a batch's transaction: the batch's lookups by key (`phone = ANY(5,000 phones)`) probe the
    (workspace, key) B-tree indexes, 5,000 probes a key whatever the size of the table.

    Left to itself the planner does otherwise, two ways. pg_trgm's GIN indexes on the phone and the WeChat ID answer
    equality too, and where the workspace is the whole table (a database of one seller) the planner picks them: one
    GIN search per value, each reading the index's whole pending list (crm migration 0011), 90 s for 5,000 phones at
    40,000 contacts; PostgreSQL reaches a GIN index only by a bitmap scan, so bitmap scans are off. And with a table
    of some hundred thousand contacts it picks a parallel scan of the whole table with the values hashed: its cost
    model prices each probe as a read from disk, where the index's pages are in memory. At 200,000 contacts that took
    60-100 ms per batch and two more processes, on a server the import's writes keep busy; the probes take 25-45 ms
    in one (an import of 100,000 contacts: 0.9 s quicker end to end). So table scans and parallel plans are off for
    the lookups too. A query no index serves still runs: "off" only makes a plan dear, never impossible."""
    if not is_postgresql():
        yield
        return
    with connection.cursor() as cursor:
        for name, value in LOOKUP_PLANNER_SETTINGS:
            cursor.execute(f"SET LOCAL {name} = {value}")
    yield  # an error rolls the transaction back, and the settings with it
    with connection.cursor() as cursor:
        for name, _value in LOOKUP_PLANNER_SETTINGS:
            cursor.execute(f"SET LOCAL {name} TO DEFAULT")


def new_row(model: type[Model], now: datetime, **given) -> dict[str, object]:
    """Every column (by attname) a new row of `model` is written with, holding its default, then `given`. Columns
    the database fills itself (only a db_default) are left out; timestamps get `now`."""
    row = {}
    for field in model._meta.concrete_fields:
        if field.primary_key or (field.has_db_default() and not field.has_default()):
            continue
        auto = getattr(field, "auto_now", False) or getattr(field, "auto_now_add", False)
        row[field.attname] = now if auto or field.default is timezone.now else field.get_default()
    row.update(given)
    return row


def insert_rows(model: type[Model], columns: tuple[str, ...], rows: list[tuple], *, ignore_conflicts: bool = False) -> None:
    """Write new rows (tuples in the order of `columns`, attnames): COPY on PostgreSQL, one executemany on SQLite.
    With ignore_conflicts a row that would break a unique constraint is left out; one such row would abort a COPY,
    so on PostgreSQL those rows are copied into a temporary table and inserted from there, ON CONFLICT DO NOTHING."""
    if not rows:
        return
    if not is_postgresql():
        _sqlite_insert(model, columns, rows, ignore_conflicts=ignore_conflicts)
        return
    table, quote = model._meta.db_table, connection.ops.quote_name
    names = tuple(quote(model._meta.get_field(name).column) for name in columns)
    if not ignore_conflicts:
        bulkload.copy_rows(table, names, rows)
        return
    staging, listed = f"import_{table}", ", ".join(names)
    with connection.cursor() as cursor:
        cursor.execute(f"DROP TABLE IF EXISTS pg_temp.{staging}")
        cursor.execute(f"CREATE TEMP TABLE {staging} ON COMMIT DROP AS SELECT {listed} FROM {table} WITH NO DATA")
        bulkload.copy_rows(staging, names, rows)
        cursor.execute(f"INSERT INTO {table} ({listed}) SELECT {listed} FROM {staging} ON CONFLICT DO NOTHING")


def reserve_ids(model: type[Model], count: int) -> list[int] | None:
    """PostgreSQL: `count` ids for new rows of `model`, taken from the table's sequence now, so that a batch's plan
    can name rows it has not written yet. None on SQLite, whose rows get their ids as they are written."""
    if not is_postgresql():
        return None
    return bulkload.reserve_ids(model._meta.db_table, count)


def insert_rows_with_ids(model: type[Model], columns: tuple[str, ...], rows: list[tuple], ids: list[int] | None) -> list[int]:
    """insert_rows() for rows others will name: their ids, in order. On PostgreSQL the ids reserve_ids() gave,
    written by the COPY; on SQLite (ids None) the consecutive rowids the insert was given."""
    if not rows:
        return []
    if is_postgresql():
        table, quote = model._meta.db_table, connection.ops.quote_name
        names = ("id", *(quote(model._meta.get_field(name).column) for name in columns))
        bulkload.copy_rows(table, names, ((pk, *row) for pk, row in zip(ids, rows)))
        return ids
    last = _sqlite_insert(model, columns, rows)
    return list(range(last - len(rows) + 1, last + 1))


def update_rows(model: type[Model], rows: list[tuple[int, dict]]) -> None:
    """Set some fields of existing rows, each row (id, {attname: value}); rows may differ in which fields they set.

    PostgreSQL: one UPDATE for all the rows, the values sent as arrays, with a flag per field and row saying whether
    the row sets it: a field a row does not set is left as it is in the database, not written back as it was read
    (someone may have changed it since). A statement per set of fields cost hundreds of statements per batch of an
    import, each parsed and planned by the server. SQLite: one executemany per set of fields."""
    if not rows:
        return
    names = sorted({name for _pk, values in rows for name in values})
    fields = {name: model._meta.get_field(name) for name in names}
    quote = connection.ops.quote_name
    table = quote(model._meta.db_table)

    def prepared(name, value):
        return fields[name].get_db_prep_save(value, connection)

    with connection.cursor() as cursor:
        if not is_postgresql():
            groups: dict[tuple[str, ...], list[tuple[int, dict]]] = {}
            for pk, values in rows:
                groups.setdefault(tuple(sorted(values)), []).append((pk, values))
            for group_names, group in groups.items():
                assignments = ", ".join(f"{quote(fields[name].column)} = %s" for name in group_names)
                cursor.executemany(
                    f"UPDATE {table} SET {assignments} WHERE id = %s",
                    [[*(prepared(name, values[name]) for name in group_names), pk] for pk, values in group],
                )
            return
        arrays, aliases, assignments = ["%s::bigint[]"], ["id"], []
        params: list[list] = [[pk for pk, _values in rows]]
        for number, name in enumerate(names):
            column = quote(fields[name].column)
            arrays += [f"%s::{fields[name].db_type(connection)}[]", "%s::boolean[]"]
            aliases += [f"value{number}", f"sets{number}"]
            assignments.append(f"{column} = CASE WHEN v.sets{number} THEN v.value{number} ELSE {table}.{column} END")
            params.append([prepared(name, values[name]) if name in values else None for _pk, values in rows])
            params.append([name in values for _pk, values in rows])
        cursor.execute(
            f"UPDATE {table} SET {', '.join(assignments)} FROM unnest({', '.join(arrays)}) AS v({', '.join(aliases)}) "
            f"WHERE {table}.id = v.id",
            params,
        )


# Values the sqlite3 driver cannot take as Python gives them: Django writes them as text of its own form (a
# datetime as naive UTC, a decimal as its digits), which every later query compares with.
_PREPARED_TYPES = {"DateTimeField", "DateField", "TimeField", "DecimalField", "DurationField", "JSONField", "UUIDField"}


def _sqlite_insert(model: type[Model], columns: tuple[str, ...], rows: list[tuple], *, ignore_conflicts=False) -> int:
    """SQLite: the rows in one executemany, the id of the last one.

    bulk_create spent four fifths of an import's time making a model instance of every row and preparing every
    field of it, in statements of 49 rows (999 parameters); one prepared INSERT run for every row, with only the
    columns that need it converted, does the same work. The table's ids are AUTOINCREMENT and the transaction holds
    SQLite's only write lock from its first insert, so the rows get consecutive ids ending with the last."""
    fields = [model._meta.get_field(name) for name in columns]
    prepared = [index for index, field in enumerate(fields) if field.get_internal_type() in _PREPARED_TYPES]
    if prepared:
        rows = [list(row) for row in rows]
        for index in prepared:
            prepare = fields[index].get_db_prep_save
            for row in rows:
                row[index] = prepare(row[index], connection)
    quote = connection.ops.quote_name
    verb = "INSERT OR IGNORE" if ignore_conflicts else "INSERT"
    sql = (
        f"{verb} INTO {quote(model._meta.db_table)} ({', '.join(quote(field.column) for field in fields)}) "
        f"VALUES ({', '.join(['%s'] * len(fields))})"
    )
    with connection.cursor() as cursor:
        cursor.executemany(sql, rows)
        cursor.execute("SELECT last_insert_rowid()")
        return cursor.fetchone()[0]


def timeline_add(workspace_id: int, kind: str, entries: list[tuple[int, str]], actor, now: datetime) -> None:
    """Timeline events of one kind: (contact id, body) each."""
    actor_id = actor.pk if actor is not None else None
    insert_rows(
        TimelineEvent, ("workspace_id", "contact_id", "kind", "body", "actor_id", "occurred_at"),
        [(workspace_id, contact_id, kind, body, actor_id, now) for contact_id, body in entries],
    )


ANALYZE_FROM = 20_000  # rows an import adds to a table before it refreshes the table's statistics the first time


class Statistics:
    """Keeps PostgreSQL's statistics of a table up with an import that grows it.

    The batch lookups filter on the workspace and a key (phone = ANY(...)). The planner picks the (workspace, key)
    index only if it knows the workspace is big and the key nearly unique; for a workspace that was new or small at
    the last ANALYZE it believes in a handful of rows and reads all of them, through any index that starts with the
    workspace, for every lookup: an import into an empty book got slower with every batch (its lookups took longer
    than its writes by the 40th batch). A key column never analyzed is worse: the planner's default guess for
    `phone = ANY(5,000 values)` is the whole table, read once per key and batch. Autovacuum catches up only a
    minute or more later, so the import runs ANALYZE itself, on the columns the lookups filter on: before the first
    batch when one of them has no statistics at all, then each time the rows it added doubled since (20,000,
    40,000, 80,000...): two tenths of a second each (ANALYZE reads a sample of 30,000 rows however big the table),
    a handful of times per import. Below 20,000 rows a wrong plan costs little: the workspace is small. ANALYZE
    sees the rows committed, so with the writes on another thread (crm.imports.importing) the statistics are
    one batch behind, which doubling leaves no matter."""

    def __init__(self, model: type[Model], columns: tuple[str, ...]):
        self.model, self.columns = model, columns
        self.added = self.analyzed_at = 0
        self.checked = False

    def refresh(self) -> None:
        """Before a batch's lookups."""
        if not is_postgresql():
            return
        if not self.checked:
            self.checked = True
            if self.missing():
                self._analyze()
                return
        if self.added >= max(ANALYZE_FROM, 2 * self.analyzed_at):
            self._analyze()

    def missing(self) -> bool:
        """Whether a column has no statistics yet (a new database, or a column added since the last ANALYZE)."""
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT COUNT(*) FROM pg_stats WHERE schemaname = current_schema() AND tablename = %s "
                "AND attname = ANY(%s)",
                [self.model._meta.db_table, list(self.columns)],
            )
            return cursor.fetchone()[0] < len(self.columns)

    def _analyze(self) -> None:
        quote = connection.ops.quote_name
        with connection.cursor() as cursor:
            cursor.execute(f"ANALYZE {quote(self.model._meta.db_table)} ({', '.join(map(quote, self.columns))})")
        self.analyzed_at = self.added
