"""Import jobs, the web UI's imports run by a Celery task (tasks.import_job_run): upload, mapping, dry run,
queueing, running and resuming, and the rejects file.

MAX_UPLOAD_BYTES is read from the crm.imports package when used, so that it can be changed there (tests do).
"""

from __future__ import annotations

import csv
import io
import logging
import tempfile
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files import File
from django.db.models import F, QuerySet
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from crm import imports, selectors
from crm.imports.importing import ImportResult, ImportSpec, import_rows
from crm.imports.mapping import mapping_errors, suggest_mapping
from crm.imports.parsing import RejectsWriter
from crm.imports.reading import PREVIEW_ROWS, ImportFileError, Preview, count_rows, file_format, normalize_encoding, preview
from crm.models import ImportJob, Member, WeChatAccount

logger = logging.getLogger("crm.imports")  # the logger's name from before crm.imports became a package

DRY_RUN_MAX_ROWS = 20_000  # a dry run in the web page checks at most this many rows (the command line checks all)


def job_columns(job: ImportJob) -> dict[str, str]:
    return dict((job.mapping or {}).get("columns") or {})


def job_account_id(job: ImportJob) -> int | None:
    return (job.mapping or {}).get("account")


def import_job_create(
    *, member: Member, kind: str, upload, encoding: str = "", account: WeChatAccount | None = None, language: str = ""
) -> ImportJob:
    """Store an uploaded file as a new import job with a suggested mapping; ImportFileError if it is unreadable.
    `language` is the member's, which the job's reasons are written in (the site's default when empty)."""
    if account and not selectors.accounts_visible_to(member=member).filter(pk=account.pk).exists():
        raise ValidationError(_("You cannot import into that WeChat account."))
    if upload.size > imports.MAX_UPLOAD_BYTES:
        raise ImportFileError(_("The file is larger than %(mb)d MB: split it into smaller files.") % {"mb": imports.MAX_UPLOAD_BYTES // (1024 * 1024)})
    upload.seek(0)
    file_format(upload.name, upload.read(8))
    upload.seek(0)
    encoding = normalize_encoding(encoding)
    job = ImportJob(
        workspace=member.workspace, created_by=member.user, kind=kind, original_name=Path(upload.name).name[:255],
        encoding=encoding, language=language,
    )
    suffix = Path(upload.name).suffix.lower()
    job.file.save(f"import{suffix}", upload, save=False)
    try:
        with job.file.open("rb") as stream:
            header = preview(stream, name=job.original_name, encoding=encoding, limit=1).header
    except ImportFileError:
        job.file.delete(save=False)
        raise
    job.mapping = {"columns": suggest_mapping(kind, header), "account": account.pk if account else None}
    job.save()
    return job


def import_job_preview(*, job: ImportJob, limit: int = PREVIEW_ROWS) -> Preview:
    with job.file.open("rb") as stream:
        return preview(stream, name=job.original_name, encoding=job.encoding, limit=limit)


def import_job_set_mapping(*, job: ImportJob, columns: dict[str, str]) -> ImportJob:
    if job.status not in (ImportJob.Status.UPLOADED, ImportJob.Status.CHECKED):
        raise ValidationError(_("This import has started: its mapping cannot change."))
    job.mapping = {**(job.mapping or {}), "columns": {column: name for column, name in columns.items() if name}}
    job.save(update_fields=["mapping"])
    return job


def _spec_for(job: ImportJob, member: Member) -> ImportSpec:
    account = None
    if account_id := job_account_id(job):
        account = selectors.accounts_visible_to(member=member).filter(pk=account_id).first()
        if account is None:
            raise ImportFileError(_("The WeChat account chosen for this import is gone or no longer yours."))
    elif not member.sees_all_accounts:
        raise ImportFileError(_("Choose one of your WeChat accounts for the imported contacts."))
    return ImportSpec(
        workspace=job.workspace, kind=job.kind, columns=job_columns(job), account=account, member=member,
        actor=job.created_by, file_name=job.original_name,
    )


def _member_of(job: ImportJob) -> Member | None:
    return Member.objects.select_related("workspace").filter(workspace_id=job.workspace_id, user_id=job.created_by_id).first()


def import_job_check(*, job: ImportJob, member: Member, limit: int | None = DRY_RUN_MAX_ROWS) -> ImportResult:
    """A dry run of the job's first `limit` rows: what would be created, updated, skipped and rejected, and why."""
    spec = _spec_for(job, member)
    with job.file.open("rb") as stream:
        result = import_rows(spec, stream, name=job.original_name, encoding=job.encoding, dry_run=True, limit=limit)
        if result.stopped_early:
            stream.seek(0)
            result.total = count_rows(stream, name=job.original_name, encoding=job.encoding)
        else:
            result.total = result.processed
    ImportJob.objects.filter(pk=job.pk, status=ImportJob.Status.UPLOADED).update(status=ImportJob.Status.CHECKED)
    return result


def import_job_queue(*, job: ImportJob) -> bool:
    """Mark an uploaded or checked job queued (once: a double click queues it once). The caller queues the task."""
    errors = mapping_errors(job.kind, import_job_preview(job=job, limit=0).header, job_columns(job))
    if errors:
        raise ValidationError(errors)
    return bool(
        ImportJob.objects.filter(
            pk=job.pk, status__in=[ImportJob.Status.UPLOADED, ImportJob.Status.CHECKED]
        ).update(
            status=ImportJob.Status.QUEUED, processed_rows=0, created_count=0, updated_count=0, skipped_count=0,
            rejected_count=0, error="",
        )
    )


def import_job_is_stale(job: ImportJob, *, now: datetime | None = None) -> bool:
    """A running job older than the task's hard time limit has no worker any more (it would have been killed)."""
    if job.status != ImportJob.Status.RUNNING or not job.started_at:
        return False
    limit = timedelta(seconds=settings.CELERY_TASK_TIME_LIMIT + 60)
    return (now or timezone.now()) - job.started_at > limit


def import_job_resume(*, job: ImportJob) -> bool:
    """Queue a failed (or dead) job again; it continues after its committed rows (processed_rows)."""
    statuses = [ImportJob.Status.FAILED]
    if import_job_is_stale(job):
        statuses.append(ImportJob.Status.RUNNING)
    return bool(
        ImportJob.objects.filter(pk=job.pk, status__in=statuses).update(status=ImportJob.Status.QUEUED, error="")
    )


def import_job_requeue(*, job_id: int) -> bool:
    """Put a running job back in the queue (its task ran out of time); the next run continues where it stopped."""
    return bool(
        ImportJob.objects.filter(pk=job_id, status=ImportJob.Status.RUNNING).update(status=ImportJob.Status.QUEUED)
    )


def _fail(job_id: int, message: str) -> None:
    ImportJob.objects.filter(pk=job_id).update(status=ImportJob.Status.FAILED, error=message, finished_at=timezone.now())


def import_job_run(*, job_id: int) -> None:
    """Run a queued import job. It is claimed with a conditional update (queued → running), so a task delivered
    twice, or a job already done, runs nothing the second time. SoftTimeLimitExceeded is let through for the task
    to queue the job again; any other error fails the job with a message, leaving the committed batches."""
    claimed = ImportJob.objects.filter(pk=job_id, status=ImportJob.Status.QUEUED).update(
        status=ImportJob.Status.RUNNING, started_at=timezone.now(), finished_at=None
    )
    if not claimed:
        return
    job = ImportJob.objects.select_related("workspace", "created_by").get(pk=job_id)
    with translation.override(job.language or settings.LANGUAGE_CODE):
        _run_claimed(job)


def _run_claimed(job: ImportJob) -> None:
    """The import of a job this worker has claimed, in the uploading member's language."""
    job_id = job.pk
    member = _member_of(job)
    if member is None:
        _fail(job_id, _("The member who uploaded this file is no longer in the workspace."))
        return
    try:
        spec = _spec_for(job, member)
        with job.file.open("rb") as stream:
            total = count_rows(stream, name=job.original_name, encoding=job.encoding)
            ImportJob.objects.filter(pk=job_id).update(total_rows=total)
            stream.seek(0)

            def on_batch(batch: ImportResult) -> None:
                ImportJob.objects.filter(pk=job_id).update(
                    processed_rows=F("processed_rows") + batch.processed,
                    created_count=F("created_count") + batch.created,
                    updated_count=F("updated_count") + batch.updated,
                    skipped_count=F("skipped_count") + batch.skipped,
                    rejected_count=F("rejected_count") + batch.rejected,
                )

            with tempfile.TemporaryFile() as raw:
                text = io.TextIOWrapper(raw, encoding="utf-8-sig", newline="")
                holder: list[RejectsWriter] = []

                def rejects(header):
                    holder.append(RejectsWriter(text, header))
                    return holder[0]

                import_rows(
                    spec, stream, name=job.original_name, encoding=job.encoding, start=job.processed_rows,
                    rejects=rejects, on_batch=on_batch,
                )
                text.flush()
                old, new = job.rejects.name, ""
                if holder and holder[0].count:
                    raw.seek(0)
                    job.rejects.save(f"rejects-{job.pk}.csv", File(raw), save=False)
                    new = job.rejects.name
                ImportJob.objects.filter(pk=job_id).update(rejects=new)
                if old and old != new:
                    job.rejects.storage.delete(old)
                text.detach()
    except SoftTimeLimitExceeded:
        raise
    except ImportFileError as error:
        _fail(job_id, str(error))
        return
    except Exception:
        logger.exception("import job %s failed", job_id)
        _fail(job_id, _("The import stopped on an unexpected error. The rows before it are saved: resume to continue."))
        return
    ImportJob.objects.filter(pk=job_id, status=ImportJob.Status.RUNNING).update(
        status=ImportJob.Status.DONE, finished_at=timezone.now()
    )


def import_jobs_of(*, member: Member) -> QuerySet[ImportJob]:
    """The import jobs a member may see: all of the workspace's, or for staff limited to some accounts their own."""
    jobs = ImportJob.objects.filter(workspace_id=member.workspace_id)
    if not member.sees_all_accounts:
        jobs = jobs.filter(created_by=member.user)
    return jobs.select_related("created_by")


@dataclass
class RejectsPreview:
    header: list[str]
    rows: list[list[str]]


def rejects_preview(*, job: ImportJob, limit: int = 20) -> RejectsPreview | None:
    """The first rows of the job's rejects file (as written, formula cells neutralised), for the status page."""
    if not job.rejects:
        return None
    try:
        with job.rejects.open("rb") as raw:
            text = io.TextIOWrapper(raw, encoding="utf-8-sig", newline="")
            reader = csv.reader(text)
            header = next(reader, [])
            rows = [row for _n, row in zip(range(limit), reader)]
            text.detach()
    except FileNotFoundError:
        return None
    return RejectsPreview(header, rows)
