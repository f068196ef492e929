"""Time the reports on the benchmark book; results in docs/performance.md between the bench:reports markers.

    # PostgreSQL: the database `make bench` (tests/bench/run.sh) migrated and seeded with 1,000,000 contacts
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/siyu_bench REDIS_URL=redis://127.0.0.1:6379/1 \\
        .venv/bin/python tests/bench/reports.py [--runs N] [--no-write]

Measured, p50 and p95 over N runs after one warm-up, each timed around the Python call (Django, the driver and
the database; the cache is bypassed, so every run counts from the orders or the rollups):
- the repeat-purchase report (reports.selectors, the figures `crm_report repeat-purchase` prints) over the last
  twelve months of the seed (crm.seeding.DEFAULT_REFERENCE, so every run reads the same rows) and over all of it,
  as the page counts it once the refresh has written the order sequences, and beside it the baseline: the window
  query over the orders (repeat_purchase_from_orders), which still counts a channel-filtered report; the two must
  give the same figures (checked);
- the rollup refresh (reports.rollups.rollups_refresh: the customer rollups, the order sequences, the cohort cells,
  the RFM boundaries), and the order sequences' part of it alone: every row rewritten, nothing changed, and the
  sequences of 1,000 customers to rewrite (their rows dropped beforehand, untimed);
- the cohort table and the RFM groups read from the rollups, as the dashboard reads them;
- the dashboard's default view (the last twelve months, no filter) once the refresh job has counted it into the
  cache (reports.rollups.default_report_warm), as a seller opening the page gets it;
- the acquisition page's new contacts per week by source (reports.acquisition) over its default twelve weeks and
  over a year, and the effect of one send (reports.effect.audience_orders) on an audience of 100,000 contacts (the
  first 100,000 of the book: the seed has no broadcasts) with 7 and 14 days either side, a month before the end of
  the seed.
It writes rollups of the bench workspace (its own tables) and reads everything else.
"""

import argparse
import os
import platform
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
DOC = ROOT / "docs" / "performance.md"
START, END = "<!-- bench:reports:start -->", "<!-- bench:reports:end -->"
TARGETS_MS = {"repeat_year": 1000, "cohorts": 2000, "acquisition_weeks": 1000}
EFFECT_AUDIENCE = 100_000
CHANGED_CUSTOMERS = 1_000


