"""Thin Celery wrappers: ids in, a service does the work; every task is safe to run twice (the invite's and the
reward's conditional writes, the poster's version)."""

from celery import shared_task

from crm.models import Segment
from referrals import posters, qualification, services
from referrals.models import Campaign


@shared_task
def referrals_tick() -> dict:
    return services.referrals_tick()


@shared_task
def poster_make(participant_id: int) -> bool:
    return posters.poster_make(participant_id=participant_id)


@shared_task
def participants_enrol_segment(campaign_id: int, segment_id: int, actor_id: int | None = None) -> int:
    campaign = Campaign.objects.filter(pk=campaign_id).first()
    segment = Segment.objects.filter(pk=segment_id, workspace_id=getattr(campaign, "workspace_id", None)).first()
    if campaign is None or segment is None:
        return 0
    return services.participants_enrol_segment(campaign=campaign, segment=segment, actor_id=actor_id)


@shared_task
def participants_enrol_on_request(workspace_id: int, contact_id: int, text: str) -> int:
    return len(services.participants_enrol_on_request(workspace_id=workspace_id, contact_id=contact_id, text=text))


@shared_task
def order_refunded(order_id: int) -> int:
    return qualification.order_refunded(order_id=order_id)


@shared_task
def friends_deleted(contact_ids: list[int]) -> None:
    qualification.friends_deleted(contact_ids=contact_ids)


def order_refunded_listener(*, workspace_id: int, contact_ids: list[int], order_id: int, **data) -> None:
    """crm.events.ORDER_REFUNDED: the clawback runs in the worker."""
    order_refunded.delay(order_id)


def friends_deleted_listener(*, workspace_id: int, contact_ids: list[int], **data) -> None:
    """crm.events.FRIEND_DELETED."""
    friends_deleted.delay(list(contact_ids))


def replied_listener(*, workspace_id: int, contact_ids: list[int], text: str, **data) -> None:
    """crm.events.REPLIED: a reply that is a campaign's keyword enrols the customer."""
    for contact_id in contact_ids:
        participants_enrol_on_request.delay(workspace_id, contact_id, text)
