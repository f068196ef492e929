import csv
import io
from datetime import datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from django.urls import reverse
from openpyxl import load_workbook

from crm import exports
from crm.models import Contact
from tests.conftest import client_for
from tests.factories import (
    ContactFactory,
    OrderFactory,
    TagFactory,
    WeChatAccountFactory,
    WorkspaceFactory,
    tag_contact,
)

pytestmark = pytest.mark.django_db

CSV_URL = reverse("crm:contact_export_csv")
XLSX_URL = reverse("crm:contact_export_xlsx")


def csv_of(response) -> tuple[bytes, list[list[str]]]:
    raw = b"".join(response.streaming_content)
    return raw, list(csv.reader(io.StringIO(raw.decode("utf-8-sig"))))


def xlsx_of(response) -> list[list]:
    workbook = load_workbook(io.BytesIO(b"".join(response.streaming_content)), read_only=True)
    return [list(row) for row in workbook.worksheets[0].iter_rows(values_only=True)]


def test_the_csv_starts_with_the_utf8_bom_and_round_trips_chinese_and_emoji(owner_client, workspace):
    ContactFactory(workspace=workspace, remark_name="张姐-老客", nickname="海风🌊", region="广东 深圳")
    response = owner_client.get(CSV_URL)
    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    raw, rows = csv_of(response)
    assert raw.startswith(b"\xef\xbb\xbf")
    assert rows[1][1:3] == ["张姐-老客", "海风🌊"]
    assert rows[1][6] == "广东 深圳"


def test_the_csv_has_a_translated_header_and_every_column(owner_client, workspace, account):
    contact = ContactFactory(
        workspace=workspace, owner_account=account, remark_name="王姐", nickname="阿王", wechat_id="wxid_wang",
        phone="+8613812345678", gender=Contact.Gender.FEMALE, region="上海", stage=Contact.Stage.REPEAT,
        source=Contact.Source.REFERRAL, added_at=datetime(2026, 1, 2, 3, 4, 5, tzinfo=ZoneInfo("UTC")),
    )
    tag_contact(contact, TagFactory(workspace=workspace, name="爱买海参"), TagFactory(workspace=workspace, name="A类"))
    OrderFactory(contact=contact, amount=Decimal("100.50"), placed_at=datetime(2026, 3, 1, 12, 0, tzinfo=ZoneInfo("UTC")))
    OrderFactory(contact=contact, amount=Decimal("99.50"), placed_at=datetime(2026, 2, 1, 12, 0, tzinfo=ZoneInfo("UTC")))
    _raw, rows = csv_of(owner_client.get(CSV_URL, HTTP_ACCEPT_LANGUAGE="en"))
    assert rows[0][:3] == ["ID", "Remark name", "Nickname"]
    assert len(rows[0]) == 15
    assert rows[1] == [
        str(contact.pk), "王姐", "阿王", "wxid_wang", "'+8613812345678", str(Contact.Gender.FEMALE.label),
        "上海", "海味小张", str(Contact.Stage.REPEAT.label), str(Contact.Source.REFERRAL.label),
        "2026-01-02 11:04:05",  # Asia/Shanghai, the workspace's time zone
        "A类，爱买海参", "2", "200.00", "2026-03-01 20:00:00",
    ]


def test_orders_do_not_multiply_the_rows_or_the_tags(owner_client, workspace):
    contact = ContactFactory(workspace=workspace)
    tag_contact(contact, TagFactory(workspace=workspace), TagFactory(workspace=workspace))
    for _ in range(3):
        OrderFactory(contact=contact, amount=Decimal("10.00"))
    _raw, rows = csv_of(owner_client.get(CSV_URL))
    assert len(rows) == 2
    assert rows[1][12:14] == ["3", "30.00"]


@pytest.mark.parametrize("text", ["=HYPERLINK(\"http://evil\",\"x\")", "+1", "-2", "@SUM(A1)", "\tcmd", "\rcmd"])
def test_formula_cells_are_neutralised_in_the_csv(owner_client, workspace, text):
    ContactFactory(workspace=workspace, remark_name=text, nickname="安全")
    _raw, rows = csv_of(owner_client.get(CSV_URL))
    assert rows[1][1] == "'" + text
    assert rows[1][2] == "安全"


def test_formula_cells_are_neutralised_in_the_xlsx_and_it_opens_with_openpyxl(owner_client, workspace):
    for text in ("=HYPERLINK(\"http://evil\",\"x\")", "+1", "-2", "@SUM(A1)"):
        ContactFactory(workspace=workspace, remark_name=text)
    response = owner_client.get(XLSX_URL)
    assert response.status_code == 200
    assert response["Content-Type"] == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    rows = xlsx_of(response)
    assert sorted(row[1] for row in rows[1:]) == sorted(
        ["'=HYPERLINK(\"http://evil\",\"x\")", "'+1", "'-2", "'@SUM(A1)"]
    )
    assert all(isinstance(row[0], int) for row in rows[1:])


