"""Export jobs: a contact list or segment too big to export inside a request (more than
settings.EXPORT_INLINE_MAX_ROWS contacts) is written to a file by a Celery task (tasks.export_job_run), a batch at
a time, with the same rows, CSV and Excel writers as the inline export (crm.exports). The job's page polls its
progress and offers the file, which is kept KEEP_DAYS days (tasks.export_jobs_expire deletes it then).

The job keeps what rebuilds the very same contacts: the list's filter as its query string, or the segment's rule as
it was when the export was asked for; they are narrowed at run time to what the member who asked may see then.
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Iterable, Iterator
from datetime import datetime, timedelta

from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files import File
from django.db.models import QuerySet
from django.http import QueryDict
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from crm import exports, segments, selectors
from crm.forms import contact_filter_from_query
from crm.models import Contact, ExportJob, Member, Segment

logger = logging.getLogger("crm.exports")

KEEP_DAYS = 7  # an export's file is deleted this many days after it was written
PROGRESS_EVERY = exports.BATCH_SIZE  # rows between two updates of rows_done
CONTENT_TYPES = {
    ExportJob.Format.CSV: "text/csv; charset=utf-8",
    ExportJob.Format.XLSX: "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}


def export_is_big(count: int) -> bool:
    """Whether an export of `count` contacts runs as a job rather than inside the request."""
    return count > settings.EXPORT_INLINE_MAX_ROWS


def list_query(data: QueryDict) -> str:
    """The contact list's filter as a query string to keep: the page number is no part of it."""
    data = data.copy()
    data.pop("page", None)
    return data.urlencode()


def contact_list_export(*, member: Member, data: QueryDict):
    """The list's filter and contacts for a query (the list's own form and selector), as the member sees them."""
    _form, filters = contact_filter_from_query(member=member, data=data)
    return filters, selectors.contact_list(member=member, filters=filters)


def export_job_create(
    *, member: Member, format: str, rows_total: int, stem: str, language: str = "", query: str = "",
    segment: Segment | None = None,
) -> tuple[ExportJob, bool]:
    """A queued export job of the list filtered by `query`, or of `segment` (its rule as it is now), and whether it
    is new: the same export already queued or running for this member is reused, so a second click queues nothing.
    The caller queues tasks.export_job_run after commit when it is new."""
    source = ExportJob.Source.SEGMENT if segment is not None else ExportJob.Source.LIST
    rule = segment.rule if segment is not None else None
    pending = ExportJob.objects.filter(
        workspace_id=member.workspace_id, requested_by_id=member.user_id, format=format, source=source,
        status__in=[ExportJob.Status.QUEUED, ExportJob.Status.RUNNING],
    )
    if segment is not None:
        pending = pending.filter(segment=segment)
    else:
        pending = pending.filter(query=query)
    for job in pending.order_by("-created_at", "-id")[:5]:
        if job.rule == rule:
            return job, False
    if format == ExportJob.Format.XLSX:
        rows_total = min(rows_total, exports.XLSX_MAX_ROWS)
    job = ExportJob.objects.create(
        workspace_id=member.workspace_id,
        requested_by_id=member.user_id,
        format=format,
        source=source,
        query=query if segment is None else "",
        segment=segment,
        segment_name=segment.name if segment is not None else "",
        rule=rule,
        language=language,
        file_name=exports.export_filename(stem=stem, extension=format, time_zone=member.workspace.time_zone),
        rows_total=rows_total,
    )
    return job, True


def export_job_contacts(*, job: ExportJob, member: Member) -> QuerySet[Contact]:
    """The job's contacts, rebuilt as the view built them, for the member's scope now. ValidationError when the
    segment's rule no longer validates (a segment it names was deleted)."""
    if job.source == ExportJob.Source.SEGMENT:
        return segments.segment_contacts_for_member(member=member, rule=job.rule)
    _filters, contacts = contact_list_export(member=member, data=QueryDict(job.query))
    return contacts


def export_jobs_of(*, member: Member) -> QuerySet[ExportJob]:
    """The export jobs a member may see: all of the workspace's, or for staff limited to some accounts their own."""
    jobs = ExportJob.objects.filter(workspace_id=member.workspace_id)
    if not member.sees_all_accounts:
        jobs = jobs.filter(requested_by_id=member.user_id)
    return jobs.select_related("requested_by")


class _Abandoned(Exception):
    """The job is no longer running (declared lost meanwhile): the worker stops writing."""


class _Progress:
    """The rows passed through, counted; rows_done is saved every PROGRESS_EVERY rows."""

    def __init__(self, job_id: int):
        self.job_id = job_id
        self.count = 0

    def __call__(self, rows: Iterable[list]) -> Iterator[list]:
        for row in rows:
            yield row
            self.count += 1
            if self.count % PROGRESS_EVERY == 0:
                running = ExportJob.objects.filter(pk=self.job_id, status=ExportJob.Status.RUNNING)
                if not running.update(rows_done=self.count):
                    raise _Abandoned


