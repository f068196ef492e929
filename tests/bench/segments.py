"""Measure a segment's count and first page against the plain django-taggit approach; results in docs/performance.md.

    # PostgreSQL: a database `make bench` (tests/bench/run.sh) migrated and seeded with 1,000,000 contacts
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/siyu_bench REDIS_URL=redis://127.0.0.1:6379/1 \\
        .venv/bin/python tests/bench/segments.py
    # SQLite, the embedded default: var/bench/segments.sqlite3, seeded here with 100,000 contacts when missing
    .venv/bin/python tests/bench/segments.py [--runs N] [--explain] [--no-write]

The rule is the issue's: three tag conditions, A AND (B OR C) AND NOT D, and "last order within 90 days". The tags
are picked from the seed by how many contacts hold them, not by hand, in this order: A the most popular tag (35-40 %
of the contacts), D the tag nearest 30 %, B and C the tags nearest 25 % and 20 % (each one a tag not picked
already, ties to the lower id); the output states each tag's share. "Within 90 days" counts back from the seed's
last day (crm.seeding.DEFAULT_REFERENCE), so every run measures the same rows whatever the date.

Measured, N runs each after two warm-up rounds, the queries taking turns (so that other work on the machine weighs
on all of them alike), each timed around the Python call (Django, the driver, the cache and the database):
- Siyu's count as segment_count() computes it on a cache miss (crm.segments.bitmaps.count: the rule expanded and
  checked, each condition's bitmap of contacts taken from the cache, set algebra), twice: right after the book
  changed (selectors.book_changed forgets every bitmap: each condition is loaded from the database), and with the
  conditions' bitmaps cached, as when the builder recounts an edited rule or another segment shares conditions;
- the plain django-taggit count: Contact.objects.filter(workspace=...).filter(tags__name__in=[A])
  .filter(tags__name__in=[B, C]).exclude(tags__name__in=[D]).filter(orders__placed_at__gte=...).distinct().count()
  (with merged_into__isnull=True, as every segment has, so that both count the same contacts);
- the first page of each, the 50 newest contacts, as model instances;
- and segment_count() itself once its count is cached (what every later page view pays).
The script checks that both approaches give the same count and the same page. Ratio: taggit p50 / Siyu p50.
It only reads a PostgreSQL database (the cached count goes to Django's cache); --explain prints the plans of the SQL queries.
"""

import argparse
import os
import statistics
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "crm.settings")

SLUG = os.environ.get("BENCH_WORKSPACE", "bench")
SQLITE_FILE = ROOT / "var" / "bench" / "segments.sqlite3"
SQLITE_CONTACTS = 100_000
DOC = ROOT / "docs" / "performance.md"
MARKERS = {
    "postgresql": ("<!-- bench:segments:start -->", "<!-- bench:segments:end -->"),
    "sqlite": ("<!-- bench:segments-sqlite:start -->", "<!-- bench:segments-sqlite:end -->"),
}
# The share of contacts each picked tag should hold, in the order they are picked (see the docstring).
TARGETS = (("A", None), ("D", 0.30), ("B", 0.25), ("C", 0.20))
WITHIN_DAYS = 90
PAGE = 50
WARM_UP = 2


def seed_sqlite() -> None:
    """migrate, the bench workspace and crm_seed into a new file, renamed into place only once it is complete."""
    SQLITE_FILE.parent.mkdir(parents=True, exist_ok=True)
    partial = SQLITE_FILE.with_suffix(".partial")
    for leftover in SQLITE_FILE.parent.glob(partial.name + "*"):
        leftover.unlink()
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{partial}", "DJANGO_ENV": "development"}
    manage = [sys.executable, str(ROOT / "manage.py")]
    print(f"Seeding {SQLITE_CONTACTS:,} contacts into {SQLITE_FILE.relative_to(ROOT)} (once; later runs reuse it)…",
          flush=True)
    subprocess.run([*manage, "migrate", "--noinput", "-v", "0"], env=env, check=True)
    subprocess.run([*manage, "shell", "-c", (
        "from django.contrib.auth import get_user_model; from crm import services\n"
        f"owner = get_user_model().objects.create_user(username='bench', password=None)\n"
        f"services.workspace_create(name='压测海味', slug={SLUG!r}, owner=owner)"
    )], env=env, check=True)
    started = time.monotonic()
    subprocess.run([*manage, "crm_seed", "--workspace", SLUG, "--contacts", str(SQLITE_CONTACTS), "--seed", "1"],
                   env=env, check=True)
    subprocess.run([sys.executable, "-c", f"import sqlite3; c = sqlite3.connect({str(partial)!r}); "
                    "c.execute('PRAGMA wal_checkpoint(TRUNCATE)'); c.execute('ANALYZE'); c.close()"], check=True)
    partial.rename(SQLITE_FILE)
    print(f"seeded in {time.monotonic() - started:.0f} s", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=int(os.environ.get("BENCH_SEGMENT_RUNS", "20")))
    parser.add_argument("--explain", action="store_true", help="print the plans of the SQL queries")
    parser.add_argument("--no-write", action="store_true", help="do not write docs/performance.md")
    args = parser.parse_args()
    if not os.environ.get("DATABASE_URL"):
        if not SQLITE_FILE.exists():
            seed_sqlite()
        os.environ["DATABASE_URL"] = f"sqlite:///{SQLITE_FILE}"
    load_at_start = " ".join(f"{x:.2f}" for x in os.getloadavg())

    import django

    django.setup()
    run(args, load_at_start)


