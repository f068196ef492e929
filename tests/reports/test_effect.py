"""The effect of broadcasts and moments posts: the audience's valid orders in the N days before and after each send,
against a hand-counted book; the effect table, its export and the command as owner, limited staff and outsider.

Orders (Asia/Shanghai; x, y, z, w friends of the account since 2026-01-01):

    x  02-05 12:00 100.00 · 02-10 10:00 50.00 · 02-12 12:00 500.00 refunded · 02-17 10:00 70.00
    y  02-03 09:59 11.00 · 02-03 10:00 20.00 · 02-11 12:00 30.00 · 02-13 09:00 45.00
    z  02-11 15:00 999.00          late (added 02-12)  02-13 12:00 300.00
    stranger (another account)  02-11 12:00 77.00       another workspace  02-11 12:00 888.00

Broadcast "开年" started 02-10 10:00, sent to x and y (z skipped, w failed); N = 7:
    before [02-03 10:00, 02-10 10:00): x 100, y 20                 2 orders, 120.00, 2 customers
    after  [02-10 10:00, 02-17 10:00): x 50 (at the send), y 30, y 45   3 orders, 125.00, 2 customers
    (y 11.00 is a minute too early; x 70.00 is exactly 7 days after: outside; z's 999 was never sent to)
  N = 3: before nothing; after x 50, y 30, y 45.
Broadcast "情人节" started 02-12 10:00, sent to x (a contact in two broadcasts); N = 7:
    before x 100, x 50: 2 orders, 150.00, 1 customer; after x 70 (the refund is no order): 1, 70.00, 1.
Moments post published 02-11 20:00 from the account to everyone; audience x, y, z, w (late was not a friend yet,
the stranger is another account's friend); N = 7:
    before [02-04 20:00, 02-11 20:00): x 100, x 50, y 30, z 999   4 orders, 1179.00, 3 customers
    after  [02-11 20:00, 02-18 20:00): y 45, x 70                 2 orders, 115.00, 2 customers
"""

import csv
import io
import json
from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.core.management import call_command
from django.urls import reverse
from django.utils import timezone
from openpyxl import load_workbook

from campaigns.models import Broadcast, Delivery
from crm import selectors as crm_selectors
from moments.models import Post, Publication
from reports import effect
from reports.acquisition import AcquisitionFilter
from tests.factories import ContactFactory, WeChatAccountFactory, WorkspaceFactory
from tests.reports.conftest import local, order

EFFECT = reverse("reports:campaign_effect")
WEEK = {"since": "2026-02-09", "until": "2026-02-15"}


def _filters(days=7):
    return AcquisitionFilter(since=date(2026, 2, 9), until=date(2026, 2, 15), days=days)


def _broadcast(workspace, name, started, sent, status=Broadcast.Status.FINISHED, others=()):
    broadcast = Broadcast.objects.create(workspace=workspace, name=name, status=status, started_at=started,
                                         finished_at=started)
    rows = [(contact, Delivery.Status.SENT) for contact in sent] + list(others)
    Delivery.objects.bulk_create([
        Delivery(workspace=workspace, broadcast=broadcast, contact=contact, account_id=contact.owner_account_id,
                 status=status) for contact, status in rows
    ])
    return broadcast


def _publication(workspace, account, when, status=Publication.Status.PUBLISHED, text="新品海参到货"):
    post = Post.objects.create(workspace=workspace, text=text, status=Post.Status.SCHEDULED, scheduled_at=when)
    return Publication.objects.create(workspace=workspace, post=post, account=account, status=status,
                                      published_at=when if status == Publication.Status.PUBLISHED else None)


@pytest.fixture
def sends(workspace, account):
    def friend(name, added=local(2026, 1, 1)):
        return ContactFactory(workspace=workspace, owner_account=account, remark_name=name, added_at=added)

    x, y, z, w = friend("x"), friend("y"), friend("z"), friend("w")
    late = friend("late", added=local(2026, 2, 12))
    stranger = ContactFactory(workspace=workspace, owner_account=WeChatAccountFactory(workspace=workspace),
                              added_at=local(2026, 1, 1))
    order(x, local(2026, 2, 5, 12), "100.00")
    order(x, local(2026, 2, 10, 10), "50.00")
    order(x, local(2026, 2, 12, 12), "500.00", refunded_at=timezone.now())
    order(x, local(2026, 2, 17, 10), "70.00")
    order(y, local(2026, 2, 3, 9, 59), "11.00")
    order(y, local(2026, 2, 3, 10), "20.00")
    order(y, local(2026, 2, 11, 12), "30.00")
    order(y, local(2026, 2, 13, 9), "45.00")
    order(z, local(2026, 2, 11, 15), "999.00")
    order(late, local(2026, 2, 13, 12), "300.00")
    order(stranger, local(2026, 2, 11, 12), "77.00")
    elsewhere = ContactFactory(workspace=WorkspaceFactory(), added_at=local(2026, 1, 1))
    order(elsewhere, local(2026, 2, 11, 12), "888.00")

    new_year = _broadcast(workspace, "开年", local(2026, 2, 10, 10), [x, y],
                          others=[(z, Delivery.Status.SKIPPED), (w, Delivery.Status.FAILED)])
    valentine = _broadcast(workspace, "情人节", local(2026, 2, 12, 10), [x])
    post = _publication(workspace, account, local(2026, 2, 11, 20))
    # Not in the table: a draft and a cancelled broadcast, a skipped post, sends outside the range, and another
    # workspace's broadcast to its own contact.
    _broadcast(workspace, "草稿", None, [], status=Broadcast.Status.DRAFT)
    _broadcast(workspace, "取消", local(2026, 2, 11, 10), [x], status=Broadcast.Status.CANCELLED)
    _publication(workspace, account, local(2026, 2, 12, 20), status=Publication.Status.SKIPPED)
    _broadcast(workspace, "上周", local(2026, 2, 8, 23, 59), [x])
    other = elsewhere.workspace
    _broadcast(other, "别家群发", local(2026, 2, 11, 10), [elsewhere])
    return {"new_year": new_year, "valentine": valentine, "post": post}


