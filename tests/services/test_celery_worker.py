"""A real Celery worker, fed through Redis, writing to PostgreSQL: the wiring `make run` and production rely on."""

import re
import uuid

import pytest

from crm import tasks
from crm.models import ContactTag, Heartbeat, Member, TimelineEvent
from tests.factories import ContactFactory, MemberFactory, TagFactory, WorkspaceFactory, tag_contact

pytestmark = [pytest.mark.services, pytest.mark.usefixtures("transactional_db", "celery_through_broker")]


@pytest.fixture
def shop(transactional_db):
    """Three contacts tagged 海参 (the query's match), one tagged otherwise, one untagged; another shop too."""
    workspace = WorkspaceFactory(name="张姐海味")
    owner = MemberFactory(workspace=workspace, role=Member.Role.OWNER)
    sea_cucumber = TagFactory(workspace=workspace, name="海参")
    regular = TagFactory(workspace=workspace, name="老客")
    repeat = TagFactory(workspace=workspace, name="回购")
    matching = [ContactFactory(workspace=workspace) for _ in range(3)]
    for contact in matching:
        tag_contact(contact, sea_cucumber)
    others = [ContactFactory(workspace=workspace), ContactFactory(workspace=workspace)]
    tag_contact(others[0], regular)
    other_shop = WorkspaceFactory(name="别家店")
    stranger = ContactFactory(workspace=other_shop)
    tag_contact(stranger, TagFactory(workspace=other_shop, name="海参"))
    return {
        "owner": owner,
        "query": f"tags_all={sea_cucumber.pk}",
        "repeat": repeat,
        "matching": matching,
        "others": [*others, stranger],
    }


def _tagged_ids(tag) -> list[int]:
    return sorted(ContactTag.objects.filter(tag=tag).values_list("content_object_id", flat=True))


def _heartbeat_seen() -> bool:
    return Heartbeat.objects.filter(name="worker").exists()


def _succeeded(worker, task_name: str, task_id: str) -> int:
    return len(re.findall(rf"Task {re.escape(task_name)}\[{re.escape(task_id)}\] succeeded", worker.log()))


def test_a_real_worker_records_the_heartbeat(celery_worker):
    Heartbeat.objects.all().delete()

    tasks.heartbeat.delay()

    celery_worker.wait_until(_heartbeat_seen, what="heartbeat row from the worker")
    heartbeat = Heartbeat.objects.get(name="worker")
    assert heartbeat.hostname


def test_a_real_worker_bulk_tags_what_the_list_query_matches(celery_worker, shop):
    repeat, matching = shop["repeat"], shop["matching"]
    expected = sorted(c.pk for c in matching)

    tasks.contacts_bulk_tag.delay(
        member_id=shop["owner"].pk, query=shop["query"], add_tag_ids=[repeat.pk], remove_tag_ids=[]
    )

    celery_worker.wait_until(lambda: len(_tagged_ids(repeat)) >= len(expected), what="tags from the worker")
    assert _tagged_ids(repeat) == expected
    for contact in shop["others"]:
        assert not contact.tag_links.filter(tag__name="回购").exists()
    events = TimelineEvent.objects.filter(kind=TimelineEvent.Kind.TAG_ADDED, body="回购")
    assert sorted(events.values_list("contact_id", flat=True)) == expected


def test_a_bulk_tag_task_delivered_twice_duplicates_nothing(celery_worker, shop):
    repeat, matching = shop["repeat"], shop["matching"]
    expected = sorted(c.pk for c in matching)
    arguments = {"member_id": shop["owner"].pk, "query": shop["query"], "add_tag_ids": [repeat.pk], "remove_tag_ids": []}
    task_id = str(uuid.uuid4())
    Heartbeat.objects.all().delete()

    # The same message twice, as Redis redelivers an unacknowledged task; then a heartbeat behind them. One
    # solo worker takes the queue in order, so once the heartbeat is written both deliveries have run.
    tasks.contacts_bulk_tag.apply_async(kwargs=arguments, task_id=task_id)
    tasks.contacts_bulk_tag.apply_async(kwargs=arguments, task_id=task_id)
    tasks.heartbeat.delay()

    celery_worker.wait_until(_heartbeat_seen, what="heartbeat behind the two deliveries")
    celery_worker.wait_until(
        lambda: _succeeded(celery_worker, "crm.tasks.contacts_bulk_tag", task_id) == 2,
        what="log line for each of the two deliveries",
        timeout=10,
    )
    assert _tagged_ids(repeat) == expected  # each contact holds the tag once
    for contact in matching:
        assert contact.timeline_events.filter(kind=TimelineEvent.Kind.TAG_ADDED, body="回购").count() == 1
    assert TimelineEvent.objects.filter(body="回购").count() == len(expected)
    for contact in shop["others"]:
        assert not contact.tag_links.filter(tag__name="回购").exists()