def test_the_xlsx_keeps_numbers_and_dates_typed(owner_client, workspace):
    contact = ContactFactory(workspace=workspace, added_at=datetime(2026, 1, 2, 3, 4, 5, tzinfo=ZoneInfo("UTC")))
    OrderFactory(contact=contact, amount=Decimal("88.80"))
    row = xlsx_of(owner_client.get(XLSX_URL))[1]
    assert row[0] == contact.pk
    assert row[10] == datetime(2026, 1, 2, 11, 4, 5)
    assert row[12] == 1
    assert Decimal(str(row[13])) == Decimal("88.80")


def test_the_xlsx_stops_at_excels_row_limit_and_says_so(owner_client, workspace, monkeypatch):
    monkeypatch.setattr(exports, "XLSX_MAX_ROWS", 2)
    for _ in range(3):
        ContactFactory(workspace=workspace)
    response = owner_client.get(XLSX_URL)
    assert response["X-Export-Truncated"] == "2"
    workbook = load_workbook(io.BytesIO(b"".join(response.streaming_content)), read_only=True)
    assert len(list(workbook.worksheets[0].iter_rows())) == 3  # header + 2
    assert len(workbook.worksheets) == 2  # the note saying why


def test_the_filenames_carry_the_date(owner_client, workspace):
    for url, extension in ((CSV_URL, "csv"), (XLSX_URL, "xlsx")):
        disposition = owner_client.get(url)["Content-Disposition"]
        assert disposition.startswith("attachment; filename=\"contacts-20")
        assert disposition.endswith(f".{extension}\"")


def test_the_export_respects_the_filter(owner_client, workspace):
    ContactFactory(workspace=workspace, remark_name="老客", stage=Contact.Stage.VIP)
    ContactFactory(workspace=workspace, remark_name="新客", stage=Contact.Stage.NEW)
    tagged = ContactFactory(workspace=workspace, remark_name="有标签", stage=Contact.Stage.VIP)
    tag = TagFactory(workspace=workspace, name="海参")
    tag_contact(tagged, tag)
    _raw, rows = csv_of(owner_client.get(CSV_URL, {"stage": "vip"}))
    assert sorted(row[1] for row in rows[1:]) == ["有标签", "老客"]
    _raw, rows = csv_of(owner_client.get(CSV_URL, {"stage": "vip", "tags_all": [tag.pk], "page": 3}))
    assert [row[1] for row in rows[1:]] == ["有标签"]
    rows = xlsx_of(owner_client.get(XLSX_URL, {"q": "新客"}))
    assert [row[1] for row in rows[1:]] == ["新客"]


def test_the_export_respects_the_members_account_limit(teammate, workspace, account):
    other_account = WeChatAccountFactory(workspace=workspace, name="另一个号")
    ContactFactory(workspace=workspace, owner_account=account, remark_name="我的客户")
    ContactFactory(workspace=workspace, owner_account=other_account, remark_name="别人的客户")
    teammate.limited_to_assigned_accounts = True
    teammate.save()
    teammate.assigned_accounts.set([account])
    client = client_for(teammate)
    _raw, rows = csv_of(client.get(CSV_URL))
    assert [row[1] for row in rows[1:]] == ["我的客户"]
    assert [row[1] for row in xlsx_of(client.get(XLSX_URL))[1:]] == ["我的客户"]


def test_the_export_never_includes_other_workspaces_contacts_or_merged_duplicates(owner_client, workspace, outsider):
    survivor = ContactFactory(workspace=workspace, remark_name="留下的")
    ContactFactory(workspace=workspace, remark_name="合并掉的", merged_into=survivor)
    ContactFactory(workspace=outsider.workspace, remark_name="别家的客户")
    _raw, rows = csv_of(owner_client.get(CSV_URL))
    assert [row[1] for row in rows[1:]] == ["留下的"]
    assert [row[1] for row in xlsx_of(owner_client.get(XLSX_URL))[1:]] == ["留下的"]


def test_an_outsider_exports_only_their_own_workspace(outsider_client, workspace):
    ContactFactory(workspace=workspace, remark_name="张姐的客户")
    _raw, rows = csv_of(outsider_client.get(CSV_URL))
    assert rows[1:] == []


def test_anonymous_visitors_are_sent_to_sign_in(client):
    for url in (CSV_URL, XLSX_URL):
        response = client.get(url)
        assert response.status_code == 302
        assert reverse("login") in response["Location"]


