"""The order sequences (reports.models.OrderSequence) give the repeat-purchase figures the window query gives.

The window query over the orders (reports.selectors.repeat_purchase_from_orders) is the definition; the sequences
written by a refresh must give the same RepeatPurchase for every range and every account or segment filter: on the
hand-computed book, on a book of traps (ties on one instant, minutes either side of Shanghai midnight on the range's
edges, more orders than the distribution's last bar, a refund in the middle of a sequence, a merged duplicate,
another workspace's orders) and on a seeded random book.
"""

import random
from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from crm import segments
from crm.duplicates import contact_merge
from crm.models import Order
from crm.selectors import book_changed
from reports import selectors
from reports.models import OrderSequence, RollupState
from reports.rollups import rollups_are_stale, rollups_refresh
from reports.selectors import (
    ReportFilter, repeat_purchase, repeat_purchase_from_orders, repeat_purchase_from_sequences, sequences_to_use,
)
from tests.factories import ContactFactory, WeChatAccountFactory, WorkspaceFactory
from tests.reports.conftest import local, order

RANGES = [
    (date(2026, 1, 1), date(2026, 3, 31)),
    (date(2026, 1, 1), date(2026, 1, 1)),
    (date(2026, 1, 31), date(2026, 1, 31)),
    (date(2026, 2, 1), date(2026, 2, 1)),
    (date(2026, 2, 1), date(2026, 3, 31)),
    (date(2026, 3, 31), date(2026, 3, 31)),
    (date(2026, 3, 31), date(2026, 4, 1)),
    (date(2026, 4, 1), date(2026, 4, 30)),
    (date(2025, 12, 31), date(2026, 2, 10)),
    (date(2020, 1, 1), date(2030, 12, 31)),
    (date(2019, 1, 1), date(2019, 12, 31)),
]


def assert_same_figures(workspace, since, until, **filters):
    wanted = ReportFilter(since=since, until=until, **filters)
    from_orders = repeat_purchase_from_orders(workspace=workspace, filters=wanted)
    from_sequences = repeat_purchase_from_sequences(workspace=workspace, filters=wanted)
    assert from_sequences == from_orders, (since, until, filters)
    return from_sequences


@pytest.fixture
def traps(workspace, account, owner):
    """Contacts whose sequences trip an off-by-one: ties, midnight edges, long sequences, a refund, a merge."""
    def contact(name):
        return ContactFactory(workspace=workspace, owner_account=account, remark_name=name)

    edge = contact("edge")  # 23:59 on the last day of March, 00:01 on the first of April
    order(edge, local(2026, 3, 31, 23, 59), "11.00")
    order(edge, local(2026, 4, 1, 0, 1), "12.00")
    order(edge, local(2026, 1, 31, 23, 59), "13.00")
    ties = contact("ties")  # three orders at one instant, at the first moment of February: first is the lowest id
    order(ties, local(2026, 1, 31, 23, 59, 59), "1.00")
    for amount in ("10.00", "20.00", "30.00"):
        order(ties, local(2026, 2, 1, 0, 0), amount)
    order(ties, local(2026, 2, 1, 0, 1), "40.00")
    many = contact("many")  # seven orders, the fourth refunded: six sales, more than the last bar's five
    for n in range(7):
        placed_at = local(2026, 1, 3, 8) + timedelta(days=10 * n)  # 3 January to 4 March
        order(many, placed_at, f"{100 + n}.00", refunded_at=timezone.now() if n == 3 else None)
    survivor, duplicate = contact("survivor"), contact("duplicate")  # the duplicate's orders move into the survivor
    order(survivor, local(2026, 1, 20, 10), "50.00")
    order(duplicate, local(2026, 1, 5, 10), "60.00")
    order(duplicate, local(2026, 2, 25, 10), "70.00")
    contact_merge(survivor=survivor, duplicate=duplicate, actor=owner.user)
    elsewhere = ContactFactory(workspace=WorkspaceFactory(), remark_name="other shop")
    for day in (1, 2, 3):
        order(elsewhere, local(2026, 2, day, 0, 0), "777.00")
    return {"edge": edge, "ties": ties, "many": many, "survivor": survivor}


