"""Mass-send results: once the sender confirms in WeCom, each customer's delivery turns sent or failed, once."""

from datetime import time, timedelta

import pytest
from django.utils import timezone

from campaigns import services as campaigns
from campaigns.models import Broadcast, Delivery, MessagingSettings
from tests.factories import ContactFactory, TagFactory, tag_contact
from wecom import results, tasks
from wecom.models import MassSend

pytestmark = pytest.mark.django_db

TASKS = "externalcontact/get_groupmsg_task"
RESULTS = "externalcontact/get_groupmsg_send_result"


@pytest.fixture
def broadcast(workspace, seller, credentials, wecom, django_capture_on_commit_callbacks):
    """A broadcast to four WeCom customers, handed to WeCom: every delivery waits for the sender."""
    MessagingSettings.objects.create(workspace=workspace, quiet_start=time(0), quiet_end=time(0))
    tag = TagFactory(workspace=workspace, name="老客")
    for n in range(4):
        tag_contact(ContactFactory(workspace=workspace, owner_account=seller, external_id=f"wm{n}"), tag)
    broadcast = Broadcast.objects.create(workspace=workspace, name="双十一", text="新品到了", audience={"tags": [tag.pk]})
    with django_capture_on_commit_callbacks(execute=True):
        campaigns.broadcast_send(broadcast=broadcast)
    assert set(broadcast.deliveries.values_list("status", flat=True)) == {Delivery.Status.PENDING}
    return broadcast


def by_customer(broadcast) -> dict[str, tuple[str, str]]:
    return {d.contact.external_id: d.status for d in broadcast.deliveries.select_related("contact")}


def test_nothing_changes_while_the_sender_has_not_confirmed(broadcast, wecom):
    results.mass_sends_poll()
    assert set(by_customer(broadcast).values()) == {Delivery.Status.PENDING}
    assert MassSend.objects.get().status == MassSend.Status.SUBMITTED
    assert not wecom.server.calls_to(RESULTS)


def test_a_confirmed_mass_send_turns_the_deliveries_sent_or_failed(broadcast, wecom):
    mass_send = MassSend.objects.get()
    wecom.confirm(mass_send.msgid, "zhangsan", {"wm0": 1, "wm1": 1, "wm2": 2, "wm3": 3})
    results.mass_sends_poll()
    assert by_customer(broadcast) == {"wm0": "sent", "wm1": "sent", "wm2": "failed", "wm3": "failed"}
    mass_send.refresh_from_db()
    assert mass_send.status == MassSend.Status.FINISHED and mass_send.confirmed_at
    assert mass_send.results == {"wm0": 1, "wm1": 1, "wm2": 2, "wm3": 3}


def test_a_failed_delivery_says_why_wecom_did_not_deliver_it(broadcast, wecom):
    wecom.confirm(MassSend.objects.get().msgid, "zhangsan", {"wm0": 1, "wm1": 1, "wm2": 2, "wm3": 3})
    results.mass_sends_poll()
    errors = {d.contact.external_id: d.error for d in broadcast.deliveries.select_related("contact")}
    assert errors == {"wm0": "", "wm1": "", "wm2": results.REASONS[2], "wm3": results.REASONS[3]}
    assert results.REASONS[2] != results.REASONS[3]


def test_the_broadcasts_progress_counts_the_results(broadcast, wecom):
    wecom.confirm(MassSend.objects.get().msgid, "zhangsan", {"wm0": 1, "wm1": 1, "wm2": 1, "wm3": 2})
    results.mass_sends_poll()
    progress = campaigns.broadcast_progress(broadcast=broadcast)
    assert progress["by_status"] == {"sent": 3, "failed": 1} and progress["total"] == 4


def test_results_fetched_twice_count_once(broadcast, wecom, monkeypatch):
    mass_send = MassSend.objects.get()
    wecom.confirm(mass_send.msgid, "zhangsan", {"wm0": 1, "wm1": 0, "wm2": 0, "wm3": 0})
    reported = []
    monkeypatch.setattr(results, "report_results", lambda batch: (reported.extend(batch), real(batch)))
    results.mass_send_results_fetch(mass_send_id=mass_send.pk)
    MassSend.objects.filter(pk=mass_send.pk).update(checked_at=None)
    results.mass_send_results_fetch(mass_send_id=mass_send.pk)
    assert [r.outcome for r in reported] == ["sent"]
    assert by_customer(broadcast)["wm0"] == "sent" and by_customer(broadcast)["wm1"] == "pending"


