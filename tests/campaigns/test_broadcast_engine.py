"""The broadcast engine: audience, the rules that protect the accounts, and exactly-once delivery."""

from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.conf import settings
from django.core.exceptions import ValidationError
from django.utils import timezone

from campaigns import services, tasks
from campaigns.models import Broadcast, Delivery, MessagingSettings
from crm import services as crm_services
from crm import wechat
from crm.models import ManualSend, OutboxMessage, Segment, WeChatAccount
from crm.wechat.base import register_channel
from tests.campaigns.conftest import make_broadcast
from tests.factories import (
    ContactFactory,
    CustomerGroupFactory,
    GroupMembershipFactory,
    TagFactory,
    WeChatAccountFactory,
    WorkspaceFactory,
    tag_contact,
)

pytestmark = pytest.mark.django_db

SHANGHAI = ZoneInfo("Asia/Shanghai")
NOON = datetime(2026, 11, 20, 12, 0, tzinfo=SHANGHAI)


@pytest.fixture
def send(django_capture_on_commit_callbacks):
    """broadcast_send as a request would run it: chunks queued after the commit (run eagerly in tests)."""

    def run(broadcast, at=None):
        with django_capture_on_commit_callbacks(execute=True):
            return services.broadcast_send(broadcast=broadcast, at=at)

    return run


def outbox_refs(broadcast):
    return sorted(OutboxMessage.objects.filter(workspace=broadcast.workspace).values_list("contact_id", flat=True))


# Audience ------------------------------------------------------------------------------------------------------------


def test_every_tagged_customer_receives_the_broadcast_once_personalised(send, broadcast, buyers):
    send(broadcast)
    broadcast.refresh_from_db()
    assert broadcast.status == Broadcast.Status.FINISHED
    messages = OutboxMessage.objects.filter(workspace=broadcast.workspace)
    assert sorted(m.contact_id for m in messages) == sorted(c.pk for c in buyers["contacts"])
    first = buyers["contacts"][0]
    assert messages.get(contact=first).text == f"{first.remark_name}，新品到了"
    assert services.broadcast_progress(broadcast=broadcast)["by_status"] == {"sent": 5}


def test_the_audience_joins_segments_tags_groups_and_accounts_and_removes_exclusions(workspace, outbox_account):
    vip, blocked = TagFactory(workspace=workspace, name="VIP"), TagFactory(workspace=workspace, name="黑名单")
    group = CustomerGroupFactory(workspace=workspace)
    other_account = WeChatAccountFactory(workspace=workspace, channel="outbox")
    tagged = ContactFactory(workspace=workspace, owner_account=outbox_account)
    tag_contact(tagged, vip)
    in_group = ContactFactory(workspace=workspace, owner_account=outbox_account)
    GroupMembershipFactory(group=group, contact=in_group)
    on_account = ContactFactory(workspace=workspace, owner_account=other_account)
    excluded = ContactFactory(workspace=workspace, owner_account=other_account)
    tag_contact(excluded, blocked)
    stage_vip = ContactFactory(workspace=workspace, owner_account=outbox_account, stage="vip")
    segment = Segment.objects.create(workspace=workspace, name="VIP阶段", rule={"version": 1, "root": {
        "op": "and", "children": [{"field": "stage", "values": ["vip"]}]}})
    ContactFactory(workspace=workspace, owner_account=outbox_account)  # in none of them
    broadcast = make_broadcast(
        workspace, tags=[vip.pk], groups=[group.pk], accounts=[other_account.pk], segments=[segment.pk],
        exclude_tags=[blocked.pk],
    )
    preview = services.broadcast_preview(broadcast=broadcast)
    assert preview.to_send == 4
    services.broadcast_start(broadcast=_scheduled(broadcast))
    sent_to = set(Delivery.objects.filter(broadcast=broadcast).values_list("contact_id", flat=True))
    assert sent_to == {tagged.pk, in_group.pk, on_account.pk, stage_vip.pk}


def _scheduled(broadcast):
    Broadcast.objects.filter(pk=broadcast.pk).update(status=Broadcast.Status.SCHEDULED, scheduled_at=timezone.now())
    broadcast.refresh_from_db()
    return broadcast


def test_a_broadcast_without_an_audience_or_a_message_cannot_be_sent(workspace, buyers):
    with pytest.raises(ValidationError, match="Choose who receives it"):
        services.broadcast_send(broadcast=make_broadcast(workspace))
    with pytest.raises(ValidationError, match="Write a message"):
        services.broadcast_send(broadcast=make_broadcast(workspace, text=" ", tags=[buyers["tag"].pk]))