def timed(call, runs: int, setup=None) -> dict:
    call()  # warm-up: the first run also pays for the plan and the pages read from disk
    samples = []
    for _ in range(runs):
        if setup is not None:  # untimed: what the call is to find
            setup()
        started = time.perf_counter()
        call()
        samples.append((time.perf_counter() - started) * 1000)
    samples.sort()
    p95 = samples[min(len(samples) - 1, int(round(0.95 * (len(samples) - 1))))]
    return {"p50": statistics.median(samples), "p95": p95, "n": runs}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--refresh-runs", type=int, default=3, help="the refresh is slower: fewer runs")
    parser.add_argument("--no-write", action="store_true", help="print the block, leave docs/performance.md alone")
    args = parser.parse_args()

    import django

    django.setup()
    from django.db import connection
    from django.utils import timezone

    from crm.models import Contact, Order, Workspace
    from crm.seeding import DEFAULT_REFERENCE
    from reports import rfm
    from reports.forms import default_range, workspace_today
    from reports.rollups import rollups_refresh
    from reports.selectors import (
        ReportFilter, _repeat_purchase, cohort_table, repeat_purchase, repeat_purchase_from_orders, rollup_state,
    )

    workspace = Workspace.objects.get(slug=SLUG)
    today = timezone.localtime(DEFAULT_REFERENCE).date()
    since, until = default_range(today=today)
    year = ReportFilter(since=since, until=until)
    everything = ReportFilter(since=today - timedelta(days=3660), until=today)

    results = {"refresh": timed(lambda: rollups_refresh(workspace=workspace), args.refresh_runs)}
    # Fresh rollups: the report is counted from the order sequences, as the page counts it.
    if _repeat_purchase(workspace=workspace, filters=year).as_of is None:
        raise SystemExit("the report did not read the order sequences: is the rollup state fresh?")
    for key, wanted in (("year", year), ("all", everything)):
        results[f"repeat_{key}"] = timed(lambda: _repeat_purchase(workspace=workspace, filters=wanted), args.runs)
        results[f"repeat_{key}_window"] = timed(
            lambda: repeat_purchase_from_orders(workspace=workspace, filters=wanted), args.runs
        )
        if _repeat_purchase(workspace=workspace, filters=wanted) != repeat_purchase_from_orders(
            workspace=workspace, filters=wanted
        ):
            raise SystemExit(f"the order sequences and the window query disagree on {wanted}")
    # After the reports: each rewrite of every row leaves dead rows behind, which the scans above would read too.
    results["sequences_full"] = timed(lambda: sequences_rewrite(workspace, every_row=True), args.refresh_runs)
    results["sequences_same"] = timed(lambda: sequences_rewrite(workspace, every_row=False), args.refresh_runs)
    results["sequences_changed"] = timed(
        lambda: sequences_rewrite(workspace, every_row=False), args.refresh_runs,
        setup=lambda: sequences_forget(workspace, CHANGED_CUSTOMERS),
    )
    if connection.vendor == "postgresql":  # give the dead rows' space back: the next run starts from a compact table
        with connection.cursor() as cursor:
            cursor.execute("VACUUM FULL ANALYZE reports_ordersequence")
    state = rollup_state(workspace=workspace)
    results["cohorts"] = timed(lambda: cohort_table(workspace=workspace, since=everything.since, until=today,
                                                    today=today), args.runs)
    results["rfm"] = timed(lambda: rfm.rfm_groups(workspace=workspace, cuts=state.rfm_cuts), args.runs)
    # The dashboard's first view as the refresh job leaves it: counted into the cache (rollups.default_report_warm).
    page_filter = ReportFilter(*default_range(today=workspace_today(workspace)))
    repeat_purchase(workspace=workspace, filters=page_filter)
    results["repeat_cached"] = timed(lambda: repeat_purchase(workspace=workspace, filters=page_filter), args.runs)
    results.update(acquisition_results(workspace, today, args.runs))
    report = _repeat_purchase(workspace=workspace, filters=year)
    data = {
        "contacts": Contact.objects.filter(workspace=workspace).count(),
        "orders": Order.objects.filter(workspace=workspace).count(),
        "customers": state.customers,
        "year": year,
        "report": report,
        "database": describe_database(connection),
    }
    block = render(results, data)
    print(block)
    if not args.no_write:
        write_doc(block)


def sequences_rewrite(workspace, *, every_row: bool) -> None:
    """The order sequences' part of a refresh: every row rewritten (as after a change of time zone), or only the
    contacts whose orders changed (reports.rollups._write_sequences), then the VACUUM that lets the report's scan
    stay in the index."""
    from django.db import transaction

    from reports import rollups
    from reports.models import RollupState

    with transaction.atomic():
        state = RollupState.objects.select_for_update().get(workspace=workspace)
        if every_row:
            state.sequence_zone = ""  # in memory only: the rows are then rewritten in the zone they already have
        rollups._write_sequences(workspace, state)
    rollups.sequences_vacuum()


def sequences_forget(workspace, contacts: int) -> None:
    """Drop the sequence rows of some customers, so that the next refresh finds them changed (the bench leaves the
    book itself alone)."""
    from reports.models import OrderSequence

    rows = OrderSequence.objects.filter(workspace=workspace)
    contact_ids = list(rows.order_by("contact_id").values_list("contact_id", flat=True).distinct()[:contacts])
    rows.filter(contact_id__in=contact_ids).delete()