@pytest.mark.parametrize("since, until", RANGES)
def test_the_sequences_give_the_window_figures_on_the_hand_computed_book(workspace, book, since, until):
    rollups_refresh(workspace=workspace)
    assert_same_figures(workspace, since, until)


@pytest.mark.parametrize("since, until", RANGES)
def test_the_sequences_give_the_window_figures_on_the_traps(workspace, book, traps, since, until):
    rollups_refresh(workspace=workspace)
    assert_same_figures(workspace, since, until)


def test_ties_on_one_instant_are_numbered_by_id(workspace, traps):
    rollups_refresh(workspace=workspace)
    february_first = assert_same_figures(workspace, date(2026, 2, 1), date(2026, 2, 1))
    # ties: 10 (first, by id), 20, 30, 40 on 1 February; the 23:59:59 order the evening before is outside
    assert february_first.customers == 1
    assert february_first.orders_per_customer[4] == 1
    assert february_first.first_orders_revenue == Decimal("10.00")
    assert february_first.median_days_to_second_order == 0


def test_minutes_either_side_of_shanghai_midnight_fall_on_their_local_days(workspace, traps):
    rollups_refresh(workspace=workspace)
    march = assert_same_figures(workspace, date(2026, 3, 1), date(2026, 3, 31))
    april = assert_same_figures(workspace, date(2026, 4, 1), date(2026, 4, 1))
    assert (march.customers, march.repeat_customers) == (2, 0)  # edge's 23:59 and many's seventh
    assert (april.customers, april.revenue) == (1, Decimal("12.00"))
    both = assert_same_figures(workspace, date(2026, 3, 31), date(2026, 4, 1))
    assert (both.repeat_customers, both.median_days_to_second_order) == (1, 1)


def test_a_refund_leaves_a_hole_the_sequence_closes(workspace, traps):
    rollups_refresh(workspace=workspace)
    rows = list(OrderSequence.objects.filter(contact=traps["many"]).order_by("placed_at"))
    assert len(rows) == 6
    assert rows[3].prev1_at == local(2026, 1, 23, 8)  # the refunded 2 February order is no step of the sequence
    assert rows[3].gap_days == 20
    january_to_march = assert_same_figures(workspace, date(2026, 1, 1), date(2026, 3, 31))
    assert january_to_march.orders_per_customer[5] == 2  # many's six sales and ties' five


def test_a_merged_duplicates_orders_count_as_the_survivors(workspace, traps):
    rollups_refresh(workspace=workspace)
    rows = list(OrderSequence.objects.filter(contact=traps["survivor"]).order_by("placed_at"))
    assert [(row.amount, row.gap_days) for row in rows] == [
        (Decimal("60.00"), None), (Decimal("50.00"), 15), (Decimal("70.00"), 36),
    ]
    assert not OrderSequence.objects.filter(contact__merged_into=traps["survivor"]).exists()
    assert_same_figures(workspace, date(2026, 1, 1), date(2026, 1, 31))


def test_another_workspaces_orders_never_count(workspace, traps):
    other = Order.objects.exclude(workspace=workspace).first().workspace
    rollups_refresh(workspace=workspace)
    rollups_refresh(workspace=other)
    assert not OrderSequence.objects.filter(workspace=workspace).exclude(contact__workspace=workspace).exists()
    everything = assert_same_figures(workspace, date(2020, 1, 1), date(2030, 12, 31))
    assert everything.revenue == sum(
        Order.objects.filter(workspace=workspace, refunded_at__isnull=True).values_list("amount", flat=True)
    )
    theirs = repeat_purchase_from_sequences(workspace=other, filters=ReportFilter(
        since=date(2020, 1, 1), until=date(2030, 12, 31)))
    assert (theirs.customers, theirs.orders, theirs.revenue) == (1, 3, Decimal("2331.00"))


