"""Tests that need real PostgreSQL and Redis servers (`make test-services`).

Without DATABASE_URL and REDIS_URL, or with the servers unreachable, these tests are skipped, except under CI=true
or SIYU_REQUIRE_SERVICES=1, where that is a failure: a CI run that quietly skipped them would prove nothing.
"""

import os
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import quote

import pytest

BASE_DIR = Path(__file__).resolve().parents[2]
WAIT_SECONDS = 60


def services_required() -> bool:
    return os.environ.get("CI", "").lower() in {"1", "true", "yes"} or os.environ.get(
        "SIYU_REQUIRE_SERVICES", ""
    ).lower() in {"1", "true", "yes"}


def _unavailable(reason: str):
    if services_required():
        pytest.fail(f"{reason} (required: CI=true or SIYU_REQUIRE_SERVICES=1)", pytrace=False)
    pytest.skip(f"{reason}; run `make test-services` for these tests")


def _postgres_problem() -> str | None:
    from django.conf import settings

    if not os.environ.get("DATABASE_URL"):
        return "DATABASE_URL is not set"
    db = settings.DATABASES["default"]
    if db["ENGINE"] != "django.db.backends.postgresql":
        return f"DATABASE_URL does not point at PostgreSQL (engine {db['ENGINE']})"
    import psycopg

    # The database named in the URL may not exist (pytest-django makes test_<name>); Django falls back to
    # "postgres" to create it, and so does this check.
    last_error = None
    for name in (db["NAME"], "postgres"):
        try:
            psycopg.connect(
                host=db["HOST"] or None,
                port=db["PORT"] or None,
                user=db["USER"] or None,
                password=db["PASSWORD"] or None,
                dbname=name,
                connect_timeout=5,
            ).close()
            return None
        except psycopg.Error as error:
            last_error = error
    return f"PostgreSQL at {db['HOST']}:{db['PORT']} is unreachable: {last_error}"


def _redis_problem() -> str | None:
    url = os.environ.get("REDIS_URL")
    if not url:
        return "REDIS_URL is not set"
    import redis

    try:
        client = redis.Redis.from_url(url, socket_connect_timeout=5, socket_timeout=5)
        client.ping()
        client.close()
    except redis.RedisError as error:
        return f"Redis at {url} is unreachable: {error}"
    return None


@pytest.fixture(scope="session", autouse=True)
def _services_available():
    """Checked once, before pytest-django creates the test database on the server."""
    problems = [p for p in (_postgres_problem(), _redis_problem()) if p]
    if problems:
        _unavailable("; ".join(problems))


@pytest.fixture(scope="session")
def redis_url() -> str:
    return os.environ["REDIS_URL"]


def _database_url(settings_dict) -> str:
    """A DATABASE_URL for the database this test process uses (pytest-django's test_<name>)."""
    user = quote(settings_dict["USER"] or "", safe="")
    password = quote(settings_dict["PASSWORD"] or "", safe="")
    credentials = f"{user}:{password}@" if password else (f"{user}@" if user else "")
    host = settings_dict["HOST"] or "127.0.0.1"
    port = settings_dict["PORT"] or 5432
    return f"postgres://{credentials}{host}:{port}/{quote(settings_dict['NAME'], safe='')}"


class Worker:
    """A real `celery -A crm worker` process and its log."""

    def __init__(self, process: subprocess.Popen, log_path: Path):
        self.process = process
        self.log_path = log_path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def log_tail(self, lines: int = 60) -> str:
        return "\n".join(self.log().splitlines()[-lines:])

    def wait_until(self, condition, *, what: str, timeout: float = WAIT_SECONDS):
        """Poll `condition` (a callable) until it is true; fail with the worker's log when it never is."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            result = condition()
            if result:
                return result
            if self.process.poll() is not None:
                pytest.fail(
                    f"The Celery worker exited (code {self.process.returncode}) before {what}.\n"
                    f"--- worker log ---\n{self.log_tail()}",
                    pytrace=False,
                )
            time.sleep(0.2)
        pytest.fail(f"No {what} after {timeout:.0f} s.\n--- worker log ---\n{self.log_tail()}", pytrace=False)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()  # warm shutdown: finishes and acknowledges the task at hand
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)


def start_worker(log_dir: Path, **extra_env: str) -> Worker:
    """`celery -A crm worker --pool solo --concurrency 1 -Q celery` against Redis and this run's test database."""
    from django.db import connection

    celery = Path(sys.executable).with_name("celery")
    command = [str(celery)] if celery.exists() else [sys.executable, "-m", "celery"]
    command += [
        "-A", "crm", "worker",
        "--pool", "solo", "--concurrency", "1", "-Q", "celery",
        "--loglevel", "INFO",
        "--hostname", f"siyu-services-test-{os.getpid()}-{time.monotonic_ns()}@%h",
        "--without-gossip", "--without-mingle", "--without-heartbeat",
    ]  # fmt: skip
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "crm.settings",
        "DATABASE_URL": _database_url(connection.settings_dict),
        "REDIS_URL": os.environ["REDIS_URL"],
        "CELERY_TASK_ALWAYS_EAGER": "false",
        "SIYU_TESTING": "false",
        "DB_CONN_MAX_AGE": "0",
        "PYTHONUNBUFFERED": "1",
        **extra_env,
    }
    env.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
    log_path = log_dir / f"worker-{time.monotonic_ns()}.log"
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            command, cwd=BASE_DIR, env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT
        )
    return Worker(process, log_path)


@pytest.fixture(scope="module")
def celery_worker(django_db_setup, redis_url, tmp_path_factory):
    """A real worker for the module's tests.

    Tests using it take `transactional_db` (so their rows are committed where the worker can read them) and
    `celery_through_broker` (so `.delay()` goes through Redis instead of running in this process).
    """
    worker = start_worker(tmp_path_factory.mktemp("celery"))
    try:
        yield worker
    finally:
        worker.stop()


@pytest.fixture
def celery_through_broker(settings):
    """Send tasks to the broker for real: no eager execution in this process."""
    from crm.celery import app

    settings.CELERY_TASK_ALWAYS_EAGER = False
    eager = app.conf.task_always_eager
    app.conf.task_always_eager = False
    if not str(app.conf.broker_url).startswith("redis"):
        pytest.fail(f"The Celery broker is {app.conf.broker_url!r}, not Redis: is REDIS_URL set?", pytrace=False)
    try:
        yield app
    finally:
        app.conf.task_always_eager = eager
