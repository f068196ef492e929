"""The import pages: upload, mapping with a preview, dry run, import through Celery, status and rejects download."""

import csv
import io

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from crm import imports
from crm.models import Contact, ImportJob, Member, Order
from tests.conftest import client_for
from tests.factories import MemberFactory, WeChatAccountFactory

pytestmark = pytest.mark.django_db

EN = {"HTTP_ACCEPT_LANGUAGE": "en"}


def csv_upload(rows, name="客户.csv", encoding="utf-8") -> SimpleUploadedFile:
    buffer = io.StringIO()
    csv.writer(buffer).writerows(rows)
    return SimpleUploadedFile(name, buffer.getvalue().encode(encoding), content_type="text/csv")


CONTACT_ROWS = [
    ["昵称", "手机号", "微信号", "标签"],
    ["王姐🌸", "13812345678", "wx_wang", "老客，VIP"],
    ["=cmd|' /C calc'!A0", "12345", "wx_bad", ""],
    ["李哥", "13912345678", "", ""],
]


def upload(client, rows=CONTACT_ROWS, kind="contacts", **extra):
    data = {"kind": kind, "file": csv_upload(rows), "encoding": "", **extra}
    return client.post(reverse("crm:import_list"), data, **EN)


def test_owner_and_teammate_see_the_import_page_with_its_nav_link(owner_client, teammate_client):
    for client in (owner_client, teammate_client):
        response = client.get(reverse("crm:import_list"), **EN)
        assert response.status_code == 200
        html = response.content.decode()
        assert f'href="{reverse("crm:import_list")}" aria-current="page"' in html
        assert 'enctype="multipart/form-data"' in html and "csrfmiddlewaretoken" in html


def test_anonymous_visitors_are_sent_to_sign_in(client):
    response = client.get(reverse("crm:import_list"))
    assert response.status_code == 302 and reverse("login") in response["Location"]


def test_an_upload_suggests_the_mapping_and_previews_the_first_rows(owner_client, workspace):
    response = upload(owner_client)
    job = ImportJob.objects.get(workspace=workspace)
    assert response.status_code == 302 and response["Location"] == reverse("crm:import_detail", args=[job.pk])
    assert job.original_name == "客户.csv" and job.status == ImportJob.Status.UPLOADED
    assert imports.job_columns(job) == {"昵称": "nickname", "手机号": "phone", "微信号": "wechat_id", "标签": "tags"}
    html = owner_client.get(response["Location"], **EN).content.decode()
    assert "王姐🌸" in html and "13912345678" in html
    assert '<option value="phone" selected>' in html
    assert "=cmd|&#x27; /C calc&#x27;!A0" in html  # shown escaped, never as markup
    assert not Contact.objects.exists()