def run(args, load_at_start: str) -> None:
    from django.core.management import call_command
    from django.db import connection
    from django.db.migrations.executor import MigrationExecutor
    from django.db.models import Count

    from crm.models import Contact, ContactTag, Order, Tag, Workspace
    from crm.seeding import DEFAULT_REFERENCE
    from crm.selectors import book_changed
    from crm.segments import bitmaps, segment_contacts, segment_count, validate_rule
    from crm.segments.validation import expand_rule
    from tests.bench.bench import machine, percentile

    executor = MigrationExecutor(connection)
    pending = [migration for migration, _backwards in executor.migration_plan(executor.loader.graph.leaf_nodes())]
    if pending and connection.vendor == "sqlite":
        call_command("migrate", "--noinput", verbosity=0)  # this script's own file
    elif any(migration.app_label == "crm" for migration in pending):
        sys.exit(f"bench: migrations not applied to this database ({', '.join(map(str, pending))}): run "
                 "`manage.py migrate` first (tests/bench/run.sh does)")
    workspace = Workspace.objects.filter(slug=SLUG).first()
    if workspace is None:
        sys.exit(f"bench: no workspace “{SLUG}” in this database (tests/bench/run.sh makes and seeds it)")
    live = Contact.objects.filter(workspace=workspace, merged_into__isnull=True)
    contacts = live.count()
    if contacts < 10_000:
        sys.exit(f"bench: the workspace holds {contacts} contacts; seed it first")

    # The tags, by how many contacts hold them.
    held = dict(
        ContactTag.objects.filter(tag__workspace=workspace).values_list("tag_id").annotate(n=Count("id"))
        .values_list("tag_id", "n")
    )
    names = dict(Tag.objects.filter(workspace=workspace).values_list("pk", "name"))
    picked: dict[str, int] = {}
    for letter, target in TARGETS:
        candidates = [pk for pk in sorted(held) if pk not in picked.values()]
        if target is None:
            picked[letter] = min(candidates, key=lambda pk: (-held[pk], pk))
        else:
            picked[letter] = min(candidates, key=lambda pk: (abs(held[pk] / contacts - target), pk))
    a, b, c, d = (picked[letter] for letter in "ABCD")

    rule = validate_rule(workspace=workspace, rule={"version": 1, "root": {"op": "and", "not": False, "children": [
        {"field": "tags", "match": "any", "tags": [a]},
        {"field": "tags", "match": "any", "tags": [b, c]},
        {"field": "tags", "match": "any", "tags": [d], "not": True},
        {"field": "last_order", "within_days": WITHIN_DAYS},
    ]}})
    now = DEFAULT_REFERENCE
    since = now - timedelta(days=WITHIN_DAYS)

    def siyu_count() -> int:
        # Everything segment_count() does on a cache miss: expand (and check) the rule, count with the bitmaps.
        expanded = expand_rule(workspace=workspace, rule=rule)
        return bitmaps.count(workspace=workspace, expanded=expanded, now=now)

    def siyu_count_after_a_change() -> int:
        book_changed(workspace_id=workspace.pk)
        return siyu_count()

    def taggit():
        return (
            Contact.objects.filter(workspace=workspace, merged_into__isnull=True)
            .filter(tags__name__in=[names[a]])
            .filter(tags__name__in=[names[b], names[c]])
            .exclude(tags__name__in=[names[d]])
            .filter(orders__placed_at__gte=since)
            .distinct()
        )

    def siyu_page() -> list:
        return list(segment_contacts(workspace=workspace, rule=rule, now=now)[:PAGE])

    def taggit_page() -> list:
        return list(taggit().order_by("-added_at", "-id")[:PAGE])

    def taggit_count() -> int:
        return taggit().count()

    # Another database's run may have left bitmaps in this cache under the same workspace id: a new book version.
    book_changed(workspace_id=workspace.pk)
    queries = {  # the cold count first: it loads what the warm one then finds cached
        "count, right after a change": (siyu_count_after_a_change, taggit_count),
        "count, conditions cached": (siyu_count, taggit_count),
        "first page (50 newest)": (siyu_page, taggit_page),
    }
    matches = siyu_count()
    if taggit_count() != matches:
        sys.exit(f"bench: Siyu counts {matches} contacts, the taggit chain {taggit_count()}: not the same question")
    if [x.pk for x in siyu_page()] != [x.pk for x in taggit_page()]:
        sys.exit("bench: the two first pages differ")
    recent_buyers = Order.objects.filter(contact__in=live, placed_at__gte=since).values("contact").distinct().count()
    share = {letter: held[pk] / contacts for letter, pk in picked.items()}
    tag_text = ", ".join(f"{letter} = {names[picked[letter]]} ({share[letter]:.1%})" for letter in "ABCD")
    print(f"{contacts:,} contacts; tags {tag_text}; {recent_buyers:,} contacts ({recent_buyers / contacts:.1%}) "
          f"ordered within {WITHIN_DAYS} days of {now:%Y-%m-%d}; {matches:,} match", flush=True)
    if args.explain:
        explain(connection, workspace, rule, now, taggit)

    timings = {(label, who): [] for label in queries for who in ("siyu", "taggit")}
    for round_ in range(WARM_UP + args.runs):
        for label, (siyu, plain) in queries.items():
            for who, function in (("siyu", siyu), ("taggit", plain)):
                if function is taggit_count and label != "count, right after a change":
                    continue  # one taggit count a round is enough: it caches nothing
                started = time.perf_counter()
                function()
                elapsed = (time.perf_counter() - started) * 1000
                if round_ >= WARM_UP:
                    timings[(label, who)].append(elapsed)
    timings[("count, conditions cached", "taggit")] = timings[("count, right after a change", "taggit")]
    segment_count(workspace=workspace, rule=rule)  # computed and cached (the clock's own "90 days")
    cached = []
    for _ in range(max(args.runs, 50)):
        started = time.perf_counter()
        segment_count(workspace=workspace, rule=rule)
        cached.append((time.perf_counter() - started) * 1000)

    rows = []
    for label in queries:
        siyu, plain = timings[(label, "siyu")], timings[(label, "taggit")]
        row = {
            "label": label,
            "siyu_p50": statistics.median(siyu), "siyu_p95": percentile(siyu, 95),
            "taggit_p50": statistics.median(plain), "taggit_p95": percentile(plain, 95),
        }
        row["ratio"] = row["taggit_p50"] / row["siyu_p50"]
        rows.append(row)
        print(f"{label:24} Siyu p50 {row['siyu_p50']:8.1f} ms  p95 {row['siyu_p95']:8.1f} ms   "
              f"taggit p50 {row['taggit_p50']:8.1f} ms  p95 {row['taggit_p95']:8.1f} ms   "
              f"taggit / Siyu {row['ratio']:.1f}×", flush=True)
    warm = {"p50": statistics.median(cached), "p95": percentile(cached, 95), "n": len(cached)}
    print(f"segment_count, cached    p50 {warm['p50']:.2f} ms  p95 {warm['p95']:.2f} ms", flush=True)

    vendor = connection.vendor
    info = machine(database_line(connection))
    info["load"] = f"{load_at_start} at the start, {info['load']} at the end"
    dirty = subprocess.run(["git", "-C", str(ROOT), "status", "--porcelain", "--untracked-files=no"],
                           capture_output=True, text=True).stdout.strip()
    if dirty:
        info["commit"] += " plus uncommitted changes"
    data = {
        "contacts": contacts, "tags": sum(held.values()), "orders": Order.objects.filter(workspace=workspace).count(),
        "tag_text": tag_text, "names": {letter: names[pk] for letter, pk in picked.items()},
        "matches": matches, "recent_buyers": recent_buyers, "now": now, "runs": args.runs,
        "database": database_name(connection),
    }
    block = render(vendor, info, data, rows, warm)
    if not args.no_write:
        write_doc(vendor, block)