def test_another_workspaces_tag_in_the_audience_is_refused(workspace, buyers):
    foreign = TagFactory(workspace=WorkspaceFactory())
    with pytest.raises(ValidationError):
        services.broadcast_send(broadcast=make_broadcast(workspace, tags=[foreign.pk]))


def test_another_workspaces_contacts_never_receive_it_even_with_the_same_tag_name(send, workspace, broadcast, buyers):
    stranger_space = WorkspaceFactory()
    stranger = ContactFactory(workspace=stranger_space, owner_account=WeChatAccountFactory(
        workspace=stranger_space, channel="outbox"))
    tag_contact(stranger, TagFactory(workspace=stranger_space, name="老客"))
    send(broadcast)
    assert not OutboxMessage.objects.filter(contact=stranger).exists()
    assert OutboxMessage.objects.count() == 5


# Rules that protect the accounts --------------------------------------------------------------------------------------


def test_opted_out_customers_are_skipped_and_the_preview_says_so(send, owner, broadcast, buyers):
    opted = buyers["contacts"][0]
    crm_services.contact_reply_record(contact=opted, text=" 退订 ")
    preview = services.broadcast_preview(broadcast=broadcast)
    assert (preview.total, preview.to_send, preview.excluded) == (5, 4, {"opted_out": 1})
    send(broadcast)
    assert opted.pk not in outbox_refs(broadcast)
    assert Delivery.objects.get(contact=opted).skip_reason == Delivery.SkipReason.OPTED_OUT


def test_a_reply_that_merely_mentions_td_does_not_opt_out(buyers):
    contact = buyers["contacts"][0]
    crm_services.contact_reply_record(contact=contact, text="TD是什么意思？")
    contact.refresh_from_db()
    assert contact.opted_out_at is None


def test_a_customer_who_opts_out_during_the_send_receives_nothing(workspace, broadcast, buyers, held_chunks):
    services.broadcast_send(broadcast=broadcast)
    late = buyers["contacts"][2]
    crm_services.contact_opt_out(contact=late, actor=None)
    services.broadcast_dispatch(broadcast_id=broadcast.pk)
    for args in held_chunks:
        tasks.deliveries_send_chunk(*args)
    assert late.pk not in outbox_refs(broadcast)
    assert len(outbox_refs(broadcast)) == 4


def test_a_second_broadcast_the_same_day_skips_those_already_messaged(send, workspace, broadcast, buyers):
    send(broadcast)
    second = make_broadcast(workspace, tags=[buyers["tag"].pk])
    assert services.broadcast_preview(broadcast=second).excluded == {"daily_cap": 5}
    send(second)
    assert services.broadcast_progress(broadcast=second)["skipped"] == {"daily_cap": 5}
    assert OutboxMessage.objects.count() == 5


def test_the_monthly_cap_counts_the_month_in_the_workspaces_time_zone(workspace, buyers):
    MessagingSettings.objects.filter(workspace=workspace).update(daily_cap=5, monthly_cap=2)
    for day in (1, 2):
        earlier = make_broadcast(workspace, tags=[buyers["tag"].pk])
        services.broadcast_start(broadcast=_scheduled(earlier), at=datetime(2026, 11, day, 12, tzinfo=SHANGHAI))
        Delivery.objects.filter(broadcast=earlier).update(created_at=datetime(2026, 11, day, 12, tzinfo=SHANGHAI))
    third = make_broadcast(workspace, tags=[buyers["tag"].pk])
    assert services.broadcast_preview(broadcast=third, at=NOON).excluded == {"monthly_cap": 5}
    next_month = datetime(2026, 12, 1, 0, 30, tzinfo=SHANGHAI)  # 16:30 UTC on Nov 30: December in Shanghai
    assert services.broadcast_preview(broadcast=third, at=next_month).to_send == 5


def test_customers_without_a_wechat_account_are_skipped(workspace, broadcast, buyers, send):
    orphan = ContactFactory(workspace=workspace, owner_account=None)
    tag_contact(orphan, buyers["tag"])
    send(broadcast)
    assert Delivery.objects.get(contact=orphan).skip_reason == Delivery.SkipReason.NO_ACCOUNT


def test_a_send_due_inside_the_quiet_hours_waits_for_the_morning(workspace, broadcast, buyers, django_capture_on_commit_callbacks):
    MessagingSettings.objects.filter(workspace=workspace).update(quiet_start=time(22, 0), quiet_end=time(8, 0))
    night = datetime(2026, 11, 20, 23, 0, tzinfo=SHANGHAI)
    Broadcast.objects.filter(pk=broadcast.pk).update(status=Broadcast.Status.SCHEDULED, scheduled_at=night)
    with django_capture_on_commit_callbacks(execute=True):
        services.broadcasts_tick(at=night + timedelta(hours=1))
    broadcast.refresh_from_db()
    assert broadcast.status == Broadcast.Status.SCHEDULED
    assert services.quiet_hours_end(workspace=workspace, at=night) == datetime(2026, 11, 21, 8, 0, tzinfo=SHANGHAI)
    with django_capture_on_commit_callbacks(execute=True):
        services.broadcasts_tick(at=datetime(2026, 11, 21, 8, 1, tzinfo=SHANGHAI))
    broadcast.refresh_from_db()
    assert broadcast.status == Broadcast.Status.FINISHED
    assert len(outbox_refs(broadcast)) == 5


