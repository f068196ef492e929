"""Measure the contact import (`manage.py crm_import`) on 100,000 rows and write the results to docs/performance.md.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/siyu_bench_import .venv/bin/python tests/bench/imports.py
    DATABASE_URL=sqlite:///var/bench/import.sqlite3 .venv/bin/python tests/bench/imports.py

The database is created when missing (createdb on PostgreSQL; never siyu_bench, which holds the list benchmark's
million contacts) and migrated. A realistic contacts CSV is generated once into var/bench/ (Chinese nicknames with
emoji, remarks like 张姐-老客-爱买海参, phones written several ways, WeChat IDs, a tags column, about 2 % of the rows a
customer the file has already, about 0.3 % bad rows), and an orders CSV for the same customers. Each round, in a fresh
workspace:

1. `crm_import contacts FILE` (everything is new but the file's own duplicates);
2. the same command again (everything matches: updates and no-ops; nothing may be created);
3. `crm_import orders FILE` (customers matched by phone or WeChat ID, some new);
4. the baseline: a plain `Contact.objects.bulk_create` of the same rows, 1,000 at a time, in another fresh
   workspace, without parsing, checks, matching, tags or timeline: what Django alone costs to write the contacts;
5. on PostgreSQL, the server's floor: the imported contacts COPYed back in a rolled-back transaction, with every
   index, without the trigram indexes, without any secondary index (what storing them costs, whatever the client).

Every step runs as its own process (`manage.py ...`), timed from start to exit (Python and Django start-up
included), with its CPU time and its peak memory, the maximum resident set size (GNU time's %M, else os.wait4).
The rounds repeat (BENCH_ROUNDS, 2 by default: the machine is shared, the numbers are noisy) and the best time of
each step is reported, with every round's. The block written between the markers of docs/performance.md says the
machine, date, commit and database version. BENCH_ROWS makes a smaller run.
"""

from __future__ import annotations

import csv
import os
import random
import re
import sqlite3
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
from tests.bench.bench import machine  # noqa: E402  (after the path: the project's root)

DOC = ROOT / "docs" / "performance.md"
OUT = ROOT / "var" / "bench"
MARKERS = {
    "postgresql": ("<!-- bench:imports:start -->", "<!-- bench:imports:end -->"),
    "sqlite": ("<!-- bench:imports-sqlite:start -->", "<!-- bench:imports-sqlite:end -->"),
}
ROWS = int(os.environ.get("BENCH_ROWS", "100000"))
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "2"))
SLUG, BASELINE_SLUG = "import-bench", "import-bench-baseline"
ACCOUNT = "小美-海味1号"
PROTECTED_DATABASES = {"siyu_bench"}  # the list benchmark's seed, measured by someone else
SEED = 7


# The database ----------------------------------------------------------------------------------------------------


def prepare_database(url: str) -> str:
    """Create the database when missing; its vendor, "postgresql" or "sqlite"."""
    parts = urlsplit(url)
    if parts.scheme.startswith("postgres"):
        name = parts.path.lstrip("/")
        if name in PROTECTED_DATABASES:
            sys.exit(f"bench: {name} holds another benchmark's data; use siyu_bench_import")
        args = ["-h", parts.hostname or "127.0.0.1", "-p", str(parts.port or 5432), "-U", parts.username or "postgres"]
        exists = subprocess.run(
            ["psql", *args, "-Atc", f"SELECT 1 FROM pg_database WHERE datname = '{name}'", "postgres"],
            capture_output=True, text=True, check=True,
        ).stdout.strip()
        if not exists:
            subprocess.run(["createdb", *args, name], check=True)
        return "postgresql"
    if parts.scheme == "sqlite":
        import dj_database_url

        path = Path(dj_database_url.parse(url)["NAME"])
        (path if path.is_absolute() else ROOT / path).parent.mkdir(parents=True, exist_ok=True)
        return "sqlite"
    sys.exit(f"bench: DATABASE_URL must be postgres://... or sqlite:///..., not {url}")


def child_env() -> dict:
    # DEBUG off as in production: with DEBUG on Django keeps the text of the last 9,000 queries in memory.
    return {**os.environ, "DJANGO_ENV": "development", "DEBUG": "false", "LOG_LEVEL": "WARNING"}


def manage(*args: str) -> None:
    subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=child_env(), check=True)


def setup_django() -> None:
    os.environ.update({k: v for k, v in child_env().items() if k in {"DJANGO_ENV", "DEBUG", "LOG_LEVEL"}})
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "crm.settings")
    import django

    django.setup()


