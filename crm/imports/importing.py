"""Importing a file's rows (import_rows): rows are parsed and checked one by one (a bad row is rejected with its
line, column and reason, the good ones go on), then matched and written in batches of BATCH_SIZE rows, each batch in
its own transaction. A dry run does the same matching and counting and writes nothing.

On PostgreSQL, outside a transaction (the command line, the import job), a batch is written on a second connection
by a thread while this one reads, parses and plans the next batch (_BackgroundWrites): the server's work for a batch
(index entries, foreign-key checks, the commit) and Python's for the next one no longer wait for each other, and
each was about half of an import's time.

BATCH_SIZE is read from the crm.imports package when used, so that it can be changed there (tests do).
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field

from django.db import connection, connections, transaction
from django.utils.translation import gettext as _

from crm import bulkload, imports, selectors
from crm.imports.mapping import mapping_errors
from crm.imports.parsing import RejectsWriter, _Row
from crm.imports.reading import ImportFileError, open_table
from crm.imports.orders import _OrderImporter
from crm.imports.writing import _ContactImporter
from crm.models import ImportJob, Member, WeChatAccount, Workspace

REPORT_LIMIT = 50  # how many row reasons a dry run or a summary lists; the counts cover every row


@dataclass
class ReportLine:
    line: int
    outcome: str  # created, updated, skipped or rejected
    column: str
    code: str
    reason: str


@dataclass
class ImportResult:
    total: int = 0
    processed: int = 0
    created: int = 0
    updated: int = 0
    skipped: int = 0
    rejected: int = 0
    contacts_created: int = 0  # orders: the new customers
    report: list[ReportLine] = field(default_factory=list)
    stopped_early: bool = False  # a dry run that checked only the first rows

    @property
    def noting(self) -> bool:
        """Whether note() keeps another reason: an importer skips formatting reasons no one will read."""
        return len(self.report) < REPORT_LIMIT

    def note(self, line: int, outcome: str, column: str, code: str, reason: str) -> None:
        if len(self.report) < REPORT_LIMIT:
            self.report.append(ReportLine(line, outcome, column, code, reason))

    def add(self, other: "ImportResult") -> None:
        for name in ("processed", "created", "updated", "skipped", "rejected", "contacts_created"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        for entry in other.report:
            if len(self.report) < REPORT_LIMIT:
                self.report.append(entry)

    def summary(self) -> str:
        text = _("%(processed)d rows: %(created)d created, %(updated)d updated, %(skipped)d skipped, %(rejected)d rejected") % {
            "processed": self.processed, "created": self.created, "updated": self.updated,
            "skipped": self.skipped, "rejected": self.rejected,
        }
        if self.contacts_created:
            text += _(" (%(n)d new customers added as contacts)") % {"n": self.contacts_created}
        return text


@dataclass
class ImportSpec:
    """What to import into where: the workspace, the column → field mapping, and for new contacts their WeChat
    account. With a member, contacts are matched among those the member sees (a staff member limited to some
    accounts never touches the others'); without one (the command line), in the whole workspace."""

    workspace: Workspace
    kind: str
    columns: dict[str, str]
    account: WeChatAccount | None = None
    member: Member | None = None
    actor: object = None
    file_name: str = ""


def import_rows(
    spec: ImportSpec,
    stream,
    *,
    name: str,
    encoding: str = "",
    dry_run: bool = False,
    start: int = 0,
    limit: int | None = None,
    rejects: RejectsWriter | Callable | None = None,
    on_batch: Callable[[ImportResult], None] | None = None,
    progress: Callable[[int], None] | None = None,
) -> ImportResult:
    """Import (or, with dry_run, only check) the file's rows and return what happened.

    `start` rows are taken as done (committed by an earlier, interrupted run): they are only parsed again so that
    their rejects reach the rejects file once more; they are neither written nor counted. Each batch after them is
    written in its own transaction, and `on_batch(batch result)` runs inside that transaction, so the job's progress
    commits with the batch. `rejects` is a function called with the header that returns a RejectsWriter (or one),
    `progress(rows done)` is called after each batch.
    """
    result = ImportResult()
    if not dry_run:
        # What earlier writes left in the search indexes' pending lists is merged now, while they are small, rather
        # than by whichever of this import's batches fills a list (crm migration 0011): nothing pending, nothing to do.
        bulkload.search_indexes_flush()
    background = not dry_run and connection.vendor == "postgresql" and not connection.in_atomic_block
    with open_table(stream, name=name, encoding=encoding) as table, _batch_writes(background=background) as writes:
        errors = mapping_errors(spec.kind, table.header, spec.columns)
        if errors:
            raise ImportFileError(" ".join(errors))
        importer_class = _ContactImporter if spec.kind == ImportJob.Kind.CONTACTS else _OrderImporter
        importer = importer_class(spec, table.header, dry_run=dry_run)
        writer = rejects(table.header) if callable(rejects) else rejects
        batch: list[_Row] = []
        batch_result = ImportResult()
        seen_rows = 0

        def flush():
            nonlocal batch, batch_result
            rows, counted = batch, batch_result
            batch, batch_result = [], ImportResult()

            def plan() -> Callable[[], None]:
                planned = importer.plan_batch(rows, counted) if rows else None

                def write() -> None:
                    if planned is not None:
                        importer.write_plan(planned, counted)
                    if on_batch and not dry_run:
                        on_batch(counted)  # the job's progress commits with the batch

                return write

            def done() -> None:
                result.add(counted)
                if progress:
                    progress(start + result.processed)

            writes.run(plan, done)

        for number, cells in table.rows:
            seen_rows += 1
            if limit is not None and seen_rows > limit:
                result.stopped_early = True
                break
            row = importer.parse(number, cells)
            if seen_rows <= start:
                if row.issues and writer:
                    writer.write(row)
                continue
            batch_result.processed += 1
            if row.issues:
                batch_result.rejected += 1
                for column, code, reason in row.issues:
                    batch_result.note(row.line, "rejected", column, code, reason)
                if writer:
                    writer.write(row)
            else:
                batch.append(row)
            if batch_result.processed >= imports.BATCH_SIZE:
                flush()
        flush()
    if not dry_run and result.processed:
        transaction.on_commit(lambda: selectors.book_changed(workspace_id=spec.workspace.pk))
    return result


class _Writes:
    """Each batch planned and written in one transaction, on this thread's connection."""

    def run(self, plan: Callable[[], Callable[[], None]], done: Callable[[], None]) -> None:
        """Plan a batch, write it, then `done()`."""
        with transaction.atomic():
            plan()()
        done()

    def close(self) -> None:
        pass


# While this thread plans, the writer thread waits for the server; when an answer comes it needs the interpreter,
# which a busy thread gives up only every switch interval (5 ms by default): a dozen answers per batch would each
# wait that long. 0.5 ms keeps the writer prompt for a small cost in switches.
WRITER_SWITCH_INTERVAL = 0.0005


class _BackgroundWrites(_Writes):
    """A batch planned in a transaction on this thread's connection, then written in another on the writer thread's
    own connection while this thread goes on to the next batch. One batch is in flight at a time: it has committed
    before the next one goes to the writer, so a plan sees every batch but the one in flight, whose contacts and
    orders the importer carries over (crm.imports.writing). `done()` runs here, once its batch has committed."""

    def __init__(self):
        self.writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="import-writes")
        self.in_flight: tuple[Future, Callable[[], None]] | None = None
        self.switch_interval = sys.getswitchinterval()
        sys.setswitchinterval(WRITER_SWITCH_INTERVAL)

    def run(self, plan, done):
        with transaction.atomic():
            write = plan()
        self.wait()
        self.in_flight = (self.writer.submit(self._write, write), done)

    @staticmethod
    def _write(write: Callable[[], None]) -> None:
        with transaction.atomic():  # the writer thread's connection: Django's connections are per thread
            write()

    def wait(self) -> None:
        """Wait for the batch in flight to commit (its error raised here) and run its `done()`."""
        if self.in_flight is not None:
            future, done = self.in_flight
            self.in_flight = None
            future.result()
            done()

    def close(self):
        try:
            self.wait()
        finally:
            self.writer.submit(connections.close_all).result()  # the writer thread's connection
            self.writer.shutdown()
            sys.setswitchinterval(self.switch_interval)


@contextmanager
def _batch_writes(*, background: bool):
    """The batches' writer; on leaving, the batch in flight is finished (committed, or its error raised)."""
    writes = _BackgroundWrites() if background else _Writes()
    try:
        yield writes
    except BaseException:
        try:
            writes.close()
        except Exception:
            pass  # the error that stopped the import is the one to report; the batch in flight rolled back
        raise
    writes.close()
