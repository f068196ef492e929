"""Exactly once on the real services: two workers racing on PostgreSQL, and a Celery worker killed with SIGKILL in
the middle of a chunk on the Redis broker, then restarted."""

import signal
import threading
from datetime import time

import pytest
from django.db import connection

from campaigns import services, tasks
from campaigns.models import Broadcast, Delivery, MessagingSettings, delivery_ref
from crm.models import Contact, ContactTag, OutboxMessage, WeChatAccount
from tests.factories import TagFactory, WeChatAccountFactory, WorkspaceFactory
from tests.services.conftest import start_worker

pytestmark = [pytest.mark.services]

RECIPIENTS = 10_000  # two chunks (services.CHUNK_SIZE)


def _broadcast_to_many(count: int) -> Broadcast:
    workspace = WorkspaceFactory()
    MessagingSettings.objects.create(workspace=workspace, quiet_start=time(0), quiet_end=time(0))
    account = WeChatAccountFactory(workspace=workspace, channel=WeChatAccount.Channel.OUTBOX)
    tag = TagFactory(workspace=workspace, name="老客")
    contacts = Contact.objects.bulk_create(
        [Contact(workspace=workspace, owner_account=account, remark_name=f"客户{n}") for n in range(count)],
        batch_size=5000,
    )
    ContactTag.objects.bulk_create([ContactTag(content_object=c, tag=tag) for c in contacts], batch_size=5000)
    return Broadcast.objects.create(workspace=workspace, name="双十一", text="{备注名}，新品到了", audience={"tags": [tag.pk]})


def _assert_each_recipient_once(broadcast: Broadcast, count: int) -> None:
    messages = OutboxMessage.objects.filter(workspace=broadcast.workspace)
    assert messages.count() == count
    assert messages.values("contact_id").distinct().count() == count
    assert Delivery.objects.filter(broadcast=broadcast, status=Delivery.Status.SENT).count() == count
    broadcast.refresh_from_db()
    assert broadcast.status == Broadcast.Status.FINISHED


def test_two_workers_racing_on_every_chunk_send_each_message_once(transactional_db, monkeypatch):
    monkeypatch.setattr(services, "CHUNK_SIZE", 2000)
    broadcast = _broadcast_to_many(6000)
    chunks = []
    monkeypatch.setattr(tasks.deliveries_send_chunk, "delay", lambda *args: chunks.append(args))
    services.broadcast_send(broadcast=broadcast)  # autocommit: the chunks are queued at once
    assert len(chunks) == 3
    handed_over = []

    def worker(barrier, chunk):
        try:
            barrier.wait()
            handed_over.append(services.deliveries_send_chunk(
                broadcast_id=chunk[0], first_id=chunk[1], last_id=chunk[2]))
        finally:
            connection.close()

    for chunk in chunks:
        barrier = threading.Barrier(2)
        threads = [threading.Thread(target=worker, args=(barrier, chunk)) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert sum(handed_over) == 6000
    _assert_each_recipient_once(broadcast, 6000)


def _held_hand_over(delivery: Delivery):
    """An open transaction that has written the outbox row of `delivery`, uncommitted: a worker handing that
    delivery over waits on it (the outbox's unique ref) until the transaction ends, in the middle of its chunk."""
    holder = connection.get_new_connection(connection.get_connection_params())  # not in autocommit
    holder.execute(
        f"INSERT INTO {OutboxMessage._meta.db_table} (workspace_id, account_id, contact_id, ref, text, images, created_at)"
        " VALUES (%s, %s, %s, %s, '', '[]', now())",
        [delivery.workspace_id, delivery.account_id, delivery.contact_id, delivery_ref(delivery.pk)],
    )
    return holder


def test_a_worker_killed_in_the_middle_of_a_chunk_loses_and_repeats_nothing(
    transactional_db, celery_through_broker, tmp_path
):
    broadcast = _broadcast_to_many(RECIPIENTS)
    services.broadcast_send(broadcast=broadcast)  # the chunks wait in Redis for a worker
    # A chunk takes a fraction of a second: the worker is held in the middle of the last one, by its last delivery,
    # so that the kill comes after the first chunk was sent and while the last one is claimed and being handed over.
    holder = _held_hand_over(Delivery.objects.filter(broadcast=broadcast).latest("pk"))
    # Short leases and a quick look for lost tasks, so that the restarted worker gets the killed worker's task
    # (Redis) and rows (claim lease) back within seconds instead of an hour and fifteen minutes.
    quick = {
        "CELERY_VISIBILITY_TIMEOUT": "3", "CELERY_LOST_TASKS_CHECK_SECONDS": "1", "BROADCAST_CLAIM_LEASE_SECONDS": "2",
    }  # fmt: skip
    first = start_worker(tmp_path, **quick)
    try:
        first.wait_until(
            lambda: Delivery.objects.filter(broadcast=broadcast, status=Delivery.Status.SENT).exists()
            and Delivery.objects.filter(broadcast=broadcast, status=Delivery.Status.CLAIMED).exists(),
            what="a chunk in flight after a first one was sent",
        )
        first.process.send_signal(signal.SIGKILL)
        first.process.wait(timeout=10)
    finally:
        first.stop()
        holder.rollback()  # the killed worker's statement, if its server process still runs it, goes on
        holder.close()
    unfinished = Delivery.objects.filter(broadcast=broadcast, status__in=services.UNFINISHED).count()
    assert 0 < unfinished < RECIPIENTS  # killed mid-send, not before or after

    second = start_worker(tmp_path, **quick)
    try:
        second.wait_until(
            lambda: Broadcast.objects.get(pk=broadcast.pk).status == Broadcast.Status.FINISHED,
            what="the broadcast finished by the restarted worker",
            timeout=120,
        )
    finally:
        second.stop()
    _assert_each_recipient_once(broadcast, RECIPIENTS)
