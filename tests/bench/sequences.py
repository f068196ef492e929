"""The follow-up sequence tick with 1,000,000 enrolments of which 10,000 are due (PostgreSQL), against a naive
baseline, written to docs/performance.md.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/siyu_bench .venv/bin/python tests/bench/sequences.py

Uses the bench workspace that tests/bench/run.sh seeds (1,000,000 contacts). Its accounts are switched to the
outbox channel, so a message step writes a row instead of a send-today card. Measured:
- the tick (campaigns.sequences.sequences_tick): every enrolment of a one-message-then-wait sequence enrolled,
  DUE of them due now; wall time of one tick that runs them all, three runs (the due rows reset between runs);
- the baseline: the same steps run one enrolment at a time (lock it, record the run, send one message, move it
  on, each in its own transaction), the design the tick replaces; on BASELINE_DUE enrolments, as a rate.
"""

import os
import platform
import statistics
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone as dt_timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "crm.settings")

import django  # noqa: E402

django.setup()

from django.db import connection, transaction  # noqa: E402
from django.utils import timezone  # noqa: E402

from campaigns import sequences  # noqa: E402
from campaigns.models import Enrolment, Sequence, SequenceStep, StepRun, step_ref  # noqa: E402
from campaigns.texts import personalise  # noqa: E402
from crm import wechat  # noqa: E402
from crm.models import OutboxMessage, WeChatAccount, Workspace  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "performance.md"
START, END = "<!-- bench:sequences:start -->", "<!-- bench:sequences:end -->"
SLUG = os.environ.get("BENCH_WORKSPACE", "bench")
DUE = int(os.environ.get("BENCH_SEQUENCE_DUE", "10000"))
BASELINE_DUE = int(os.environ.get("BENCH_SEQUENCE_BASELINE_DUE", "1000"))
RUNS = 3
NOT_YET = datetime(2100, 1, 1, tzinfo=dt_timezone.utc)


def prepare(workspace: Workspace) -> Sequence:
    """The sequence with every contact of the workspace enrolled, none due: made once, kept for later runs."""
    WeChatAccount.objects.filter(workspace=workspace).update(channel=WeChatAccount.Channel.OUTBOX)
    contacts = workspace.contacts.filter(merged_into__isnull=True).count()
    sequence = Sequence.objects.filter(workspace=workspace, name="bench-sop").first()
    if sequence is not None and sequence.enrolments.count() == contacts:
        return sequence
    if sequence is not None:
        with connection.cursor() as cursor:  # a million rows: not through Django's cascade, which loads them
            cursor.execute("DELETE FROM campaigns_steprun WHERE enrolment_id IN "
                           "(SELECT id FROM campaigns_enrolment WHERE sequence_id = %s)", [sequence.pk])
            cursor.execute("DELETE FROM campaigns_enrolment WHERE sequence_id = %s", [sequence.pk])
        sequence.delete()
    sequence = Sequence.objects.create(
        workspace=workspace, name="bench-sop", trigger=Sequence.Trigger.CONTACT_ADDED, active=True
    )
    SequenceStep.objects.create(sequence=sequence, position=0, action="message", text="{备注名}，上新了")
    SequenceStep.objects.create(sequence=sequence, position=1, action="message", text="还在吗", wait_days=3)
    with connection.cursor() as cursor:
        cursor.execute(
            """INSERT INTO campaigns_enrolment
                   (workspace_id, sequence_id, contact_id, status, step_index, next_run_at, enrolled_at, exit_reason)
               SELECT %s, %s, id, 'active', 0, %s, %s, '' FROM crm_contact
               WHERE workspace_id = %s AND merged_into_id IS NULL""",
            [workspace.pk, sequence.pk, NOT_YET, timezone.now(), workspace.pk],
        )
        cursor.execute("ANALYZE campaigns_enrolment")
    return sequence


