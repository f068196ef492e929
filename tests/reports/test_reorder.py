"""Customers due to reorder (their own interval, or the workspace's median with one order) and the follow-up.

Days from first to second order: regular 30, overdue 20, quick 5, opted out 20, deleted 20: the median is 20.
"""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from crm.models import ManualSend, Member, OutboxMessage, WeChatAccount
from reports import reorder
from reports.models import ReorderNudge
from reports.rollups import rollups_refresh
from tests.factories import ContactFactory, MemberFactory, OrderFactory, WeChatAccountFactory


def days_ago(n: float):
    return timezone.now() - timedelta(days=n)


@pytest.fixture
def customers(workspace, account):
    def customer(name, *order_days, **extra):
        contact = ContactFactory(workspace=workspace, owner_account=account, remark_name=name,
                                 added_at=days_ago(400), **extra)
        for days in order_days:
            OrderFactory(contact=contact, placed_at=days_ago(days), amount=Decimal("99.00"))
        return contact

    people = {
        "regular": customer("regular", 70, 40, 10),  # every 30 days, last 10 days ago: not yet
        "overdue": customer("overdue", 100, 80, 60),  # every 20 days, last 60 days ago: due
        "quick": customer("quick", 50, 45),  # every 5 days, last 45 days ago: due
        "one_recent": customer("one_recent", 10),  # one order 10 days ago, median 20: not yet
        "one_old": customer("one_old", 30),  # one order 30 days ago, median 20: due
        "opted_out": customer("opted_out", 300, 280, opted_out_at=days_ago(1)),
        "deleted": customer("deleted", 300, 280, friend_deleted_at=days_ago(1)),
    }
    OrderFactory(contact=people["one_recent"], placed_at=days_ago(5), refunded_at=timezone.now())  # no sale
    rollups_refresh(workspace=workspace)
    return people


def due_names(member) -> set[str]:
    return {r.contact.remark_name for r in reorder.due_to_reorder(member=member)}


def test_customers_are_due_by_their_own_interval_or_the_workspace_median(owner, customers):
    assert reorder.workspace_median_gap(workspace=owner.workspace, today=timezone.localdate()) == 20
    assert due_names(owner) == {"overdue", "quick", "one_old"}


def test_each_row_shows_the_usual_interval(owner, customers):
    rows = reorder.due_rows(rollups=reorder.due_to_reorder(member=owner), median_gap=20, nudged_ids=set())
    assert {row.contact.remark_name: round(row.interval_days) for row in rows} == {
        "overdue": 20, "quick": 5, "one_old": 20,
    }


def test_queueing_a_follow_up_twice_makes_one_send_today_card(owner, customers):
    contact = customers["overdue"]
    assert reorder.reorder_follow_up(member=owner, contact_ids=[contact.pk]) == 1
    assert reorder.reorder_follow_up(member=owner, contact_ids=[contact.pk]) == 0
    card = ManualSend.objects.get(contact=contact)
    assert card.text.startswith("overdue，")
    assert ReorderNudge.objects.filter(contact=contact).count() == 1


def test_an_outbox_account_gets_one_outbox_message(owner, customers, account):
    WeChatAccount.objects.filter(pk=account.pk).update(channel=WeChatAccount.Channel.OUTBOX)
    ids = [customers["quick"].pk, customers["one_old"].pk]
    assert reorder.reorder_follow_up(member=owner, contact_ids=ids + ids) == 2
    assert OutboxMessage.objects.filter(contact_id__in=ids).count() == 2


def test_opted_out_lost_and_not_due_customers_get_nothing(owner, customers):
    ids = [customers[name].pk for name in ("opted_out", "deleted", "regular")]
    assert reorder.reorder_follow_up(member=owner, contact_ids=ids) == 0
    assert not ManualSend.objects.exists()


def test_limited_staff_see_and_nudge_only_their_accounts_customers(workspace, customers):
    other_account = WeChatAccountFactory(workspace=workspace)
    limited = MemberFactory(workspace=workspace, role=Member.Role.STAFF, limited_to_assigned_accounts=True)
    limited.assigned_accounts.add(other_account)
    assert due_names(limited) == set()
    assert reorder.reorder_follow_up(member=limited, contact_ids=[customers["overdue"].pk]) == 0
