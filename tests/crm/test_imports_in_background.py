"""Imports outside a transaction on PostgreSQL write each batch on a second connection while the next one is planned
(crm.imports.importing._BackgroundWrites). Each test imports the same file that way and in one transaction (where
every batch is planned and written on the caller's connection, one after the other) and expects the same book.

The tests commit (transaction=True): the writer's connection cannot see a test's uncommitted rows."""

import threading

import pytest
from django.db import connection, transaction

from crm import imports, tasks
from crm.imports import importing
from crm.models import Contact, ContactTag, ImportJob, Member, Order, TimelineEvent
from tests.crm.test_imports import ORDER_HEADER, csv_bytes, make_job, queue_and_run, run
from tests.factories import MemberFactory, TagFactory, TagGroupFactory, WorkspaceFactory

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(connection.vendor != "postgresql", reason="the writes go to a thread on PostgreSQL only"),
]


@pytest.fixture
def writer_threads(monkeypatch):
    """The names of the threads that wrote batches."""
    names = []
    original = importing._BackgroundWrites._write

    def spy(write):
        names.append(threading.current_thread().name)
        return original(write)

    monkeypatch.setattr(importing._BackgroundWrites, "_write", staticmethod(spy))
    monkeypatch.setattr(imports, "BATCH_SIZE", 2)
    return names


def import_both_ways(kind, rows, *, prepare=lambda workspace: None):
    """The file imported into two new workspaces: in the background, and in one transaction."""
    books = []
    for background in (True, False):
        workspace = WorkspaceFactory()
        prepare(workspace)
        if background:
            result = run(workspace, kind, csv_bytes(rows))
        else:
            with transaction.atomic():
                result = run(workspace, kind, csv_bytes(rows))
        books.append((workspace, result))
    return books


def book(workspace):
    contacts = {
        contact.pk: (contact.wechat_id, contact.phone, contact.nickname, contact.remark_name)
        for contact in Contact.objects.filter(workspace=workspace)
    }
    tags = sorted(
        (contacts[link.content_object_id], link.tag.name)
        for link in ContactTag.objects.filter(content_object__workspace=workspace).select_related("tag")
    )
    events = sorted(
        (contacts[event.contact_id], event.kind, event.body.split(" #")[-1])
        for event in TimelineEvent.objects.filter(contact__workspace=workspace)
    )
    orders = sorted(
        (contacts[order.contact_id], str(order.amount)) for order in Order.objects.filter(workspace=workspace)
    )
    return sorted(contacts.values()), tags, events, orders


def counts(result):
    return (result.created, result.updated, result.skipped, result.rejected, result.contacts_created)


def test_a_contact_met_again_in_the_next_batch_is_the_one_the_batch_in_flight_creates(writer_threads):
    rows = [
        ["wechat", "phone", "nickname", "remark", "tags"],
        ["wx_1", "", "甲", "", "老客"],
        ["wx_2", "13800000002", "乙", "", ""],
        ["wx_1", "13800000001", "甲", "张姐", "VIP"],  # next batch: the same contact, a phone and a tag more
        ["wx_3", "13800000002", "丙", "", "VIP"],  # a WeChat ID the book lacks, the phone of line 3's contact
        ["", "13800000001", "", "", "老客"],  # the phone line 4 gave wx_1: nothing new
        ["wx_4", "", "丁", "", ""],
    ]
    (background, in_background), (serial, at_once) = import_both_ways("contacts", rows)
    assert writer_threads and all(name.startswith("import-writes") for name in writer_threads)
    assert counts(in_background) == counts(at_once) == (3, 2, 1, 0, 0)
    assert book(background) == book(serial)
    contacts, tags, _events, _orders = book(background)
    assert ("wx_1", "+8613800000001", "甲", "张姐") in contacts
    assert [name for contact, name in tags if contact[0] == "wx_1"] == ["VIP", "老客"]


def test_an_exclusive_tag_written_by_the_batch_in_flight_takes_its_siblings_off_for_the_next_plan(writer_threads):
    def prepare(workspace):
        level = TagGroupFactory(workspace=workspace, name="会员等级", exclusive=True)
        TagFactory(workspace=workspace, group=level, name="金卡")
        TagFactory(workspace=workspace, group=level, name="银卡")

    rows = [["wechat", "tags"], ["wx_1", "银卡"], ["wx_2", ""], ["wx_1", "金卡"], ["wx_3", ""], ["wx_1", "银卡"]]
    (background, in_background), (serial, at_once) = import_both_ways("contacts", rows, prepare=prepare)
    assert counts(in_background) == counts(at_once)
    assert book(background) == book(serial)
    assert list(Contact.objects.get(workspace=background, wechat_id="wx_1").tags.names()) == ["银卡"]


def test_orders_of_a_new_customer_in_consecutive_batches_make_one_contact(writer_threads):
    rows = [
        ORDER_HEADER,
        ["13900000001", "2026-11-01", "99", "A1", "", ""],
        ["13900000002", "2026-11-01", "19", "A2", "", ""],
        ["13900000001", "2026-11-02", "59", "A3", "", ""],  # the next batch: the customer line 2 added
        ["13900000002", "2026-11-01", "19", "A2", "", ""],  # line 3 again: imported by the batch in flight
    ]
    (background, in_background), (serial, at_once) = import_both_ways("orders", rows)
    assert counts(in_background) == counts(at_once) == (3, 0, 1, 0, 2)
    assert book(background) == book(serial)
    assert Contact.objects.filter(workspace=background).count() == 2


def test_a_failed_background_batch_stops_the_import_and_keeps_the_batches_before_it(writer_threads, monkeypatch):
    original = importing._ContactImporter.write_plan
    calls = []

    def crash_on_third_batch(self, plan, result):
        calls.append(1)
        if len(calls) == 3:
            raise RuntimeError("the server went away")
        return original(self, plan, result)

    monkeypatch.setattr(importing._ContactImporter, "write_plan", crash_on_third_batch)
    workspace = WorkspaceFactory()
    rows = [["wechat"]] + [[f"wx_{n}"] for n in range(8)]
    with pytest.raises(RuntimeError, match="went away"):
        run(workspace, "contacts", csv_bytes(rows))
    assert sorted(Contact.objects.filter(workspace=workspace).values_list("wechat_id", flat=True)) == [
        "wx_0", "wx_1", "wx_2", "wx_3",
    ]
    assert threading.active_count() == 1 or not any(
        thread.name.startswith("import-writes") for thread in threading.enumerate()
    )


def test_an_import_job_commits_its_progress_with_each_batch_the_writer_writes_and_runs_once(writer_threads):
    owner = MemberFactory(workspace=WorkspaceFactory(), role=Member.Role.OWNER)
    rows = [["昵称", "微信号", "手机号"]] + [[f"客{n}", f"wx_{n}", "12" if n == 3 else ""] for n in range(7)]
    job = queue_and_run(make_job(owner, csv_bytes(rows)))
    assert len(writer_threads) == 4  # batches of two rows
    assert job.status == ImportJob.Status.DONE
    assert (job.processed_rows, job.created_count, job.rejected_count) == (7, 6, 1)
    assert Contact.objects.filter(workspace=owner.workspace).count() == 6
    tasks.import_job_run.delay(job_id=job.pk)  # delivered again
    job.refresh_from_db()
    assert (job.processed_rows, job.created_count) == (7, 6) and len(writer_threads) == 4
    assert Contact.objects.filter(workspace=owner.workspace).count() == 6