def _write(job: ExportJob, contacts: QuerySet[Contact]) -> tuple[str, int, bool]:
    """Write the job's file into storage: its name, the rows written and whether Excel's limit cut it short."""
    progress = _Progress(job.pk)
    rows = progress(exports.export_rows(contacts, time_zone=job.workspace.time_zone))
    if job.format == ExportJob.Format.XLSX:
        output, truncated = exports.xlsx_file(rows)
        written = min(progress.count, exports.XLSX_MAX_ROWS)
    else:
        output, truncated = tempfile.TemporaryFile(suffix=".csv"), False
        for chunk in exports.csv_chunks(rows):
            output.write(chunk.encode("utf-8"))
        output.seek(0)
        written = progress.count
    with output:
        name = job.file.field.generate_filename(job, f"export-{job.pk}.{job.format}")
        name = job.file.storage.save(name, File(output, name=name))
    return name, written, truncated


def _fail(job_id: int, message: str) -> None:
    ExportJob.objects.filter(pk=job_id, status=ExportJob.Status.RUNNING).update(
        status=ExportJob.Status.FAILED, error=message, finished_at=timezone.now()
    )


def export_job_run(*, job_id: int) -> None:
    """Write a queued export job's file. The job is claimed with a conditional update (queued → running), so a task
    delivered twice, or one for a job already done, writes nothing the second time. Any error fails the job with a
    message in the language of the member who asked."""
    claimed = ExportJob.objects.filter(pk=job_id, status=ExportJob.Status.QUEUED).update(
        status=ExportJob.Status.RUNNING, started_at=timezone.now(), finished_at=None, rows_done=0, error=""
    )
    if not claimed:
        return
    job = ExportJob.objects.select_related("workspace").get(pk=job_id)
    with translation.override(job.language or settings.LANGUAGE_CODE):
        member = (
            Member.objects.select_related("workspace", "user")
            .filter(workspace_id=job.workspace_id, user_id=job.requested_by_id)
            .first()
        )
        if member is None:
            _fail(job_id, _("The member who asked for this export is no longer in the workspace."))
            return
        try:
            contacts = export_job_contacts(job=job, member=member)
            if not job.rows_total:
                total = contacts.count()
                if job.format == ExportJob.Format.XLSX:
                    total = min(total, exports.XLSX_MAX_ROWS)
                ExportJob.objects.filter(pk=job_id).update(rows_total=total)
            name, written, truncated = _write(job, contacts)
        except _Abandoned:
            return
        except SoftTimeLimitExceeded:
            _fail(job_id, _("The export took longer than a background task may run. Narrow the filter, or export "
                            "CSV, which is quicker to write than Excel."))
            return
        except ValidationError as error:
            _fail(job_id, " ".join(error.messages))
            return
        except Exception:
            logger.exception("export job %s failed", job_id)
            _fail(job_id, _("The export stopped on an unexpected error. Export again; if it fails again, tell us."))
            return
    done = ExportJob.objects.filter(pk=job_id, status=ExportJob.Status.RUNNING)
    fields = {"status": ExportJob.Status.DONE, "file": name, "rows_done": written, "truncated": truncated,
              "finished_at": timezone.now()}
    if not truncated:
        fields["rows_total"] = written
    if not done.update(**fields):
        job.file.storage.delete(name)  # declared lost meanwhile: its page says so, the file would be an orphan


def export_job_is_stale(job: ExportJob, *, now: datetime | None = None) -> bool:
    """A running job older than the task's hard time limit has no worker any more (it would have been killed)."""
    if job.status != ExportJob.Status.RUNNING or not job.started_at:
        return False
    limit = timedelta(seconds=settings.CELERY_TASK_TIME_LIMIT + 60)
    return (now or timezone.now()) - job.started_at > limit


def export_jobs_expire(*, now: datetime | None = None) -> int:
    """Delete the files written more than KEEP_DAYS days ago (their jobs then say they expired) and fail the jobs
    whose worker was lost. Each job is claimed with a conditional update, so two runs delete each file once.
    Returns how many files expired."""
    now = now or timezone.now()
    stale_before = now - timedelta(seconds=settings.CELERY_TASK_TIME_LIMIT + 60)
    for job in ExportJob.objects.filter(status=ExportJob.Status.RUNNING, started_at__lt=stale_before).only(
        "pk", "language"
    ):
        with translation.override(job.language or settings.LANGUAGE_CODE):
            _fail(job.pk, _("The export stopped: the background worker writing it was lost. Export again."))
    expired = 0
    old = ExportJob.objects.filter(status=ExportJob.Status.DONE, finished_at__lt=now - timedelta(days=KEEP_DAYS))
    for job in old.only("pk", "file").iterator():
        if ExportJob.objects.filter(pk=job.pk, status=ExportJob.Status.DONE).update(
            status=ExportJob.Status.EXPIRED, file=""
        ):
            if job.file.name:
                job.file.storage.delete(job.file.name)
            expired += 1
    return expired