def test_send_now_inside_the_quiet_hours_is_scheduled_not_sent(workspace, broadcast, buyers, send):
    here = timezone.localtime(timezone.now(), SHANGHAI)
    around_now = ((here - timedelta(hours=1)).time(), (here + timedelta(hours=1)).time())
    MessagingSettings.objects.filter(workspace=workspace).update(quiet_start=around_now[0], quiet_end=around_now[1])
    send(broadcast)
    broadcast.refresh_from_db()
    assert broadcast.status == Broadcast.Status.SCHEDULED
    assert not OutboxMessage.objects.exists()


def test_quiet_hours_follow_the_workspaces_own_settings(workspace):
    MessagingSettings.objects.filter(workspace=workspace).update(quiet_start=time(12, 0), quiet_end=time(13, 0))
    assert services.in_quiet_hours(workspace=workspace, at=NOON)
    assert not services.in_quiet_hours(workspace=workspace, at=datetime(2026, 11, 20, 23, tzinfo=SHANGHAI))


# Exactly once --------------------------------------------------------------------------------------------------------


def test_the_same_chunk_run_twice_sends_nothing_twice(workspace, broadcast, buyers, held_chunks):
    services.broadcast_send(broadcast=broadcast)
    services.broadcast_dispatch(broadcast_id=broadcast.pk)
    (chunk,) = set(held_chunks)
    assert tasks.deliveries_send_chunk(*chunk) == 5
    assert tasks.deliveries_send_chunk(*chunk) == 0
    assert OutboxMessage.objects.count() == 5
    broadcast.refresh_from_db()
    assert broadcast.status == Broadcast.Status.FINISHED


def test_pause_stops_at_the_next_chunk_and_resume_sends_only_the_rest(monkeypatch, workspace, broadcast, buyers, held_chunks, django_capture_on_commit_callbacks):
    monkeypatch.setattr(services, "CHUNK_SIZE", 2)
    services.broadcast_send(broadcast=broadcast)
    services.broadcast_dispatch(broadcast_id=broadcast.pk)
    chunks = list(held_chunks)
    assert len(chunks) == 3
    tasks.deliveries_send_chunk(*chunks[0])
    assert services.broadcast_pause(broadcast=broadcast)
    for chunk in chunks[1:]:
        assert tasks.deliveries_send_chunk(*chunk) == 0
    assert OutboxMessage.objects.count() == 2
    held_chunks.clear()
    with django_capture_on_commit_callbacks(execute=True):
        assert services.broadcast_resume(broadcast=broadcast)
    for chunk in held_chunks + chunks:  # the new chunks, then every old one again (a redelivery)
        tasks.deliveries_send_chunk(*chunk)
    assert outbox_refs(broadcast) == sorted(c.pk for c in buyers["contacts"])
    broadcast.refresh_from_db()
    assert broadcast.status == Broadcast.Status.FINISHED


def test_deliveries_of_an_account_deleted_after_the_start_are_skipped_not_stuck(workspace, broadcast, buyers, held_chunks):
    services.broadcast_send(broadcast=broadcast)
    services.broadcast_dispatch(broadcast_id=broadcast.pk)
    (chunk,) = set(held_chunks)
    WeChatAccount.objects.filter(workspace=workspace).delete()  # the admin's delete: Django nulls Delivery.account
    assert tasks.deliveries_send_chunk(*chunk) == 0
    assert OutboxMessage.objects.count() == 0
    assert services.broadcast_progress(broadcast=broadcast)["skipped"] == {"no_account": 5}
    broadcast.refresh_from_db()
    assert broadcast.status == Broadcast.Status.FINISHED


