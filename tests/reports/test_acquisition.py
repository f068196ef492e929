"""New contacts per week by source, the referral share, and the referral campaigns' K-factor and saving, against a
hand-counted book; the acquisition page and its exports as owner, teammate, limited staff and outsider.

The weeks are 2026-01-05 (Monday) to 2026-01-18 (Sunday), Asia/Shanghai:

| week       | referral | paid | import | organic | total | referral share |
| 2026-01-05 |        1 |    0 |      0 |       2 |     3 | 1/3 = 0.3333   |
| 2026-01-12 |        1 |    2 |      1 |       2 |     6 | 1/6 = 0.1667   |
| total      |        2 |    2 |      1 |       4 |     9 | 2/9 = 0.2222   |
"""

import csv
import io
import json
from datetime import datetime
from decimal import Decimal

import pytest
from django.core.management import call_command
from django.urls import reverse
from openpyxl import load_workbook

from crm import selectors as crm_selectors
from crm.models import Contact
from referrals.models import AcquisitionCost, Campaign, Invite, Participant, Reward, RewardTier
from reports import acquisition, exports
from reports.acquisition import AcquisitionFilter
from reports.forms import AcquisitionFilterForm
from tests.factories import ContactFactory, WorkspaceFactory
from tests.reports.conftest import local

PAGE = reverse("reports:acquisition")
WEEKS = {"since": "2026-01-05", "until": "2026-01-18"}
RANGE = AcquisitionFilter(since=datetime(2026, 1, 5).date(), until=datetime(2026, 1, 18).date())
S = Contact.Source


@pytest.fixture
def newcomers(workspace, account):
    def contact(name, when, source=S.ORGANIC, **extra):
        return ContactFactory(workspace=workspace, owner_account=account, remark_name=name, added_at=when,
                              source=source, **extra)

    sunday = contact("sunday 23:59", local(2026, 1, 11, 23, 59))  # the last minute of the first week
    contact("monday 00:01", local(2026, 1, 12, 0, 1))  # the first minute of the second
    contact("referred", local(2026, 1, 6, 10), S.REFERRAL, referred_by=sunday)
    contact("typed a code", local(2026, 1, 13, 10), S.ORGANIC, referred_by=sunday)  # referral whatever its source
    contact("channel QR", local(2026, 1, 14, 10), S.CHANNEL_QR)
    contact("ads", local(2026, 1, 14, 11), S.ADS)
    contact("import", local(2026, 1, 15, 10), S.IMPORT)
    contact("parcel card", local(2026, 1, 16, 10), S.SHOP)  # organic and the rest
    survivor = contact("by hand", local(2026, 1, 7, 10), S.MANUAL)
    contact("merged duplicate", local(2026, 1, 8, 10), S.REFERRAL, merged_into=survivor)  # hidden: not counted
    contact("before", local(2026, 1, 4, 23, 59))  # the Sunday before the range
    contact("after", local(2026, 1, 19, 0, 0, 30))  # the Monday after it
    ContactFactory(workspace=WorkspaceFactory(), added_at=local(2026, 1, 6, 10), source=S.REFERRAL)


def _tier(campaign, invites, cost):
    return RewardTier.objects.create(campaign=campaign, invites=invites, name=f"{invites}", cost=Decimal(cost))


def _participant(campaign, contact, code, qualified=0):
    return Participant.objects.create(workspace=campaign.workspace, campaign=campaign, contact=contact, code=code,
                                      qualified_count=qualified)


def _invite(participant, status, workspace):
    invitee = ContactFactory(workspace=workspace, source=S.REFERRAL, referred_by=participant.contact,
                             added_at=local(2025, 6, 1))
    return Invite.objects.create(workspace=workspace, campaign=participant.campaign, participant=participant,
                                 invitee=invitee, status=status)


