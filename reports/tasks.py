"""Thin Celery wrappers around reports.rollups, reports.lifecycle and reports.services; each is safe to run twice."""

from celery import shared_task
from django.contrib.auth import get_user_model

from crm.models import Tag, Workspace
from reports import lifecycle, rollups, services


@shared_task
def rollups_refresh_stale() -> int:
    """The beat's job: refresh every workspace whose customer book changed since its last refresh (or whose order
    sequences are missing or in another time zone: reports.rollups.rollups_are_stale)."""
    refreshed = 0
    for workspace in Workspace.objects.order_by("id").iterator():
        if rollups.rollups_are_stale(workspace=workspace):
            rollups.rollups_refresh(workspace=workspace)
            rollups.default_report_warm(workspace=workspace)
            refreshed += 1
    return refreshed


@shared_task
def rollups_refresh(*, workspace_id: int) -> None:
    workspace = Workspace.objects.filter(pk=workspace_id).first()
    if workspace is not None:
        rollups.rollups_refresh(workspace=workspace)
        rollups.default_report_warm(workspace=workspace)


@shared_task
def rfm_group_tag(*, workspace_id: int, tag_id: int, group: str, actor_id: int | None = None) -> int:
    tag = Tag.objects.filter(workspace_id=workspace_id, pk=tag_id).select_related("workspace", "group").first()
    if tag is None:  # deleted meanwhile: nothing to tag
        return 0
    actor = get_user_model().objects.filter(pk=actor_id).first() if actor_id else None
    return services.rfm_group_tag(workspace=tag.workspace, tag=tag, group=group, actor=actor)


@shared_task
def stages_refresh_all() -> int:
    """The beat's daily job: every workspace's lifecycle stages brought up to date ("nothing for N days" moves on
    with the calendar, not only with the book)."""
    changed = 0
    for workspace in Workspace.objects.order_by("id").iterator():
        changed += lifecycle.stages_refresh(workspace=workspace)
    return changed


@shared_task
def stages_refresh(*, workspace_id: int) -> int:
    workspace = Workspace.objects.filter(pk=workspace_id).first()
    return lifecycle.stages_refresh(workspace=workspace) if workspace is not None else 0