def database_version(vendor: str) -> str:
    from django.db import connection

    if vendor == "sqlite":
        return f"SQLite {sqlite3.sqlite_version}"
    with connection.cursor() as cursor:
        cursor.execute("SELECT split_part(version(), ' on ', 1)")
        return cursor.fetchone()[0]


def fresh_workspace(slug: str):
    """The bench workspace, emptied: the last run's rows go with plain DELETEs (Django's delete() would load the
    100,000 contacts to follow their relations), the rest with the workspace."""
    from django.db import connection, transaction

    from crm.models import WeChatAccount, Workspace

    old = Workspace.objects.filter(slug=slug).first()
    if old:
        with transaction.atomic(), connection.cursor() as cursor:
            for statement in (
                "DELETE FROM crm_timelineevent WHERE workspace_id = %s",
                "DELETE FROM crm_order WHERE workspace_id = %s",
                "DELETE FROM crm_contacttag WHERE tag_id IN (SELECT id FROM crm_tag WHERE workspace_id = %s)",
                "DELETE FROM crm_contact WHERE workspace_id = %s",
            ):
                cursor.execute(statement, [old.pk])
            old.delete()
        if connection.vendor == "postgresql":
            # The deleted rows' space made reusable and the statistics taken again, so that every round starts
            # from the same tables (without, each round ran 1–2 s slower than the one before it).
            with connection.cursor() as cursor:
                for table in ("crm_contact", "crm_contacttag", "crm_timelineevent", "crm_order"):
                    cursor.execute(f"VACUUM ANALYZE {table}")
    workspace = Workspace.objects.create(name="导入压测", slug=slug)
    WeChatAccount.objects.create(workspace=workspace, name=ACCOUNT, wechat_id="xiaomei_haiwei1")
    return workspace


# The files -------------------------------------------------------------------------------------------------------

CONTACT_HEADER = ["客户编号", "昵称", "备注名", "微信号", "手机号", "性别", "地区", "标签", "来源", "添加时间", "描述"]
ORDER_HEADER = ["订单号", "买家", "下单时间", "实付金额", "平台", "商品", "买家昵称"]


def _phone_written(rng: random.Random, phone: str) -> str:
    """A mainland mobile as sellers' exports write it: mostly 11 digits, else spaced, dashed or with +86."""
    roll = rng.random()
    if roll < 0.6:
        return phone
    if roll < 0.8:
        return f"{phone[:3]} {phone[3:7]} {phone[7:]}"
    if roll < 0.9:
        return "+86 " + phone
    return f"{phone[:3]}-{phone[3:7]}-{phone[7:]}"