@pytest.fixture
def referral_campaign(workspace):
    """Three participants, five invites not refused (one refused), four qualified: K = 4 / 3. Rewards 15 (granted) +
    98 (delivered) = 113; a clawed-back reward costs nothing. Paid costs 45 and 30: saved 4 × 30 − 113 = 7.00
    against the cheapest, 4 × 45 − 113 = 67.00 against the other."""
    campaign = Campaign.objects.create(workspace=workspace, name="老带新", starts_at=local(2026, 1, 1),
                                       ends_at=local(2026, 1, 31), status=Campaign.Status.ENDED)
    one, three = _tier(campaign, 1, "15.00"), _tier(campaign, 3, "98.00")
    people = [ContactFactory(workspace=workspace, added_at=local(2025, 1, 1)) for _ in range(3)]
    first = _participant(campaign, people[0], "AAAA1111", qualified=3)
    second = _participant(campaign, people[1], "BBBB2222", qualified=1)
    _participant(campaign, people[2], "CCCC3333")
    Q = Invite.Status
    for status in (Q.QUALIFIED, Q.QUALIFIED, Q.QUALIFIED, Q.PENDING):
        _invite(first, status, workspace)
    for status in (Q.QUALIFIED, Q.REFUSED):
        _invite(second, status, workspace)
    Reward.objects.create(workspace=workspace, participant=first, tier=one, status=Reward.Status.GRANTED)
    Reward.objects.create(workspace=workspace, participant=first, tier=three, status=Reward.Status.DELIVERED)
    Reward.objects.create(workspace=workspace, participant=second, tier=one, status=Reward.Status.CLAWED_BACK)
    AcquisitionCost.objects.create(workspace=workspace, channel="抖音投放", cost_per_customer=Decimal("45.00"))
    AcquisitionCost.objects.create(workspace=workspace, channel="=淘宝直通车", cost_per_customer=Decimal("30.00"))
    # Not in the range, and another seller's: neither shows.
    Campaign.objects.create(workspace=workspace, name="去年", starts_at=local(2025, 1, 1), ends_at=local(2025, 2, 1))
    Campaign.objects.create(workspace=WorkspaceFactory(), name="别家", starts_at=local(2026, 1, 1),
                            ends_at=local(2026, 1, 31))
    return campaign


def _weeks(workspace):
    return acquisition.new_contacts_by_week(workspace=workspace, filters=RANGE)


def test_each_week_counts_its_new_contacts_by_source(workspace, newcomers):
    weeks = _weeks(workspace).weeks
    assert [row.week.isoformat() for row in weeks] == ["2026-01-05", "2026-01-12"]
    assert weeks[0].counts == {"referral": 1, "paid": 0, "import": 0, "organic": 2}
    assert weeks[1].counts == {"referral": 1, "paid": 2, "import": 1, "organic": 2}


def test_a_contact_added_at_2359_on_sunday_belongs_to_the_week_before_one_added_at_0001_on_monday(workspace,
                                                                                                 newcomers):
    weeks = _weeks(workspace).weeks
    assert weeks[0].total == 3 and weeks[1].total == 6


def test_the_referral_share_is_referred_over_all_new_contacts_per_week_and_overall(workspace, newcomers):
    report = _weeks(workspace)
    assert [row.referral_share for row in report.weeks] == [0.3333, 0.1667]
    assert report.total() == 9 and report.total("referral") == 2
    assert report.referral_share == 0.2222


def test_a_week_without_new_contacts_is_a_row_of_zeros_with_no_share(workspace):
    report = _weeks(workspace)
    assert [row.total for row in report.weeks] == [0, 0]
    assert report.weeks[0].referral_share is None and report.referral_share is None


def test_an_ended_week_is_not_recounted_when_the_book_changes_but_the_running_week_is(workspace, account,
                                                                                      newcomers):
    today = datetime(2026, 1, 14).date()  # a Wednesday of the second week
    assert _weeks_on(workspace, today)[1].total == 6
    ContactFactory(workspace=workspace, owner_account=account, added_at=local(2026, 1, 6, 12))
    ContactFactory(workspace=workspace, owner_account=account, added_at=local(2026, 1, 13, 12))
    crm_selectors.book_changed(workspace_id=workspace.pk)
    weeks = _weeks_on(workspace, today)
    assert [row.total for row in weeks] == [3, 7]


