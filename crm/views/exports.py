"""The contact list, with its current filter, or a saved segment, as a CSV or Excel download.

Up to settings.EXPORT_INLINE_MAX_ROWS contacts the file is written inside the request; a bigger export becomes an
export job (crm.exports_jobs) written by Celery, whose page shows its progress (htmx, every 2 s) and then the
download.
"""

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.db import transaction
from django.http import FileResponse, Http404, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.http import content_disposition_header

from crm import exports, exports_jobs, segments, selectors, tasks
from crm.models import ExportJob, Segment
from crm.views.access import member_required

RECENT_JOBS = 20


def csv_response(request, contacts, *, stem: str = "contacts") -> StreamingHttpResponse:
    """A streamed CSV of any contacts queryset already scoped to the member (reusable for a segment export)."""
    time_zone = request.workspace.time_zone
    rows = exports.export_rows(contacts, time_zone=time_zone)
    response = StreamingHttpResponse(exports.csv_chunks(rows), content_type="text/csv; charset=utf-8")
    filename = exports.export_filename(stem=stem, extension="csv", time_zone=time_zone)
    response["Content-Disposition"] = content_disposition_header(as_attachment=True, filename=filename)
    response["Cache-Control"] = "private, no-store"
    return response


def xlsx_response(request, contacts, *, stem: str = "contacts") -> FileResponse:
    """An .xlsx of the contacts, at most Excel's 1,048,575 rows; a longer list says so in the file (a "Note"
    sheet) and in the X-Export-Truncated header."""
    time_zone = request.workspace.time_zone
    output, truncated = exports.xlsx_file(exports.export_rows(contacts, time_zone=time_zone))
    filename = exports.export_filename(stem=stem, extension="xlsx", time_zone=time_zone)
    response = FileResponse(
        output,
        as_attachment=True,
        filename=filename,
        content_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    )
    response["Cache-Control"] = "private, no-store"
    if truncated:
        response["X-Export-Truncated"] = str(exports.XLSX_MAX_ROWS)  # how many rows the file holds
    return response


def _export_job(request, *, format: str, rows_total: int, stem: str, query: str = "", segment=None):
    """Queue the export as a job (once: the same export already under way is reused) and go to its page."""
    job, created = exports_jobs.export_job_create(
        member=request.member, format=format, rows_total=rows_total, stem=stem, query=query, segment=segment,
        language=request.LANGUAGE_CODE,
    )
    if created:
        transaction.on_commit(lambda: tasks.export_job_run.delay(job_id=job.pk))
    return redirect("crm:export_job_detail", job.pk)


def _contact_export(request, format: str):
    # The list's own filter, form and selector: the export holds exactly the contacts the list shows this member.
    filters, contacts = exports_jobs.contact_list_export(member=request.member, data=request.GET)
    count = selectors.contact_list_count(member=request.member, filters=filters, contacts=contacts)
    if exports_jobs.export_is_big(count):
        return _export_job(
            request, format=format, rows_total=count, stem="contacts", query=exports_jobs.list_query(request.GET)
        )
    if format == ExportJob.Format.XLSX:
        return xlsx_response(request, contacts)
    return csv_response(request, contacts)


@member_required
def contact_export_csv(request):
    return _contact_export(request, ExportJob.Format.CSV)


@member_required
def contact_export_xlsx(request):
    return _contact_export(request, ExportJob.Format.XLSX)


def _segment_export(request, pk, format: str):
    """The segment's contacts as the member sees them; a segment whose rule no longer validates goes back to its
    page, which says why."""
    segment = get_object_or_404(Segment, workspace=request.workspace, pk=pk)
    try:
        contacts = segments.segment_contacts_for_member(member=request.member, rule=segment.rule)
        count = segments.segment_count_for_member(member=request.member, rule=segment.rule)
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
        return redirect("crm:segment_detail", pk=segment.pk)
    stem = exports.segment_stem(segment)
    if exports_jobs.export_is_big(count):
        return _export_job(request, format=format, rows_total=count, stem=stem, segment=segment)
    if format == ExportJob.Format.XLSX:
        return xlsx_response(request, contacts, stem=stem)
    return csv_response(request, contacts, stem=stem)


@member_required
def segment_export_csv(request, pk):
    return _segment_export(request, pk, ExportJob.Format.CSV)


@member_required
def segment_export_xlsx(request, pk):
    return _segment_export(request, pk, ExportJob.Format.XLSX)


def _job(request, pk) -> ExportJob:
    # Scoped to the member's workspace (and, for staff limited to some accounts, to their own exports): another
    # workspace's job is a 404.
    return get_object_or_404(
        exports_jobs.export_jobs_of(member=request.member), workspace=request.workspace, pk=pk
    )


def _again_url(job: ExportJob) -> str | None:
    """The export the job came from, to run it again (a deleted segment cannot be)."""
    if job.source == ExportJob.Source.SEGMENT:
        if job.segment_id is None:
            return None
        return reverse(f"crm:segment_export_{job.format}", args=[job.segment_id])
    url = reverse(f"crm:contact_export_{job.format}")
    return f"{url}?{job.query}" if job.query else url


@member_required
def export_job_list(request):
    jobs = exports_jobs.export_jobs_of(member=request.member)[:RECENT_JOBS]
    context = {"jobs": jobs, "keep_days": exports_jobs.KEEP_DAYS, "inline_max": settings.EXPORT_INLINE_MAX_ROWS}
    return render(request, "crm/exports/list.html", context)


@member_required
def export_job_detail(request, pk):
    """The job's progress, polled every 2 s while it runs (the htmx request gets the fragment), then the download."""
    job = _job(request, pk)
    context = {
        "job": job,
        "polling": job.status in (ExportJob.Status.QUEUED, ExportJob.Status.RUNNING),
        "again_url": _again_url(job),
        "keep_days": exports_jobs.KEEP_DAYS,
    }
    if request.htmx:
        return render(request, "crm/exports/_status.html", context)
    return render(request, "crm/exports/detail.html", context)


@member_required
def export_job_download(request, pk):
    job = _job(request, pk)
    if job.status != ExportJob.Status.DONE or not job.file:
        raise Http404
    try:
        stream = job.file.open("rb")
    except FileNotFoundError:
        raise Http404 from None
    response = FileResponse(
        stream, as_attachment=True, filename=job.file_name, content_type=exports_jobs.CONTENT_TYPES[job.format]
    )
    response["Cache-Control"] = "private, no-store"
    if job.truncated:
        response["X-Export-Truncated"] = str(job.rows_done)  # how many rows the file holds
    return response