def _rows(workspace, days=7) -> dict:
    return {(row.kind, row.name): row for row in effect.campaign_effect(workspace=workspace,
                                                                        filters=_filters(days)).rows}


def test_only_finished_broadcasts_and_published_posts_of_the_range_count(workspace, sends):
    rows = effect.campaign_effect(workspace=workspace, filters=_filters()).rows
    assert [(row.kind, row.name) for row in rows] == [
        ("broadcast", "情人节"), ("moments", "新品海参到货 · 海味小张"), ("broadcast", "开年"),
    ]


def test_a_broadcasts_audience_is_the_contacts_it_was_sent_to(workspace, sends):
    assert _rows(workspace)[("broadcast", "开年")].audience == 2


def test_orders_before_and_after_a_broadcast_leave_out_refunds_and_the_order_exactly_n_days_after(workspace, sends):
    row = _rows(workspace)[("broadcast", "开年")]
    assert row.before == effect.Window(orders=2, revenue=Decimal("120.00"), customers=2)
    assert row.after == effect.Window(orders=3, revenue=Decimal("125.00"), customers=2)
    assert (row.orders_difference, row.revenue_difference, row.customers_difference) == (1, Decimal("5.00"), 0)
    assert row.complete


def test_the_window_follows_the_days_chosen(workspace, sends):
    row = _rows(workspace, days=3)[("broadcast", "开年")]
    assert row.before == effect.Window(orders=0, revenue=Decimal("0.00"), customers=0)
    assert row.after == effect.Window(orders=3, revenue=Decimal("125.00"), customers=2)


def test_a_contact_in_two_broadcasts_counts_in_each(workspace, sends):
    row = _rows(workspace)[("broadcast", "情人节")]
    assert row.audience == 1
    assert row.before == effect.Window(orders=2, revenue=Decimal("150.00"), customers=1)
    assert row.after == effect.Window(orders=1, revenue=Decimal("70.00"), customers=1)


def test_a_moments_posts_audience_is_its_accounts_friends_added_before_it(workspace, sends):
    row = _rows(workspace)[("moments", "新品海参到货 · 海味小张")]
    assert row.audience == 4
    assert row.before == effect.Window(orders=4, revenue=Decimal("1179.00"), customers=3)
    assert row.after == effect.Window(orders=2, revenue=Decimal("115.00"), customers=2)


def test_a_send_whose_days_have_not_passed_is_marked_incomplete(workspace, account):
    _publication(workspace, account, timezone.now() - timedelta(days=1))
    today = timezone.localdate()
    filters = AcquisitionFilter(since=today - timedelta(days=2), until=today)
    rows = effect.campaign_effect(workspace=workspace, filters=filters).rows
    assert [row.complete for row in rows] == [False]


def test_a_send_whose_days_have_passed_is_not_recounted_when_the_book_changes(workspace, sends,
                                                                           django_assert_num_queries):
    effect.campaign_effect(workspace=workspace, filters=_filters())
    crm_selectors.book_changed(workspace_id=workspace.pk)
    with django_assert_num_queries(2):  # the broadcasts and the posts of the range; no order is read
        rows = effect.campaign_effect(workspace=workspace, filters=_filters()).rows
    assert len(rows) == 3


def test_a_running_send_is_recounted_when_the_book_changes(workspace, account):
    x = ContactFactory(workspace=workspace, owner_account=account, added_at=local(2026, 1, 1))
    _broadcast(workspace, "今天", timezone.now() - timedelta(hours=1), [x])
    today = timezone.localdate()
    filters = AcquisitionFilter(since=today - timedelta(days=1), until=today)
    assert effect.campaign_effect(workspace=workspace, filters=filters).rows[0].after.orders == 0
    order(x, timezone.now(), "10.00")
    crm_selectors.book_changed(workspace_id=workspace.pk)
    assert effect.campaign_effect(workspace=workspace, filters=filters).rows[0].after.orders == 1