def _weeks_on(workspace, today):
    return acquisition.new_contacts_by_week(workspace=workspace, filters=RANGE, today=today).weeks


def test_the_filter_starts_on_a_monday_and_defaults_to_twelve_weeks(workspace):
    form = AcquisitionFilterForm({"since": "2026-01-07", "until": "2026-01-18"}, workspace=workspace)
    assert form.is_valid() and form.to_filter().since.isoformat() == "2026-01-05"
    since, until = acquisition.default_weeks(today=datetime(2026, 11, 23).date())  # a Monday
    assert (since.isoformat(), until.isoformat()) == ("2026-09-07", "2026-11-23")


def test_the_k_factor_is_qualified_invites_per_participant(workspace, referral_campaign):
    [row] = acquisition.referral_campaigns(workspace=workspace, filters=RANGE)
    assert (row.name, row.participants, row.invites, row.qualified) == ("老带新", 3, 5, 4)
    assert row.k_factor == 1.3333


def test_the_saving_is_qualified_times_the_cheapest_paid_cost_less_the_rewards(workspace, referral_campaign):
    [row] = acquisition.referral_campaigns(workspace=workspace, filters=RANGE)
    assert row.reward_cost == Decimal("113.00")
    assert row.paid_cost == Decimal("30.00") and row.saved == Decimal("7.00")


def test_another_paid_cost_can_be_chosen(workspace, referral_campaign):
    cost = AcquisitionCost.objects.get(channel="抖音投放")
    filters = AcquisitionFilter(since=RANGE.since, until=RANGE.until, cost_id=cost.pk)
    [row] = acquisition.referral_campaigns(workspace=workspace, filters=filters)
    assert row.saved == Decimal("67.00")


def test_without_a_paid_cost_there_is_no_saving(workspace, referral_campaign):
    AcquisitionCost.objects.all().delete()
    [row] = acquisition.referral_campaigns(workspace=workspace, filters=RANGE)
    assert row.paid_cost is None and row.saved is None and row.k_factor == 1.3333


def test_another_workspaces_cost_is_not_a_choice(workspace, referral_campaign):
    theirs = AcquisitionCost.objects.create(workspace=WorkspaceFactory(), channel="x", cost_per_customer=1)
    form = AcquisitionFilterForm({**WEEKS, "cost": theirs.pk}, workspace=workspace)
    assert not form.is_valid()


def test_without_the_referrals_app_the_campaign_table_is_empty(workspace, referral_campaign, monkeypatch):
    monkeypatch.setattr(acquisition, "referrals_installed", lambda: False)
    assert acquisition.referral_campaigns(workspace=workspace, filters=RANGE) == []
    assert acquisition.paid_costs(workspace=workspace) == []


def test_the_command_prints_the_weeks_and_the_campaigns_as_json(workspace, newcomers, referral_campaign):
    out = io.StringIO()
    call_command("crm_report", "acquisition", "--workspace", workspace.slug, "--since", "2026-01-05",
                 "--until", "2026-01-18", "--json", stdout=out)
    data = json.loads(out.getvalue())
    assert data["totals"] == {"referral": 2, "paid": 2, "import": 1, "organic": 4, "total": 9}
    assert data["referral_share"] == 0.2222
    assert data["weeks"][0]["week"] == "2026-01-05" and data["weeks"][0]["referral_share"] == 0.3333
    assert data["campaigns"][0]["k_factor"] == 1.3333 and data["campaigns"][0]["saved"] == "7.00"
    assert data["paid_cost"] == {"channel": "=淘宝直通车", "cost_per_customer": "30.00"}


