"""The dashboard, its exports and its buttons as owner, teammate, limited staff and outsider."""

import csv
import io

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import translation
from openpyxl import load_workbook

from crm.models import Segment
from reports import exports
from reports.rfm import GroupRow
from reports.rollups import rollups_refresh

DASHBOARD = reverse("reports:dashboard")
Q1 = {"since": "2026-01-01", "until": "2026-03-31"}


def _csv(response) -> list[list[str]]:
    text = b"".join(response.streaming_content).decode("utf-8-sig")
    return list(csv.reader(io.StringIO(text)))


def test_the_owner_sees_the_headline_numbers(owner_client, book):
    response = owner_client.get(DASHBOARD, Q1)
    assert response.status_code == 200
    html = response.content.decode()
    assert 'id="figure-customers">6<' in html
    assert 'id="figure-orders">11<' in html
    assert "¥1140.00" in html
    assert "<svg" in html and "<polyline" in html


def test_a_teammate_sees_the_same_page(teammate_client, book):
    assert teammate_client.get(DASHBOARD, Q1).status_code == 200


def test_staff_limited_to_some_accounts_are_refused(limited_client, book):
    assert limited_client.get(DASHBOARD, Q1).status_code == 403
    assert limited_client.get(reverse("reports:export", args=["summary", "csv"])).status_code == 403
    assert limited_client.post(reverse("reports:refresh")).status_code == 403


def test_an_outsider_sees_only_their_own_workspace(outsider_client, book, workspace):
    response = outsider_client.get(DASHBOARD, Q1)
    assert 'id="figure-customers">0<' in response.content.decode()


def test_another_workspaces_segment_is_not_a_filter_choice(outsider_client, book, workspace):
    ours = Segment.objects.create(workspace=workspace, name="ours", rule={"version": 1, "root": {
        "op": "and", "not": False, "children": []}})
    response = outsider_client.get(DASHBOARD, {**Q1, "segment": ours.pk})
    assert response.status_code == 200
    assert response.context["filters"].segment_id is None
    assert response.context["form"].errors


def test_an_anonymous_visitor_is_sent_to_sign_in(client, book):
    assert client.get(DASHBOARD).status_code == 302


def test_htmx_gets_the_results_fragment(owner_client, book):
    response = owner_client.get(DASHBOARD, Q1, HTTP_HX_REQUEST="true")
    assert "<html" not in response.content.decode()
    assert 'id="figure-customers">6<' in response.content.decode()


def test_the_page_says_how_fresh_the_rollups_are(owner_client, workspace, book):
    rollups_refresh(workspace=workspace)
    with translation.override("en"):
        response = owner_client.get(DASHBOARD, Q1, HTTP_ACCEPT_LANGUAGE="en")
    assert "fresh as of" in response.content.decode()


def test_the_repeat_figures_say_whether_they_come_from_the_rollups_or_the_orders(owner_client, workspace, book):
    def freshness():
        with translation.override("en"):
            page = owner_client.get(DASHBOARD, Q1, HTTP_ACCEPT_LANGUAGE="en").content.decode()
        return page.split('id="repeat-freshness">', 1)[1].split("</p>", 1)[0]

    assert "Counted from the orders just now." in freshness()
    rollups_refresh(workspace=workspace)
    assert "Fresh as of" in freshness()


def test_the_page_speaks_chinese_by_default(owner_client, book):
    assert "复购" in owner_client.get(DASHBOARD, Q1).content.decode()


def test_the_first_visit_computes_the_rollups(owner_client, workspace, book, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        owner_client.get(DASHBOARD, Q1)
    assert workspace.report_rollup_state.customers == 7


@pytest.mark.parametrize("table", exports.TABLES)
def test_every_table_exports_as_csv_and_excel(owner_client, workspace, book, table):
    rollups_refresh(workspace=workspace)
    as_csv = owner_client.get(reverse("reports:export", args=[table, "csv"]), Q1)
    assert as_csv.status_code == 200 and len(_csv(as_csv)) > 1
    as_xlsx = owner_client.get(reverse("reports:export", args=[table, "xlsx"]), Q1)
    sheet = load_workbook(io.BytesIO(b"".join(as_xlsx.streaming_content))).active
    assert sheet.max_row > 1


def test_the_summary_export_holds_the_figures(owner_client, book):
    rows = _csv(owner_client.get(reverse("reports:export", args=["summary", "csv"]), {**Q1, "language": "en"}))
    assert ["6"] == [row[1] for row in rows[1:2]]


def test_an_unknown_table_is_not_found(owner_client):
    assert owner_client.get(reverse("reports:export", args=["salaries", "csv"])).status_code == 404


def test_exported_text_that_starts_like_a_formula_stays_text():
    _header, rows = exports.rfm_table([GroupRow(key="x", label="=HYPERLINK(\"http://evil\")")])
    assert rows[0][0] == "'=HYPERLINK(\"http://evil\")"


def test_save_as_segment_tags_the_group_and_opens_the_segment(owner_client, workspace, book,
                                                              django_capture_on_commit_callbacks):
    rollups_refresh(workspace=workspace)
    with django_capture_on_commit_callbacks(execute=True):
        response = owner_client.post(reverse("reports:rfm_save_segment", args=["champions"]))
    segment = Segment.objects.get(workspace=workspace)
    assert response.status_code == 302 and response.url == reverse("crm:segment_detail", args=[segment.pk])
    page = owner_client.get(response.url)
    assert page.context["count"] == 1


def test_saving_the_same_group_twice_the_same_day_says_the_segment_exists(owner_client, workspace, book):
    rollups_refresh(workspace=workspace)
    owner_client.post(reverse("reports:rfm_save_segment", args=["champions"]))
    response = owner_client.post(reverse("reports:rfm_save_segment", args=["champions"]), follow=True)
    assert Segment.objects.filter(workspace=workspace).count() == 1
    assert list(response.context["messages"])


def test_saving_before_any_refresh_explains_why_not(owner_client, workspace, book):
    response = owner_client.post(reverse("reports:rfm_save_segment", args=["champions"]), follow=True)
    assert not Segment.objects.exists()
    assert list(response.context["messages"])


def test_posts_need_the_csrf_token(owner, workspace, book):
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(owner.user)
    assert strict.post(reverse("reports:refresh")).status_code == 403
    assert strict.post(reverse("reports:rfm_save_segment", args=["champions"])).status_code == 403


def test_the_buttons_refuse_get(owner_client):
    assert owner_client.get(reverse("reports:refresh")).status_code == 405


def test_the_acquisition_tables_share_the_export_and_refuse_an_unknown_format(owner_client):
    assert owner_client.get(reverse("reports:export", args=["weeks", "csv"])).status_code == 200
    assert owner_client.get(reverse("reports:export", args=["weeks", "pdf"])).status_code == 404


def test_the_acquisition_page_starts_with_seven_days_around_a_send(owner_client):
    response = owner_client.get(reverse("reports:acquisition"))
    assert response.context["filters"].days == 7
    assert '<option value="7" selected>' in response.content.decode()
