"""Cohorts and RFM from the rollups, against the hand-computed book (tests/reports/conftest.py).

All valid orders by first order month (Shanghai): 2025-12 G; 2026-01 A, B, E, F (F's 00:10 on New Year's Day is
January here, December in UTC); 2026-02 C (00:30 on 1 February) and D (ordered before they were added).
January's cohort of 4: A again in February, E in March and April: 1/4 each month, revenue 500, 650, 660, 1659.
February's cohort of 2: D again in March: 1/2, revenue 420, 480.

RFM over the 7 customers, NTILE(5) fifths of 2, 2, 1, 1, 1:
    recency boundaries F (1 Jan), C (1 Feb), A (5 Feb), D (10 Mar): G 1, F 1, B 2, C 2, A 3, D 4, E 5
    frequency [1, 1, 1, 2, 2, 3, 3], boundaries 1, 2, 2, 3: one order 1, two 2, three 4
    groups: G (1,1) F (1,1) B (2,2) C (2,1) hibernating, A (3,4) loyal, D (4,2) potential loyalists, E (5,4) champions
"""

from datetime import date
from decimal import Decimal

from crm.segments import segment_count
from reports import rfm
from reports.models import CohortCell, CustomerRollup, OrderSequence, RollupState
from reports.rollups import rollups_are_stale, rollups_refresh
from reports.selectors import cohort_table
from reports.services import rfm_group_save_as_segment, rfm_group_tag

JUNE = date(2026, 6, 15)


def _cohorts(workspace, since=date(2025, 12, 1), until=date(2026, 12, 31)):
    return {row.cohort: row for row in cohort_table(workspace=workspace, since=since, until=until, today=JUNE)}


def test_cohorts_group_customers_by_their_first_local_month(workspace, book):
    rollups_refresh(workspace=workspace)
    cohorts = _cohorts(workspace)
    assert {month: row.customers for month, row in cohorts.items()} == {
        date(2025, 12, 1): 1, date(2026, 1, 1): 4, date(2026, 2, 1): 2,
    }


def test_cohort_retention_is_the_share_who_ordered_again_each_later_month(workspace, book):
    rollups_refresh(workspace=workspace)
    january, february = _cohorts(workspace)[date(2026, 1, 1)], _cohorts(workspace)[date(2026, 2, 1)]
    assert january.retention[:5] == [0.25, 0.25, 0.25, 0.0, 0.0]
    assert january.retention[5:] == [None] * 7  # July onwards has not happened yet
    assert february.retention[:4] == [0.5, 0.0, 0.0, 0.0]
    assert january.cumulative_revenue[:4] == [Decimal("500.00"), Decimal("650.00"), Decimal("660.00"),
                                              Decimal("1659.00")]
    assert february.total_revenue == Decimal("480.00")


def test_the_cohort_table_keeps_to_the_chosen_months(workspace, book):
    rollups_refresh(workspace=workspace)
    assert list(_cohorts(workspace, since=date(2026, 1, 15), until=date(2026, 1, 20))) == [date(2026, 1, 1)]


def test_rfm_scores_and_groups_follow_the_quintile_boundaries(workspace, book):
    state = rollups_refresh(workspace=workspace)
    assert state.rfm_cuts["f"] == ["1", "2", "2", "3"]
    scores = {
        row.contact_id: (row.r, row.f, row.m) for row in rfm.scored_customers(workspace=workspace, cuts=state.rfm_cuts)
    }
    assert scores[book["g"].pk][:2] == (1, 1)
    assert scores[book["f"].pk][:2] == (1, 1)
    assert scores[book["b"].pk][:2] == (2, 2)
    assert scores[book["c"].pk][:2] == (2, 1)
    assert scores[book["a"].pk] == (3, 4, 3)
    assert scores[book["d"].pk][:2] == (4, 2)
    assert scores[book["e"].pk] == (5, 4, 5)
    groups, grid = rfm.rfm_groups(workspace=workspace, cuts=state.rfm_cuts)
    counts = {group.key: group.customers for group in groups}
    assert counts == {"champions": 1, "loyal": 1, "potential_loyalists": 1, "new_customers": 0, "promising": 0,
                      "need_attention": 0, "about_to_sleep": 0, "cannot_lose": 0, "at_risk": 0, "hibernating": 4}
    assert sum(grid.values()) == 7


