"""EXPLAIN ANALYZE the contact list's queries for the benchmark's filter (run through `manage.py shell`).

    BENCH_WORKSPACE=bench BENCH_TAGS=8,52 BENCH_Q=姐 .venv/bin/python manage.py shell < tests/bench/explain.py
"""

import os

from django.db import connection

from crm.models import Member
from crm.selectors import ContactFilter, contact_list

member = Member.objects.filter(workspace__slug=os.environ.get("BENCH_WORKSPACE", "bench"), role="owner").first()
filters = ContactFilter(
    tags_all=tuple(int(t) for t in os.environ.get("BENCH_TAGS", "").split(",") if t), q=os.environ.get("BENCH_Q", "")
)
contacts = contact_list(member=member, filters=filters)
queries = {
    "first page (OFFSET 0)": contacts[:50],
    "page 200 (OFFSET 9950)": contacts[9950:10000],
    "ordered ids (the cached list)": contacts.order_by("-added_at", "-id").values_list("pk", flat=True)[:200_001],
}
with connection.cursor() as cursor:
    for label, qs in queries.items():
        sql, params = qs.query.sql_with_params()
        cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + sql, params)
        plan = "\n".join(row[0] for row in cursor.fetchall())
        print(f"--- {label}\n{sql % tuple(repr(p) for p in params)}\n\n{plan}\n")
    sql, params = contacts.order_by().values("pk").query.sql_with_params()
    cursor.execute(f"EXPLAIN (ANALYZE, BUFFERS) SELECT COUNT(*) FROM ({sql}) AS matching", params)
    print("--- count\n" + "\n".join(row[0] for row in cursor.fetchall()))
