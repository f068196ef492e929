"""The referral landing page /r/<code> under 16 concurrent connections, written to docs/performance.md.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/siyu_bench REDIS_URL=redis://127.0.0.1:6379/1 \\
        .venv/bin/python tests/bench/landing.py [--no-write]

tests/bench/run.sh runs it after the other benchmarks, on the bench database. It makes (once) a running campaign
with one participant in the bench workspace, starts gunicorn (2 sync workers, DEBUG off) on BENCH_LANDING_PORT and
measures the page two ways, each with wrk, 16 connections, BENCH_DURATION seconds:
- new visitors: no cookie, so every request is a new device and writes a scan (the worst case);
- a returning visitor: the device cookie of an earlier visit, so the page is a reload and writes nothing;
plus the server time of BENCH_SEQUENTIAL requests one after another (p50, p95).
"""

import argparse
import http.client
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone as dt_timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "crm.settings")

import django  # noqa: E402

django.setup()

from django.db import connection  # noqa: E402
from django.utils import timezone  # noqa: E402

from crm.models import Contact, WeChatAccount, Workspace  # noqa: E402
from referrals import services  # noqa: E402
from referrals.models import Campaign, Participant, RewardTier  # noqa: E402

DOC = ROOT / "docs" / "performance.md"
LUA = Path(__file__).with_name("cookie.lua")
START, END = "<!-- bench:landing:start -->", "<!-- bench:landing:end -->"
SLUG = os.environ.get("BENCH_WORKSPACE", "bench")
PORT = int(os.environ.get("BENCH_LANDING_PORT", "8766"))
DURATION = int(os.environ.get("BENCH_DURATION", "20"))
SEQUENTIAL = int(os.environ.get("BENCH_SEQUENTIAL", "200"))
CONNECTIONS = 16
CAMPAIGN = "bench-landing"


def prepare() -> str:
    """The bench workspace's landing campaign and its participant (made once); the participant's code."""
    workspace = Workspace.objects.filter(slug=SLUG).first() or Workspace.objects.create(name="压测海味", slug=SLUG)
    account = WeChatAccount.objects.filter(workspace=workspace).order_by("id").first() or \
        WeChatAccount.objects.create(workspace=workspace, name="压测号")
    now = timezone.now()
    campaign = Campaign.objects.filter(workspace=workspace, name=CAMPAIGN).first()
    if campaign is None:
        campaign = Campaign.objects.create(workspace=workspace, name=CAMPAIGN, starts_at=now - timedelta(days=1),
                                           ends_at=now + timedelta(days=3650), status=Campaign.Status.ACTIVE,
                                           landing_text="添加好友领取新人礼", poster_text="邀请好友，免费领海参")
        campaign.accounts.set([account])
        RewardTier.objects.create(campaign=campaign, invites=3, name="试吃装")
    Campaign.objects.filter(pk=campaign.pk).update(status=Campaign.Status.ACTIVE, ends_at=now + timedelta(days=3650))
    participant = Participant.objects.filter(campaign=campaign).first()
    if participant is None:
        contact = Contact.objects.filter(workspace=workspace).order_by("id").first() or \
            Contact.objects.create(workspace=workspace, owner_account=account, nickname="王姐")
        services.participants_enrol(campaign=campaign, contact_ids=[contact.pk])
        participant = Participant.objects.get(campaign=campaign)
    connection.close()
    return participant.code


def start_server() -> subprocess.Popen:
    log = open(ROOT / "var" / "bench" / "landing-gunicorn.log", "w")
    server = subprocess.Popen(
        [str(ROOT / ".venv" / "bin" / "gunicorn"), "crm.wsgi", "-w", "2", "-b", f"127.0.0.1:{PORT}",
         "--log-level", "warning"],
        cwd=ROOT, env={**os.environ, "DEBUG": "false"}, stdout=log, stderr=subprocess.STDOUT,
    )
    for _ in range(60):
        try:
            if get("/login/")[0] == 200:
                return server
        except OSError:
            pass  # not listening yet
        time.sleep(0.5)
    server.terminate()
    sys.exit("bench: gunicorn did not answer on /login/")


def get(path: str, cookie: str = "") -> tuple[int, dict]:
    client = http.client.HTTPConnection("127.0.0.1", PORT, timeout=30)
    try:
        client.request("GET", path, headers={"Cookie": cookie} if cookie else {})
        response = client.getresponse()
        response.read()
        return response.status, {k.lower(): v for k, v in response.getheaders()}
    finally:
        client.close()