def generate(contacts_path: Path, orders_path: Path, rows: int) -> dict:
    """The two CSV files, the same for the same row count. Returns what the contacts import should end with."""
    from crm import seeding

    rng = random.Random(SEED)
    random_ = rng.random
    tag_names = [name for _group, _exclusive, entries in seeding.TAG_CATALOGUE for name, _p in entries]
    popular = [name for name, _p in sorted(
        ((name, p) for _g, _e, entries in seeding.TAG_CATALOGUE for name, p in entries), key=lambda e: -e[1])[:25]]
    start = datetime(2023, 1, 1, 8, 0)
    taken: set[str] = set()  # WeChat IDs and phones drawn so far
    identities: list[tuple[str, str, str]] = []  # (external ID, WeChat ID, phone) of the rows so far
    customers: list[str] = []  # how an order names its buyer: a phone or WeChat ID of the contacts file
    bad = 0
    with contacts_path.open("w", encoding="utf-8", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(CONTACT_HEADER)
        for n in range(rows):
            surname = seeding._one(random_, seeding.SURNAMES)
            nickname = seeding._nickname(random_, surname)
            province, city, _w = seeding._one(random_, seeding.REGIONS)
            tags = [seeding._one(random_, popular if random_() < 0.8 else tag_names) for _ in range(int(random_() * 5))]
            tags = list(dict.fromkeys(tags))
            remark = seeding._remark(random_, surname, seeding._one(random_, seeding.HONORIFICS)[0], city, tags[:2]) \
                if random_() < 0.8 else ""
            wechat_id = seeding._wechat_id(rng) if random_() < 0.85 else ""
            phone = ""
            if random_() < 0.7:
                phone = seeding._one(random_, seeding.PHONE_PREFIXES) + str(10**8 + int(random_() * 10**8))[1:]
            # WeChat IDs and phones are one person's: a chosen ID (zhangfang1988) drawn twice gets a suffix.
            while (wechat_id and wechat_id in taken) or (phone and phone in taken):
                wechat_id = wechat_id and wechat_id + seeding._one(random_, "0123456789")
                phone = phone and phone[:3] + str(10**8 + int(random_() * 10**8))[1:]
            taken.update((wechat_id, phone))  # "" too, harmlessly
            external_id = f"C{100000 + n}" if random_() < 0.3 else ""
            # About 2 % of the rows are a customer the file has already (exported twice, from two accounts):
            # the same WeChat ID and phone, or only one of them, with another remark, region and tags.
            if identities and random_() < 0.02:
                external_id, wechat_id, phone = seeding._one(random_, identities)
                if wechat_id and phone and random_() < 0.5:
                    wechat_id, phone = (wechat_id, "") if random_() < 0.5 else ("", phone)
            if not (phone or wechat_id or external_id):
                external_id = f"C{100000 + n}"  # every row can be matched again: a re-import must create nothing
            phone_cell = _phone_written(rng, phone) if phone else ""
            if random_() < 0.01:
                phone_cell = f"0411-{8000_0000 + int(random_() * 999_9999)}"  # a Dalian landline: the slow path
                phone = ""
            added = start + timedelta(seconds=int(random_() * 3 * 365 * 86400))
            added_cell = seeding._one(random_, (
                added.strftime("%Y-%m-%d %H:%M:%S"), f"{added.year}/{added.month}/{added.day} {added:%H:%M}",
                added.strftime("%Y%m%d"), "",
            ))
            cells = [
                external_id, nickname, remark, wechat_id, phone_cell,
                seeding._one(random_, ("男", "女", "女", "", "未知")),
                f"{province} {city}" if province != city else province,
                seeding._one(random_, ("，", "、", ",")).join(tags),
                seeding._one(random_, ("", "", "转介绍", "抖音直播", "渠道码", "淘宝老客", "群聊")),
                added_cell,
                seeding._description(random_, city) if random_() < 0.2 else "",
            ]
            roll = random_()
            if roll < 0.001:
                cells[4] = "12345"  # not a phone number
                bad += 1
            elif roll < 0.002:
                cells[9] = "昨天下午"  # not a date
                bad += 1
            elif roll < 0.003:
                cells[1] = "长" * 101  # longer than a nickname may be
                bad += 1
            writer.writerow(cells)
            identities.append((external_id, wechat_id, phone))
            if phone:
                customers.append(phone_cell)
            elif wechat_id and random_() < 0.3:
                customers.append(wechat_id)
    _generate_orders(orders_path, rows, rng, customers)
    return {"bad": bad}


def _generate_orders(path: Path, rows: int, rng: random.Random, customers: list[str]) -> None:
    """Orders of the contacts (by phone or WeChat ID) and of some buyers not in the book (new customers)."""
    from crm import seeding

    random_ = rng.random
    start = datetime(2024, 1, 1, 9, 0)
    with path.open("w", encoding="utf-8", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(ORDER_HEADER)
        for n in range(rows):
            customer = seeding._one(random_, customers) if random_() < 0.9 else f"tb_buyer_{int(random_() * 20000)}"
            item, price, _w = seeding._one(random_, seeding.PRODUCTS)
            quantity = 1 if random_() < 0.75 else 2
            channel = seeding._one(random_, ("微信", "淘宝", "拼多多", "抖音小店", "京东", "线下"))
            order_id = f"{channel[:1]}{10**15 + n}" if random_() < 0.8 else ""
            placed = start + timedelta(seconds=int(random_() * 700 * 86400))
            writer.writerow([
                order_id, customer, placed.strftime("%Y-%m-%d %H:%M:%S"), f"¥{price * quantity:,.2f}", channel,
                f"{item} ×{quantity}" if quantity > 1 else item,
                seeding._one(random_, seeding.CUTE_NICKNAMES) if random_() < 0.3 else "",
            ])


# Measuring -------------------------------------------------------------------------------------------------------


GNU_TIME = Path("/usr/bin/time")


def measure(label: str, *args: str) -> dict:
    """Run one step as its own process: wall time from start to exit, its peak memory and CPU time, the last line
    it printed. The peak (maximum resident set size) is taken by GNU time when present: a child forked from this
    script starts as a copy of it, and the kernel counts that copy in the child's own maximum (os.wait4 would say
    this script's size whenever it is the larger)."""
    with tempfile.TemporaryFile() as stdout, tempfile.TemporaryFile() as stderr, \
            tempfile.NamedTemporaryFile("r") as timing:
        wrapper = [str(GNU_TIME), "-f", "%M %U %S", "-o", timing.name] if GNU_TIME.exists() else []
        started = time.perf_counter()
        process = subprocess.Popen([*wrapper, sys.executable, *args], cwd=ROOT, env=child_env(), stdout=stdout,
                                   stderr=stderr)
        _pid, status, usage = os.wait4(process.pid, 0)
        seconds = time.perf_counter() - started
        process.returncode = os.waitstatus_to_exitcode(status)
        stdout.seek(0), stderr.seek(0)
        output, errors = stdout.read().decode(), stderr.read().decode()
        measured = timing.read().split()
    if process.returncode:
        sys.exit(f"bench: {label} failed ({process.returncode}):\n{output}\n{errors}")
    if wrapper:
        rss_kb, cpu = int(measured[-3]), float(measured[-2]) + float(measured[-1])
    else:
        rss_kb, cpu = usage.ru_maxrss, usage.ru_utime + usage.ru_stime
    summary = output.strip().splitlines()[-1] if output.strip() else ""
    result = {"label": label, "seconds": seconds, "rss_mb": rss_kb / 1024, "summary": summary, "cpu": cpu}
    print(f"  {label:34} {seconds:7.2f} s  {ROWS / seconds:8,.0f} rows/s  peak {result['rss_mb']:6.0f} MB  "
          f"cpu {result['cpu']:6.2f} s  | {summary}", flush=True)
    return result


def baseline(path: str, slug: str) -> None:
    """The baseline step (run as `imports.py baseline FILE SLUG`): the file's rows straight into bulk_create."""
    setup_django()
    from django.db import transaction

    from crm.models import Contact, WeChatAccount, Workspace

    workspace = Workspace.objects.get(slug=slug)
    account = WeChatAccount.objects.get(workspace=workspace, name=ACCOUNT)
    written = 0
    with open(path, encoding="utf-8", newline="") as stream:
        reader = csv.reader(stream)
        next(reader)
        while chunk := [row for _n, row in zip(range(1000), reader)]:
            contacts = [
                Contact(workspace=workspace, owner_account=account, source=Contact.Source.IMPORT, external_id=row[0],
                        nickname=row[1][:100], remark_name=row[2][:100], wechat_id=row[3], phone=row[4][:20],
                        region=row[6], description=row[10])
                for row in chunk
            ]
            with transaction.atomic():
                Contact.objects.bulk_create(contacts)
            written += len(contacts)
    print(f"bulk_create: {written} contacts")


def check_contacts(slug: str) -> dict:
    from crm.models import Contact, ContactTag, TimelineEvent, Workspace

    workspace = Workspace.objects.get(slug=slug)
    return {
        "contacts": Contact.objects.filter(workspace=workspace).count(),
        "tag_links": ContactTag.objects.filter(tag__workspace=workspace).count(),
        "events": TimelineEvent.objects.filter(workspace=workspace).count(),
    }


def run_round(contacts_csv: Path, orders_csv: Path) -> dict:
    fresh_workspace(SLUG)
    command = ["manage.py", "crm_import"]
    common = ["--workspace", SLUG, "--account", ACCOUNT, "--no-progress"]
    search_merge(quiet=True)  # what the last round's other steps left pending is not this import's to merge
    steps = {"import": measure("contacts import", *command, "contacts", str(contacts_csv), *common)}
    merge = search_merge()
    after_first = check_contacts(SLUG)
    steps["reimport"] = measure("contacts re-import (all matches)", *command, "contacts", str(contacts_csv), *common)
    after_second = check_contacts(SLUG)
    if after_second["contacts"] != after_first["contacts"] or after_second["tag_links"] != after_first["tag_links"]:
        sys.exit(f"bench: the re-import added rows: {after_first} → {after_second}")
    if not re.search(r"\b0 created\b", steps["reimport"]["summary"]):
        sys.exit(f"bench: the re-import created contacts: {steps['reimport']['summary']}")
    steps["orders"] = measure("orders import", *command, "orders", str(orders_csv), *common)
    fresh_workspace(BASELINE_SLUG)
    steps["baseline"] = measure("baseline: plain bulk_create", str(Path(__file__).relative_to(ROOT)), "baseline",
                                str(contacts_csv), BASELINE_SLUG)
    return {"steps": steps, "book": after_first, "floor": copy_floor(SLUG), "merge": merge}


def search_merge(*, quiet: bool = False) -> dict | None:
    """PostgreSQL: the search indexes' pending entries, merged as the task the import queued does (crm.bulkload):
    the search keeps finding every contact meanwhile, this is when it is fast again."""
    from django.db import connection

    from crm import bulkload

    if connection.vendor != "postgresql":
        return None
    started = time.perf_counter()
    pages = bulkload.search_indexes_flush()
    seconds = time.perf_counter() - started
    if not quiet:
        print(f"  search index merge (background task)  {seconds:7.2f} s  {pages:,} pending pages", flush=True)
    return {"seconds": seconds, "pages": pages}


def copy_floor(slug: str) -> dict | None:
    """PostgreSQL: what the server alone takes to store the imported contacts, whatever the client does. The
    workspace's contacts are copied out, then COPYed back in (as new rows) in a transaction that is rolled back:
    with every index of crm_contact, without its trigram (search) indexes, without any secondary index. Each time
    the foreign keys are checked too (SET CONSTRAINTS ALL IMMEDIATE), as the commit would."""
    from django.db import connection, transaction

    from crm.models import Contact, Workspace

    if connection.vendor != "postgresql":
        return None
    workspace = Workspace.objects.get(slug=slug)
    columns = ", ".join(f.column for f in Contact._meta.concrete_fields if not f.primary_key)
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT indexname, indexdef LIKE '%%gin_trgm_ops%%' FROM pg_indexes WHERE tablename = 'crm_contact' "
            "AND indexname NOT IN (SELECT conname FROM pg_constraint WHERE conrelid = 'crm_contact'::regclass)"
        )
        indexes = cursor.fetchall()
        with cursor.connection.cursor() as raw, raw.copy(
            f"COPY (SELECT {columns} FROM crm_contact WHERE workspace_id = {int(workspace.pk)}) TO STDOUT"
        ) as copy:
            data = b"".join(bytes(chunk) for chunk in copy)
    variants = {
        "all": [],
        "no_trigram": [name for name, trigram in indexes if trigram],
        "no_secondary": [name for name, _trigram in indexes],
    }
    floor = {"rows": data.count(b"\n"), "trigram_indexes": len(variants["no_trigram"]),
             "secondary_indexes": len(variants["no_secondary"])}
    for label, dropped in variants.items():
        with transaction.atomic(), connection.cursor() as cursor:
            for name in dropped:
                cursor.execute(f'DROP INDEX "{name}"')
            started = time.perf_counter()
            with cursor.connection.cursor() as raw, raw.copy(f"COPY crm_contact ({columns}) FROM STDIN") as copy:
                copy.write(data)
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
            floor[label] = time.perf_counter() - started
            transaction.set_rollback(True)
    print(f"  COPY of the workspace's {floor['rows']:,} contacts alone: {floor['all']:.1f} s with every index, "
          f"{floor['no_trigram']:.1f} s without the trigram indexes, {floor['no_secondary']:.1f} s without any "
          "secondary index", flush=True)
    return floor


# The report ------------------------------------------------------------------------------------------------------


LABELS = {
    "import": "contacts import (new workspace)",
    "reimport": "the same file again (all matches)",
    "orders": "orders import",
    "baseline": "baseline: plain `bulk_create` of the contacts",
}


def report(vendor: str, info: dict, rounds: list[dict], generated: dict) -> str:
    start, end = MARKERS[vendor]
    best = {key: min((r["steps"][key] for r in rounds), key=lambda s: s["seconds"]) for key in LABELS}
    base = best["baseline"]["seconds"]
    book = rounds[-1]["book"]
    lines = [
        start,
        f"Run of {info['date']} (commit {info['commit']}), `DATABASE_URL={'postgres://…' if vendor == 'postgresql' else 'sqlite:///…'} "
        f".venv/bin/python tests/bench/imports.py`.",
        "",
        f"- Machine: {info['cpus']} CPUs ({info['cpu']}), {info['memory']} memory; load average {info['load']} "
        "(other benchmarks share the CPUs).",
        f"- {info['database']}; Python {info['python']}; DEBUG off.",
        f"- File: {ROWS:,} contact rows ({generated['bad']} bad ones), {book['contacts']:,} distinct contacts after "
        f"the import, {book['tag_links']:,} tags on contacts, {book['events']:,} timeline events; "
        f"{ROWS:,} order rows.",
        "",
        f"Each step is one process, timed from start to exit; best of {len(rounds)} rounds (every round's time in "
        "the last column). Peak memory: the process's maximum resident set size. Ratio: time against the baseline's.",
        "",
        "| step | rows/s | wall time | process CPU | peak memory | ratio to baseline | rounds |",
        "| --- | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    for key, label in LABELS.items():
        step = best[key]
        times = ", ".join(f"{r['steps'][key]['seconds']:.1f} s" for r in rounds)
        lines.append(
            f"| {label} | {ROWS / step['seconds']:,.0f} | {step['seconds']:.1f} s | {step['cpu']:.1f} s | "
            f"{step['rss_mb']:.0f} MB | {step['seconds'] / base:.2f}× | {times} |"
        )
    lines += ["", f"The import said: “{best['import']['summary']}”; again: “{best['reimport']['summary']}”."]
    merges = [r["merge"] for r in rounds if r.get("merge")]
    if merges:
        fastest = min(merges, key=lambda merge: merge["seconds"])
        every = ", ".join(f"{merge['seconds']:.1f} s" for merge in merges)
        lines += [
            "",
            f"After the import, the task it queues merged the search indexes' {fastest['pages']:,} pending pages in "
            f"{fastest['seconds']:.1f} s (every round: {every}); the "
            "search finds the new contacts before that too, reading the pending entries (crm migration 0011).",
        ]
    floors = [r["floor"] for r in rounds if r["floor"]]
    if floors:
        best_floor = {key: min(f[key] for f in floors) for key in ("all", "no_trigram", "no_secondary")}
        lines += [
            "",
            f"The server's floor: COPY of the workspace's {floors[0]['rows']:,} contacts alone, foreign keys checked, "
            "rolled back (best of the rounds): "
            f"{best_floor['all']:.1f} s with every index of crm_contact ({floors[0]['rows'] / best_floor['all']:,.0f} "
            f"rows/s), {best_floor['no_trigram']:.1f} s without its {floors[0]['trigram_indexes']} trigram indexes, "
            f"{best_floor['no_secondary']:.1f} s without any of its {floors[0]['secondary_indexes']} secondary "
            "indexes.",
        ]
    lines.append(end)
    return "\n".join(lines)


def write_doc(vendor: str, block: str) -> None:
    start, end = MARKERS[vendor]
    text = DOC.read_text() if DOC.exists() else ""
    if start not in text or end not in text:
        spare = OUT / f"imports-{vendor}.md"
        spare.write_text(block + "\n")
        print(f"\n{DOC.relative_to(ROOT)} has no {start} marker: the block is in {spare.relative_to(ROOT)}")
        return
    head, rest = text.split(start, 1)
    DOC.write_text(head + block + rest.split(end, 1)[1])
    print(f"\nwrote {DOC.relative_to(ROOT)}")


def main() -> None:
    url = os.environ.get("DATABASE_URL")
    if not url:
        sys.exit("bench: set DATABASE_URL (postgres://.../siyu_bench_import or sqlite:///var/bench/import.sqlite3)")
    os.chdir(ROOT)  # a relative sqlite:/// path is relative to the project, for this process and its children
    vendor = prepare_database(url)
    manage("migrate", "--noinput", "-v", "0")
    setup_django()
    OUT.mkdir(parents=True, exist_ok=True)
    contacts_csv, orders_csv = OUT / f"import-contacts-{ROWS}.csv", OUT / f"import-orders-{ROWS}.csv"
    generated = generate(contacts_csv, orders_csv, ROWS)
    print(f"{database_version(vendor)}: {ROWS:,} rows in {contacts_csv.relative_to(ROOT)} and "
          f"{orders_csv.relative_to(ROOT)}", flush=True)
    info = machine(database_version(vendor))
    load_at_start = info["load"]
    rounds = []
    for number in range(1, ROUNDS + 1):
        print(f"round {number}:", flush=True)
        rounds.append(run_round(contacts_csv, orders_csv))
    info = {**machine(info["database"]), "date": info["date"]}
    info["load"] = f"{load_at_start} at the start, {info['load']} at the end"
    block = report(vendor, info, rounds, generated)
    print("\n" + block)
    write_doc(vendor, block)


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "baseline":
        baseline(sys.argv[2], sys.argv[3])
    else:
        main()