def test_every_cell_of_the_grid_belongs_to_exactly_one_group():
    cells = [cell for _label, group_cells in rfm.GROUPS.values() for cell in group_cells]
    assert sorted(cells) == [(r, f) for r in range(1, 6) for f in range(1, 6)]


def test_a_saved_rfm_group_is_a_segment_as_big_as_the_group(workspace, book, owner):
    rollups_refresh(workspace=workspace)
    segment, tag = rfm_group_save_as_segment(workspace=workspace, group="hibernating", actor=owner.user)
    assert rfm_group_tag(workspace=workspace, tag=tag, group="hibernating") == 4
    assert rfm_group_tag(workspace=workspace, tag=tag, group="hibernating") == 0  # a second run adds nothing
    assert segment_count(workspace=workspace, rule=segment.rule) == 4
    assert segment.name.startswith("RFM Hibernating ")


def test_a_refresh_run_twice_gives_the_same_rows(workspace, book):
    def snapshot():
        return (
            sorted(CustomerRollup.objects.filter(workspace=workspace).values_list(
                "contact_id", "first_order_at", "last_order_at", "order_count", "revenue")),
            sorted(CohortCell.objects.filter(workspace=workspace).values_list(
                "cohort", "months_later", "customers", "revenue")),
            sorted(OrderSequence.objects.filter(workspace=workspace).values_list(
                "order_id", "contact_id", "placed_at", "amount", "gap_days", "prev1_at", "prev2_at", "next_at")),
        )

    first = rollups_refresh(workspace=workspace)
    before = snapshot()
    second = rollups_refresh(workspace=workspace)
    assert snapshot() == before
    assert second.rfm_cuts == first.rfm_cuts
    assert first.customers == 7


def test_the_rollups_go_stale_when_the_book_changes(workspace, book):
    from crm.selectors import book_changed

    rollups_refresh(workspace=workspace)
    assert not rollups_are_stale(workspace=workspace)
    book_changed(workspace_id=workspace.pk)
    assert rollups_are_stale(workspace=workspace)


def test_the_beat_job_refreshes_only_workspaces_whose_book_changed(workspace, book):
    from crm.selectors import book_changed
    from reports.tasks import rollups_refresh_stale

    first = rollups_refresh_stale()
    assert first >= 1  # this workspace and the other shop of the fixture
    assert rollups_refresh_stale() == 0
    book_changed(workspace_id=workspace.pk)
    assert rollups_refresh_stale() == 1


def test_a_refresh_writes_one_sequence_per_valid_order_of_the_workspace(workspace, book):
    state = rollups_refresh(workspace=workspace)
    rows = OrderSequence.objects.filter(workspace=workspace)
    assert rows.count() == state.sequence_orders == 13  # 14 orders, C's refunded one left out
    assert not rows.filter(amount=500).exists()
    assert not OrderSequence.objects.exclude(workspace=workspace).exists()  # the other shop's are its own refresh's
    assert state.sequence_zone == "Asia/Shanghai"
    e_orders = list(rows.filter(contact=book["e"]).order_by("placed_at"))
    assert [row.gap_days for row in e_orders] == [None, 59, 1]  # 31 Jan 23:30, 31 Mar 23:59, 1 Apr 00:00:30
    assert e_orders[0].next_at == e_orders[1].placed_at and e_orders[2].next_at is None
    assert e_orders[2].prev2_at == e_orders[0].placed_at and e_orders[2].prev3_at is None


def test_rollups_written_before_the_order_sequences_existed_are_stale(workspace, book):
    from reports.tasks import rollups_refresh_stale

    rollups_refresh_stale()
    RollupState.objects.filter(workspace=workspace).update(sequence_zone="")
    assert rollups_are_stale(workspace=workspace)
    assert rollups_refresh_stale() == 1
    assert OrderSequence.objects.filter(workspace=workspace).count() == 13
