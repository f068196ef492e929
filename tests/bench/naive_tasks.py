"""The baseline of the broadcast benchmark (tests/bench/broadcasts.py): one Celery task per recipient.

This is the design the engine is compared with, written the way a first version usually is, and no worse: the
delivery rows are the engine's own (written by the same INSERT ... SELECT of broadcast_start), then one task per
delivery loads its row with the contact, the broadcast and the account (one query), renders the text with
campaigns.texts.personalise, hands one message to the account's channel (the outbox: one INSERT of one
OutboxMessage) and marks the delivery sent with a conditional update (one UPDATE), so it is exactly once too.

Not imported by the application: the benchmark starts its workers with `-I tests.bench.naive_tasks`.
"""

from celery import shared_task
from django.utils import timezone

from campaigns.models import Delivery, delivery_ref
from campaigns.texts import personalise
from crm import wechat


@shared_task(name="bench.naive_send_one", ignore_result=True)
def naive_send_one(delivery_id: int) -> bool:
    delivery = (
        Delivery.objects.select_related("broadcast", "contact", "account").filter(pk=delivery_id).first()
    )
    if delivery is None or delivery.status != Delivery.Status.QUEUED:
        return False
    broadcast, contact = delivery.broadcast, delivery.contact
    message = wechat.Message(
        ref=delivery_ref(delivery.pk), workspace_id=delivery.workspace_id, account_id=delivery.account_id,
        contact_id=contact.pk, text=personalise(broadcast.text, remark_name=contact.remark_name,
                                                nickname=contact.nickname),
        link=broadcast.link,
    )
    (result,) = wechat.channel_for(delivery.account).send([message])
    return bool(
        Delivery.objects.filter(pk=delivery.pk, status=Delivery.Status.QUEUED).update(
            status=Delivery.Status.SENT if result.outcome == wechat.Outcome.SENT else Delivery.Status.PENDING,
            finished_at=timezone.now(),
        )
    )


def naive_dispatch(*, broadcast_id: int) -> int:
    """The naive design's dispatch: one task per queued delivery (queued from the process that started it)."""
    ids = list(
        Delivery.objects.filter(broadcast_id=broadcast_id, status=Delivery.Status.QUEUED)
        .order_by("id")
        .values_list("id", flat=True)
    )
    for delivery_id in ids:
        naive_send_one.delay(delivery_id)
    return len(ids)
