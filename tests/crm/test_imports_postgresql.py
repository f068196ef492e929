"""Imports on PostgreSQL: COPY, the search indexes' pending lists, and the planner's statistics an import keeps up
(tests that say so run on SQLite too, where nothing of this happens)."""

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from crm import bulkload, imports
from crm.imports import tables
from crm.imports.writing import _keys_query
from crm.models import Contact
from tests.crm.test_imports import ORDER_HEADER, csv_bytes, run
from tests.factories import ContactFactory

pytestmark = pytest.mark.django_db


@pytest.mark.skipif(connection.vendor != "postgresql", reason="COPY is PostgreSQL's")
def test_on_postgresql_new_contacts_their_tags_and_events_are_written_with_copy(workspace, monkeypatch):
    copied = []
    original = bulkload.copy_rows

    def spy(table, columns, rows):
        rows = list(rows)
        copied.append((table, len(rows)))
        original(table, columns, rows)

    monkeypatch.setattr(bulkload, "copy_rows", spy)
    ContactFactory(workspace=workspace, wechat_id="wx_there")
    data = csv_bytes([["wechat", "nickname", "tags"], ["wx_1", "甲", "VIP，老客"], ["wx_2", "乙", ""], ["wx_there", "丙", "VIP"]])
    result = run(workspace, "contacts", data)
    assert (result.created, result.updated) == (2, 1)
    assert copied == [
        ("crm_contact", 2),
        ("crm_contacttag", 2),
        ("import_crm_contacttag", 1),  # an existing contact's tag: through a temporary table, ON CONFLICT DO NOTHING
        ("crm_timelineevent", 1),  # tag added, to the contact the book had
        ("crm_timelineevent", 3),  # imported (a new contact's names its tags)
    ]
    first = Contact.objects.get(wechat_id="wx_1")
    assert (first.nickname, first.source, first.workspace, first.updated_at is not None) == ("甲", "import", workspace, True)
    assert sorted(first.tags.names()) == ["VIP", "老客"]
    assert list(Contact.objects.get(wechat_id="wx_there").tags.names()) == ["VIP"]


@pytest.mark.skipif(connection.vendor != "postgresql", reason="pending lists are GIN's, on PostgreSQL")
def test_imported_contacts_are_found_by_search_before_and_after_the_search_indexes_merge(workspace, owner):
    from crm import selectors
    from crm.selectors import ContactFilter

    data = csv_bytes([["wechat", "nickname"], *[[f"wx_{i}", f"海参张姐{i}"] for i in range(30)]])
    assert run(workspace, "contacts", data).created == 30
    found = lambda: selectors.contact_list(member=owner, filters=ContactFilter(q="海参张姐1")).count()  # noqa: E731
    assert found() == 11  # 海参张姐1 and 10 to 19, read from the pending lists
    assert bulkload.search_indexes_flush() > 0
    assert bulkload.search_indexes_flush() == 0  # nothing left pending
    assert found() == 11


@pytest.mark.skipif(connection.vendor != "postgresql", reason="pending lists are GIN's, on PostgreSQL")
def test_the_search_indexes_keep_a_large_pending_list():
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT relname, reloptions FROM pg_class WHERE relname LIKE 'contact_trgm_%%' ORDER BY relname"
        )
        options = dict(cursor.fetchall())
    assert len(options) == 5
    assert all(value == ["gin_pending_list_limit=65536"] for value in options.values())


def test_an_import_that_grows_the_book_refreshes_the_planners_statistics_on_postgresql(workspace, monkeypatch):
    monkeypatch.setattr(imports, "BATCH_SIZE", 2)
    monkeypatch.setattr(tables, "ANALYZE_FROM", 2)
    monkeypatch.setattr(tables.Statistics, "missing", lambda self: False)
    rows = [["wechat"]] + [[f"wx_{i}"] for i in range(9)]
    with CaptureQueriesContext(connection) as queries:
        assert run(workspace, "contacts", csv_bytes(rows)).created == 9
    analyzed = [q["sql"] for q in queries if q["sql"].startswith("ANALYZE")]
    # Before the batches after 2, 4 and 8 new contacts (not 6: the rows added since did not double).
    expected = 3 if connection.vendor == "postgresql" else 0
    columns = '("workspace_id", "merged_into_id", "external_id", "wechat_id", "phone")'
    assert analyzed == [f'ANALYZE "crm_contact" {columns}'] * expected


