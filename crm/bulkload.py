"""Writing many rows on PostgreSQL: ids reserved from a table's sequence, COPY on Django's connection, and a big
table's indexes set aside during a load. The seed (crm.seeding) and the import (crm.imports.writing) use them."""

from contextlib import contextmanager

from django.db import connection


def reserve_ids(table: str, count: int) -> list[int]:
    """PostgreSQL: `count` new ids from the table's id sequence, so that the rows naming them (tags, orders,
    events) can be written by COPY in the same transaction."""
    if not count:
        return []
    with connection.cursor() as cursor:
        # The sequence found once (the sub-select), not for every id: ten times faster. The ids come back as one
        # array, not a row each (a row costs the driver more than the id).
        cursor.execute(
            "SELECT array_agg(nextval((SELECT pg_get_serial_sequence(%s, 'id')::regclass)) ORDER BY n) "
            "FROM generate_series(1, %s) AS n",
            [table, count],
        )
        return cursor.fetchone()[0]


def copy_rows(table: str, columns: tuple[str, ...], rows) -> None:
    """PostgreSQL: COPY `rows` (tuples in the order of `columns`) into `table` on Django's connection, inside its
    current transaction."""
    with connection.cursor() as cursor, cursor.connection.cursor() as raw:  # the psycopg cursor under Django's
        copy_with(raw, table, columns, rows)


def copy_with(cursor, table: str, columns: tuple[str, ...], rows) -> None:
    """COPY through a psycopg cursor the caller holds (several tables in a row on one cursor).

    In PostgreSQL's binary format: numbers and times go as they are in memory instead of as text that the server
    parses again. For 100,000 contact rows the client's work fell from 0.7 s to 0.25 s. The format needs each
    column's type, read from the catalog, and values of those types (an int for an integer column, a str for a
    text one), which is what the callers' rows hold."""
    types = column_types(cursor, table, columns)
    with cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN (FORMAT BINARY)") as copy:
        copy.set_types(types)
        for row in rows:
            copy.write_row(row)


def column_types(cursor, table: str, columns: tuple[str, ...]) -> list[int]:
    """The type OIDs of the table's columns (names quoted or not), in the order given."""
    if table not in _column_types:
        cursor.execute(
            "SELECT attname, atttypid FROM pg_attribute WHERE attrelid = %s::regclass AND attnum > 0 "
            "AND NOT attisdropped",
            [table],
        )
        _column_types[table] = dict(cursor.fetchall())
    types = _column_types[table]
    return [types[column.strip('"')] for column in columns]


# Table → {column: type OID}, read once per process: an import's batches COPY into the same tables a hundred
# times, and each catalog query was a round trip the batch's writes waited for. A table's column types change only
# by a migration, which no running process outlives unchanged; the import's temporary tables take theirs from the
# table they stage rows for (crm.imports.tables.insert_rows), so their names stand for the same types each time.
_column_types: dict[str, dict[str, int]] = {}


@contextmanager
def indexes_set_aside(tables: tuple[str, ...]):
    """Drop the secondary indexes and the unique and foreign-key constraints of the big tables, and make them again
    at the end: one sorted index build is far cheaper than ten million index insertions that no longer fit in the
    server's cache, and one join checks a foreign key for ten million rows faster than a trigger per row.

    Only inside the load's transaction (DDL is transactional in PostgreSQL): if the load fails, the indexes come
    back with the rollback. The tables are locked against other sessions until the load commits, so this is for
    loading a database (a benchmark, a demo), not for a busy server."""
    tables = list(tables)
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL maintenance_work_mem = '1GB'")
        cursor.execute(
            """SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid) FROM pg_constraint
               WHERE conrelid = ANY(%s::regclass[]) AND contype IN ('u', 'f') ORDER BY contype DESC, conname""",
            [tables],
        )
        constraints = cursor.fetchall()  # unique constraints first: a foreign key may rely on one
        cursor.execute(
            """SELECT indexrelid::regclass::text, pg_get_indexdef(indexrelid) FROM pg_index i
               WHERE indrelid = ANY(%s::regclass[]) AND NOT indisprimary
                 AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid
                                 AND c.conrelid = i.indrelid AND c.contype IN ('u', 'x'))
               ORDER BY 1""",
            [tables],
        )
        indexes = cursor.fetchall()
        for table, name, _ in reversed(constraints):
            cursor.execute(f"ALTER TABLE {table} DROP CONSTRAINT {connection.ops.quote_name(name)}")
        for name, _ in indexes:
            cursor.execute(f"DROP INDEX {name}")
    yield
    with connection.cursor() as cursor:
        for _, definition in indexes:
            cursor.execute(definition)
        for table, name, definition in constraints:
            cursor.execute(f"ALTER TABLE {table} ADD CONSTRAINT {connection.ops.quote_name(name)} {definition}")


def search_indexes_flush() -> int:
    """PostgreSQL: merge the pending lists of crm_contact's GIN (trigram search) indexes into the indexes, the work
    their 64 MB pending lists keep out of an import (migration 0011). The number of pages merged."""
    if connection.vendor != "postgresql":
        return 0
    with connection.cursor() as cursor:
        cursor.execute(
            """SELECT COALESCE(SUM(gin_clean_pending_list(i.indexrelid)), 0) FROM pg_index i
               JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_am am ON am.oid = c.relam
               WHERE i.indrelid = 'crm_contact'::regclass AND am.amname = 'gin'"""
        )
        return int(cursor.fetchone()[0])