def test_the_command_compares_with_a_named_paid_cost(workspace, referral_campaign):
    out = io.StringIO()
    call_command("crm_report", "acquisition", "--workspace", workspace.slug, "--since", "2026-01-05",
                 "--until", "2026-01-18", "--cost", "抖音投放", "--json", stdout=out)
    assert json.loads(out.getvalue())["campaigns"][0]["saved"] == "67.00"


# The page ------------------------------------------------------------------------------------------------------


def _csv(response) -> list[list[str]]:
    return list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode("utf-8-sig"))))


def test_the_owner_sees_the_weeks_the_chart_and_the_campaigns(owner_client, newcomers, referral_campaign):
    html = owner_client.get(PAGE, WEEKS).content.decode()
    assert 'id="figure-new-contacts">9<' in html
    assert 'id="figure-referred">2<' in html
    assert 'id="figure-referral-share">22.2%<' in html
    assert "<svg" in html and "<rect" in html
    assert 'data-key="k_factor">1.33<' in html and 'data-key="saved">¥7.00<' in html
    assert reverse("reports:campaign_effect") in html  # the effect table comes in its own request


def test_a_teammate_sees_the_same_page(teammate_client, newcomers):
    response = teammate_client.get(PAGE, WEEKS)
    assert response.status_code == 200 and 'id="figure-new-contacts">9<' in response.content.decode()


def test_staff_limited_to_some_accounts_are_refused(limited_client, newcomers):
    assert limited_client.get(PAGE, WEEKS).status_code == 403
    assert limited_client.get(reverse("reports:export", args=["weeks", "csv"]), WEEKS).status_code == 403


def test_an_outsider_sees_only_their_own_workspace(outsider_client, newcomers, referral_campaign):
    html = outsider_client.get(PAGE, WEEKS).content.decode()
    assert 'id="figure-new-contacts">0<' in html
    assert "老带新" not in html


def test_htmx_gets_the_results_fragment(owner_client, newcomers):
    response = owner_client.get(PAGE, WEEKS, HTTP_HX_REQUEST="true")
    html = response.content.decode()
    assert "<html" not in html and 'id="figure-new-contacts">9<' in html


def test_the_page_speaks_chinese_by_default_and_english_when_asked(owner_client, newcomers):
    assert "老客推荐" in owner_client.get(PAGE, WEEKS).content.decode()
    assert "Referral share" in owner_client.get(PAGE, WEEKS, HTTP_ACCEPT_LANGUAGE="en").content.decode()


def test_the_dashboard_links_to_the_page(owner_client):
    assert PAGE in owner_client.get(reverse("reports:dashboard")).content.decode()


@pytest.mark.parametrize("table", ["weeks", "referral-campaigns"])
def test_the_tables_export_as_csv_and_excel(owner_client, newcomers, referral_campaign, table):
    as_csv = owner_client.get(reverse("reports:export", args=[table, "csv"]), WEEKS)
    assert as_csv.status_code == 200 and len(_csv(as_csv)) > 1
    as_xlsx = owner_client.get(reverse("reports:export", args=[table, "xlsx"]), WEEKS)
    assert load_workbook(io.BytesIO(b"".join(as_xlsx.streaming_content))).active.max_row > 1


def test_the_weeks_export_holds_the_counts_and_the_total(owner_client, newcomers):
    rows = _csv(owner_client.get(reverse("reports:export", args=["weeks", "csv"]), {**WEEKS}))
    assert rows[1] == ["2026-01-05", "1", "0", "0", "2", "3", "33.3%"]
    assert rows[-1][1:] == ["2", "2", "1", "4", "9", "22.2%"]


def test_a_campaign_named_like_a_formula_is_exported_as_text(owner_client, referral_campaign):
    referral_campaign.name = "=HYPERLINK(\"http://evil\")"
    referral_campaign.save()
    rows = _csv(owner_client.get(reverse("reports:export", args=["referral-campaigns", "csv"]), WEEKS))
    assert rows[1][0] == "'=HYPERLINK(\"http://evil\")"


def test_exported_bucket_labels_cover_every_source():
    assert set(exports.bucket_labels()) == set(acquisition.BUCKETS)
