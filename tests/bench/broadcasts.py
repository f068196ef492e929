"""Measure a broadcast to 100,000 contacts through the outbox channel, from "send" to "finished", with real Celery
workers on PostgreSQL and Redis, and the naive one-task-per-recipient design in the same run; write the results to
docs/performance.md.

    .venv/bin/python tests/bench/broadcasts.py            # the benchmark
    .venv/bin/python tests/bench/broadcasts.py profile    # in-process: a chunk's queries, CPU per delivery, cProfile
    .venv/bin/python tests/bench/broadcasts.py --no-write # print the results without touching the docs

Environment: BENCH_BROADCAST_DB (default siyu_bench_messaging; created with createdb when missing, never one of the
other benchmarks' databases), REDIS_URL (default redis://127.0.0.1:6379/2: the broker and the cache),
BENCH_RECIPIENTS (100,000), BENCH_NAIVE_RECIPIENTS (2,000), BENCH_ROUNDS (2).

1. The database is migrated and, once, one workspace is seeded with `manage.py crm_seed` (realistic contacts:
   Chinese nicknames and remarks, tags, orders, three to five WeChat accounts). Every run then makes sure every
   account sends through the outbox channel, every contact carries the tag 老客 (the audience), the first
   BENCH_NAIVE_RECIPIENTS contacts also a tag of their own (the baseline's audience), no quiet hours and frequency
   caps high enough for a broadcast a run; a finished broadcast of last week to everyone stays in the table, so
   the frequency-cap checks of the start find a delivery per contact, as they would in a workspace in use.
2. Each measurement sends a new broadcast, after the previous ones' deliveries and outbox messages were deleted
   (and the tables vacuumed), so every run starts from the same tables. The timer starts at the call of
   campaigns.services.broadcast_send in this process, which writes the deliveries (one INSERT ... SELECT,
   timed on its own) and queues the chunk tasks through Redis on commit, and stops when a poll (every 50 ms)
   sees Broadcast.status == finished. Every delivery must then be SENT and have its OutboxMessage.
3. Workers are real `celery -A crm worker --pool solo` processes: one, then two. The same workers run the naive
   baseline (tests/bench/naive_tasks.py, registered with `-I tests.bench.naive_tasks`): the same start, then one
   task per recipient, on a smaller audience (BENCH_NAIVE_RECIPIENTS), timed from the call to the last delivery
   SENT; its rate (recipients per second) is what 100,000 recipients would get, extrapolated.
4. Engine and baseline take turns, BENCH_ROUNDS times each per worker count; the best run of each is reported
   (every run is listed): on a shared machine the fastest run is the one least disturbed by other work.
"""

from __future__ import annotations

import cProfile
import io
import os
import platform
import pstats
import signal
import subprocess
import sys
import time
from datetime import datetime, time as clock, timedelta, timezone as dt_timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
DOC = ROOT / "docs" / "performance.md"
OUT = ROOT / "var" / "bench"
START, END = "<!-- bench:broadcasts:start -->", "<!-- bench:broadcasts:end -->"
DB = os.environ.get("BENCH_BROADCAST_DB", "siyu_bench_messaging")
REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/2")
RECIPIENTS = int(os.environ.get("BENCH_RECIPIENTS", "100000"))
NAIVE_RECIPIENTS = int(os.environ.get("BENCH_NAIVE_RECIPIENTS", "2000"))
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "2"))
WORKER_COUNTS = (1, 2)
PG = ["-h", "127.0.0.1", "-p", "5432", "-U", "postgres"]
# Other benchmarks' and the test suite's databases: never this script's.
PROTECTED_DATABASES = {"siyu_bench", "siyu_bench_import", "siyu_bench_segments", "test", "postgres"}
SLUG = "broadcast-bench"
AUDIENCE_TAG, SAMPLE_TAG = "老客", "压测样本"
TEXT = "{备注名}，双十一老客专享：淡干海参第二件半价，今晚8点开抢，回复1帮您预留～"
HISTORY_NAME = "上周上新（历史）"
POLL_SECONDS = 0.05
TIMEOUT_SECONDS = 900


