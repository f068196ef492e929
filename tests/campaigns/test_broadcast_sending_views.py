"""The broadcast pages once a broadcast is sent: the send page with its audience count and exclusions, pause,
resume and cancel, and the progress and deliveries."""

import re
from datetime import time, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.urls import reverse
from django.utils import timezone

from campaigns import services, tasks
from campaigns.models import Broadcast, Delivery, MessagingSettings
from crm import services as crm_services
from crm.models import OutboxMessage
from tests.campaigns.conftest import ENGLISH, HTMX, detail, html, make_broadcast
from tests.factories import ContactFactory

pytestmark = pytest.mark.django_db

SHANGHAI = ZoneInfo("Asia/Shanghai")


# The send page ---------------------------------------------------------------------------------------------------------


def test_the_send_page_counts_the_audience_and_whom_each_rule_leaves_out(owner_client, workspace, broadcast, buyers, django_capture_on_commit_callbacks):
    opted, messaged, homeless = buyers["contacts"][:3]
    crm_services.contact_opt_out(contact=opted, actor=None)
    with django_capture_on_commit_callbacks(execute=True):
        services.broadcast_send(broadcast=make_broadcast(workspace, tags=[buyers["tag"].pk]))  # everyone, today
    Delivery.objects.exclude(contact=messaged).delete()
    homeless.owner_account = None
    homeless.save()
    response = detail(owner_client, broadcast)
    assert response.status_code == 200
    preview_ = response.context["preview"]
    assert (preview_.total, preview_.to_send) == (5, 2)
    rows = {reason: n for reason, _label, n in response.context["excluded"]}
    assert rows == {"opted_out": 1, "daily_cap": 1, "monthly_cap": 0, "no_account": 1}
    page = html(response)
    for label in ("Opted out", "Already messaged today", "Monthly limit reached", "No WeChat account"):
        assert label in page
    assert re.search(r"<strong>2</strong> customers receive it, of 5", page)


def test_the_send_page_says_what_keeps_a_broadcast_from_being_sent(owner_client, workspace):
    broadcast = make_broadcast(workspace, text="")
    page = html(detail(owner_client, broadcast))
    assert "Write a message, add an image or a link first." in page
    assert 'id="send-button"' in page  # pressing it says the same, as a message (see below)


def test_a_time_in_the_quiet_hours_warns_when_it_will_really_start(owner_client, workspace, broadcast):
    MessagingSettings.objects.filter(workspace=workspace).update(quiet_start=time(22, 0), quiet_end=time(8, 0))
    night = (timezone.now() + timedelta(days=2)).astimezone(SHANGHAI).replace(hour=23, minute=30, second=0, microsecond=0)
    broadcast.scheduled_at = night
    broadcast.save()
    response = detail(owner_client, broadcast)
    assert response.context["quiet_until"] == (night + timedelta(days=1)).replace(hour=8, minute=0)
    assert "it will start at 08:00" in html(response)


def test_a_time_outside_the_quiet_hours_has_no_warning(owner_client, workspace, broadcast):
    MessagingSettings.objects.filter(workspace=workspace).update(quiet_start=time(22, 0), quiet_end=time(8, 0))
    broadcast.scheduled_at = (timezone.now() + timedelta(days=2)).astimezone(SHANGHAI).replace(hour=12, minute=0)
    broadcast.save()
    response = detail(owner_client, broadcast)
    assert response.context["quiet_until"] is None and 'id="quiet-hours"' not in html(response)


def test_sending_a_broadcast_without_an_audience_shows_why_and_sends_nothing(owner_client, workspace):
    broadcast = make_broadcast(workspace)
    response = owner_client.post(reverse("campaigns:broadcast_send", args=[broadcast.pk]), follow=True, **ENGLISH)
    assert response.status_code == 200
    assert "Choose who receives it" in html(response)
    broadcast.refresh_from_db()
    assert broadcast.status == Broadcast.Status.DRAFT