@pytest.mark.parametrize("kind", ["contacts", "orders"])
def test_an_import_first_analyzes_lookup_columns_that_have_no_statistics_on_postgresql(workspace, monkeypatch, kind):
    # Without statistics the planner takes `phone = ANY(5,000 phones)` for the whole table and reads all of it.
    monkeypatch.setattr(tables.Statistics, "missing", lambda self: True)
    data = csv_bytes([["wechat"], ["wx_1"]]) if kind == "contacts" else csv_bytes([ORDER_HEADER, ["wx_1", "2026-01-02", "9.90", "A1", "", ""]])
    with CaptureQueriesContext(connection) as queries:
        run(workspace, kind, data)
    analyzed = [q["sql"] for q in queries if q["sql"].startswith('ANALYZE "crm_contact"')]
    assert len(analyzed) == (1 if connection.vendor == "postgresql" else 0)


@pytest.mark.skipif(connection.vendor != "postgresql", reason="pg_stats is PostgreSQL's")
def test_statistics_say_which_lookup_columns_were_never_analyzed():
    statistics = tables.Statistics(Contact, ("workspace_id", "no_such_column"))
    assert statistics.missing()


def test_an_import_first_merges_what_earlier_writes_left_pending_and_a_dry_run_does_not(workspace, monkeypatch):
    merges = []
    monkeypatch.setattr(bulkload, "search_indexes_flush", lambda: merges.append(True) or 0)
    data = csv_bytes([["wechat"], ["wx_1"]])
    run(workspace, "contacts", data, dry_run=True)
    assert merges == []
    run(workspace, "contacts", data)
    assert merges == [True]


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the planner's settings are PostgreSQL's")
@pytest.mark.parametrize("kind", ["contacts", "orders"])
def test_the_batch_lookups_by_key_probe_the_key_indexes_and_nothing_else(workspace, kind):
    # pg_trgm's GIN indexes answer `phone = ANY(...)` too, one search of their pending list per value; a scan of the
    # whole table, in parallel, costs more than the probes where the other workspaces are big.
    ContactFactory(workspace=workspace, wechat_id="wx_1", phone="+8613812345678")
    data = csv_bytes([["wechat"], ["wx_1"]]) if kind == "contacts" else csv_bytes([ORDER_HEADER, ["wx_1", "2026-01-02", "9.90", "A1", "", ""]])
    with CaptureQueriesContext(connection) as queries:
        run(workspace, kind, data)
    statements = [q["sql"] for q in queries]
    off = statements.index("SET LOCAL enable_bitmapscan = off")
    back = statements.index("SET LOCAL enable_bitmapscan TO DEFAULT")
    assert {"SET LOCAL enable_seqscan = off", "SET LOCAL max_parallel_workers_per_gather = 0"} <= set(statements[off:back])
    lookups = [sql for sql in statements[off:back] if '"crm_contact"."wechat_id" = ANY' in sql]
    assert lookups and not any('"crm_contact"."wechat_id" = ANY' in sql for sql in statements[back:])


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the planner's settings are PostgreSQL's")
def test_a_batch_lookup_probes_the_key_index_even_where_reading_the_table_looks_cheaper(workspace):
    ContactFactory.create_batch(3, workspace=workspace)  # a small table: left alone, the planner reads all of it
    phones = {f"+86138{n:08d}" for n in range(5000)}
    lookup = _keys_query(Contact.objects.filter(workspace=workspace), ["id"], {"phone": phones})
    with transaction.atomic(), tables.lookups_by_key():
        plan = lookup.explain()
    assert "Index Scan using contact_ws_phone" in plan
    assert "Seq Scan" not in plan and "Parallel" not in plan


@pytest.mark.skipif(connection.vendor != "postgresql", reason="sequences are PostgreSQL's")
def test_reserved_ids_are_new_distinct_and_in_the_order_taken(workspace):
    existing = ContactFactory(workspace=workspace)
    ids = bulkload.reserve_ids("crm_contact", 500)
    assert len(set(ids)) == 500 and ids == sorted(ids) and ids[0] > existing.pk
    assert bulkload.reserve_ids("crm_contact", 0) == []