def database_name(connection) -> str:
    name = str(connection.settings_dict["NAME"])
    return str(Path(name).relative_to(ROOT)) if name.startswith(str(ROOT)) else name


def database_line(connection) -> str:
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SELECT split_part(version(), ' on ', 1)")
            version = cursor.fetchone()[0]
            cursor.execute("SELECT string_agg(name || ' ' || current_setting(name), ', ') FROM unnest(ARRAY["
                           "'shared_buffers', 'work_mem', 'max_parallel_workers_per_gather', 'jit']) AS name")
            return f"{version}; {cursor.fetchone()[0]}"
        cursor.execute("SELECT sqlite_version()")
        version = cursor.fetchone()[0]
        pragmas = []
        for pragma in ("journal_mode", "cache_size", "mmap_size"):
            cursor.execute(f"PRAGMA {pragma}")
            pragmas.append(f"{pragma} {cursor.fetchone()[0]}")
    return f"SQLite {version} (Python's sqlite3, the file on local disk); {', '.join(pragmas)}"


def render(vendor, info, data, rows, warm) -> str:
    from django.conf import settings

    start, end = MARKERS[vendor]
    cache = settings.CACHES["default"]["BACKEND"].rsplit(".", 1)[-1]
    names = data["names"]
    lines = [
        start,
        f"Run of {info['date']} (commit {info['commit']}), `tests/bench/segments.py` on {vendor_name(vendor)}.",
        "",
        f"- Machine: {info['cpus']} CPUs ({info['cpu']}), {info['memory']} memory; load average {info['load']} "
        "(other work on the machine shares the CPUs).",
        f"- {info['database']}.",
        f"- Python {info['python']}, Django's cache: {cache}.",
        f"- Data: {data['contacts']:,} contacts in the workspace (crm_seed --seed 1), {data['tags']:,} tags on "
        f"contacts, {data['orders']:,} orders; database `{data['database']}`.",
        f"- Rule: {names['A']} AND ({names['B']} OR {names['C']}) AND NOT {names['D']} AND last order within "
        f"{WITHIN_DAYS} days of {data['now']:%Y-%m-%d} (the seed's last day): {data['matches']:,} matches. "
        f"Tags by share of contacts: A the most popular, B and C nearest 25 % and 20 %, D nearest 30 %: "
        f"{data['tag_text']}; {data['recent_buyers'] / data['contacts']:.1%} of the contacts ordered within "
        f"{WITHIN_DAYS} days.",
        "",
        f"{data['runs']} runs of each query after {WARM_UP} warm-up rounds, the queries taking turns, timed around "
        "the Python call (Django, driver, cache and database). Siyu's count is what `segment_count()` computes on a "
        "cache miss (crm.segments.bitmaps: a cached bitmap of contacts per condition, set algebra): right after the "
        "book changed, when every condition is loaded from the database, and with the conditions cached, as when "
        "the builder recounts an edited rule; django-taggit's is the chained `.filter(tags__name__in=...)` / "
        "`.exclude(...)` / `.distinct()`, which caches nothing. Both give the same count and the same page.",
        "",
        "| query | Siyu p50 | Siyu p95 | django-taggit p50 | django-taggit p95 | taggit / Siyu (p50) |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for row in rows:
        lines.append(
            f"| {row['label']} | {row['siyu_p50']:.1f} ms | {row['siyu_p95']:.1f} ms | {row['taggit_p50']:.1f} ms | "
            f"{row['taggit_p95']:.1f} ms | {row['ratio']:.1f}× |"
        )
    lines += [
        "",
        f"`segment_count()` once its count is cached ({warm['n']} calls): p50 {warm['p50']:.2f} ms, "
        f"p95 {warm['p95']:.2f} ms.",
        end,
    ]
    return "\n".join(lines)


def vendor_name(vendor: str) -> str:
    return {"postgresql": "PostgreSQL", "sqlite": "SQLite"}.get(vendor, vendor)


def write_doc(vendor: str, block: str) -> None:
    start, end = MARKERS[vendor]
    text = DOC.read_text()
    if start not in text:
        text = text.rstrip("\n") + f"\n\n{start}\n{end}\n"
    head, rest = text.split(start, 1)
    DOC.write_text(head + block + rest.split(end, 1)[1])
    print(f"\nwrote {DOC.relative_to(ROOT)}")


def explain(connection, workspace, rule, now, taggit) -> None:
    from crm.segments import segment_contacts

    siyu = segment_contacts(workspace=workspace, rule=rule, now=now)
    queries = {  # label: (queryset, a count?); Siyu's count is no SQL query (crm.segments.bitmaps)
        "django-taggit count": (taggit().order_by(), True),
        "Siyu first page": (siyu[:PAGE], False),
        "django-taggit first page": (taggit().order_by("-added_at", "-id")[:PAGE], False),
    }
    prefix = "EXPLAIN (ANALYZE, BUFFERS) " if connection.vendor == "postgresql" else "EXPLAIN QUERY PLAN "
    for label, (qs, count) in queries.items():
        sql, params = qs.query.sql_with_params()
        if count:
            sql = f"SELECT COUNT(*) FROM ({sql}) AS matching"
        with connection.cursor() as cursor:
            cursor.execute(prefix + sql, params)
            plan = "\n".join(" | ".join(str(col) for col in row) for row in cursor.fetchall())
        print(f"--- {label}\n{sql % tuple(repr(p) for p in params)}\n\n{plan}\n", flush=True)


if __name__ == "__main__":
    main()