def test_a_file_that_is_not_csv_or_excel_is_refused_politely(owner_client, workspace):
    for name, content in [("photo.png", b"\x89PNG\r\n\x1a\n...."), ("orders.xls", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"), ("a.pdf", b"%PDF-1.4")]:
        response = owner_client.post(
            reverse("crm:import_list"), {"kind": "contacts", "file": SimpleUploadedFile(name, content)}, **EN
        )
        assert response.status_code == 400
        html = response.content.decode()
        assert 'class="errorlist' in html
        assert "CSV" in html and ".xlsx" in html
    assert not ImportJob.objects.exists()


def test_a_file_over_the_size_limit_is_refused(owner_client, monkeypatch):
    monkeypatch.setattr(imports, "MAX_UPLOAD_BYTES", 10)
    response = upload(owner_client)
    assert response.status_code == 400
    assert "larger than" in response.content.decode()
    assert not ImportJob.objects.exists()


def test_the_dry_run_shows_what_would_happen_and_writes_nothing(owner_client, workspace):
    upload(owner_client)
    job = ImportJob.objects.get()
    data = {"column_0": "nickname", "column_1": "phone", "column_2": "wechat_id", "column_3": "tags", "action": "check"}
    response = owner_client.post(reverse("crm:import_detail", args=[job.pk]), data, **EN)
    assert response.status_code == 200
    html = response.content.decode()
    assert '<dd id="dry-created">2</dd>' in html and '<dd id="dry-rejected">1</dd>' in html
    assert 'data-code="bad_phone"' in html and '<td class="num">3</td>' in html
    assert not Contact.objects.exists() and not workspace.tags.exists()
    job.refresh_from_db()
    assert job.status == ImportJob.Status.CHECKED


def test_a_mapping_missing_a_required_column_is_a_form_error(owner_client):
    rows = [["客户", "金额"], ["wx_1", "9"]]
    upload(owner_client, rows=rows, kind="orders")
    job = ImportJob.objects.get()
    response = owner_client.post(
        reverse("crm:import_detail", args=[job.pk]), {"column_0": "customer", "column_1": "amount", "action": "import"}, **EN
    )
    assert response.status_code == 400
    assert "required" in response.content.decode()
    job.refresh_from_db()
    assert job.status == ImportJob.Status.UPLOADED


def test_importing_queues_the_task_and_the_status_page_shows_the_result(
    owner_client, workspace, django_capture_on_commit_callbacks
):
    upload(owner_client)
    job = ImportJob.objects.get()
    data = {"column_0": "nickname", "column_1": "phone", "column_2": "wechat_id", "column_3": "tags", "action": "import"}
    with django_capture_on_commit_callbacks(execute=True):
        response = owner_client.post(reverse("crm:import_detail", args=[job.pk]), data, **EN)
    assert response.status_code == 302 and response["Location"] == reverse("crm:import_status", args=[job.pk])
    job.refresh_from_db()
    assert job.status == ImportJob.Status.DONE
    assert (job.created_count, job.rejected_count, job.processed_rows, job.total_rows) == (2, 1, 3, 3)
    assert Contact.objects.filter(workspace=workspace, source=Contact.Source.IMPORT).count() == 2
    html = owner_client.get(response["Location"], **EN).content.decode()
    assert '<dd id="created-count">2</dd>' in html and '<dd id="rejected-count">1</dd>' in html
    assert 'data-status="done"' in html and 'hx-trigger="every 2s"' not in html
    assert reverse("crm:import_rejects", args=[job.pk]) in html
    chinese = owner_client.get(response["Location"], headers={"accept-language": "zh-hans"}).content.decode()
    assert "<dt>新建</dt>" in chinese and "创建时间" not in chinese  # a count, not a time
    # The mapping page of a started job leads to its status.
    assert owner_client.get(reverse("crm:import_detail", args=[job.pk]))["Location"] == response["Location"]


def test_the_status_page_polls_every_two_seconds_while_the_import_runs(owner_client, owner):
    job = imports.import_job_create(member=owner, kind="contacts", upload=csv_upload(CONTACT_ROWS))
    ImportJob.objects.filter(pk=job.pk).update(status=ImportJob.Status.RUNNING, total_rows=3000, processed_rows=1000)
    page = owner_client.get(reverse("crm:import_status", args=[job.pk]), **EN).content.decode()
    assert 'hx-trigger="every 2s"' in page and "<!doctype html>" in page
    fragment = owner_client.get(reverse("crm:import_status", args=[job.pk]), HTTP_HX_REQUEST="true", **EN)
    html = fragment.content.decode()
    assert "<!doctype html>" not in html
    assert 'id="import-status"' in html and 'hx-trigger="every 2s"' in html
    assert 'aria-valuenow="1000"' in html and "33%" in html


def test_the_rejects_csv_downloads_with_a_bom_reasons_and_neutralised_formulas(
    owner_client, workspace, django_capture_on_commit_callbacks
):
    upload(owner_client)
    job = ImportJob.objects.get()
    data = {"column_0": "nickname", "column_1": "phone", "column_2": "wechat_id", "column_3": "tags", "action": "import"}
    with django_capture_on_commit_callbacks(execute=True):
        owner_client.post(reverse("crm:import_detail", args=[job.pk]), data)
    response = owner_client.get(reverse("crm:import_rejects", args=[job.pk]), **EN)
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    assert "attachment" in response["Content-Disposition"]
    raw = b"".join(response.streaming_content)
    assert raw.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(raw.decode("utf-8-sig"))))
    assert rows[0][:4] == CONTACT_ROWS[0] and len(rows) == 2
    assert rows[1][0] == "'=cmd|' /C calc'!A0"
    assert rows[1][4] == "3" and "手机号" in rows[1][5]
    status_html = owner_client.get(reverse("crm:import_status", args=[job.pk]), **EN).content.decode()
    assert "&#x27;=cmd|&#x27; /C calc&#x27;!A0" in status_html


def test_a_job_without_rejects_has_no_download(owner_client, owner):
    job = imports.import_job_create(member=owner, kind="contacts", upload=csv_upload(CONTACT_ROWS[:2]))
    assert owner_client.get(reverse("crm:import_rejects", args=[job.pk])).status_code == 404


def test_another_workspaces_import_job_is_a_404(outsider_client, owner):
    job = imports.import_job_create(member=owner, kind="contacts", upload=csv_upload(CONTACT_ROWS))
    for name in ("crm:import_detail", "crm:import_status", "crm:import_rejects"):
        assert outsider_client.get(reverse(name, args=[job.pk])).status_code == 404
    assert outsider_client.post(reverse("crm:import_detail", args=[job.pk]), {"action": "import"}).status_code == 404
    assert outsider_client.post(reverse("crm:import_resume", args=[job.pk])).status_code == 404
    assert "客户.csv" not in outsider_client.get(reverse("crm:import_list")).content.decode()


def test_a_teammate_can_import_and_sees_the_workspaces_imports(teammate_client, owner, workspace, django_capture_on_commit_callbacks):
    imports.import_job_create(member=owner, kind="contacts", upload=csv_upload(CONTACT_ROWS, name="owners.csv"))
    assert "owners.csv" in teammate_client.get(reverse("crm:import_list")).content.decode()
    upload(teammate_client, rows=[["微信号", "昵称"], ["wx_team", "队友导入"]])
    job = ImportJob.objects.get(original_name="客户.csv")
    with django_capture_on_commit_callbacks(execute=True):
        teammate_client.post(
            reverse("crm:import_detail", args=[job.pk]), {"column_0": "wechat_id", "column_1": "nickname", "action": "import"}
        )
    assert Contact.objects.get(workspace=workspace, wechat_id="wx_team").nickname == "队友导入"


