"""Celery tasks: thin wrappers that load rows by id and call a service. Each is safe to run twice."""

import socket

from celery import shared_task
from django.http import QueryDict

from crm import bulkload, exports_jobs, imports, selectors, services
from crm.forms import contact_filter_from_query
from crm.models import Member, Tag


@shared_task
def heartbeat() -> None:
    services.heartbeat_record(hostname=socket.gethostname())


@shared_task
def search_indexes_flush() -> None:
    """After an import: merge the search indexes' pending entries (crm.bulkload). Harmless twice: the second finds
    nothing pending."""
    bulkload.search_indexes_flush()


@shared_task
def contacts_bulk_tag(*, member_id: int, query: str, add_tag_ids: list[int], remove_tag_ids: list[int]) -> None:
    """Tag or untag every contact matching a list filter (the query string of the contact list).

    Adding a tag twice or removing it twice changes nothing, so a redelivered task is harmless.
    """
    member = Member.objects.select_related("workspace", "user").filter(pk=member_id).first()
    if member is None:  # removed from the workspace meanwhile: nothing to do on their behalf
        return
    _form, filters = contact_filter_from_query(member=member, data=QueryDict(query))
    contacts = selectors.contact_list(member=member, filters=filters)
    tags = Tag.objects.filter(workspace=member.workspace).select_related("group")
    services.contacts_tag(
        workspace=member.workspace,
        contact_ids=selectors.ids_in_batches(contacts, batch_size=services.BULK_BATCH_SIZE),
        add=list(tags.filter(pk__in=add_tag_ids)),
        remove=list(tags.filter(pk__in=remove_tag_ids)),
        actor=member.user,
    )


@shared_task
def import_job_run(*, job_id: int) -> None:
    """Import an uploaded file (crm.imports). The job is claimed queued → running, so a redelivered task, or one for
    a finished job, does nothing. Out of time, the job goes back in the queue and continues after its committed rows.
    """
    from celery.exceptions import SoftTimeLimitExceeded

    try:
        imports.import_job_run(job_id=job_id)
    except SoftTimeLimitExceeded:
        if imports.import_job_requeue(job_id=job_id):
            import_job_run.delay(job_id=job_id)
        return
    search_indexes_flush.delay()  # the new contacts' search entries wait in pending lists (crm.bulkload)


@shared_task
def export_job_run(*, job_id: int) -> None:
    """Write a big export's file (crm.exports_jobs). The job is claimed queued → running, so a redelivered task, or
    one for a finished job, writes nothing."""
    exports_jobs.export_job_run(job_id=job_id)


@shared_task
def export_jobs_expire() -> None:
    """Beat, hourly: delete export files older than exports_jobs.KEEP_DAYS days; fail exports whose worker was lost."""
    exports_jobs.export_jobs_expire()
