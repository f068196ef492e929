"""Lifecycle stages from behaviour, their timeline events, a segment on stage, and the lost-customer digest.

Default thresholds: engaged within 30 days, VIP at 5 orders or ¥2000, dormant after 90 days without an order, lost
after 180 days without anything.
"""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from crm import segments
from crm.models import Contact, TimelineEvent
from crm.selectors import contact_timeline
from reports import lifecycle, tasks
from reports.models import LifecycleSettings
from tests.factories import ContactFactory, OrderFactory, WorkspaceFactory

Stage = Contact.Stage


def days_ago(n: float):
    return timezone.now() - timedelta(days=n)


def order(contact, days, amount="100.00", **extra):
    return OrderFactory(contact=contact, placed_at=days_ago(days), amount=Decimal(amount), **extra)


@pytest.fixture
def people(workspace, account):
    def contact(name, added=400, **extra):
        return ContactFactory(workspace=workspace, owner_account=account, remark_name=name, added_at=days_ago(added),
                              **extra)

    p = {
        "new": contact("new", added=3),
        "engaged": contact("engaged", added=60),
        "first": contact("first"),
        "refunded": contact("refunded"),
        "repeat": contact("repeat"),
        "vip_spend": contact("vip_spend"),
        "vip_count": contact("vip_count"),
        "dormant": contact("dormant"),
        "deleted": contact("deleted", friend_deleted_at=days_ago(2)),
        "silent": contact("silent"),
    }
    TimelineEvent.objects.create(workspace=workspace, contact=p["engaged"], kind=TimelineEvent.Kind.REPLY,
                                 occurred_at=days_ago(5))
    order(p["first"], 10)
    order(p["refunded"], 10)
    order(p["refunded"], 5, refunded_at=timezone.now())  # refunded: one valid order, not two
    order(p["repeat"], 40)
    order(p["repeat"], 10)
    order(p["vip_spend"], 40, "1500.00")
    order(p["vip_spend"], 10, "600.00")
    for days in (50, 40, 30, 20, 10):
        order(p["vip_count"], days)
    order(p["dormant"], 150)
    order(p["dormant"], 120)
    order(p["deleted"], 5)  # a recent order does not bring back a friend who deleted us
    order(p["silent"], 200)
    p["duplicate"] = contact("duplicate", merged_into=p["first"])
    return p


def stages(people):
    return {name: Contact.objects.get(pk=c.pk).stage for name, c in people.items()}


def test_stages_follow_orders_interactions_refunds_and_deleted_friends(workspace, people):
    changed = lifecycle.stages_refresh(workspace=workspace)
    assert stages(people) == {
        "new": Stage.NEW, "engaged": Stage.ENGAGED, "first": Stage.FIRST_ORDER, "refunded": Stage.FIRST_ORDER,
        "repeat": Stage.REPEAT, "vip_spend": Stage.VIP, "vip_count": Stage.VIP, "dormant": Stage.DORMANT,
        "deleted": Stage.LOST, "silent": Stage.LOST, "duplicate": Stage.NEW,  # merged: left as it was
    }
    assert changed == 9


def test_a_second_pass_changes_nothing_and_writes_no_second_event(workspace, people):
    lifecycle.stages_refresh(workspace=workspace)
    events = TimelineEvent.objects.filter(kind=TimelineEvent.Kind.STAGE_CHANGED).count()
    assert lifecycle.stages_refresh(workspace=workspace) == 0
    assert TimelineEvent.objects.filter(kind=TimelineEvent.Kind.STAGE_CHANGED).count() == events == 9


def test_a_stage_change_appears_on_the_timeline_with_the_stage_names(workspace, people):
    lifecycle.stages_refresh(workspace=workspace)
    entry = next(e for e in contact_timeline(contact=people["vip_spend"]) if e.kind == "stage_changed")
    assert entry.label == "Stage changed"
    assert entry.body == "New friend → VIP"


def test_a_segment_on_stage_finds_the_recomputed_contacts(workspace, people):
    lifecycle.stages_refresh(workspace=workspace)
    rule = {"version": 1, "root": {"op": "and", "not": False, "children": [
        {"field": "stage", "not": False, "values": [Stage.VIP]}]}}
    found = set(segments.segment_contacts(workspace=workspace, rule=rule).values_list("pk", flat=True))
    assert found == {people["vip_spend"].pk, people["vip_count"].pk}


def test_the_sellers_thresholds_move_the_stages(workspace, people):
    LifecycleSettings.objects.create(workspace=workspace, vip_orders=2, dormant_days=200, lost_days=300)
    lifecycle.stages_refresh(workspace=workspace)
    found = stages(people)
    assert found["repeat"] == Stage.VIP
    assert found["dormant"] == Stage.VIP
    assert found["silent"] == Stage.DORMANT  # its order is 200 days old: not lost before 300


def test_the_pass_leaves_other_workspaces_alone(workspace, people):
    elsewhere = ContactFactory(workspace=WorkspaceFactory(), added_at=days_ago(400))
    order(elsewhere, 10)
    lifecycle.stages_refresh(workspace=workspace)
    assert Contact.objects.get(pk=elsewhere.pk).stage == Stage.NEW


def test_the_daily_task_refreshes_every_workspace(workspace, people):
    assert tasks.stages_refresh_all.delay().get() == 9


def test_the_digest_lists_friends_who_deleted_us_and_vips_gone_dormant(workspace, people):
    lifecycle.stages_refresh(workspace=workspace)
    vip = people["vip_spend"]
    # Two months later without an order the VIP is dormant.
    lifecycle.stages_refresh(workspace=workspace, now=timezone.now() + timedelta(days=85))
    assert Contact.objects.get(pk=vip.pk).stage == Stage.DORMANT
    digest = lifecycle.lost_digest(workspace=workspace, now=timezone.now() + timedelta(days=85))
    assert vip in digest.vips_gone_dormant
    assert people["repeat"] not in digest.vips_gone_dormant  # dormant, but never a VIP
    assert lifecycle.lost_digest(workspace=workspace).deleted_us == [people["deleted"]]
    weeks_later = lifecycle.lost_digest(workspace=workspace, now=timezone.now() + timedelta(days=100))
    assert weeks_later.vips_gone_dormant == [] and weeks_later.deleted_us == []
