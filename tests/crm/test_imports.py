"""Import of contacts and orders (crm.imports): reading, mapping, matching, validation, writing and resuming."""

import csv
import io
from datetime import datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import openpyxl
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from crm import events, imports, tasks
from crm.imports import ImportSpec, writing
from crm.models import Contact, ContactTag, ImportJob, Member, Order, TimelineEvent
from tests.factories import (
    ContactFactory,
    MemberFactory,
    OrderFactory,
    TagFactory,
    TagGroupFactory,
    WeChatAccountFactory,
    WorkspaceFactory,
    tag_contact,
)

pytestmark = pytest.mark.django_db

SHANGHAI = ZoneInfo("Asia/Shanghai")


def csv_bytes(rows, *, encoding="utf-8", delimiter=",") -> bytes:
    buffer = io.StringIO()
    csv.writer(buffer, delimiter=delimiter).writerows(rows)
    return buffer.getvalue().encode(encoding)


def xlsx_bytes(rows) -> bytes:
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    for row in rows:
        sheet.append(row)
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def run(workspace, kind, data: bytes, *, name="file.csv", columns=None, **kwargs):
    stream = io.BytesIO(data)
    header = imports.preview(stream, name=name, encoding=kwargs.get("encoding", "")).header
    spec = ImportSpec(
        workspace=workspace, kind=kind, columns=columns or imports.suggest_mapping(kind, header), file_name=name,
        account=kwargs.pop("account", None), member=kwargs.pop("member", None),
    )
    return imports.import_rows(spec, stream, name=name, **kwargs)


def codes(result):
    return [(entry.line, entry.code) for entry in result.report if entry.outcome == "rejected"]


# Reading -----------------------------------------------------------------------------------------------------------


def test_a_gbk_encoded_csv_with_chinese_names_is_detected_and_imported(workspace):
    data = csv_bytes([["昵称", "备注名", "手机号", "地区"], ["王秀英", "王姐-老客", "13812345678", "广东 深圳"]], encoding="gbk")
    with pytest.raises(UnicodeDecodeError):
        data.decode("utf-8")
    result = run(workspace, "contacts", data)
    assert result.created == 1
    contact = Contact.objects.get(workspace=workspace)
    assert (contact.nickname, contact.remark_name, contact.phone, contact.region) == (
        "王秀英", "王姐-老客", "+8613812345678", "广东 深圳"
    )
    assert contact.source == Contact.Source.IMPORT


def test_a_gb18030_csv_can_also_be_chosen_by_name(workspace):
    data = csv_bytes([["昵称", "微信号"], ["陈丽娟", "chen_lj"]], encoding="gb18030")
    assert run(workspace, "contacts", data, encoding="gbk").created == 1
    assert Contact.objects.get(wechat_id="chen_lj").nickname == "陈丽娟"


def test_a_utf8_csv_with_a_bom_keeps_its_first_column(workspace):
    data = "\ufeff".encode() + csv_bytes([["微信号", "昵称"], ["wx_bom", "小红"]])
    stream = io.BytesIO(data)
    assert imports.preview(stream, name="f.csv").header == ["微信号", "昵称"]
    assert run(workspace, "contacts", data).created == 1
    assert Contact.objects.get(wechat_id="wx_bom").nickname == "小红"


def test_excels_unicode_text_export_in_utf16_is_read(workspace):
    data = "昵称\t微信号\r\n阿珍\twx_utf16\r\n".encode("utf-16")
    assert imports.file_format("unicode.txt", data[:8]) == "csv"
    assert run(workspace, "contacts", data, name="unicode.txt").created == 1
    assert Contact.objects.get(wechat_id="wx_utf16").nickname == "阿珍"


def test_semicolon_and_tab_separated_files_are_sniffed(workspace):
    for delimiter in (";", "\t"):
        data = csv_bytes([["nickname", "wechat", "tags"], [f"客{delimiter!r}", f"wx{ord(delimiter)}", "A,B"]], delimiter=delimiter)
        assert imports.preview(io.BytesIO(data), name="f.csv").delimiter == delimiter
        assert run(workspace, "contacts", data).created == 1
    assert Contact.objects.filter(workspace=workspace).count() == 2


def test_an_xlsx_file_is_imported_with_numbers_read_as_text(workspace):
    data = xlsx_bytes([["昵称", "手机", "外部ID", "添加时间"], ["林小姐", 13912345678, 100234, datetime(2024, 5, 1, 9, 30)]])
    result = run(workspace, "contacts", data, name="客户.xlsx")
    assert result.created == 1
    contact = Contact.objects.get(workspace=workspace)
    assert contact.phone == "+8613912345678"
    assert contact.external_id == "100234"
    assert contact.added_at == datetime(2024, 5, 1, 9, 30, tzinfo=SHANGHAI)