# The environment ---------------------------------------------------------------------------------------------------


def child_env() -> dict:
    return {
        **os.environ,
        "DATABASE_URL": f"postgres://postgres@127.0.0.1:5432/{DB}",
        "REDIS_URL": REDIS_URL,
        "DJANGO_ENV": "development",
        "DEBUG": "false",  # as in production: with DEBUG on Django keeps every query's text
        "LOG_LEVEL": "WARNING",
        "CELERY_TASK_ALWAYS_EAGER": "false",
        "SIYU_TESTING": "false",
        "PYTHONUNBUFFERED": "1",
    }


def prepare_database() -> None:
    if DB in PROTECTED_DATABASES:
        sys.exit(f"bench: {DB} belongs to another benchmark or the tests; use siyu_bench_messaging")
    exists = subprocess.run(
        ["psql", *PG, "-Atc", f"SELECT 1 FROM pg_database WHERE datname = '{DB}'", "postgres"],
        capture_output=True, text=True, check=True,
    ).stdout.strip()
    if not exists:
        subprocess.run(["createdb", *PG, DB], check=True)
    subprocess.run([sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"], cwd=ROOT, env=child_env(),
                   check=True)


def setup_django() -> None:
    os.environ.update(child_env())
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "crm.settings")
    import django

    django.setup()


def sql(statement: str, params=None):
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(statement, params)
        return cursor.fetchall() if cursor.description else cursor.rowcount


# The data ----------------------------------------------------------------------------------------------------------


def prepare_workspace():
    """The seeded workspace with its audience tags, outbox accounts and permissive messaging settings."""
    from campaigns.models import Broadcast, Delivery, MessagingSettings
    from crm import selectors
    from crm.models import Contact, ContactTag, Tag, WeChatAccount, Workspace

    workspace, _ = Workspace.objects.get_or_create(slug=SLUG, defaults={"name": "群发压测"})
    have = Contact.objects.filter(workspace=workspace).count()
    seeded = None
    if have == 0:
        print(f"Seeding {RECIPIENTS:,} contacts into {DB} (once; later runs reuse them)…", flush=True)
        started = time.monotonic()
        subprocess.run(
            [sys.executable, "manage.py", "crm_seed", "--workspace", SLUG, "--contacts", str(RECIPIENTS),
             "--seed", "1", "--no-progress"],
            cwd=ROOT, env=child_env(), check=True,
        )
        seeded = time.monotonic() - started
    elif have != RECIPIENTS:
        sys.exit(f"bench: the workspace {SLUG} holds {have:,} contacts, not {RECIPIENTS:,}: drop the database {DB} "
                 "to reseed (dropdb -h 127.0.0.1 -U postgres {DB})")
    contacts = Contact.objects.filter(workspace=workspace)
    WeChatAccount.objects.filter(workspace=workspace).update(channel=WeChatAccount.Channel.OUTBOX)
    contacts.exclude(opted_out_at=None).update(opted_out_at=None)
    audience, _ = Tag.objects.get_or_create(workspace=workspace, name=AUDIENCE_TAG, defaults={"slug": "laoke"})
    sample, _ = Tag.objects.get_or_create(workspace=workspace, name=SAMPLE_TAG, defaults={"slug": "bench-sample"})
    links = ContactTag._meta.db_table
    sql(f"""INSERT INTO {links} (content_object_id, tag_id, created_at)
            SELECT id, %s, now() FROM crm_contact WHERE workspace_id = %s ON CONFLICT DO NOTHING""",
        [audience.pk, workspace.pk])
    sample_ids = list(contacts.order_by("id").values_list("id", flat=True)[:NAIVE_RECIPIENTS])
    ContactTag.objects.filter(tag=sample).exclude(content_object_id__in=sample_ids).delete()
    sql(f"""INSERT INTO {links} (content_object_id, tag_id, created_at)
            SELECT unnest(%s::bigint[]), %s, now() ON CONFLICT DO NOTHING""", [sample_ids, sample.pk])
    MessagingSettings.objects.update_or_create(
        workspace=workspace,
        defaults={"quiet_start": clock(0), "quiet_end": clock(0), "daily_cap": 1000, "monthly_cap": 30000},
    )
    # Last week's broadcast to everyone: the frequency caps look at each contact's recent deliveries.
    if not Broadcast.objects.filter(workspace=workspace, name=HISTORY_NAME).exists():
        week_ago = datetime.now(dt_timezone.utc) - timedelta(days=7)
        history = Broadcast.objects.create(
            workspace=workspace, name=HISTORY_NAME, text="上周上新", audience={"tags": [audience.pk]},
            status=Broadcast.Status.FINISHED, created_at=week_ago, started_at=week_ago, finished_at=week_ago,
        )
        sql(f"""INSERT INTO {Delivery._meta.db_table} (workspace_id, broadcast_id, contact_id, account_id, status,
                    skip_reason, error, attempts, claim, created_at, finished_at)
                SELECT workspace_id, %s, id, owner_account_id, 'sent', '', '', 1, '', %s, %s
                FROM crm_contact WHERE workspace_id = %s""", [history.pk, week_ago, week_ago, workspace.pk])
    selectors.book_changed(workspace_id=workspace.pk)
    sql("ANALYZE")
    return workspace, audience, sample, seeded