def test_sending_twice_says_it_was_sent_already(owner_client, broadcast, django_capture_on_commit_callbacks):
    url = reverse("campaigns:broadcast_send", args=[broadcast.pk])
    with django_capture_on_commit_callbacks(execute=True):
        owner_client.post(url)
    response = owner_client.post(url, follow=True, **ENGLISH)
    assert "sent already" in html(response)
    assert OutboxMessage.objects.count() == 5


def test_a_planned_draft_is_scheduled_by_the_send_button_and_started_by_the_tick(owner_client, workspace, broadcast, django_capture_on_commit_callbacks):
    at = timezone.now() + timedelta(hours=3)
    broadcast.scheduled_at = at
    broadcast.save()
    response = owner_client.post(reverse("campaigns:broadcast_send", args=[broadcast.pk]), follow=True, **ENGLISH)
    assert "Scheduled: it will start at" in html(response)
    broadcast.refresh_from_db()
    assert (broadcast.status, broadcast.scheduled_at) == (Broadcast.Status.SCHEDULED, at)
    assert OutboxMessage.objects.count() == 0
    with django_capture_on_commit_callbacks(execute=True):
        services.broadcasts_tick(at=at + timedelta(seconds=1))
    assert OutboxMessage.objects.count() == 5


def test_a_draft_whose_planned_time_passed_is_not_sent(owner_client, broadcast):
    Broadcast.objects.filter(pk=broadcast.pk).update(scheduled_at=timezone.now() - timedelta(minutes=5))
    assert 'id="plan-passed"' in html(detail(owner_client, broadcast))
    response = owner_client.post(reverse("campaigns:broadcast_send", args=[broadcast.pk]), follow=True, **ENGLISH)
    assert "has passed" in html(response)
    broadcast.refresh_from_db()
    assert broadcast.status == Broadcast.Status.DRAFT and OutboxMessage.objects.count() == 0


def test_a_scheduled_broadcast_goes_back_to_draft(teammate_client, broadcast):
    services.broadcast_send(broadcast=broadcast, at=timezone.now() + timedelta(days=1))
    page = html(detail(teammate_client, broadcast))
    assert 'id="unschedule-button"' in page and 'id="send-button"' not in page
    response = teammate_client.post(reverse("campaigns:broadcast_unschedule", args=[broadcast.pk]), follow=True, **ENGLISH)
    assert "Back to draft" in html(response)
    broadcast.refresh_from_db()
    assert (broadcast.status, broadcast.scheduled_at) == (Broadcast.Status.DRAFT, None)


# Pause, resume, cancel -------------------------------------------------------------------------------------------------


def test_pause_and_resume_carry_on_from_where_the_send_stopped(owner_client, sending, held_chunks, buyers, django_capture_on_commit_callbacks):
    page = html(detail(owner_client, sending))
    assert 'id="pause-button"' in page
    response = owner_client.post(reverse("campaigns:broadcast_pause", args=[sending.pk]), follow=True, **ENGLISH)
    assert "Paused" in html(response) and 'id="resume-button"' in html(response)
    sending.refresh_from_db()
    assert sending.status == Broadcast.Status.PAUSED
    for chunk in held_chunks:
        assert tasks.deliveries_send_chunk(*chunk) == 0
    held_chunks.clear()
    with django_capture_on_commit_callbacks(execute=True):
        response = owner_client.post(reverse("campaigns:broadcast_resume", args=[sending.pk]), follow=True, **ENGLISH)
    assert "Sending again" in html(response)
    for chunk in held_chunks:
        tasks.deliveries_send_chunk(*chunk)
    sending.refresh_from_db()
    assert sending.status == Broadcast.Status.FINISHED
    assert sorted(OutboxMessage.objects.values_list("contact_id", flat=True)) == sorted(c.pk for c in buyers["contacts"])


