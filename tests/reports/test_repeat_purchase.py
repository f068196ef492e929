"""The repeat-purchase figures against the hand-computed book (tests/reports/conftest.py).

In range 2026-01-01..2026-03-31 (Shanghai days), valid orders only:
    A 3 orders 300 (first 100, second 10 days later)   B 2 orders 280 (first 200, second the same day)
    C 1 order 300 (the refunded 500 left out)          D 2 orders 180 (first 120, second 18 days later)
    E 2 orders 50 (first 40, second 59 days later)     F 1 order 30          G none (10 minutes too early)
customers 6, repeat 4, rate 4/6, orders 11, revenue 1140, repeat revenue 810, median gap of 0, 10, 18, 59 = 14,
first orders 790 over 6 = 131.67, repeat orders 350 over 5 = 70.00.
"""

import json
from datetime import date
from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from crm import segments
from crm.models import Order
from reports.selectors import ReportFilter, median_of_counts, repeat_purchase
from tests.factories import WeChatAccountFactory

Q1 = ReportFilter(since=date(2026, 1, 1), until=date(2026, 3, 31))


def test_it_counts_every_figure_of_the_hand_computed_book(workspace, book):
    report = repeat_purchase(workspace=workspace, filters=Q1)
    assert report.customers == 6
    assert report.repeat_customers == 4
    assert report.repeat_rate == pytest.approx(0.6667)
    assert report.orders == 11
    assert report.revenue == Decimal("1140.00")
    assert report.repeat_revenue_share == pytest.approx(810 / 1140, abs=1e-4)
    assert report.median_days_to_second_order == 14.0
    assert report.average_first_order == Decimal("131.67")
    assert report.average_repeat_order == Decimal("70.00")
    assert report.orders_per_customer == {1: 2, 2: 3, 3: 1, 4: 0, 5: 0}


def test_it_counts_local_days_at_the_shanghai_midnight_boundary(workspace, book):
    new_years_day = repeat_purchase(workspace=workspace, filters=ReportFilter(since=date(2026, 1, 1),
                                                                              until=date(2026, 1, 1)))
    assert (new_years_day.customers, new_years_day.revenue) == (1, Decimal("30.00"))  # F at 00:10, not G at 23:50
    first_of_april = repeat_purchase(workspace=workspace, filters=ReportFilter(since=date(2026, 4, 1),
                                                                               until=date(2026, 4, 1)))
    assert first_of_april.revenue == Decimal("999.00")


def test_a_refunded_order_counts_nowhere(workspace, book):
    february_tenth = ReportFilter(since=date(2026, 2, 10), until=date(2026, 2, 10))
    assert repeat_purchase(workspace=workspace, filters=february_tenth).orders == 0


def test_it_narrows_by_channel_account_and_segment(workspace, book):
    Order.objects.filter(contact=book["a"]).update(channel=Order.Channel.TAOBAO)
    by_channel = repeat_purchase(workspace=workspace, filters=ReportFilter(
        since=Q1.since, until=Q1.until, channel=Order.Channel.TAOBAO))
    assert (by_channel.customers, by_channel.orders, by_channel.revenue) == (1, 3, Decimal("300.00"))

    other_account = WeChatAccountFactory(workspace=workspace)
    book["b"].owner_account = other_account
    book["b"].save()
    by_account = repeat_purchase(workspace=workspace, filters=ReportFilter(
        since=Q1.since, until=Q1.until, account_id=other_account.pk))
    assert (by_account.customers, by_account.revenue) == (1, Decimal("280.00"))

    big_spenders = segments.segment_create(workspace=workspace, name="大客户", rule={"version": 1, "root": {
        "op": "and", "children": [{"field": "total_spent", "op": ">=", "amount": "290"}]}})
    by_segment = repeat_purchase(workspace=workspace, filters=ReportFilter(
        since=Q1.since, until=Q1.until, segment_id=big_spenders.pk))
    # the segment counts every order, the refunded one too: A 300, C 800, E 1049
    assert (by_segment.customers, by_segment.revenue) == (3, Decimal("650.00"))


def test_an_empty_range_gives_zeros_and_no_ratios(workspace, book):
    report = repeat_purchase(workspace=workspace, filters=ReportFilter(since=date(2020, 1, 1), until=date(2020, 1, 2)))
    assert (report.customers, report.orders, report.revenue) == (0, 0, Decimal("0.00"))
    assert report.repeat_rate is None and report.median_days_to_second_order is None


def test_the_median_of_counts_takes_the_middle_value_or_the_mean_of_the_two():
    assert median_of_counts({}) is None
    assert median_of_counts({3: 1}) == 3
    assert median_of_counts({1: 2, 9: 1}) == 1
    assert median_of_counts({0: 1, 10: 1, 18: 1, 59: 1}) == 14
    assert median_of_counts({2: 3, 4: 3}) == 3


def test_the_command_prints_the_figures_as_one_json_object(workspace, book):
    out = StringIO()
    call_command("crm_report", "repeat-purchase", "--workspace", workspace.slug, "--since", "2026-01-01",
                 "--until", "2026-03-31", "--json", stdout=out)
    data = json.loads(out.getvalue())
    assert data["customers"] == 6
    assert data["repeat_customers"] == 4
    assert data["repeat_rate"] == pytest.approx(0.6667)
    assert data["orders"] == 11
    assert data["revenue"] == "1140.00"
    assert data["median_days_to_second_order"] == 14.0


def test_the_command_refuses_an_unknown_workspace_and_a_reversed_range(workspace):
    with pytest.raises(CommandError):
        call_command("crm_report", "repeat-purchase", "--workspace", "nobody", "--json")
    with pytest.raises(CommandError):
        call_command("crm_report", "repeat-purchase", "--workspace", workspace.slug, "--since", "2026-02-01",
                     "--until", "2026-01-01")