def real(batch):
    from crm.wechat import report_results

    report_results(batch)


def test_customers_still_open_are_asked_again_until_they_are_final(broadcast, wecom):
    mass_send = MassSend.objects.get()
    wecom.confirm(mass_send.msgid, "zhangsan", {"wm0": 1, "wm1": 0, "wm2": 0, "wm3": 0})
    results.mass_sends_poll()
    wecom.confirm(mass_send.msgid, "zhangsan", {"wm0": 1, "wm1": 1, "wm2": 1, "wm3": 3})
    results.mass_sends_poll(now=timezone.now() + results.POLL_EVERY * 2)
    assert by_customer(broadcast) == {"wm0": "sent", "wm1": "sent", "wm2": "sent", "wm3": "failed"}
    assert MassSend.objects.get().status == MassSend.Status.FINISHED


def test_a_mass_send_just_asked_about_waits_for_the_next_round(broadcast, wecom):
    results.mass_sends_poll()
    results.mass_sends_poll()
    assert len(wecom.server.calls_to(TASKS)) == 1


def test_results_are_read_page_by_page(broadcast, wecom):
    wecom.page_size = 1
    wecom.confirm(MassSend.objects.get().msgid, "zhangsan", {"wm0": 1, "wm1": 1, "wm2": 1, "wm3": 1})
    results.mass_sends_poll()
    assert set(by_customer(broadcast).values()) == {"sent"}
    assert [body["cursor"] for _, body in wecom.server.calls_to(RESULTS)] == ["", "1", "2", "3"]


def test_after_three_days_the_unconfirmed_fail_and_the_mass_send_is_no_longer_asked_about(broadcast, wecom):
    later = timezone.now() + results.RESULT_WINDOW + timedelta(minutes=1)
    results.mass_sends_poll(now=later)
    assert set(by_customer(broadcast).values()) == {"failed"}
    assert MassSend.objects.get().status == MassSend.Status.EXPIRED
    calls = len(wecom.server.calls_to(TASKS))
    results.mass_sends_poll(now=later + timedelta(hours=1))
    assert len(wecom.server.calls_to(TASKS)) == calls


def test_customers_refused_at_the_send_stay_failed_and_are_not_reported_again(
    workspace, seller, credentials, wecom, django_capture_on_commit_callbacks, fake_wecom
):
    fake_wecom.refuse_customers("wm1")
    MessagingSettings.objects.create(workspace=workspace, quiet_start=time(0), quiet_end=time(0))
    tag = TagFactory(workspace=workspace, name="老客")
    for n in range(2):
        tag_contact(ContactFactory(workspace=workspace, owner_account=seller, external_id=f"wm{n}"), tag)
    broadcast = Broadcast.objects.create(workspace=workspace, name="上新", text="到了", audience={"tags": [tag.pk]})
    with django_capture_on_commit_callbacks(execute=True):
        campaigns.broadcast_send(broadcast=broadcast)
    wecom.confirm(MassSend.objects.get().msgid, "zhangsan", {"wm0": 1, "wm1": 2})
    results.mass_sends_poll()
    assert by_customer(broadcast) == {"wm0": "sent", "wm1": "failed"}
    assert MassSend.objects.get().status == MassSend.Status.FINISHED


def test_an_unreachable_wecom_leaves_the_results_for_later(broadcast, wecom, fake_wecom, settings):
    settings.WECOM_MAX_ATTEMPTS = 1
    fake_wecom.fail_next(TASKS, 45009)
    wecom.confirm(MassSend.objects.get().msgid, "zhangsan", {"wm0": 1, "wm1": 1, "wm2": 1, "wm3": 1})
    results.mass_sends_poll()
    assert set(by_customer(broadcast).values()) == {"pending"}
    results.mass_sends_poll(now=timezone.now() + results.POLL_EVERY * 2)
    assert set(by_customer(broadcast).values()) == {"sent"}


def test_the_beat_task_polls(broadcast, wecom):
    wecom.confirm(MassSend.objects.get().msgid, "zhangsan", {"wm0": 1, "wm1": 1, "wm2": 1, "wm3": 1})
    assert tasks.mass_send_results_poll() == 1
    assert set(by_customer(broadcast).values()) == {"sent"}