def sequential(path: str, cookie: str) -> list[float]:
    client = http.client.HTTPConnection("127.0.0.1", PORT, timeout=30)
    times = []
    for _ in range(SEQUENTIAL):
        started = time.perf_counter()
        client.request("GET", path, headers={"Cookie": cookie} if cookie else {})
        response = client.getresponse()
        response.read()
        if response.status != 200:
            sys.exit(f"bench: GET {path} gave HTTP {response.status}")
        times.append((time.perf_counter() - started) * 1000)
    client.close()
    return times


def wrk(path: str, cookie: str) -> dict:
    env = {key: value for key, value in os.environ.items() if key != "BENCH_COOKIE"}
    if cookie:
        env["BENCH_COOKIE"] = cookie
    command = ["wrk", "-t2", f"-c{CONNECTIONS}", f"-d{DURATION}s", "--timeout", "10s", "--latency", "-s", str(LUA),
               f"http://127.0.0.1:{PORT}{path}"]
    output = subprocess.run(command, env=env, capture_output=True, text=True, check=True).stdout
    result = json.loads(output.strip().splitlines()[-1])
    if result["non200"] or result["errors"]:
        sys.exit(f"bench: wrk saw {result['non200']} non-200 responses and {result['errors']} errors on {path}")
    return result


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(p / 100 * len(ordered) + 0.5) - 1))]


def measure(path: str) -> list[dict]:
    status, headers = get(path)
    if status != 200 or "sy_device=" not in headers.get("set-cookie", ""):
        sys.exit(f"bench: {path} gave HTTP {status} without a device cookie")
    returning = headers["set-cookie"].split(";", 1)[0]
    get(path, returning)  # the returning visitor's first scan, so that later visits are reloads
    rows = []
    for label, cookie in (("new visitors (a scan written per request)", ""),
                          ("a returning visitor (a reload: nothing written)", returning)):
        for _ in range(20):  # warm up: the workers' database connections
            get(path, cookie)
        times = sequential(path, cookie)
        load = wrk(path, cookie)
        row = {"label": label, "p50": statistics.median(times), "p95": percentile(times, 95),
               "rps": load["requests"] / load["duration_s"], "load_p50": load["p50_ms"], "load_p95": load["p95_ms"],
               "load_p99": load["p99_ms"], "requests": load["requests"]}
        rows.append(row)
        print(f"{label:50} p50 {row['p50']:5.1f} ms  p95 {row['p95']:5.1f} ms  {row['rps']:7.1f} req/s  "
              f"(under load p50 {row['load_p50']:.0f} / p95 {row['load_p95']:.0f} / p99 {row['load_p99']:.0f} ms)",
              flush=True)
    return rows


def write_doc(rows: list[dict], database: str) -> None:
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    commit = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True,
                            text=True).stdout.strip() or "?"
    lines = [
        START,
        f"Run of {datetime.now(dt_timezone.utc).strftime('%Y-%m-%d %H:%M UTC')} (commit {commit}), "
        "`make bench` (tests/bench/landing.py).",
        "",
        f"- {os.cpu_count()} CPUs, load average {load} at the end; Python {platform.python_version()}, {database}; "
        "gunicorn 2 sync workers, DEBUG off; wrk, the server and the database share the CPUs.",
        f"- The public referral landing page `/r/<code>` of one participant. Server time: {SEQUENTIAL} requests one "
        f"after another on one connection. Under load: wrk, {CONNECTIONS} connections, {DURATION} s.",
        "",
        "| visitors | p50 | p95 | req/s (16 conns) | p50 / p95 / p99 under load |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    lines += [f"| {row['label']} | {row['p50']:.1f} ms | {row['p95']:.1f} ms | {row['rps']:.1f} | "
              f"{row['load_p50']:.0f} / {row['load_p95']:.0f} / {row['load_p99']:.0f} ms |" for row in rows]
    lines.append(END)
    text = DOC.read_text() if DOC.exists() else "# Performance\n"
    if START not in text:
        text = text.rstrip("\n") + f"\n\n## Referral landing page\n\n{START}\n{END}\n"
    head, rest = text.split(START, 1)
    DOC.write_text(head + "\n".join(lines) + rest.split(END, 1)[1])
    print(f"\nwrote {DOC.relative_to(ROOT)}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--no-write", action="store_true", help="print the results only")
    args = parser.parse_args()
    (ROOT / "var" / "bench").mkdir(parents=True, exist_ok=True)
    code = prepare()
    database = f"{connection.vendor} {connection.Database.sqlite_version if connection.vendor == 'sqlite' else ''}"
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT split_part(version(), ' on ', 1)")
            database = cursor.fetchone()[0]
        connection.close()
    server = start_server()
    try:
        rows = measure(f"/r/{code}")
    finally:
        server.terminate()
        server.wait(timeout=30)
    if not args.no_write:
        write_doc(rows, database.strip())


if __name__ == "__main__":
    main()