def test_emoji_in_nicknames_are_kept(workspace):
    data = csv_bytes([["nickname", "wechat_id"], ["🌸花花🌸", "wx_flower"], ["Lucky☘️🐟", "wx_lucky"]])
    run(workspace, "contacts", data)
    assert set(Contact.objects.values_list("nickname", flat=True)) == {"🌸花花🌸", "Lucky☘️🐟"}


def test_other_file_types_are_refused_with_a_clear_message():
    with pytest.raises(imports.ImportFileError, match="CSV or Excel"):
        imports.file_format("photo.png", b"\x89PNG\r\n\x1a\n")
    with pytest.raises(imports.ImportFileError, match=".xls"):
        imports.file_format("old.xls", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1")
    with pytest.raises(imports.ImportFileError, match="xlsx"):
        imports.file_format("fake.xlsx", b"hello,wo")
    with pytest.raises(imports.ImportFileError, match="CSV"):
        imports.file_format("binary.csv", b"\x00\x01\x02\x03binary")
    assert imports.file_format("客户.CSV", b"a,b\n") == "csv"


def test_an_empty_file_is_refused(workspace):
    with pytest.raises(imports.ImportFileError, match="empty"):
        run(workspace, "contacts", b"")


# Mapping -----------------------------------------------------------------------------------------------------------


def test_the_mapping_is_suggested_from_chinese_and_english_headers():
    header = ["昵称", "备注", "微信号", "手机号码", "性别", "地区", "标签", "来源", "外部ID", "描述", "Unrelated"]
    assert imports.suggest_mapping("contacts", header) == {
        "昵称": "nickname", "备注": "remark_name", "微信号": "wechat_id", "手机号码": "phone", "性别": "gender",
        "地区": "region", "标签": "tags", "来源": "source", "外部ID": "external_id", "描述": "description",
    }
    assert imports.suggest_mapping("orders", ["客户", "下单时间", "实付金额（元）", "订单号", "平台", "商品"]) == {
        "客户": "customer", "下单时间": "placed_at", "实付金额（元）": "amount", "订单号": "order_id",
        "平台": "channel", "商品": "items",
    }
    assert imports.suggest_mapping("orders", ["Customer", "Placed At", "Amount", "Order ID", "Channel", "Items"]) == {
        "Customer": "customer", "Placed At": "placed_at", "Amount": "amount", "Order ID": "order_id",
        "Channel": "channel", "Items": "items",
    }


def test_a_mapping_without_the_required_order_columns_is_refused():
    errors = imports.mapping_errors("orders", ["客户", "金额"], {"客户": "customer", "金额": "amount"})
    assert len(errors) == 1 and "required" in errors[0]
    assert imports.mapping_errors("contacts", ["a", "b"], {"a": "phone", "b": "phone"})
    assert imports.mapping_errors("contacts", ["a"], {"a": "password"})
    assert imports.mapping_errors("contacts", ["a"], {"a": "gender"})  # nothing to know the contact by


# Contacts ----------------------------------------------------------------------------------------------------------


def test_duplicate_phone_numbers_in_one_file_make_one_contact(workspace):
    data = csv_bytes([
        ["昵称", "手机号", "地区"],
        ["张三", "13812345678", ""],
        ["张三", "138 1234 5678", "上海"],  # the same number written differently: merged, region filled in
        ["张三", "+86 138-1234-5678", ""],  # nothing new
    ])
    result = run(workspace, "contacts", data)
    assert (result.created, result.updated, result.skipped) == (1, 1, 1)
    contact = Contact.objects.get(workspace=workspace)
    assert contact.region == "上海"
    assert [(entry.line, entry.code) for entry in result.report] == [(3, "duplicate"), (4, "duplicate")]


def test_duplicates_across_batches_make_one_contact_too(workspace, monkeypatch):
    monkeypatch.setattr(imports, "BATCH_SIZE", 2)
    rows = [["wechat", "nickname"]] + [[f"wx_{i % 3}", f"客{i}"] for i in range(7)]
    result = run(workspace, "contacts", csv_bytes(rows))
    assert result.created == 3 and result.updated == 4
    assert Contact.objects.filter(workspace=workspace).count() == 3
    assert Contact.objects.get(wechat_id="wx_0").nickname == "客6"


def test_a_row_matches_a_contact_by_external_id_then_wechat_id_then_phone(workspace):
    by_external = ContactFactory(workspace=workspace, external_id="C-1", wechat_id="wx_a", phone="")
    by_wechat = ContactFactory(workspace=workspace, external_id="", wechat_id="wx_b", phone="+8613700000001")
    by_phone = ContactFactory(workspace=workspace, external_id="", wechat_id="wx_c", phone="+8613700000002")
    other_workspace = ContactFactory(external_id="C-9", wechat_id="wx_z")
    data = csv_bytes([
        ["external_id", "wechat_id", "phone", "region"],
        ["C-1", "wx_b", "", "北京"],  # external id first, though the WeChat ID is by_wechat's
        ["", "wx_b", "13700000002", "上海"],  # WeChat ID before phone
        ["", "", "13700000002", "广州"],
        ["C-9", "", "", "杭州"],  # another workspace's contact is never matched
    ])
    result = run(workspace, "contacts", data)
    assert (result.created, result.updated) == (1, 3)
    by_external.refresh_from_db(), by_wechat.refresh_from_db(), by_phone.refresh_from_db()
    assert (by_external.region, by_wechat.region, by_phone.region) == ("北京", "上海", "广州")
    other_workspace.refresh_from_db()
    assert other_workspace.region == ""
    assert Contact.objects.get(workspace=workspace, external_id="C-9").source == Contact.Source.IMPORT


def test_updating_fills_the_mapped_fields_and_empty_cells_keep_what_is_there(workspace):
    contact = ContactFactory(workspace=workspace, wechat_id="wx_keep", nickname="老昵称", remark_name="王姐", region="深圳")
    run(workspace, "contacts", csv_bytes([["wechat", "nickname", "remark", "region"], ["wx_keep", "新昵称", "", ""]]))
    contact.refresh_from_db()
    assert (contact.nickname, contact.remark_name, contact.region) == ("新昵称", "王姐", "深圳")
    assert contact.source == Contact.Source.MANUAL  # an update does not make it an imported contact
    assert TimelineEvent.objects.filter(contact=contact, kind=TimelineEvent.Kind.IMPORTED).exists()


def test_an_unchanged_row_is_skipped(workspace):
    ContactFactory(workspace=workspace, wechat_id="wx_same", nickname="同一个")
    result = run(workspace, "contacts", csv_bytes([["wechat", "nickname"], ["wx_same", "同一个"]]))
    assert (result.created, result.updated, result.skipped) == (0, 0, 1)


def test_tags_are_split_on_chinese_and_english_separators_and_added(workspace):
    existing = ContactFactory(workspace=workspace, wechat_id="wx_t")
    data = csv_bytes([
        ["wechat", "标签"],
        ["wx_t", "老客，VIP、海参;回购"],
        ["wx_new", "VIP, 新客"],
    ])
    run(workspace, "contacts", data)
    names = lambda contact: sorted(ContactTag.objects.filter(content_object=contact).values_list("tag__name", flat=True))
    assert names(existing) == ["VIP", "回购", "海参", "老客"]
    assert names(Contact.objects.get(wechat_id="wx_new")) == ["VIP", "新客"]
    result = run(workspace, "contacts", data)  # the second time nothing is new
    assert result.skipped == 2
    assert ContactTag.objects.filter(tag__workspace=workspace).count() == 6


def test_a_duplicate_row_repeating_the_tags_of_an_earlier_row_is_nothing_new(workspace):
    data = csv_bytes([["wechat", "nickname", "tags"], ["wx_d", "阿丽", "VIP，老客"], ["wx_d", "阿丽", "老客"]])
    result = run(workspace, "contacts", data)
    assert (result.created, result.updated, result.skipped) == (1, 0, 1)
    assert sorted(Contact.objects.get(wechat_id="wx_d").tags.names()) == ["VIP", "老客"]


def test_a_tag_of_an_exclusive_group_replaces_the_contacts_other_tag_of_that_group(workspace):
    level = TagGroupFactory(workspace=workspace, name="客户等级", exclusive=True)
    a, b = TagFactory(workspace=workspace, name="A级", group=level), TagFactory(workspace=workspace, name="B级", group=level)
    contact = ContactFactory(workspace=workspace, wechat_id="wx_level")
    tag_contact(contact, a)
    run(workspace, "contacts", csv_bytes([["wechat", "tags"], ["wx_level", "B级，回购"], ["wx_new_level", "A级"]]))
    assert sorted(contact.tags.names()) == ["B级", "回购"]
    assert contact.timeline_events.filter(kind=TimelineEvent.Kind.TAG_REMOVED, body="A级").exists()
    assert list(Contact.objects.get(wechat_id="wx_new_level").tags.names()) == ["A级"]
    assert b.contact_links.count() == 1


def test_a_batched_listener_hears_all_of_a_batchs_tags_at_once(workspace, django_capture_on_commit_callbacks):
    calls = []

    def listener(*, workspace_id, items):
        calls.append(sorted((item["tag_id"], len(item["contact_ids"])) for item in items))

    events.on(events.TAG_ADDED, listener, batched=True)
    try:
        with django_capture_on_commit_callbacks(execute=True):
            run(workspace, "contacts", csv_bytes([["wechat", "tags"], ["wx_1", "回购，VIP"], ["wx_2", "回购"]]))
    finally:
        events._LISTENERS[events.TAG_ADDED].remove((listener, True))
    tags = dict(workspace.tags.values_list("name", "pk"))
    assert calls == [sorted([(tags["回购"], 2), (tags["VIP"], 1)])]


def test_imported_tags_are_on_the_timeline_and_reach_automation_after_the_commit(
    workspace, django_capture_on_commit_callbacks
):
    existing = ContactFactory(workspace=workspace, wechat_id="wx_auto")
    heard = []

    def listener(*, workspace_id, contact_ids, tag_id):
        heard.append((workspace_id, sorted(contact_ids), tag_id))

    events.on(events.TAG_ADDED, listener)
    try:
        with django_capture_on_commit_callbacks(execute=True):
            run(workspace, "contacts", csv_bytes([["wechat", "tags"], ["wx_auto", "回购"], ["wx_fresh", "回购"]]))
    finally:
        events._LISTENERS[events.TAG_ADDED].remove((listener, False))
    fresh = Contact.objects.get(wechat_id="wx_fresh")
    tag = workspace.tags.get(name="回购")
    assert heard == [(workspace.pk, sorted([existing.pk, fresh.pk]), tag.pk)]
    assert existing.timeline_events.filter(kind=TimelineEvent.Kind.TAG_ADDED, body="回购").count() == 1
    assert existing.timeline_events.filter(kind=TimelineEvent.Kind.IMPORTED, body="file.csv #2").exists()
    # A contact the import created gets one "imported" event that names its tags, not one event per tag.
    assert not fresh.timeline_events.filter(kind=TimelineEvent.Kind.TAG_ADDED).exists()
    (imported,) = fresh.timeline_events.filter(kind=TimelineEvent.Kind.IMPORTED).values_list("body", flat=True)
    assert imported.startswith("file.csv #3 · ") and imported.endswith("回购")


def test_an_update_writes_dates_and_choices_as_a_form_would(workspace):
    contact = ContactFactory(workspace=workspace, wechat_id="wx_when", gender=Contact.Gender.UNKNOWN)
    run(workspace, "contacts", csv_bytes([["wechat", "添加时间", "性别"], ["wx_when", "2024-05-01 09:30", "女"]]))
    contact.refresh_from_db()
    assert contact.added_at == datetime(2024, 5, 1, 9, 30, tzinfo=SHANGHAI)
    assert contact.gender == Contact.Gender.FEMALE
    assert contact.source == Contact.Source.MANUAL


def test_gender_and_source_columns_are_understood(workspace):
    run(workspace, "contacts", csv_bytes([["昵称", "性别", "来源"], ["阿强", "男", "转介绍"], ["阿美", "女", "抖音直播"]]))
    assert Contact.objects.get(nickname="阿强").gender == Contact.Gender.MALE
    assert Contact.objects.get(nickname="阿强").source == Contact.Source.REFERRAL
    assert Contact.objects.get(nickname="阿美").gender == Contact.Gender.FEMALE
    assert Contact.objects.get(nickname="阿美").source == Contact.Source.IMPORT


def test_bad_phone_and_bad_date_rows_are_reported_with_line_numbers_and_the_good_rows_committed(workspace):
    data = csv_bytes([
        ["昵称", "手机号", "添加时间"],
        ["好人一", "13812345678", "2024-05-01"],
        ["坏电话", "12345", "2024-05-01"],
        ["坏日期", "13912345678", "昨天"],
        ["", "", ""],  # an empty row is left out, not reported
        [" ", "  ", ""],  # so is one of spaces
        ["好人二", "", "20240502"],
        ["", "", "2024-05-03"],  # nothing to know the contact by
    ])
    result = run(workspace, "contacts", data)
    assert codes(result) == [(3, "bad_phone"), (4, "bad_date"), (8, "no_identity")]
    assert [entry.column for entry in result.report] == ["手机号", "添加时间", ""]
    assert (result.created, result.rejected) == (2, 3)
    assert set(Contact.objects.filter(workspace=workspace).values_list("nickname", flat=True)) == {"好人一", "好人二"}


def test_a_too_long_cell_is_rejected_not_cut(workspace):
    result = run(workspace, "contacts", csv_bytes([["nickname", "wechat"], ["长" * 101, "wx_long"]]))
    assert codes(result) == [(2, "too_long")]
    assert not Contact.objects.filter(workspace=workspace).exists()


def test_a_dry_run_writes_nothing_and_counts_what_a_real_run_does(workspace):
    ContactFactory(workspace=workspace, wechat_id="wx_old", nickname="旧")
    data = csv_bytes([
        ["wechat", "nickname", "phone", "tags"],
        ["wx_old", "改名", "", "VIP"],
        ["wx_new", "新", "13812345678", "VIP"],
        ["", "新的重复", "13812345678", ""],
        ["wx_bad", "坏", "999", ""],
    ])
    before = (Contact.objects.count(), ContactTag.objects.count(), TimelineEvent.objects.count())
    dry = run(workspace, "contacts", data, dry_run=True)
    assert (Contact.objects.count(), ContactTag.objects.count(), TimelineEvent.objects.count()) == before
    assert not workspace.tags.exists()
    real = run(workspace, "contacts", data)
    assert (dry.created, dry.updated, dry.skipped, dry.rejected) == (real.created, real.updated, real.skipped, real.rejected)
    assert (real.created, real.updated, real.rejected) == (1, 2, 1)


def test_a_limited_staff_member_imports_into_their_account_and_matches_only_their_contacts(workspace):
    mine, theirs = WeChatAccountFactory(workspace=workspace), WeChatAccountFactory(workspace=workspace)
    member = MemberFactory(workspace=workspace, role=Member.Role.STAFF, limited_to_assigned_accounts=True)
    member.assigned_accounts.set([mine])
    hidden = ContactFactory(workspace=workspace, owner_account=theirs, wechat_id="wx_shared", region="")
    run(workspace, "contacts", csv_bytes([["wechat", "region"], ["wx_shared", "成都"]]), member=member, account=mine)
    hidden.refresh_from_db()
    assert hidden.region == ""  # another account's contact is left alone
    created = Contact.objects.get(workspace=workspace, wechat_id="wx_shared", owner_account=mine)
    assert created.region == "成都"


# Orders ------------------------------------------------------------------------------------------------------------


ORDER_HEADER = ["客户", "下单时间", "金额", "订单号", "渠道", "商品"]


def test_orders_match_customers_by_external_id_wechat_id_or_phone(workspace):
    a = ContactFactory(workspace=workspace, external_id="M001", wechat_id="", phone="")
    b = ContactFactory(workspace=workspace, wechat_id="wx_buyer", phone="")
    c = ContactFactory(workspace=workspace, wechat_id="", phone="+8613812345678")
    data = csv_bytes([
        ORDER_HEADER,
        ["M001", "2024-05-01", "199", "T1", "淘宝", "海参"],
        ["wx_buyer", "2024-05-02 13:45", "¥1,299.00", "T2", "拼多多", "鲍鱼"],
        ["138 1234 5678", "20240503", "88", "T3", "抖音小店", ""],
    ])
    result = run(workspace, "orders", data)
    assert (result.created, result.contacts_created) == (3, 0)
    assert [o.contact_id for o in Order.objects.order_by("placed_at")] == [a.pk, b.pk, c.pk]
    assert [o.channel for o in Order.objects.order_by("placed_at")] == ["taobao", "pdd", "douyin"]


def test_order_dates_accept_iso_dates_date_times_and_yyyymmdd_in_the_workspaces_time_zone(workspace):
    data = csv_bytes([
        ["customer", "placed_at", "amount"],
        ["wx_d", "2024-05-01", "1"],
        ["wx_d", "2024-05-01T13:45:10", "2"],
        ["wx_d", "2024-05-01T13:45:10+00:00", "3"],
        ["wx_d", "20240501", "4"],
        ["wx_d", "2024/5/1 8:05", "5"],
    ])
    run(workspace, "orders", data)
    placed = dict(Order.objects.values_list("amount", "placed_at"))
    assert placed[Decimal("1.00")] == datetime(2024, 5, 1, tzinfo=SHANGHAI)
    assert placed[Decimal("2.00")] == datetime(2024, 5, 1, 13, 45, 10, tzinfo=SHANGHAI)
    assert placed[Decimal("3.00")] == datetime(2024, 5, 1, 21, 45, 10, tzinfo=SHANGHAI)
    assert placed[Decimal("4.00")] == datetime(2024, 5, 1, tzinfo=SHANGHAI)
    assert placed[Decimal("5.00")] == datetime(2024, 5, 1, 8, 5, tzinfo=SHANGHAI)


def test_amounts_accept_yuan_signs_and_separators_and_channels_map_to_known_ones():
    assert imports.parse_amount("¥1,299.00") == Decimal("1299.00")
    assert imports.parse_amount("1299") == Decimal("1299.00")
    assert imports.parse_amount("￥88元") == Decimal("88.00")
    assert imports.parse_amount("RMB 12.345") == Decimal("12.35")
    for bad in ("-5", "abc", "1.2.3", "", "NaN", "1e20"):
        with pytest.raises(imports._Bad):
            imports.parse_amount(bad)
    assert [imports.parse_channel(v) for v in ("淘宝", "Taobao", "拼多多", "PDD", "京东", "jd", "抖音", "微信", "闲鱼", "")] == [
        "taobao", "taobao", "pdd", "pdd", "jd", "jd", "douyin", "wechat", "other", "other",
    ]


def test_a_memo_parses_each_distinct_cell_once_and_stops_remembering_when_full():
    calls = []
    memo = imports.parsing.Memo(lambda text: calls.append(text) or text.upper(), size=2)
    assert [memo[v] for v in ("a", "b", "a", "c", "c")] == ["A", "B", "A", "C", "C"]
    assert calls == ["a", "b", "c", "c"]  # "c" came after the memo was full: parsed each time
    assert dict(memo) == {"a": "A", "b": "B"}


def test_bad_amount_bad_date_and_missing_customer_rows_are_reported_and_the_good_rows_committed(workspace):
    data = csv_bytes([
        ORDER_HEADER,
        ["wx_1", "2024-05-01", "100", "A1", "", ""],
        ["wx_1", "2024-05-01", "一百", "A2", "", ""],
        ["wx_1", "2024-05-01", "-20", "A3", "", ""],
        ["wx_1", "2024-13-45", "100", "A4", "", ""],
        ["", "2024-05-01", "100", "A5", "", ""],
        ["wx_1", "", "100", "A6", "", ""],
        ["wx_1", "2024-05-02", "200", "A7", "", ""],
    ])
    result = run(workspace, "orders", data)
    assert codes(result) == [
        (3, "bad_amount"), (4, "negative_amount"), (5, "bad_date"), (6, "missing_customer"), (7, "missing_date"),
    ]
    assert dict((e.line, e.column) for e in result.report if e.outcome == "rejected") == {
        3: "金额", 4: "金额", 5: "下单时间", 6: "客户", 7: "下单时间",
    }
    assert sorted(Order.objects.values_list("external_id", flat=True)) == ["A1", "A7"]


def test_an_unknown_customer_becomes_a_contact_with_source_import(workspace):
    account = WeChatAccountFactory(workspace=workspace)
    data = csv_bytes([
        ["customer", "placed_at", "amount", "nickname"],
        ["13912345678", "2024-05-01", "10", "新顾客"],
        ["139-1234-5678", "2024-05-02", "20", ""],  # the same customer, written differently
        ["tb_buyer_88", "2024-05-03", "30", ""],
    ])
    result = run(workspace, "orders", data, account=account)
    assert (result.created, result.contacts_created) == (3, 2)
    by_phone = Contact.objects.get(workspace=workspace, phone="+8613912345678")
    assert (by_phone.source, by_phone.nickname, by_phone.owner_account) == ("import", "新顾客", account)
    assert by_phone.orders.count() == 2
    other = Contact.objects.get(workspace=workspace, external_id="tb_buyer_88")
    assert other.source == Contact.Source.IMPORT and other.orders.count() == 1


def test_reimporting_an_orders_file_with_order_numbers_creates_nothing_twice(workspace):
    data = csv_bytes([ORDER_HEADER, ["wx_r", "2024-05-01", "99", "NO-1", "", ""], ["wx_r", "2024-05-02", "99", "NO-2", "", ""]])
    assert run(workspace, "orders", data).created == 2
    again = run(workspace, "orders", data)
    assert (again.created, again.skipped, again.contacts_created) == (0, 2, 0)
    assert Order.objects.filter(workspace=workspace).count() == 2
    assert Contact.objects.filter(workspace=workspace).count() == 1
    assert set(Order.objects.values_list("import_key", flat=True)) == {"id:NO-1", "id:NO-2"}


def test_reimporting_an_orders_file_without_order_numbers_creates_nothing_twice(workspace):
    rows = [["customer", "placed_at", "amount", "items"], ["wx_h", "2024-05-01 10:00", "¥99", "海参 x1"], ["wx_h", "2024-05-01 10:00", "99.00", "海参 x2"]]
    assert run(workspace, "orders", csv_bytes(rows)).created == 2
    # The same orders, the amount and time written another way: still the same orders.
    rows2 = [rows[0], ["wx_h", "2024-05-01T10:00:00+08:00", "99", "海参 x1"], ["wx_h", "2024-05-01 10:00", "¥99.00", "海参 x2"]]
    assert run(workspace, "orders", csv_bytes(rows2)).skipped == 2
    assert Order.objects.filter(workspace=workspace).count() == 2
    assert all(len(key) <= 64 for key in Order.objects.values_list("import_key", flat=True))


def test_an_order_another_import_committed_meanwhile_is_left_alone(workspace, monkeypatch):
    data = csv_bytes([ORDER_HEADER, ["wx_m", "2024-05-01", "99", "M-1", "", ""], ["wx_m", "2024-05-02", "88", "M-2", "", ""]])
    assert run(workspace, "orders", data).created == 2
    # The second import looks before the first commits: it sees no order yet and writes both again.
    lookup = writing._lookup
    monkeypatch.setattr(writing, "_lookup", lambda rows, key, values: lookup(rows, key, values).none() if rows.model is Order else lookup(rows, key, values))
    run(workspace, "orders", data)
    assert sorted(Order.objects.filter(workspace=workspace).values_list("import_key", "amount")) == [
        ("id:M-1", Decimal("99.00")), ("id:M-2", Decimal("88.00")),
    ]


def test_the_same_order_twice_in_one_file_is_imported_once(workspace):
    data = csv_bytes([ORDER_HEADER, ["wx_x", "2024-05-01", "5", "D1", "", ""], ["wx_x", "2024-05-01", "5", "D1", "", ""]])
    result = run(workspace, "orders", data)
    assert (result.created, result.skipped) == (1, 1)
    assert [(e.line, e.code) for e in result.report if e.outcome == "skipped"] == [(3, "duplicate")]


def test_an_order_number_longer_than_the_key_gets_a_hashed_key():
    key = imports.import_key(order_id="x" * 64, customer="c", placed_at=datetime(2024, 1, 1, tzinfo=SHANGHAI), amount=Decimal(1), items="")
    assert key.startswith("idh:") and len(key) == 64


def test_the_same_order_number_in_another_workspace_is_another_order(workspace):
    OrderFactory(contact=ContactFactory(), import_key="id:NO-1")
    data = csv_bytes([ORDER_HEADER, ["wx_r", "2024-05-01", "99", "NO-1", "", ""]])
    assert run(workspace, "orders", data).created == 1


def test_a_dry_run_of_orders_writes_nothing(workspace):
    data = csv_bytes([ORDER_HEADER, ["13912345678", "2024-05-01", "99", "N1", "", ""], ["13912345678", "2024-05-01", "99", "N1", "", ""]])
    result = run(workspace, "orders", data, dry_run=True)
    assert (result.created, result.skipped, result.contacts_created) == (1, 1, 1)
    assert not Order.objects.exists() and not Contact.objects.exists()


# Rejects -----------------------------------------------------------------------------------------------------------


def test_the_rejects_csv_has_the_original_row_a_reason_and_neutralised_formulas(workspace):
    out = io.StringIO()
    data = csv_bytes([["昵称", "手机号"], ["=HYPERLINK(\"http://evil\")", "12"], ["好人", "13812345678"], ["@SUM(A1)", "+86 1"]])
    run(workspace, "contacts", data, rejects=lambda header: imports.RejectsWriter(out, header))
    rows = list(csv.reader(io.StringIO(out.getvalue())))
    assert rows[0] == ["昵称", "手机号", "line", "reason"]
    assert rows[1][:3] == ["'=HYPERLINK(\"http://evil\")", "12", "2"]
    assert rows[1][3].startswith("手机号: ")
    assert rows[2][:3] == ["'@SUM(A1)", "'+86 1", "4"]
    assert len(rows) == 3


# Import jobs and the task ------------------------------------------------------------------------------------------


def make_job(member, data: bytes, *, kind="contacts", name="客户.csv", account=None) -> ImportJob:
    # Uploaded from the English UI, which the messages these tests read are in.
    return imports.import_job_create(
        member=member, kind=kind, upload=SimpleUploadedFile(name, data), account=account, language="en"
    )


def queue_and_run(job):
    assert imports.import_job_queue(job=job)
    tasks.import_job_run.delay(job_id=job.pk)
    job.refresh_from_db()
    return job


def test_the_task_run_twice_imports_once(owner):
    job = make_job(owner, csv_bytes([["昵称", "微信号"], ["甲", "wx_1"], ["乙", "wx_2"]]))
    queue_and_run(job)
    tasks.import_job_run.delay(job_id=job.pk)  # redelivered
    job.refresh_from_db()
    assert job.status == ImportJob.Status.DONE
    assert (job.total_rows, job.processed_rows, job.created_count) == (2, 2, 2)
    assert Contact.objects.filter(workspace=owner.workspace).count() == 2
    assert not imports.import_job_queue(job=job)  # a finished job is not queued again


def test_a_job_records_its_rejects_file_as_utf8_with_bom(owner):
    job = queue_and_run(make_job(owner, csv_bytes([["昵称", "手机号"], ["甲", "13812345678"], ["乙", "123"]])))
    assert (job.created_count, job.rejected_count) == (1, 1)
    raw = job.rejects.open("rb").read()
    job.rejects.close()
    assert raw.startswith(b"\xef\xbb\xbf")
    assert "乙" in raw.decode("utf-8-sig")


def test_a_crashed_import_keeps_its_committed_batches_and_resumes_after_them(owner, monkeypatch):
    monkeypatch.setattr(imports, "BATCH_SIZE", 2)
    rows = [["昵称", "微信号", "手机号"]] + [[f"客{i}", f"wx_{i}", "12" if i == 1 else ""] for i in range(7)]
    job = make_job(owner, csv_bytes(rows))
    original = imports._ContactImporter.write_plan
    calls = []

    def crash_on_third_batch(self, plan, result):
        calls.append(1)
        if len(calls) == 3:
            raise RuntimeError("worker died")
        return original(self, plan, result)

    monkeypatch.setattr(imports._ContactImporter, "write_plan", crash_on_third_batch)
    job = queue_and_run(job)
    assert job.status == ImportJob.Status.FAILED and "resume" in job.error
    assert job.processed_rows == 4  # two batches of two rows committed, with their counts
    assert (job.created_count, job.rejected_count) == (3, 1)
    assert Contact.objects.filter(workspace=owner.workspace).count() == 3

    monkeypatch.setattr(imports._ContactImporter, "write_plan", original)
    assert imports.import_job_resume(job=job)
    tasks.import_job_run.delay(job_id=job.pk)
    job.refresh_from_db()
    assert job.status == ImportJob.Status.DONE
    assert (job.processed_rows, job.created_count, job.rejected_count) == (7, 6, 1)
    assert Contact.objects.filter(workspace=owner.workspace).count() == 6
    assert "wx_1" in job.rejects.open("rb").read().decode("utf-8-sig")  # rejects of the first run kept
    job.rejects.close()


def test_a_job_whose_uploader_left_the_workspace_fails_politely(owner, teammate):
    job = make_job(teammate, csv_bytes([["昵称"], ["甲"]]))
    teammate.delete()
    job = queue_and_run(job)
    assert job.status == ImportJob.Status.FAILED
    assert not Contact.objects.filter(workspace=owner.workspace).exists()


def test_an_orders_job_imports_orders_once_even_when_queued_again(owner):
    data = csv_bytes([ORDER_HEADER, ["wx_o", "2024-05-01", "99", "J1", "微信", "海参"]])
    first = queue_and_run(make_job(owner, data, kind="orders"))
    second = queue_and_run(make_job(owner, data, kind="orders"))
    assert (first.created_count, second.created_count, second.skipped_count) == (1, 0, 1)
    assert Order.objects.filter(workspace=owner.workspace).count() == 1


def test_another_workspaces_contacts_are_never_touched_by_a_job(owner):
    elsewhere = ContactFactory(workspace=WorkspaceFactory(), wechat_id="wx_elsewhere", region="")
    queue_and_run(make_job(owner, csv_bytes([["微信号", "地区"], ["wx_elsewhere", "西安"]])))
    elsewhere.refresh_from_db()
    assert elsewhere.region == ""
    assert Contact.objects.get(workspace=owner.workspace).wechat_id == "wx_elsewhere"