def test_pausing_a_broadcast_that_is_not_sending_says_so(owner_client, broadcast):
    response = owner_client.post(reverse("campaigns:broadcast_pause", args=[broadcast.pk]), follow=True, **ENGLISH)
    assert response.status_code == 200 and "Only a broadcast that is sending can be paused." in html(response)
    response = owner_client.post(reverse("campaigns:broadcast_resume", args=[broadcast.pk]), follow=True, **ENGLISH)
    assert "Only a paused broadcast can be resumed." in html(response)


def test_cancel_asks_first_then_skips_everyone_not_yet_reached(teammate_client, sending, held_chunks):
    url = reverse("campaigns:broadcast_cancel", args=[sending.pk])
    confirm = teammate_client.get(url, **ENGLISH)
    assert confirm.status_code == 200 and 'id="confirm-cancel"' in html(confirm)
    sending.refresh_from_db()
    assert sending.status == Broadcast.Status.SENDING
    response = teammate_client.post(url, follow=True, **ENGLISH)
    assert "Cancelled" in html(response)
    for chunk in held_chunks:
        tasks.deliveries_send_chunk(*chunk)
    assert OutboxMessage.objects.count() == 0
    assert services.broadcast_progress(broadcast=sending)["skipped"] == {"cancelled": 5}
    assert response.context["skipped_by_reason"] == [("Broadcast cancelled", 5)]
    again = teammate_client.post(url, follow=True, **ENGLISH)
    assert "over already" in html(again)


def test_pause_resume_and_cancel_are_posts_only(owner_client, sending):
    for name in ("broadcast_pause", "broadcast_resume", "broadcast_send", "broadcast_unschedule"):
        assert owner_client.get(reverse(f"campaigns:{name}", args=[sending.pk])).status_code == 405


# Progress --------------------------------------------------------------------------------------------------------------


def test_the_progress_is_polled_every_three_seconds_while_sending(owner_client, sending, held_chunks):
    response = detail(owner_client, sending, **HTMX, HTTP_HX_TARGET="broadcast-status")
    assert [t.name for t in response.templates][0] == "campaigns/broadcasts/_status.html"
    fragment = html(response)
    assert 'hx-trigger="every 3s"' in fragment and "<html" not in fragment
    assert response.context["progress"]["waiting"] == 5
    for chunk in held_chunks:
        tasks.deliveries_send_chunk(*chunk)
    response = detail(owner_client, sending, **HTMX, HTTP_HX_TARGET="broadcast-status")
    assert 'hx-trigger="every 3s"' not in html(response)
    assert response.context["progress"]["sent"] == 5 and response.context["broadcast"].status == "finished"


def test_the_deliveries_are_paged_filtered_by_status_and_show_errors(owner_client, workspace, sending, outbox_account):
    for _ in range(55):
        ContactFactory(workspace=workspace, owner_account=outbox_account)  # not in the audience
    Delivery.objects.filter(broadcast=sending).update(status=Delivery.Status.FAILED, error="WeCom: 客户已拒收")
    extra = [ContactFactory(workspace=workspace, owner_account=outbox_account) for _ in range(52)]
    Delivery.objects.bulk_create([
        Delivery(workspace=workspace, broadcast=sending, contact=contact, account=outbox_account, status="sent")
        for contact in extra
    ])
    first = detail(owner_client, sending)
    assert len(first.context["deliveries"]) == 50 and first.context["deliveries"].paginator.num_pages == 2
    response = owner_client.get(reverse("campaigns:broadcast_detail", args=[sending.pk]) + "?status=failed", **ENGLISH)
    assert {d.status for d in response.context["deliveries"]} == {"failed"}
    assert len(response.context["deliveries"]) == 5
    assert "WeCom: 客户已拒收" in html(response)
    fragment = owner_client.get(reverse("campaigns:broadcast_detail", args=[sending.pk]) + "?status=sent&page=2",
                                **HTMX, HTTP_HX_TARGET="deliveries")
    assert "<html" not in html(fragment) and len(fragment.context["deliveries"]) == 2