def make_due(sequence: Sequence, count: int, now: datetime) -> None:
    """`count` enrolments spread over the table on their first step, due a minute ago; every other enrolment back
    to not due, and the runs and messages of earlier runs removed."""
    StepRun.objects.filter(enrolment__sequence=sequence).delete()
    OutboxMessage.objects.filter(workspace_id=sequence.workspace_id, ref__startswith="sq:").delete()
    sequence.enrolments.exclude(next_run_at=NOT_YET, step_index=0, status="active").update(
        status="active", step_index=0, next_run_at=NOT_YET, finished_at=None
    )
    with connection.cursor() as cursor:
        cursor.execute(
            """UPDATE campaigns_enrolment SET next_run_at = %s WHERE id IN (
                   SELECT id FROM campaigns_enrolment WHERE sequence_id = %s AND id %% %s = 0 LIMIT %s)""",
            [now - timedelta(minutes=1), sequence.pk, max(1, sequence.enrolments.count() // count), count],
        )
        assert cursor.rowcount == count


def naive_tick(now: datetime) -> int:
    """One enrolment at a time, each in its own transaction: what a per-contact design costs."""
    ran = 0
    while True:
        with transaction.atomic():
            enrolment = (
                Enrolment.objects.select_for_update(skip_locked=True)
                .filter(status="active", next_run_at__lte=now)
                .select_related("contact", "sequence")
                .order_by("next_run_at")  # the enrolment_due index, as the tick uses
                .first()
            )
            if enrolment is None:
                return ran
            steps = list(enrolment.sequence.steps.all())
            step = steps[enrolment.step_index]
            StepRun.objects.create(enrolment=enrolment, step=step)
            contact = enrolment.contact
            account = WeChatAccount.objects.get(pk=contact.owner_account_id)
            wechat.channel_for(account).send([wechat.Message(
                ref=step_ref(enrolment.pk, step.pk), workspace_id=enrolment.workspace_id, account_id=account.pk,
                contact_id=contact.pk, text=personalise(step.text, remark_name=contact.remark_name, nickname=contact.nickname),
            )])
            enrolment.step_index += 1
            enrolment.next_run_at = now + steps[enrolment.step_index].wait
            enrolment.save(update_fields=["step_index", "next_run_at"])
            ran += 1


def timed(function) -> tuple[float, int]:
    started = time.perf_counter()
    result = function()
    return time.perf_counter() - started, result


def machine() -> str:
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    cpu = "unknown CPU"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    return f"{os.cpu_count()} CPUs ({cpu}), {memory:.0f} GiB memory"


def main() -> None:
    workspace = Workspace.objects.get(slug=SLUG)
    load_start = os.getloadavg()
    sequence = prepare(workspace)
    enrolled = sequence.enrolments.count()
    tick_times = []
    for _ in range(RUNS):
        now = timezone.now()
        make_due(sequence, DUE, now)
        seconds, ran = timed(lambda: sequences.sequences_tick(at=now))
        assert ran == DUE, f"the tick ran {ran} steps, {DUE} were due"
        assert OutboxMessage.objects.filter(workspace=workspace, ref__startswith="sq:").count() == DUE
        tick_times.append(seconds)
        print(f"tick: {DUE:,} due of {enrolled:,} in {seconds:.2f} s")
    now = timezone.now()
    make_due(sequence, BASELINE_DUE, now)
    naive_seconds, naive_ran = timed(lambda: naive_tick(now))
    assert naive_ran == BASELINE_DUE
    print(f"naive: {BASELINE_DUE:,} in {naive_seconds:.2f} s")
    write(enrolled, tick_times, naive_seconds, load_start, os.getloadavg())


def write(enrolled, tick_times, naive_seconds, load_start, load_end) -> None:
    median = statistics.median(tick_times)
    rate, naive_rate = DUE / median, BASELINE_DUE / naive_seconds
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout.strip()
    with connection.cursor() as cursor:
        cursor.execute("SELECT split_part(version(), ' on ', 1)")
        version = cursor.fetchone()[0]
    block = "\n".join([
        START,
        f"Run of {datetime.now(dt_timezone.utc):%Y-%m-%d %H:%M} UTC (commit {commit}), `tests/bench/sequences.py`.",
        "",
        f"- Machine: {machine()}; load average {' '.join(f'{x:.2f}' for x in load_start)} at the start, "
        f"{' '.join(f'{x:.2f}' for x in load_end)} at the end. {version}; Python {platform.python_version()}.",
        f"- {enrolled:,} enrolments in one sequence (a message, then another three days later), {DUE:,} of them due, "
        "spread over the table; the accounts on the outbox channel.",
        "",
        "| | due steps | time | steps / s | ratio |",
        "| --- | ---: | ---: | ---: | ---: |",
        f"| one tick (median of {RUNS}: {', '.join(f'{t:.2f}' for t in tick_times)} s) | {DUE:,} | "
        f"{median:.2f} s | {rate:,.0f} | {rate / naive_rate:.1f}× |",
        f"| baseline: one enrolment per transaction | {BASELINE_DUE:,} | {naive_seconds:.2f} s | {naive_rate:,.0f} | 1.0× |",
        END,
    ])
    text = DOC.read_text()
    if START in text:
        text = text[: text.index(START)] + block + text[text.index(END) + len(END):]
    else:
        text = text.rstrip("\n") + "\n\n" + block + "\n"
    DOC.write_text(text)
    print(block)


if __name__ == "__main__":
    main()