def test_a_worker_lost_after_handing_over_is_recovered_without_sending_twice(monkeypatch, workspace, broadcast, buyers, held_chunks):
    services.broadcast_send(broadcast=broadcast)
    services.broadcast_dispatch(broadcast_id=broadcast.pk)
    (chunk,) = set(held_chunks)

    def crash(*args, **kwargs):
        raise SystemExit("worker killed")

    with monkeypatch.context() as patch:
        patch.setattr(services, "_record", crash)  # dies after the channel took the messages
        with pytest.raises(SystemExit):
            tasks.deliveries_send_chunk(*chunk)
    assert OutboxMessage.objects.count() == 5
    assert tasks.deliveries_send_chunk(*chunk) == 0  # the claim still holds: a live worker is not overtaken
    Delivery.objects.update(claimed_at=timezone.now() - timedelta(seconds=settings.BROADCAST_CLAIM_LEASE_SECONDS + 1))
    assert tasks.deliveries_send_chunk(*chunk) == 5
    assert OutboxMessage.objects.count() == 5
    assert services.broadcast_progress(broadcast=broadcast)["by_status"] == {"sent": 5}


class _Down:
    name = "down"
    max_batch = 100

    def send(self, messages):
        raise wechat.ChannelUnavailable("WeCom timed out")


def test_an_unavailable_channel_puts_the_rows_back_and_fails_them_after_the_last_attempt(workspace, broadcast, buyers, held_chunks):
    register_channel(_Down())
    WeChatAccount.objects.filter(workspace=workspace).update(channel="down")
    services.broadcast_send(broadcast=broadcast)
    services.broadcast_dispatch(broadcast_id=broadcast.pk)
    (chunk,) = set(held_chunks)
    with pytest.raises(services.SendLater):
        services.deliveries_send_chunk(broadcast_id=chunk[0], first_id=chunk[1], last_id=chunk[2])
    assert services.broadcast_progress(broadcast=broadcast)["by_status"] == {"queued": 5}
    for _ in range(services.MAX_ATTEMPTS - 1):
        with pytest.raises(services.SendLater):
            services.deliveries_send_chunk(broadcast_id=chunk[0], first_id=chunk[1], last_id=chunk[2])
    assert services.broadcast_progress(broadcast=broadcast)["by_status"] == {"failed": 5}
    assert Delivery.objects.filter(error="WeCom timed out").count() == 5
    broadcast.refresh_from_db()
    assert broadcast.status == Broadcast.Status.FINISHED


def test_cancel_skips_everything_not_yet_handed_over(workspace, broadcast, buyers, held_chunks):
    services.broadcast_send(broadcast=broadcast)
    assert services.broadcast_cancel(broadcast=broadcast)
    services.broadcast_dispatch(broadcast_id=broadcast.pk)
    for chunk in held_chunks:
        tasks.deliveries_send_chunk(*chunk)
    assert OutboxMessage.objects.count() == 0
    assert services.broadcast_progress(broadcast=broadcast)["skipped"] == {"cancelled": 5}


def test_a_stalled_broadcast_is_dispatched_again_by_the_tick(workspace, broadcast, buyers, held_chunks, django_capture_on_commit_callbacks):
    services.broadcast_send(broadcast=broadcast)
    held_chunks.clear()  # the chunk tasks were lost with the broker
    Broadcast.objects.filter(pk=broadcast.pk).update(dispatched_at=timezone.now() - timedelta(minutes=10))
    services.broadcasts_tick()
    assert held_chunks
    for chunk in held_chunks:
        tasks.deliveries_send_chunk(*chunk)
    assert OutboxMessage.objects.count() == 5


def test_a_started_broadcast_cannot_be_sent_again(send, broadcast):
    send(broadcast)
    with pytest.raises(ValidationError, match="sent already"):
        services.broadcast_send(broadcast=broadcast)


# The manual channel ----------------------------------------------------------------------------------------------------


def test_through_the_manual_channel_each_customer_becomes_a_card_due_today(send, workspace, broadcast, buyers, outbox_account, owner):
    WeChatAccount.objects.filter(pk=outbox_account.pk).update(channel=WeChatAccount.Channel.MANUAL)
    send(broadcast)
    cards = ManualSend.objects.filter(account=outbox_account)
    assert cards.count() == 5
    assert {card.due_on for card in cards} == {timezone.localdate(timezone.now(), SHANGHAI)}
    assert services.broadcast_progress(broadcast=broadcast)["by_status"] == {"pending": 5}
    broadcast.refresh_from_db()
    assert broadcast.status == Broadcast.Status.FINISHED  # handed over; the staff report the rest

    first, second = cards.order_by("id")[:2]
    assert wechat.manual_send_mark(send=first, status=ManualSend.Status.SENT, actor=owner.user)
    assert not wechat.manual_send_mark(send=first, status=ManualSend.Status.SENT, actor=owner.user)
    wechat.manual_send_mark(send=second, status=ManualSend.Status.SKIPPED, actor=owner.user)
    progress = services.broadcast_progress(broadcast=broadcast)
    assert progress["by_status"] == {"pending": 3, "sent": 1, "skipped": 1}
    assert progress["skipped"] == {"by_staff": 1}
