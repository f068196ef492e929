"""Measure the contact list against a running server and write the results to docs/performance.md.

    .venv/bin/python tests/bench/bench.py --base http://127.0.0.1:8765 --scenario scenario.json \\
        --seed-log var/bench/seed.txt

run.sh starts the server (gunicorn, 2 workers) and passes the scenario tests/bench/prepare.py chose. For each
page this script measures
- server time: 200 requests per page one after another on one keep-alive connection, the pages taking turns,
  timed around each request (over loopback that is the server's time to within a fraction of a millisecond):
  p50 and p95;
- throughput: wrk, 16 connections for DURATION seconds: requests per second and wrk's own p50/p95/p99;
- the gunicorn workers' CPU time per request over the sequential run (from /proc): unlike the clock times it
  does not grow when other work on the machine competes for the CPUs;
- for the filtered list also the first request after the book changed (cold: counts and id lists recomputed).
The baseline is the unfiltered first page of the same workspace, measured in the same run.
"""

import argparse
import http.client
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import time
from datetime import datetime, timezone
from html import unescape
from pathlib import Path
from urllib.parse import urlencode, urlsplit

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "performance.md"
LUA = Path(__file__).with_name("cookie.lua")
START, END = "<!-- bench:results:start -->", "<!-- bench:results:end -->"
SEQUENTIAL = int(os.environ.get("BENCH_SEQUENTIAL", "200"))
DURATION = int(os.environ.get("BENCH_DURATION", "20"))
CONNECTIONS = 16


class Client:
    """One keep-alive connection with the session cookie."""

    def __init__(self, base: str):
        parts = urlsplit(base)
        self.host, self.port = parts.hostname, parts.port or 80
        self.cookies: dict[str, str] = {}
        self.connection = http.client.HTTPConnection(self.host, self.port, timeout=60)

    def request(self, method: str, path: str, body: str | None = None, headers: dict | None = None):
        headers = dict(headers or {})
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        try:
            self.connection.request(method, path, body=body, headers=headers)
            response = self.connection.getresponse()
        except (http.client.HTTPException, ConnectionError):
            self.connection.close()
            self.connection = http.client.HTTPConnection(self.host, self.port, timeout=60)
            self.connection.request(method, path, body=body, headers=headers)
            response = self.connection.getresponse()
        content = response.read()
        for header, value in response.getheaders():
            if header.lower() == "set-cookie":
                name, _, rest = value.partition("=")
                self.cookies[name.strip()] = rest.split(";", 1)[0]
        return response.status, response.getheader("Location"), content.decode("utf-8", "replace")

    def sign_in(self, username: str, password: str) -> None:
        """GET the form for its CSRF token, POST it once (django-axes locks an account after 5 failures)."""
        status, _, html = self.request("GET", "/login/")
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', html)
        if status != 200 or not token:
            sys.exit(f"bench: GET /login/ gave {status} without a CSRF token")
        body = urlencode({"username": username, "password": password, "csrfmiddlewaretoken": token.group(1)})
        status, location, _ = self.request(
            "POST", "/login/", body,
            {"Content-Type": "application/x-www-form-urlencoded", "Referer": f"http://{self.host}:{self.port}/login/"},
        )
        if status != 302 or "sessionid" not in self.cookies:
            sys.exit(f"bench: signing in as {username} failed (HTTP {status}); not retrying, to stay clear of axes")

    def timed(self, path: str) -> tuple[float, str]:
        started = time.perf_counter()
        status, location, html = self.request("GET", path)
        elapsed = (time.perf_counter() - started) * 1000
        if status != 200:
            sys.exit(f"bench: GET {path} gave HTTP {status} {location or ''}")
        return elapsed, html