def test_the_account_and_segment_filters_narrow_the_sequences_as_the_orders(workspace, book, traps):
    other_account = WeChatAccountFactory(workspace=workspace)
    for contact in (book["b"], traps["ties"], traps["many"]):
        contact.owner_account = other_account
        contact.save()
    big_spenders = segments.segment_create(workspace=workspace, name="大客户", rule={"version": 1, "root": {
        "op": "and", "children": [{"field": "total_spent", "op": ">=", "amount": "100"}]}})
    rollups_refresh(workspace=workspace)
    for since, until in RANGES:
        assert_same_figures(workspace, since, until, account_id=other_account.pk)
        assert_same_figures(workspace, since, until, segment_id=big_spenders.pk)
        assert_same_figures(workspace, since, until, account_id=other_account.pk, segment_id=big_spenders.pk)


def test_the_sequences_give_the_window_figures_on_a_random_book(workspace):
    """A seeded book: 60 customers, up to 12 orders each on a few instants either side of Shanghai midnight (ties
    are common), one order in eight refunded, two accounts; 40 random ranges and the account filter."""
    rng = random.Random(20261123)
    accounts = [WeChatAccountFactory(workspace=workspace) for _ in range(2)]
    contacts = [ContactFactory(workspace=workspace, owner_account=rng.choice(accounts)) for _ in range(60)]
    moments = [(0, 0), (0, 1), (12, 0), (23, 59)]
    rows = []
    for contact in contacts:
        for _ in range(rng.choice([0, 1, 1, 2, 3, 5, 6, 8, 12])):
            day = date(2025, 12, 1) + timedelta(days=rng.randrange(0, 150))
            hour, minute = rng.choice(moments)
            rows.append(Order(
                workspace=workspace, contact=contact, amount=Decimal(rng.randrange(100, 50000)) / 100,
                placed_at=local(day.year, day.month, day.day, hour, minute),
                refunded_at=timezone.now() if rng.random() < 0.125 else None,
            ))
    Order.objects.bulk_create(rows)
    rollups_refresh(workspace=workspace)
    for _ in range(40):
        since = date(2025, 11, 25) + timedelta(days=rng.randrange(0, 160))
        until = since + timedelta(days=rng.choice([0, 1, 6, 30, 90, 400]))
        assert_same_figures(workspace, since, until)
        assert_same_figures(workspace, since, until, account_id=accounts[0].pk)


def sequence_rows(workspace):
    return sorted(OrderSequence.objects.filter(workspace=workspace).values_list(
        "order_id", "contact_id", "placed_at", "amount", "gap_days", "prev1_at", "prev2_at", "prev3_at", "prev4_at",
        "prev5_at", "next_at",
    ))


def test_a_refresh_rewrites_the_contacts_whose_orders_changed_as_a_full_rewrite_would(workspace, book, traps, owner):
    rollups_refresh(workspace=workspace)
    untouched = OrderSequence.objects.get(contact=book["g"]).pk
    order(book["a"], local(2026, 1, 15, 10), "35.00")  # a new order in the middle of A's sequence
    Order.objects.filter(contact=book["b"], amount=80).update(refunded_at=timezone.now())  # a refund
    Order.objects.filter(contact=book["c"]).update(refunded_at=None)  # a refund undone
    Order.objects.filter(contact=book["d"], amount=60).update(placed_at=local(2026, 2, 20, 12))  # a tie now
    Order.objects.filter(contact=book["f"]).update(amount=Decimal("31.00"))  # a corrected amount
    contact_merge(survivor=book["e"], duplicate=traps["edge"], actor=owner.user)  # orders move between contacts
    traps["ties"].delete()  # its orders go with it
    state = rollups_refresh(workspace=workspace)
    incremental = sequence_rows(workspace)
    assert OrderSequence.objects.get(contact=book["g"]).pk == untouched  # G's orders did not change: not rewritten
    assert state.sequence_orders == len(incremental)
    RollupState.objects.filter(workspace=workspace).update(sequence_zone="")  # force every row to be rewritten
    rollups_refresh(workspace=workspace)
    assert sequence_rows(workspace) == incremental
    for since, until in RANGES:
        assert_same_figures(workspace, since, until)


