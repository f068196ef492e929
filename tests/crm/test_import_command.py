"""`manage.py crm_import contacts|orders FILE --workspace SLUG [--dry-run] [--map column=field] [--encoding gbk]`."""

import csv
import io

import pytest
from django.core.management import CommandError, call_command

from crm import tasks
from crm.models import Contact, Order
from tests.factories import WeChatAccountFactory

pytestmark = pytest.mark.django_db


def write_csv(path, rows, encoding="utf-8"):
    buffer = io.StringIO()
    csv.writer(buffer).writerows(rows)
    path.write_bytes(buffer.getvalue().encode(encoding))
    return path


def crm_import(*args) -> str:
    out = io.StringIO()
    call_command("crm_import", *args, "--no-progress", stdout=out, stderr=io.StringIO())
    return out.getvalue()


CONTACTS = [["昵称", "电话号码", "微信号"], ["王秀英", "13812345678", "wx_wang"], ["坏号码", "123", "wx_bad"]]


def test_it_imports_contacts_and_prints_a_summary(workspace, tmp_path):
    path = write_csv(tmp_path / "客户.csv", CONTACTS)
    out = crm_import("contacts", str(path), "--workspace", workspace.slug)
    assert "Imported: 2 rows: 1 created, 0 updated, 0 skipped, 1 rejected" in out
    assert "line 3 rejected: 电话号码:" in out
    assert Contact.objects.get(workspace=workspace).phone == "+8613812345678"


def test_an_import_that_created_contacts_queues_the_search_index_merge(workspace, tmp_path, monkeypatch):
    queued = []
    monkeypatch.setattr(tasks.search_indexes_flush, "delay", lambda: queued.append(True))
    path = write_csv(tmp_path / "客户.csv", CONTACTS)
    crm_import("contacts", str(path), "--workspace", workspace.slug)
    crm_import("contacts", str(path), "--workspace", workspace.slug)  # creates nothing the second time
    crm_import("contacts", str(path), "--workspace", workspace.slug, "--dry-run")
    assert queued == [True]


def test_with_dry_run_it_writes_nothing(workspace, tmp_path):
    path = write_csv(tmp_path / "客户.csv", CONTACTS)
    out = crm_import("contacts", str(path), "--workspace", workspace.slug, "--dry-run")
    assert "Dry run, nothing written: 2 rows: 1 created" in out
    assert not Contact.objects.exists()


def test_map_overrides_and_ignores_columns(workspace, tmp_path):
    path = write_csv(tmp_path / "c.csv", [["名字", "号码", "微信号"], ["阿花", "13812345678", "wx_hua"]])
    out = crm_import(
        "contacts", str(path), "--workspace", workspace.slug, "--map", "名字=remark_name", "--map", "号码=phone",
        "--map", "微信号=",
    )
    assert "名字 → remark_name" in out
    contact = Contact.objects.get(workspace=workspace)
    assert (contact.remark_name, contact.nickname, contact.phone, contact.wechat_id) == ("阿花", "", "+8613812345678", "")


def test_it_imports_a_gbk_orders_file_with_a_chosen_encoding_once(workspace, tmp_path):
    account = WeChatAccountFactory(workspace=workspace, name="海味小张")
    rows = [["客户", "下单时间", "金额", "订单号"], ["13912345678", "2024-05-01 10:00", "￥88", "JD-1"]]
    path = write_csv(tmp_path / "orders.csv", rows, encoding="gbk")
    args = ("orders", str(path), "--workspace", workspace.slug, "--encoding", "gbk", "--account", "海味小张")
    assert "1 created" in crm_import(*args)
    assert "0 created, 0 updated, 1 skipped" in crm_import(*args)
    order = Order.objects.get(workspace=workspace)
    assert order.contact.owner_account == account and order.contact.source == "import"


def test_it_detects_a_gbk_file_without_being_told(workspace, tmp_path):
    path = write_csv(tmp_path / "客户.csv", [["昵称", "微信号", "标签"], ["王秀英", "wx_gbk", "老客，海参"]], encoding="gbk")
    out = crm_import("contacts", str(path), "--workspace", workspace.slug)
    assert "1 created" in out
    contact = Contact.objects.get(workspace=workspace)
    assert (contact.nickname, sorted(contact.tags.names())) == ("王秀英", ["海参", "老客"])


def test_it_writes_the_rejects_to_a_csv_when_asked(workspace, tmp_path):
    path = write_csv(tmp_path / "c.csv", [["昵称", "手机号"], ["=1+1", "12"]])
    rejects = tmp_path / "rejects.csv"
    crm_import("contacts", str(path), "--workspace", workspace.slug, "--rejects", str(rejects))
    raw = rejects.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")
    assert list(csv.reader(io.StringIO(raw.decode("utf-8-sig"))))[1][:3] == ["'=1+1", "12", "2"]


def test_a_bad_file_is_a_command_error(workspace, tmp_path):
    png = tmp_path / "photo.png"
    png.write_bytes(b"\x89PNG\r\n\x1a\n")
    with pytest.raises(CommandError, match="CSV or Excel"):
        crm_import("contacts", str(png), "--workspace", workspace.slug)
    with pytest.raises(CommandError, match="No file"):
        crm_import("contacts", str(tmp_path / "missing.csv"), "--workspace", workspace.slug)
    broken = tmp_path / "broken.xlsx"
    broken.write_bytes(b"PK\x03\x04 not really a zip")
    with pytest.raises(CommandError, match="cannot be opened"):
        crm_import("contacts", str(broken), "--workspace", workspace.slug)


def test_a_mapping_without_required_columns_is_a_command_error_listing_the_columns(workspace, tmp_path):
    path = write_csv(tmp_path / "o.csv", [["客户", "金额"], ["wx", "9"]])
    with pytest.raises(CommandError, match="Columns: 客户, 金额"):
        crm_import("orders", str(path), "--workspace", workspace.slug)
    with pytest.raises(CommandError, match="no column"):
        crm_import("orders", str(path), "--workspace", workspace.slug, "--map", "日期=placed_at")


def test_an_unknown_workspace_is_a_command_error(db, tmp_path):
    path = write_csv(tmp_path / "c.csv", CONTACTS)
    with pytest.raises(CommandError, match="No workspace"):
        crm_import("contacts", str(path), "--workspace", "nope")