def test_a_limited_staff_member_imports_into_an_account_they_may_use(workspace, django_capture_on_commit_callbacks):
    mine, theirs = WeChatAccountFactory(workspace=workspace, name="我的号"), WeChatAccountFactory(workspace=workspace, name="别人的号")
    member = MemberFactory(workspace=workspace, role=Member.Role.STAFF, limited_to_assigned_accounts=True)
    member.assigned_accounts.set([mine])
    client = client_for(member)
    html = client.get(reverse("crm:import_list"), **EN).content.decode()
    assert "我的号" in html and "别人的号" not in html
    assert upload(client, account="").status_code == 400  # an account is required
    assert upload(client, account=theirs.pk).status_code == 400
    response = upload(client, rows=[["微信号", "昵称"], ["wx_limited", "限定"]], account=mine.pk)
    job = ImportJob.objects.get()
    with django_capture_on_commit_callbacks(execute=True):
        client.post(response["Location"], {"column_0": "wechat_id", "column_1": "nickname", "action": "import"})
    assert Contact.objects.get(wechat_id="wx_limited").owner_account == mine
    # Another member's import job is not theirs to see.
    other = imports.import_job_create(
        member=MemberFactory(workspace=workspace, role=Member.Role.OWNER), kind="contacts", upload=csv_upload(CONTACT_ROWS)
    )
    assert client.get(reverse("crm:import_status", args=[other.pk])).status_code == 404
    assert client.get(reverse("crm:import_status", args=[job.pk])).status_code == 200


def test_an_orders_file_in_gbk_imports_through_the_pages(owner_client, workspace, django_capture_on_commit_callbacks):
    rows = [["客户", "下单时间", "实付金额", "订单号", "平台", "商品"], ["13812345678", "20240501", "￥1,299.00", "TB1", "淘宝", "海参礼盒"]]  # ￥: GBK's yuan sign
    response = owner_client.post(
        reverse("crm:import_list"), {"kind": "orders", "file": csv_upload(rows, encoding="gbk"), "encoding": ""}
    )
    job = ImportJob.objects.get()
    assert imports.job_columns(job)["实付金额"] == "amount"
    form = {f"column_{i}": field for i, field in enumerate(["customer", "placed_at", "amount", "order_id", "channel", "items"])}
    with django_capture_on_commit_callbacks(execute=True):
        owner_client.post(response["Location"], {**form, "action": "import"})
    order = Order.objects.get(workspace=workspace)
    assert (order.external_id, order.channel, order.items, str(order.amount)) == ("TB1", "taobao", "海参礼盒", "1299.00")
    assert order.contact.source == Contact.Source.IMPORT and order.contact.phone == "+8613812345678"


def test_a_failed_import_can_be_resumed(owner_client, owner, django_capture_on_commit_callbacks):
    job = imports.import_job_create(member=owner, kind="contacts", upload=csv_upload(CONTACT_ROWS))
    ImportJob.objects.filter(pk=job.pk).update(status=ImportJob.Status.FAILED, error="boom")
    html = owner_client.get(reverse("crm:import_status", args=[job.pk]), **EN).content.decode()
    assert reverse("crm:import_resume", args=[job.pk]) in html
    with django_capture_on_commit_callbacks(execute=True):
        response = owner_client.post(reverse("crm:import_resume", args=[job.pk]))
    assert response.status_code == 302
    job.refresh_from_db()
    assert job.status == ImportJob.Status.DONE and job.created_count == 2
    # A finished job is not resumed, or run again.
    owner_client.post(reverse("crm:import_resume", args=[job.pk]))
    job.refresh_from_db()
    assert job.status == ImportJob.Status.DONE and Contact.objects.count() == 2


@pytest.mark.parametrize(("headers", "reason"), [(EN, "is not a phone number"), ({}, "不是手机号码")])
def test_the_worker_gives_the_rejected_rows_reasons_in_the_uploaders_language(
    owner_client, headers, reason, django_capture_on_commit_callbacks
):
    owner_client.post(reverse("crm:import_list"), {"kind": "contacts", "file": csv_upload(CONTACT_ROWS), "encoding": ""}, **headers)
    job = ImportJob.objects.get()
    data = {"column_0": "nickname", "column_1": "phone", "column_2": "wechat_id", "column_3": "tags", "action": "import"}
    with django_capture_on_commit_callbacks(execute=True):
        owner_client.post(reverse("crm:import_detail", args=[job.pk]), data, **headers)
    raw = b"".join(owner_client.get(reverse("crm:import_rejects", args=[job.pk])).streaming_content)
    rows = list(csv.reader(io.StringIO(raw.decode("utf-8-sig"))))
    assert reason in rows[1][5]