def acquisition_results(workspace, today, runs: int) -> dict:
    """The acquisition page's queries, uncached: the weekly counts and one send's effect."""
    from crm.models import Contact
    from crm.seeding import DEFAULT_REFERENCE
    from reports import acquisition, effect

    since, until = acquisition.default_weeks(today=today)
    audience = Contact.objects.filter(workspace=workspace).order_by("pk").values("pk")[:EFFECT_AUDIENCE]
    sent_at = DEFAULT_REFERENCE - timedelta(days=30)
    return {
        "acquisition_weeks": timed(lambda: acquisition._new_contacts_by_week(
            workspace=workspace, since=since, until=until), runs),
        "acquisition_year": timed(lambda: acquisition._new_contacts_by_week(
            workspace=workspace, since=since - timedelta(weeks=40), until=until), runs),
        "effect_7": timed(lambda: effect.audience_orders(
            workspace=workspace, audience=audience, sent_at=sent_at, days=7), runs),
        "effect_14": timed(lambda: effect.audience_orders(
            workspace=workspace, audience=audience, sent_at=sent_at, days=14), runs),
    }


def describe_database(connection) -> str:
    name = connection.settings_dict["NAME"]
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SELECT split_part(version(), ' on ', 1)")
            return f"{cursor.fetchone()[0]}, database `{name}`"
        cursor.execute("SELECT sqlite_version()")
        return f"SQLite {cursor.fetchone()[0]}, `{Path(str(name)).name}`"


def commit() -> str:
    found = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True)
    return found.stdout.strip() or "?"


def render(results: dict, data: dict) -> str:
    labels = {
        "repeat_year": f"repeat-purchase report, {data['year'].since} to {data['year'].until} (order sequences)",
        "repeat_year_window": "the same, baseline: the window query over the orders (a channel filter counts so)",
        "repeat_all": "repeat-purchase report, all orders (order sequences)",
        "repeat_all_window": "the same, baseline: the window query over the orders",
        "repeat_cached": "repeat-purchase report, the page's default view once the refresh job has counted it",
        "refresh": "rollup refresh (customers, order sequences of changed customers, cohort cells, RFM boundaries)",
        "sequences_full": "its order sequences, every row rewritten (first refresh, new time zone), VACUUM",
        "sequences_same": "its order sequences, nothing changed since the last refresh (finding no change), VACUUM",
        "sequences_changed": f"its order sequences, {CHANGED_CUSTOMERS:,} customers' orders changed, VACUUM",
        "cohorts": "cohort table from the rollups",
        "rfm": "RFM groups from the rollups",
        "acquisition_weeks": "new contacts per week by source, the last twelve weeks",
        "acquisition_year": "new contacts per week by source, fifty-two weeks",
        "effect_7": f"one send's effect, an audience of {EFFECT_AUDIENCE:,}, 7 days either side",
        "effect_14": f"one send's effect, an audience of {EFFECT_AUDIENCE:,}, 14 days either side",
    }
    report = data["report"]
    lines = [
        START,
        f"Run of {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} (commit {commit()}), `tests/bench/reports.py`.",
        "",
        f"- Machine: {os.cpu_count()} CPUs ({platform.processor() or platform.machine()}); {data['database']}.",
        f"- Data: {data['contacts']:,} contacts, {data['orders']:,} orders, {data['customers']:,} customers with a "
        f"valid order. The twelve months: {report.customers:,} customers, {report.orders:,} orders, "
        f"repeat rate {report.repeat_rate or 0:.1%}.",
        "",
        "| measure | p50 | p95 | runs | target |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    for key, label in labels.items():
        result = results[key]
        target = f"≤ {TARGETS_MS[key]:,} ms" if key in TARGETS_MS else ""
        lines.append(f"| {label} | {result['p50']:.0f} ms | {result['p95']:.0f} ms | {result['n']} | {target} |")
    lines.append(END)
    return "\n".join(lines)


def write_doc(block: str) -> None:
    text = DOC.read_text()
    if START not in text:
        text = text.rstrip("\n") + f"\n\n{START}\n{END}\n"
    head, rest = text.split(START, 1)
    DOC.write_text(head + block + rest.split(END, 1)[1])
    print(f"\nwrote {DOC.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