def worker_pids(master: int) -> list[int]:
    """The gunicorn master's worker processes."""
    pids = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == master:  # the parent's pid
            pids.append(int(stat.parent.name))
    return pids


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU time of these processes so far (utime and stime of /proc/PID/stat)."""
    ticks = 0
    for pid in pids:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        ticks += int(fields[11]) + int(fields[12])
    return ticks / os.sysconf("SC_CLK_TCK")


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(p / 100 * len(ordered) + 0.5) - 1))]


def shown_count(html: str) -> str:
    match = re.search(r'id="result-count">([^<]*)<', html)
    return unescape(match.group(1)).strip() if match else "?"


def wrk(base: str, path: str, cookie: str) -> dict:
    env = {**os.environ, "BENCH_COOKIE": cookie}
    command = ["wrk", "-t2", f"-c{CONNECTIONS}", f"-d{DURATION}s", "--timeout", "10s", "--latency", "-s", str(LUA),
               base + path]
    output = subprocess.run(command, env=env, capture_output=True, text=True, check=True).stdout
    result = json.loads(output.strip().splitlines()[-1])
    if result["non200"] or result["errors"]:
        sys.exit(f"bench: wrk saw {result['non200']} non-200 responses and {result['errors']} errors on {path}")
    return result


def machine(database_version: str) -> dict:
    def run(*command):
        try:
            return subprocess.run(command, capture_output=True, text=True, check=True).stdout.strip()
        except (OSError, subprocess.CalledProcessError):
            return "?"

    cpu = next((line.split(":", 1)[1].strip() for line in run("lscpu").splitlines() if line.startswith("Model name")), "?")
    memory_kb = next(int(line.split()[1]) for line in Path("/proc/meminfo").read_text().splitlines()
                     if line.startswith("MemTotal"))
    return {
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "cpus": run("nproc"),
        "cpu": cpu,
        "memory": f"{memory_kb / 1024 / 1024:.0f} GiB",
        "database": database_version,
        "python": platform.python_version(),
        "load": " ".join(f"{x:.2f}" for x in os.getloadavg()),
        "commit": run("git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--base", required=True)
    parser.add_argument("--scenario", required=True, type=Path)
    parser.add_argument("--seed-log", type=Path)
    parser.add_argument("--database-version", default="?")
    parser.add_argument("--settings", default="")
    parser.add_argument("--server-pid", type=int, required=True, help="the gunicorn master")
    args = parser.parse_args()
    scenario = json.loads(args.scenario.read_text())
    load_at_start = " ".join(f"{x:.2f}" for x in os.getloadavg())
    if scenario["matches"] < 10_000:
        sys.exit(f"bench: the filter matches {scenario['matches']} contacts; page 200 needs 10,000")

    client = Client(args.base)
    client.sign_in(os.environ.get("BENCH_USERNAME", "bench"), os.environ["BENCH_PASSWORD"])
    cookie = "; ".join(f"{k}={v}" for k, v in client.cookies.items())
    filtered = urlencode([("tags_all", t) for t in scenario["tags"]] + [("q", scenario["q"])])
    pages = {
        "baseline: unfiltered list, page 1": "/",
        "unfiltered list, page 200": "/?page=200",
        "2 tags + search, page 1": f"/?{filtered}",
        "2 tags + search, page 200": f"/?{filtered}&page=200",
    }

    # Cold: the first request after the book changed recomputes the count and the ordered ids of the filter.
    subprocess.run([sys.executable, str(Path(__file__).with_name("prepare.py")), "forget"], check=True)
    cold_ms, html = client.timed(pages["2 tags + search, page 200"])
    print(f"cold (first request after a change), 2 tags + search, page 200: {cold_ms:.0f} ms; "
          f"the page says: {shown_count(html)}", flush=True)

    # Server time: the pages take turns, request by request, so that whatever else runs on the machine weighs on
    # all of them alike and the ratios stay fair.
    for path in pages.values():
        for _ in range(5):  # warm up: the worker's database connection, the cache
            client.timed(path)
    workers = worker_pids(args.server_pid)
    times = {label: [] for label in pages}
    cpu = dict.fromkeys(pages, 0.0)
    for _ in range(SEQUENTIAL):
        for label, path in pages.items():
            before = cpu_seconds(workers)
            times[label].append(client.timed(path)[0])
            cpu[label] += cpu_seconds(workers) - before
    rows = []
    for label, path in pages.items():
        load = wrk(args.base, path, cookie)
        row = {
            "label": label, "path": path,
            "p50": statistics.median(times[label]), "p95": percentile(times[label], 95),
            "cpu": cpu[label] / SEQUENTIAL * 1000,
            "rps": load["requests"] / load["duration_s"],
            "load_p50": load["p50_ms"], "load_p95": load["p95_ms"], "load_p99": load["p99_ms"],
            "requests": load["requests"],
        }
        rows.append(row)
        print(f"{label:36} p50 {row['p50']:6.1f} ms  p95 {row['p95']:6.1f} ms  cpu {row['cpu']:5.1f} ms  "
              f"{row['rps']:6.1f} req/s  "
              f"(under load p50 {row['load_p50']:.0f} / p95 {row['load_p95']:.0f} ms)", flush=True)
    _, html = client.timed(pages["2 tags + search, page 200"])
    info = machine(args.database_version)
    info["load"] = f"{load_at_start} at the start, {info['load']} at the end"
    write_doc(rows, scenario, cold_ms, shown_count(html), info, args)


def write_doc(rows, scenario, cold_ms, count_text, info, args) -> None:
    base = rows[0]
    seed = args.seed_log.read_text().strip() if args.seed_log and args.seed_log.exists() else "not seeded in this run"
    lines = [
        START,
        f"Run of {info['date']} (commit {info['commit']}), `make bench`.",
        "",
        f"- Machine: {info['cpus']} CPUs ({info['cpu']}), {info['memory']} memory; load average "
        f"{info['load']} (other work on the machine shares the CPUs).",
        f"- {info['database']}; {args.settings}",
        f"- Python {info['python']}, gunicorn 2 sync workers, Redis cache, DEBUG off; wrk, the server and "
        "PostgreSQL share the same CPUs.",
        f"- Data: {scenario['contacts']:,} contacts in the workspace (crm_seed). Seed: {seed}",
        f"- Filter: has all of the tags {' + '.join(scenario['tag_names'])} and search “{scenario['q']}”: "
        f"{scenario['matches']:,} matches ({count_text} on the page), so page 200 (rows 9,951–10,000) exists.",
        "",
        f"Server time: {SEQUENTIAL} requests per page one after another on one connection, the pages taking "
        "turns. Under load: wrk, "
        f"{CONNECTIONS} connections, {DURATION} s. Worker CPU: the gunicorn workers' CPU time per request during "
        "the sequential run (PostgreSQL's own CPU not included). Ratio: p50 against the baseline's p50.",
        "",
        "| page | p50 | p95 | worker CPU / request | req/s (16 conns) | p50 / p95 / p99 under load | ratio to baseline |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for row in rows:
        lines.append(
            f"| {row['label']} | {row['p50']:.1f} ms | {row['p95']:.1f} ms | {row['cpu']:.0f} ms | {row['rps']:.1f} | "
            f"{row['load_p50']:.0f} / {row['load_p95']:.0f} / {row['load_p99']:.0f} ms | "
            f"{row['p50'] / base['p50']:.2f}× |"
        )
    lines += [
        "",
        f"First request after the book changed (count and id list recomputed), 2 tags + search, page 200: "
        f"{cold_ms:.0f} ms.",
        END,
    ]
    block = "\n".join(lines)
    text = DOC.read_text() if DOC.exists() else f"# Performance\n\n## Results\n\n{START}\n{END}\n"
    if START not in text:
        text += f"\n## Results\n\n{START}\n{END}\n"
    head, rest = text.split(START, 1)
    tail = rest.split(END, 1)[1]
    DOC.write_text(head + block + tail)
    print(f"\nwrote {DOC.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
