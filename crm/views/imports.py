"""Import of contacts and orders: upload, column mapping with a preview and a dry run, then a Celery task whose
progress the status page polls (htmx, every 2 s) until the result is in."""

from pathlib import Path

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.db import transaction
from django.http import FileResponse, Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from crm import imports, tasks
from crm.forms import ImportMappingForm, ImportUploadForm
from crm.models import ImportJob
from crm.views.access import member_required

RECENT_JOBS = 20
REJECTS_SHOWN = 20


def _job(request, pk) -> ImportJob:
    # Scoped to the member's workspace (and, for staff limited to some accounts, to their own imports): another
    # workspace's job is a 404.
    return get_object_or_404(imports.import_jobs_of(member=request.member), workspace=request.workspace, pk=pk)


@member_required
def import_list(request):
    form = ImportUploadForm(request.POST or None, request.FILES or None, member=request.member)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            job = imports.import_job_create(
                member=request.member, kind=data["kind"], upload=data["file"], encoding=data["encoding"],
                account=data["account"], language=request.LANGUAGE_CODE,
            )
        except imports.ImportFileError as error:
            form.add_error("file", str(error))
        except ValidationError as error:
            form.add_error(None, error)
        else:
            return redirect("crm:import_detail", job.pk)
    context = {
        "form": form,
        "jobs": imports.import_jobs_of(member=request.member)[:RECENT_JOBS],
        "max_mb": imports.MAX_UPLOAD_BYTES // (1024 * 1024),
        "contact_fields": imports.CONTACT_FIELDS.values(),
        "order_fields": imports.ORDER_FIELDS.values(),
    }
    return render(request, "crm/imports/list.html", context, status=400 if form.errors else 200)


@member_required
def import_detail(request, pk):
    """The column mapping over a preview of the first rows; "Check" runs a dry run, "Import" queues the job."""
    job = _job(request, pk)
    if job.status not in (ImportJob.Status.UPLOADED, ImportJob.Status.CHECKED):
        return redirect("crm:import_status", job.pk)
    try:
        sample = imports.import_job_preview(job=job)
    except imports.ImportFileError as error:
        messages.error(request, str(error))
        return redirect("crm:import_list")
    form = ImportMappingForm(
        request.POST or None, kind=job.kind, header=sample.header, columns=imports.job_columns(job)
    )
    report = None
    if request.method == "POST" and form.is_valid():
        imports.import_job_set_mapping(job=job, columns=form.cleaned_data["columns"])
        if request.POST.get("action") == "import":
            try:
                queued = imports.import_job_queue(job=job)
            except ValidationError as error:
                form.add_error(None, error)
            else:
                if queued:
                    transaction.on_commit(lambda: tasks.import_job_run.delay(job_id=job.pk))
                return redirect("crm:import_status", job.pk)
        else:
            try:
                report = imports.import_job_check(job=job, member=request.member)
            except imports.ImportFileError as error:
                form.add_error(None, str(error))
    context = {
        "job": job,
        "sample": sample,
        "form": form,
        "report": report,
        "account": imports.job_account_id(job) and job.workspace.wechat_accounts.filter(
            pk=imports.job_account_id(job)
        ).first(),
        "dry_run_max_rows": imports.DRY_RUN_MAX_ROWS,
    }
    return render(request, "crm/imports/detail.html", context, status=400 if form.errors else 200)


@member_required
def import_status(request, pk):
    job = _job(request, pk)
    context = {
        "job": job,
        "polling": job.status in (ImportJob.Status.QUEUED, ImportJob.Status.RUNNING),
        "resumable": job.status == ImportJob.Status.FAILED or imports.import_job_is_stale(job),
        "rejects": imports.rejects_preview(job=job, limit=REJECTS_SHOWN) if job.rejects else None,
    }
    if request.htmx:
        return render(request, "crm/imports/_status.html", context)
    return render(request, "crm/imports/status.html", context)


@member_required
@require_POST
def import_resume(request, pk):
    job = _job(request, pk)
    if imports.import_job_resume(job=job):
        transaction.on_commit(lambda: tasks.import_job_run.delay(job_id=job.pk))
        messages.success(request, _("The import continues after the rows it had saved."))
    else:
        messages.error(request, _("This import is not stopped, so there is nothing to resume."))
    return redirect("crm:import_status", job.pk)


@member_required
def import_rejects(request, pk):
    job = _job(request, pk)
    if not job.rejects:
        raise Http404
    return FileResponse(
        job.rejects.open("rb"),
        as_attachment=True,
        filename=f"{Path(job.original_name).stem}-rejects.csv",
        content_type="text/csv; charset=utf-8",
    )