# Which path answers ---------------------------------------------------------------------------------------------


def test_the_report_is_counted_from_the_orders_until_a_refresh_has_written_the_sequences(workspace, book):
    q1 = ReportFilter(since=date(2026, 1, 1), until=date(2026, 3, 31))
    assert sequences_to_use(workspace=workspace, filters=q1) is None
    assert repeat_purchase(workspace=workspace, filters=q1).as_of is None
    state = rollups_refresh(workspace=workspace)
    assert sequences_to_use(workspace=workspace, filters=q1) == state
    report = repeat_purchase(workspace=workspace, filters=q1)
    assert report.as_of == state.refreshed_at
    assert (report.customers, report.repeat_customers, report.revenue) == (6, 4, Decimal("1140.00"))
    assert report.as_json()["fresh_as_of"] == state.refreshed_at.isoformat()


def test_a_channel_filter_is_always_counted_from_the_orders(workspace, book):
    rollups_refresh(workspace=workspace)
    by_channel = ReportFilter(since=date(2026, 1, 1), until=date(2026, 3, 31), channel=Order.Channel.WECHAT)
    assert sequences_to_use(workspace=workspace, filters=by_channel) is None
    assert repeat_purchase(workspace=workspace, filters=by_channel).as_of is None
    with pytest.raises(ValueError):
        repeat_purchase_from_sequences(workspace=workspace, filters=by_channel)


def test_a_small_shop_whose_book_changed_is_counted_live(workspace, book):
    q1 = ReportFilter(since=date(2026, 1, 1), until=date(2026, 3, 31))
    rollups_refresh(workspace=workspace)
    order(book["f"], local(2026, 3, 1, 10), "70.00")
    book_changed(workspace_id=workspace.pk)
    report = repeat_purchase(workspace=workspace, filters=q1)
    assert (report.repeat_customers, report.as_of) == (5, None)


def test_a_big_shop_whose_book_changed_gets_the_last_refresh_until_the_next(workspace, book, monkeypatch):
    monkeypatch.setattr(selectors, "LIVE_COUNT_MAX_ORDERS", 0)
    q1 = ReportFilter(since=date(2026, 1, 1), until=date(2026, 3, 31))
    first = rollups_refresh(workspace=workspace)
    order(book["f"], local(2026, 3, 1, 10), "70.00")
    book_changed(workspace_id=workspace.pk)
    before = repeat_purchase(workspace=workspace, filters=q1)
    assert (before.repeat_customers, before.as_of) == (4, first.refreshed_at)
    second = rollups_refresh(workspace=workspace)
    after = repeat_purchase(workspace=workspace, filters=q1)  # not the cached figures of the earlier rollups
    assert (after.repeat_customers, after.as_of) == (5, second.refreshed_at)


def test_sequences_written_in_another_time_zone_are_not_used(workspace, book):
    q1 = ReportFilter(since=date(2026, 1, 1), until=date(2026, 3, 31))
    rollups_refresh(workspace=workspace)
    workspace.time_zone = "Europe/London"
    workspace.save()
    assert sequences_to_use(workspace=workspace, filters=q1) is None
    assert rollups_are_stale(workspace=workspace)
    rollups_refresh(workspace=workspace)
    assert sequences_to_use(workspace=workspace, filters=q1) is not None
    assert_same_figures(workspace, q1.since, q1.until)