def reset(workspace) -> None:
    """Forget the previous runs: their broadcasts, deliveries and outbox messages (plain DELETEs), then VACUUM so
    that every run starts from the same tables."""
    from django.db import connection

    from campaigns.models import Broadcast, Delivery
    from crm.models import OutboxMessage

    runs = list(Broadcast.objects.filter(workspace=workspace).exclude(name=HISTORY_NAME).values_list("id", flat=True))
    if runs:
        sql(f"DELETE FROM {Delivery._meta.db_table} WHERE broadcast_id = ANY(%s)", [runs])
        Broadcast.objects.filter(pk__in=runs).delete()
    sql(f"DELETE FROM {OutboxMessage._meta.db_table} WHERE workspace_id = %s", [workspace.pk])
    assert connection.get_autocommit()
    for table in (Delivery._meta.db_table, OutboxMessage._meta.db_table, Broadcast._meta.db_table):
        sql(f"VACUUM (ANALYZE) {table}")


# The workers -------------------------------------------------------------------------------------------------------


class Workers:
    """`count` real `celery -A crm worker --pool solo` processes on Redis and the bench database."""

    def __init__(self, count: int):
        from crm.celery import app

        self.app = app
        self.app.control.purge()  # tasks left behind by an interrupted run
        celery = Path(sys.executable).with_name("celery")
        self.names = [f"bench-broadcasts-{os.getpid()}-{i}@{platform.node()}" for i in range(count)]
        self.processes = []
        for index, name in enumerate(self.names):
            log = open(OUT / f"broadcasts-worker-{index}.log", "wb")
            self.processes.append(subprocess.Popen(
                [str(celery), "-A", "crm", "worker", "--pool", "solo", "--concurrency", "1", "-Q", "celery",
                 "--loglevel", "WARNING", "--hostname", name, "-I", "tests.bench.naive_tasks",
                 "--without-gossip", "--without-mingle", "--without-heartbeat"],
                cwd=ROOT, env=child_env(), stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
            ))
        self.wait_ready()

    def wait_ready(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        waiting = set(self.names)
        while waiting and time.monotonic() < deadline:
            self.check_alive()
            for reply in self.app.control.ping(destination=list(waiting), timeout=0.5):
                waiting -= set(reply)
        if waiting:
            sys.exit(f"bench: workers {sorted(waiting)} did not answer within {timeout:.0f} s; see {OUT}")

    def check_alive(self) -> None:
        for index, process in enumerate(self.processes):
            if process.poll() is not None:
                log = (OUT / f"broadcasts-worker-{index}.log").read_text(errors="replace")[-3000:]
                sys.exit(f"bench: worker {index} exited with {process.returncode}:\n{log}")

    def cpu_seconds(self) -> float:
        ticks = 0
        for process in self.processes:
            fields = Path(f"/proc/{process.pid}/stat").read_text().rsplit(")", 1)[1].split()
            ticks += int(fields[11]) + int(fields[12])
        return ticks / os.sysconf("SC_CLK_TCK")

    def stop(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.terminate()  # warm shutdown
        for process in self.processes:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)


# The measurements --------------------------------------------------------------------------------------------------


class Timed:
    """Wrap a function of campaigns.services for the length of a run, adding up the time spent in it."""

    def __init__(self, module, name: str, replacement=None):
        self.module, self.name = module, name
        self.original = getattr(module, name)
        self.target = replacement or self.original
        self.seconds = 0.0
        self.calls = 0

    def __enter__(self):
        def timed(*args, **kwargs):
            started = time.perf_counter()
            try:
                return self.target(*args, **kwargs)
            finally:
                self.seconds += time.perf_counter() - started
                self.calls += 1

        setattr(self.module, self.name, timed)
        return self

    def __exit__(self, *exc):
        setattr(self.module, self.name, self.original)


def wait_for(condition, workers: Workers, what: str) -> float:
    deadline = time.monotonic() + TIMEOUT_SECONDS
    while not condition():
        if time.monotonic() > deadline:
            sys.exit(f"bench: no {what} after {TIMEOUT_SECONDS} s; see the worker logs in {OUT}")
        workers.check_alive()
        time.sleep(POLL_SECONDS)
    return time.perf_counter()


def engine_run(workspace, audience, workers: Workers) -> dict:
    from campaigns import services
    from campaigns.models import Broadcast, Delivery
    from crm.models import OutboxMessage

    reset(workspace)
    broadcast = Broadcast.objects.create(workspace=workspace, name="双十一老客福利", text=TEXT,
                                         audience={"tags": [audience.pk]})
    cpu_before = workers.cpu_seconds()
    with Timed(services, "_insert_deliveries") as insert, Timed(services, "broadcast_start") as start, \
            Timed(services, "broadcast_dispatch") as dispatch:
        started = time.perf_counter()
        services.broadcast_send(broadcast=broadcast)
        returned = time.perf_counter()
        finished = wait_for(
            lambda: Broadcast.objects.filter(pk=broadcast.pk, status=Broadcast.Status.FINISHED).exists(),
            workers, "finished broadcast",
        )
    cpu = workers.cpu_seconds() - cpu_before
    sent = Delivery.objects.filter(broadcast=broadcast, status=Delivery.Status.SENT).count()
    messages = OutboxMessage.objects.filter(workspace=workspace).count()
    if sent != RECIPIENTS or messages != RECIPIENTS:
        sys.exit(f"bench: {sent:,} deliveries sent and {messages:,} outbox messages, not {RECIPIENTS:,} each")
    seconds = finished - started
    return {
        "seconds": seconds, "rate": RECIPIENTS / seconds, "insert": insert.seconds,
        "start": start.seconds - dispatch.seconds, "dispatch": dispatch.seconds, "send_returned": returned - started,
        "chunks": (RECIPIENTS + services.CHUNK_SIZE - 1) // services.CHUNK_SIZE, "worker_cpu": cpu,
    }


def naive_run(workspace, sample, workers: Workers) -> dict:
    from campaigns import services
    from campaigns.models import Broadcast, Delivery
    from crm.models import OutboxMessage
    from tests.bench import naive_tasks

    reset(workspace)
    broadcast = Broadcast.objects.create(workspace=workspace, name="双十一老客福利（逐个任务）", text=TEXT,
                                         audience={"tags": [sample.pk]})
    remaining = Delivery.objects.filter(broadcast=broadcast, status__in=services.UNFINISHED)
    cpu_before = workers.cpu_seconds()
    with Timed(services, "broadcast_dispatch", naive_tasks.naive_dispatch) as dispatch:
        started = time.perf_counter()
        services.broadcast_send(broadcast=broadcast)
        returned = time.perf_counter()
        finished = wait_for(lambda: not remaining.exists(), workers, "naive broadcast done")
    cpu = workers.cpu_seconds() - cpu_before
    services.broadcast_finish_if_done(broadcast_id=broadcast.pk)
    sent = Delivery.objects.filter(broadcast=broadcast, status=Delivery.Status.SENT).count()
    messages = OutboxMessage.objects.filter(workspace=workspace).count()
    if sent != NAIVE_RECIPIENTS or messages != NAIVE_RECIPIENTS:
        sys.exit(f"bench: naive: {sent:,} sent and {messages:,} outbox messages, not {NAIVE_RECIPIENTS:,} each")
    seconds = finished - started
    return {"seconds": seconds, "rate": NAIVE_RECIPIENTS / seconds, "dispatch": dispatch.seconds,
            "send_returned": returned - started, "worker_cpu": cpu}


# Profile -----------------------------------------------------------------------------------------------------------


def backend_cpu_seconds() -> float:
    """CPU time so far of this process's PostgreSQL backend (same machine: /proc)."""
    pid = sql("SELECT pg_backend_pid()")[0][0]
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def profile(workspace, audience) -> None:
    """In this process: the start, then ten chunks of the broadcast one by one (the first one's queries with their
    times), the wall and CPU time (Python's and the PostgreSQL backend's, from /proc: the server must be on this
    machine) per chunk and per delivery, and cProfile of one more chunk."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from campaigns import services, tasks
    from campaigns.models import Broadcast

    reset(workspace)
    broadcast = Broadcast.objects.create(workspace=workspace, name="profile", text=TEXT,
                                         audience={"tags": [audience.pk]})
    chunks = []
    dispatch = services.broadcast_dispatch

    def collect(*, broadcast_id):
        """The real dispatch, its chunk tasks collected here instead of queued."""
        delay = tasks.deliveries_send_chunk.delay
        tasks.deliveries_send_chunk.delay = lambda *args: chunks.append(args)
        try:
            return dispatch(broadcast_id=broadcast_id)
        finally:
            tasks.deliveries_send_chunk.delay = delay

    cpu, pg = time.process_time(), backend_cpu_seconds()
    with Timed(services, "_insert_deliveries") as insert, Timed(services, "broadcast_dispatch", collect) as queued:
        started = time.perf_counter()
        services.broadcast_send(broadcast=broadcast)
        elapsed = time.perf_counter() - started
    print(f"start: {elapsed:.2f} s (INSERT ... SELECT {insert.seconds:.2f} s, dispatch of {len(chunks)} chunks "
          f"{queued.seconds:.2f} s); Python CPU {time.process_time() - cpu:.2f} s, "
          f"PostgreSQL backend CPU {backend_cpu_seconds() - pg:.2f} s")
    totals = {"sent": 0, "wall": 0.0, "python": 0.0, "postgresql": 0.0}
    for index, (broadcast_id, first_id, last_id) in enumerate(chunks[:10]):
        cpu, pg = time.process_time(), backend_cpu_seconds()
        with CaptureQueriesContext(connection) as queries:
            started = time.perf_counter()
            sent = services.deliveries_send_chunk(broadcast_id=broadcast_id, first_id=first_id, last_id=last_id)
            elapsed = time.perf_counter() - started
        python, postgresql = time.process_time() - cpu, backend_cpu_seconds() - pg
        for key, value in (("sent", sent), ("wall", elapsed), ("python", python), ("postgresql", postgresql)):
            totals[key] += value
        print(f"chunk {index + 1} ({sent} sent): {elapsed * 1000:.0f} ms, {len(queries)} queries through Django; "
              f"Python CPU {python * 1000:.0f} ms, PostgreSQL backend CPU {postgresql * 1000:.0f} ms")
        if index == 0:
            for query in queries.captured_queries:
                print(f"  {float(query['time']) * 1000:7.1f} ms  {' '.join(query['sql'].split())[:140]}")
    per = 1_000_000 / totals["sent"]
    print(f"\nper delivery over {totals['sent']:,}: {totals['wall'] * per:.0f} µs wall, Python CPU "
          f"{totals['python'] * per:.0f} µs, PostgreSQL backend CPU {totals['postgresql'] * per:.0f} µs")
    profiler = cProfile.Profile()
    broadcast_id, first_id, last_id = chunks[10]
    profiler.enable()
    services.deliveries_send_chunk(broadcast_id=broadcast_id, first_id=first_id, last_id=last_id)
    profiler.disable()
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(25)
    print(out.getvalue())
    reset(workspace)


# The report --------------------------------------------------------------------------------------------------------


def machine() -> dict:
    def run(*command):
        try:
            return subprocess.run(command, capture_output=True, text=True, check=True).stdout.strip()
        except (OSError, subprocess.CalledProcessError):
            return "?"

    cpu = next((line.split(":", 1)[1].strip() for line in run("lscpu").splitlines() if line.startswith("Model name")),
               "?")
    memory_kb = next(int(line.split()[1]) for line in Path("/proc/meminfo").read_text().splitlines()
                     if line.startswith("MemTotal"))
    return {
        "date": datetime.now(dt_timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "cpus": run("nproc"), "cpu": cpu, "memory": f"{memory_kb / 1024 / 1024:.0f} GiB",
        "python": platform.python_version(),
        "commit": run("git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"),
        "postgresql": sql("SELECT split_part(version(), ' on ', 1)")[0][0],
        "pg_settings": ", ".join(f"{name} {value}" for name, value in sql(
            "SELECT name, current_setting(name) FROM unnest(ARRAY['shared_buffers', 'synchronous_commit', "
            "'max_wal_size']) AS name")),
    }


def load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def best(runs: list[dict]) -> dict:
    return min(runs, key=lambda run: run["seconds"])


def report(results: dict, info: dict, seeded: float | None) -> str:
    from campaigns import services

    lines = [
        START,
        f"Run of {info['date']} (commit {info['commit']}), `.venv/bin/python tests/bench/broadcasts.py`.",
        "",
        f"- Machine: {info['cpus']} CPUs ({info['cpu']}), {info['memory']} memory; load average {info['load']} "
        "(other work on the machine shares the CPUs).",
        f"- {info['postgresql']}; {info['pg_settings']}. Redis broker, Python {info['python']}, "
        "`celery worker --pool solo` per worker; workers, PostgreSQL, Redis and this script share the same CPUs.",
        f"- Data: one workspace of {RECIPIENTS:,} contacts (crm_seed), every one tagged {AUDIENCE_TAG} and on an "
        "account of the outbox channel, with a delivery of last week's broadcast each"
        + (f"; seeded in this run in {seeded:.0f} s." if seeded else "."),
        f"- Engine: CHUNK_SIZE {services.CHUNK_SIZE} ({(RECIPIENTS + services.CHUNK_SIZE - 1) // services.CHUNK_SIZE}"
        " chunk tasks). Naive: one task per recipient (tests/bench/naive_tasks.py) on the first "
        f"{NAIVE_RECIPIENTS:,} contacts, its rate extrapolated to {RECIPIENTS:,}.",
        f"- {ROUNDS} runs of each, engine and naive taking turns; the table gives the best (fastest) run, then "
        "every run. Start: broadcast_start in this process, the INSERT ... SELECT of the deliveries (with its "
        "ANALYZE) and the commit, where PostgreSQL checks the four foreign keys of every row. Sending: the rest, "
        "from the first chunk task to the broadcast marked finished. Worker CPU: the Celery workers' own CPU "
        "time (PostgreSQL's not included).",
        "",
        "| workers | design | recipients | send → finished | deliveries/s | start (of which INSERT … SELECT) "
        "| sending | worker CPU | ratio to naive | every run |",
        "| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    every = lambda runs: ", ".join(f"{r['seconds']:.1f} s" for r in runs)  # noqa: E731
    for workers in WORKER_COUNTS:
        engine, naive = best(results[workers]["engine"]), best(results[workers]["naive"])
        sending = engine["seconds"] - engine["start"]
        lines.append(
            f"| {workers} | engine (chunks of {services.CHUNK_SIZE}) | {RECIPIENTS:,} | {engine['seconds']:.1f} s | "
            f"{engine['rate']:,.0f} | {engine['start']:.1f} s ({engine['insert']:.1f} s) | {sending:.1f} s, "
            f"{RECIPIENTS / sending:,.0f}/s | {engine['worker_cpu']:.1f} s | {engine['rate'] / naive['rate']:.0f}× | "
            f"{every(results[workers]['engine'])} |"
        )
        lines.append(
            f"| {workers} | naive (a task per recipient) | {NAIVE_RECIPIENTS:,} | {naive['seconds']:.1f} s | "
            f"{naive['rate']:,.1f} | – | – | {naive['worker_cpu']:.1f} s | 1× | {every(results[workers]['naive'])} |"
        )
    lines.append("")
    for workers in WORKER_COUNTS:
        engine, naive = best(results[workers]["engine"]), best(results[workers]["naive"])
        lines.append(
            f"{workers} worker{'s' if workers > 1 else ''}: 100,000 recipients would take the naive design about "
            f"{RECIPIENTS / naive['rate']:,.0f} s against the engine's {engine['seconds']:.1f} s "
            f"(queuing its {NAIVE_RECIPIENTS:,} tasks alone took {naive['dispatch']:.1f} s)."
        )
    lines.append(END)
    return "\n".join(lines)


def write_doc(block: str) -> None:
    text = DOC.read_text() if DOC.exists() else "# Performance\n"
    if START in text and END in text:
        head, rest = text.split(START, 1)
        text = head + block + rest.split(END, 1)[1]
    else:
        text = text.rstrip("\n") + "\n\n## Broadcasts\n\n" + block + "\n"
    DOC.write_text(text)
    print(f"\nwrote {DOC.relative_to(ROOT)}")


def main() -> None:
    # Stopped by a signal, even when started in the background (where SIGINT is ignored): stop the workers too.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    OUT.mkdir(parents=True, exist_ok=True)
    prepare_database()
    setup_django()
    workspace, audience, sample, seeded = prepare_workspace()
    if "profile" in sys.argv[1:]:
        profile(workspace, audience)
        return
    load_at_start = load()
    results = {}
    for count in WORKER_COUNTS:
        workers = Workers(count)
        try:
            results[count] = {"engine": [], "naive": []}
            for round_ in range(ROUNDS):
                run = engine_run(workspace, audience, workers)
                results[count]["engine"].append(run)
                print(f"{count} worker(s), engine, run {round_ + 1}: {RECIPIENTS:,} in {run['seconds']:.2f} s = "
                      f"{run['rate']:,.0f}/s (INSERT ... SELECT {run['insert']:.2f} s, rest of the start "
                      f"{run['start'] - run['insert']:.2f} s, dispatch {run['dispatch']:.2f} s; worker CPU "
                      f"{run['worker_cpu']:.1f} s)", flush=True)
                run = naive_run(workspace, sample, workers)
                results[count]["naive"].append(run)
                print(f"{count} worker(s), naive, run {round_ + 1}: {NAIVE_RECIPIENTS:,} in {run['seconds']:.2f} s "
                      f"= {run['rate']:,.0f}/s (queuing the tasks {run['dispatch']:.2f} s; worker CPU "
                      f"{run['worker_cpu']:.1f} s)", flush=True)
        finally:
            workers.stop()
    reset(workspace)
    info = machine()
    info["load"] = f"{load_at_start} at the start, {load()} at the end"
    block = report(results, info, seeded)
    print("\n" + block)
    if "--no-write" not in sys.argv:
        write_doc(block)


if __name__ == "__main__":
    main()
