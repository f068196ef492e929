"""Thin Celery wrappers around moments.publishing: ids in, the service does the work; every task is safe to run
twice (the publication's claim lets one run publish)."""

from celery import shared_task

from moments import publishing


@shared_task
def moments_tick() -> int:
    return publishing.moments_tick()


@shared_task
def post_publish_due(post_id: int) -> int:
    return publishing.post_publish_due(post_id=post_id)