def test_the_page_counts_ten_sends_at_a_time(workspace, account):
    for n in range(12):
        _broadcast(workspace, f"群发{n}", local(2026, 2, 9, 8 + n), [])
    first = effect.campaign_effect(workspace=workspace, filters=_filters(), page=1)
    second = effect.campaign_effect(workspace=workspace, filters=_filters(), page=2)
    assert (len(first.rows), len(second.rows), first.pages) == (10, 2, 2)
    assert first.rows[0].name == "群发11" and second.rows[-1].name == "群发0"
    assert len(effect.campaign_effect(workspace=workspace, filters=_filters()).rows) == 12


def test_without_the_sending_apps_there_are_no_rows(workspace, sends, monkeypatch):
    monkeypatch.setattr(effect.apps, "is_installed", lambda name: False)
    assert effect.campaign_effect(workspace=workspace, filters=_filters()).rows == []


def test_the_command_prints_each_send_as_json(workspace, sends):
    out = io.StringIO()
    call_command("crm_report", "campaign-effect", "--workspace", workspace.slug, "--since", "2026-02-09",
                 "--until", "2026-02-15", "--days", "7", "--json", stdout=out)
    data = json.loads(out.getvalue())
    assert data["days"] == 7 and len(data["sends"]) == 3
    new_year = next(send for send in data["sends"] if send["name"] == "开年")
    assert new_year["audience"] == 2
    assert new_year["before"] == {"orders": 2, "revenue": "120.00", "customers": 2}
    assert new_year["after"] == {"orders": 3, "revenue": "125.00", "customers": 2}
    assert new_year["difference"] == {"orders": 1, "revenue": "5.00", "customers": 0}


# The table -------------------------------------------------------------------------------------------------------


def test_the_owner_gets_the_effect_table(owner_client, sends):
    html = owner_client.get(EFFECT, WEEK, HTTP_HX_REQUEST="true").content.decode()
    row = html.split(f'id="effect-broadcast-{sends["new_year"].pk}"')[1].split("</tr>")[0]
    assert "2 → 3" in row and ">+1<" in row and "+¥5.00" in row


def test_a_teammate_gets_it_too(teammate_client, sends):
    assert teammate_client.get(EFFECT, WEEK).status_code == 200


def test_staff_limited_to_some_accounts_are_refused(limited_client, sends):
    assert limited_client.get(EFFECT, WEEK).status_code == 403
    assert limited_client.get(reverse("reports:export", args=["effect", "csv"]), WEEK).status_code == 403


def test_an_outsider_sees_none_of_our_sends(outsider_client, sends):
    html = outsider_client.get(EFFECT, WEEK).content.decode()
    assert "开年" not in html and "别家群发" not in html


def test_the_days_come_from_the_filter(owner_client, sends):
    html = owner_client.get(EFFECT, {**WEEK, "days": "3"}).content.decode()
    row = html.split(f'id="effect-broadcast-{sends["new_year"].pk}"')[1].split("</tr>")[0]
    assert "0 → 3" in row


def test_the_effect_exports_as_csv_and_excel(owner_client, sends):
    as_csv = owner_client.get(reverse("reports:export", args=["effect", "csv"]), WEEK, HTTP_ACCEPT_LANGUAGE="en")
    rows = list(csv.reader(io.StringIO(b"".join(as_csv.streaming_content).decode("utf-8-sig"))))
    new_year = next(row for row in rows if row[1] == "开年")
    assert new_year[2:] == ["2026-02-10 10:00", "7", "2", "2", "3", "1", "120.00", "125.00", "5.00", "2", "2",
                            "Yes"]
    as_xlsx = owner_client.get(reverse("reports:export", args=["effect", "xlsx"]), WEEK)
    assert load_workbook(io.BytesIO(b"".join(as_xlsx.streaming_content))).active.max_row == 4


def test_a_broadcast_named_like_a_formula_is_exported_as_text(owner_client, sends):
    Broadcast.objects.filter(pk=sends["new_year"].pk).update(name="=1+1")
    rows = list(csv.reader(io.StringIO(b"".join(owner_client.get(
        reverse("reports:export", args=["effect", "csv"]), WEEK).streaming_content).decode("utf-8-sig"))))
    assert "'=1+1" in [row[1] for row in rows]


def test_the_table_pages_through_the_sends(owner_client, workspace):
    for n in range(12):
        _broadcast(workspace, f"群发{n}", local(2026, 2, 9, 8 + n), [])
    first = owner_client.get(EFFECT, WEEK, HTTP_HX_REQUEST="true").content.decode()
    assert "群发11" in first and "群发1<" not in first and "page=2" in first
    second = owner_client.get(EFFECT, {**WEEK, "page": "2"}).content.decode()
    assert "群发1 " in second.replace("<", " ") and "群发11" not in second