def test_export_rows_walks_every_contact_in_list_order_across_batches(workspace):
    contacts = [ContactFactory(workspace=workspace) for _ in range(7)]
    same_time = contacts[0].added_at
    Contact.objects.filter(pk__in=[c.pk for c in contacts[:4]]).update(added_at=same_time)  # ties broken by id
    rows = list(exports.export_rows(Contact.objects.filter(workspace=workspace), batch_size=3))
    expected = list(Contact.objects.filter(workspace=workspace).order_by("-added_at", "-id").values_list("pk", flat=True))
    assert [row[0] for row in rows] == expected


def test_export_rows_takes_any_workspace_scoped_queryset(workspace):
    ContactFactory(workspace=workspace, remark_name="甲")
    ContactFactory(workspace=WorkspaceFactory(), remark_name="乙")
    rows = list(exports.export_rows(Contact.objects.filter(workspace=workspace)))
    assert [row[1] for row in rows] == ["甲"]


def test_neutralise_leaves_numbers_and_plain_text_alone():
    assert exports.neutralise(-2) == -2
    assert exports.neutralise("张姐") == "张姐"
    assert exports.neutralise("") == ""
    assert exports.neutralise("=1+1") == "'=1+1"


# Segments ------------------------------------------------------------------------------------------------------------


def segment_of(workspace, name, *children):
    from crm.models import Segment

    rule = {"version": 1, "root": {"op": "and", "not": False, "children": list(children)}}
    return Segment.objects.create(workspace=workspace, name=name, rule=rule)


@pytest.fixture
def old_customers(workspace, account):
    """A segment “老客 <VIP>” of the contacts tagged 老客: 张姐 (on the account) and 李哥 (on another account)."""
    old = TagFactory(workspace=workspace, name="老客")
    tag_contact(ContactFactory(workspace=workspace, remark_name="张姐", owner_account=account), old)
    other_account = WeChatAccountFactory(workspace=workspace, name="二号")
    tag_contact(ContactFactory(workspace=workspace, remark_name="李哥", owner_account=other_account), old)
    ContactFactory(workspace=workspace, remark_name="路人")
    return segment_of(workspace, "老客 <VIP>", {"field": "tags", "match": "any", "tags": [old.pk]})


def segment_urls(segment):
    return reverse("crm:segment_export_csv", args=[segment.pk]), reverse("crm:segment_export_xlsx", args=[segment.pk])


@pytest.mark.parametrize("who", ["owner_client", "teammate_client"])
def test_a_segment_exports_exactly_its_contacts_to_csv_and_xlsx(request, who, old_customers):
    client = request.getfixturevalue(who)
    csv_url, xlsx_url = segment_urls(old_customers)
    raw, rows = csv_of(client.get(csv_url))
    assert raw.startswith(b"\xef\xbb\xbf")
    assert sorted(row[1] for row in rows[1:]) == ["张姐", "李哥"]
    assert sorted(row[1] for row in xlsx_of(client.get(xlsx_url))[1:]) == ["张姐", "李哥"]


def test_a_segment_export_is_named_after_the_segment(owner_client, old_customers):
    csv_url, xlsx_url = segment_urls(old_customers)
    for url in (csv_url, xlsx_url):
        disposition = owner_client.get(url)["Content-Disposition"]
        assert "segment-" in disposition
        assert "%E8%80%81%E5%AE%A2-VIP" in disposition  # 老客-VIP, percent-encoded in filename*
        assert "<" not in disposition


def test_a_segment_export_shows_a_limited_teammate_only_their_accounts_contacts(teammate, account, old_customers):
    teammate.limited_to_assigned_accounts = True
    teammate.save()
    teammate.assigned_accounts.set([account])
    csv_url, _xlsx_url = segment_urls(old_customers)
    _raw, rows = csv_of(client_for(teammate).get(csv_url))
    assert [row[1] for row in rows[1:]] == ["张姐"]


def test_another_workspaces_segment_cannot_be_exported(outsider_client, old_customers):
    for url in segment_urls(old_customers):
        assert outsider_client.get(url).status_code == 404


def test_a_segment_with_a_broken_rule_goes_back_to_the_segment_with_the_reason(owner_client, workspace):
    broken = segment_of(workspace, "坏的", {"field": "no_such_field"})
    for url in segment_urls(broken):
        response = owner_client.get(url, HTTP_ACCEPT_LANGUAGE="en")
        assert response.status_code == 302
        assert response["Location"] == reverse("crm:segment_detail", args=[broken.pk])


def test_the_segment_page_links_both_exports(owner_client, old_customers):
    page = owner_client.get(reverse("crm:segment_detail", args=[old_customers.pk])).content.decode()
    for url in segment_urls(old_customers):
        assert url in page
