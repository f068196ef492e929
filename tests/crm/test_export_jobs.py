"""Big exports: more than EXPORT_INLINE_MAX_ROWS contacts become an export job written by Celery, with a page that
shows its progress and then the download, for the member's workspace only; files expire after a week."""

import csv
import io
from datetime import timedelta
from pathlib import Path

import pytest
from django.urls import reverse
from django.utils import timezone
from openpyxl import load_workbook

from crm import exports, exports_jobs, tasks
from crm.models import Contact, ExportJob, Member, Segment
from tests.conftest import client_for
from tests.factories import (
    ContactFactory,
    ExportJobFactory,
    MemberFactory,
    TagFactory,
    WeChatAccountFactory,
    tag_contact,
)

pytestmark = pytest.mark.django_db

EN = {"HTTP_ACCEPT_LANGUAGE": "en"}
CSV_URL = reverse("crm:contact_export_csv")
XLSX_URL = reverse("crm:contact_export_xlsx")


@pytest.fixture(autouse=True)
def _small_inline_limit(settings):
    settings.EXPORT_INLINE_MAX_ROWS = 2


@pytest.fixture
def export(django_capture_on_commit_callbacks):
    """GET an export URL and run what it queued after commit (Celery is eager in tests)."""

    def get(client, url, data=None, **extra):
        with django_capture_on_commit_callbacks(execute=True):
            return client.get(url, data or {}, **{**EN, **extra})

    return get


def job_of(response) -> ExportJob:
    assert response.status_code == 302, response.status_code
    job = ExportJob.objects.get()
    assert response["Location"] == reverse("crm:export_job_detail", args=[job.pk])
    return job


def download(client, job):
    return client.get(reverse("crm:export_job_download", args=[job.pk]), **EN)


def csv_rows(response) -> tuple[bytes, list[list[str]]]:
    raw = b"".join(response.streaming_content)
    return raw, list(csv.reader(io.StringIO(raw.decode("utf-8-sig"))))


def xlsx_rows(response) -> list[list]:
    workbook = load_workbook(io.BytesIO(b"".join(response.streaming_content)), read_only=True)
    return [list(row) for row in workbook.worksheets[0].iter_rows(values_only=True)]


def export_files(settings) -> list[Path]:
    return [path for path in Path(settings.MEDIA_ROOT).rglob("*") if path.is_file()]


def rule_of(*children, op="and"):
    return {"version": 1, "root": {"op": op, "not": False, "children": list(children)}}


def test_a_small_export_still_downloads_inside_the_request(owner_client, workspace):
    ContactFactory.create_batch(2, workspace=workspace)
    response = owner_client.get(CSV_URL, **EN)
    assert response.status_code == 200 and response["Content-Type"] == "text/csv; charset=utf-8"
    assert not ExportJob.objects.exists()


def test_a_big_export_becomes_a_job_whose_file_holds_exactly_the_filtered_contacts(
    owner_client, owner, workspace, outsider, export
):
    vips = [ContactFactory(workspace=workspace, stage=Contact.Stage.VIP, remark_name=f"大客{n}") for n in range(3)]
    ContactFactory(workspace=workspace, stage=Contact.Stage.NEW, remark_name="新客")
    ContactFactory(workspace=workspace, stage=Contact.Stage.VIP, remark_name="合并掉的", merged_into=vips[0])
    ContactFactory(workspace=outsider.workspace, stage=Contact.Stage.VIP, remark_name="别家的")
    job = job_of(export(owner_client, CSV_URL, {"stage": "vip", "page": 2}))
    job.refresh_from_db()
    assert job.status == ExportJob.Status.DONE and job.source == ExportJob.Source.LIST
    assert job.query == "stage=vip" and job.requested_by == owner.user
    assert job.rows_done == job.rows_total == 3
    response = download(owner_client, job)
    assert response.status_code == 200 and response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Cache-Control"] == "private, no-store"
    assert 'filename="contacts-20' in response["Content-Disposition"]
    raw, rows = csv_rows(response)
    assert raw.startswith(b"\xef\xbb\xbf")
    assert rows[0][:3] == ["ID", "Remark name", "Nickname"]
    assert sorted(row[1] for row in rows[1:]) == ["大客0", "大客1", "大客2"]


def test_a_limited_teammates_big_export_holds_only_their_accounts_contacts(workspace, export):
    mine, theirs = WeChatAccountFactory(workspace=workspace), WeChatAccountFactory(workspace=workspace)
    limited = MemberFactory(workspace=workspace, role=Member.Role.STAFF, limited_to_assigned_accounts=True)
    limited.assigned_accounts.add(mine)
    for n in range(3):
        ContactFactory(workspace=workspace, owner_account=mine, remark_name=f"我的{n}")
    ContactFactory.create_batch(3, workspace=workspace, owner_account=theirs, remark_name="别人的")
    client = client_for(limited)
    job = job_of(export(client, CSV_URL))
    _raw, rows = csv_rows(download(client, job))
    assert sorted(row[1] for row in rows[1:]) == ["我的0", "我的1", "我的2"]


def test_a_big_segment_export_becomes_an_excel_job_with_the_segments_contacts(owner_client, workspace, export):
    old = TagFactory(workspace=workspace, name="老客")
    for n in range(3):
        tag_contact(ContactFactory(workspace=workspace, remark_name=f"老客{n}"), old)
    ContactFactory(workspace=workspace, remark_name="路人")
    segment = Segment.objects.create(
        workspace=workspace, name="老客们", rule=rule_of({"field": "tags", "match": "any", "tags": [old.pk]})
    )
    job = job_of(export(owner_client, reverse("crm:segment_export_xlsx", args=[segment.pk])))
    job.refresh_from_db()
    assert job.source == ExportJob.Source.SEGMENT and job.segment == segment and job.rule == segment.rule
    assert job.file_name.startswith("segment-老客们-") and job.file_name.endswith(".xlsx")
    response = download(owner_client, job)
    assert response["Content-Type"] == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    rows = xlsx_rows(response)
    assert sorted(row[1] for row in rows[1:]) == ["老客0", "老客1", "老客2"]
    assert all(isinstance(row[0], int) for row in rows[1:])


def test_a_segment_job_exports_the_rule_as_it_was_when_asked_for(owner_client, workspace, django_capture_on_commit_callbacks):
    ContactFactory.create_batch(3, workspace=workspace, stage=Contact.Stage.VIP)
    ContactFactory(workspace=workspace, stage=Contact.Stage.NEW)
    segment = Segment.objects.create(
        workspace=workspace, name="大客", rule=rule_of({"field": "stage", "values": [Contact.Stage.VIP]})
    )
    with django_capture_on_commit_callbacks() as callbacks:
        owner_client.get(reverse("crm:segment_export_csv", args=[segment.pk]), **EN)
    segment.rule = rule_of()  # edited to match everyone before the worker gets to it
    segment.save()
    for callback in callbacks:
        callback()
    job = ExportJob.objects.get()
    _raw, rows = csv_rows(download(owner_client, job))
    assert len(rows) == 4


@pytest.mark.parametrize("url", [CSV_URL, XLSX_URL])
def test_formula_cells_are_neutralised_in_a_job_file(owner_client, workspace, export, url):
    for text in ("=HYPERLINK(\"http://evil\",\"x\")", "+1", "-2", "@SUM(A1)"):
        ContactFactory(workspace=workspace, remark_name=text)
    response = download(owner_client, job_of(export(owner_client, url)))
    rows = csv_rows(response)[1] if url == CSV_URL else xlsx_rows(response)
    assert sorted(row[1] for row in rows[1:]) == sorted(
        ["'=HYPERLINK(\"http://evil\",\"x\")", "'+1", "'-2", "'@SUM(A1)"]
    )


def test_an_excel_job_stops_at_excels_row_limit_and_says_so(owner_client, workspace, export, monkeypatch):
    monkeypatch.setattr(exports, "XLSX_MAX_ROWS", 3)
    ContactFactory.create_batch(4, workspace=workspace)
    job = job_of(export(owner_client, XLSX_URL))
    job.refresh_from_db()
    assert job.truncated and job.rows_done == 3
    response = download(owner_client, job)
    assert response["X-Export-Truncated"] == "3"
    assert len(xlsx_rows(response)) == 4  # header + 3
    html = owner_client.get(reverse("crm:export_job_detail", args=[job.pk]), **EN).content.decode()
    assert "Excel holds at most 3 rows" in html


def test_the_file_is_written_in_the_language_of_the_member_who_asked(owner_client, workspace, export):
    ContactFactory.create_batch(3, workspace=workspace)
    job = job_of(export(owner_client, CSV_URL, HTTP_ACCEPT_LANGUAGE="zh-hans"))
    _raw, rows = csv_rows(download(owner_client, job))
    assert rows[0][1] == "备注名"


def test_the_task_run_twice_writes_the_file_once(owner, workspace, settings):
    ContactFactory.create_batch(3, workspace=workspace)
    job = ExportJobFactory(workspace=workspace, requested_by=owner.user)
    tasks.export_job_run.delay(job_id=job.pk)
    job.refresh_from_db()
    first = job.file.name
    assert job.status == ExportJob.Status.DONE and first
    tasks.export_job_run.delay(job_id=job.pk)
    job.refresh_from_db()
    assert job.file.name == first
    assert export_files(settings) == [Path(settings.MEDIA_ROOT) / first]


def test_a_job_claimed_by_another_worker_is_not_run_again(owner, workspace, settings):
    ContactFactory.create_batch(3, workspace=workspace)
    job = ExportJobFactory(workspace=workspace, requested_by=owner.user, status=ExportJob.Status.RUNNING)
    exports_jobs.export_job_run(job_id=job.pk)
    job.refresh_from_db()
    assert job.status == ExportJob.Status.RUNNING and not job.file
    assert export_files(settings) == []


def test_the_same_big_export_asked_twice_while_it_waits_is_queued_once(
    owner_client, workspace, django_capture_on_commit_callbacks
):
    ContactFactory.create_batch(3, workspace=workspace)
    with django_capture_on_commit_callbacks() as callbacks:
        first = owner_client.get(CSV_URL, {"stage": ""}, **EN)
        second = owner_client.get(CSV_URL, {"stage": ""}, **EN)
    assert ExportJob.objects.count() == 1 and len(callbacks) == 1
    assert first["Location"] == second["Location"]
    owner_client.get(XLSX_URL, **EN)
    assert ExportJob.objects.count() == 2  # another format is another export


def test_the_job_page_polls_while_the_export_runs_and_offers_the_file_when_done(owner_client, owner, workspace):
    ContactFactory.create_batch(3, workspace=workspace)
    job = ExportJobFactory(workspace=workspace, requested_by=owner.user, rows_total=3)
    url = reverse("crm:export_job_detail", args=[job.pk])
    html = owner_client.get(url, **EN).content.decode()
    assert 'hx-trigger="every 2s"' in html and "Waiting for the background worker" in html
    assert reverse("crm:export_job_download", args=[job.pk]) not in html
    exports_jobs.export_job_run(job_id=job.pk)
    fragment = owner_client.get(url, HTTP_HX_REQUEST="true", **EN).content.decode()
    assert fragment.lstrip().startswith("<section") and "<html" not in fragment
    assert 'hx-trigger="every 2s"' not in fragment
    assert reverse("crm:export_job_download", args=[job.pk]) in fragment


def test_the_job_page_shows_how_far_the_export_is(owner_client, owner, workspace):
    job = ExportJobFactory(
        workspace=workspace, requested_by=owner.user, status=ExportJob.Status.RUNNING, rows_total=40_000, rows_done=10_000
    )
    html = owner_client.get(reverse("crm:export_job_detail", args=[job.pk]), **EN).content.decode()
    assert "10,000 of 40,000 contacts written" in html and "(25%)" in html


def test_the_job_page_speaks_chinese_by_default(owner_client, owner, workspace):
    job = ExportJobFactory(workspace=workspace, requested_by=owner.user, rows_total=4, rows_done=2,
                           status=ExportJob.Status.RUNNING)
    html = owner_client.get(reverse("crm:export_job_detail", args=[job.pk])).content.decode()
    assert "已写入" in html and "全部导出" in html


def test_owner_and_teammate_open_and_download_the_job_but_an_outsider_gets_a_404(
    owner_client, teammate_client, outsider_client, owner, workspace
):
    ContactFactory.create_batch(3, workspace=workspace)
    job = ExportJobFactory(workspace=workspace, requested_by=owner.user)
    exports_jobs.export_job_run(job_id=job.pk)
    for client, status in ((owner_client, 200), (teammate_client, 200), (outsider_client, 404)):
        assert client.get(reverse("crm:export_job_detail", args=[job.pk])).status_code == status
        assert download(client, job).status_code == status
    assert job.file_name not in outsider_client.get(reverse("crm:export_job_list")).content.decode()


def test_a_limited_teammate_sees_only_their_own_export_jobs(owner, workspace):
    limited = MemberFactory(workspace=workspace, role=Member.Role.STAFF, limited_to_assigned_accounts=True)
    own = ExportJobFactory(workspace=workspace, requested_by=limited.user)
    owners = ExportJobFactory(workspace=workspace, requested_by=owner.user)
    for job in (own, owners):
        exports_jobs.export_job_run(job_id=job.pk)
    client = client_for(limited)
    assert client.get(reverse("crm:export_job_detail", args=[own.pk])).status_code == 200
    assert download(client, own).status_code == 200
    assert client.get(reverse("crm:export_job_detail", args=[owners.pk])).status_code == 404
    assert download(client, owners).status_code == 404
    html = client.get(reverse("crm:export_job_list"), **EN).content.decode()
    assert f'id="export-{own.pk}"' in html and f'id="export-{owners.pk}"' not in html


def test_the_exports_page_lists_recent_exports_with_their_download(owner_client, owner, teammate, workspace):
    done = ExportJobFactory(workspace=workspace, requested_by=owner.user, file_name="contacts-done.csv")
    exports_jobs.export_job_run(job_id=done.pk)
    waiting = ExportJobFactory(workspace=workspace, requested_by=teammate.user, file_name="contacts-waiting.csv")
    response = owner_client.get(reverse("crm:export_job_list"), **EN)
    assert response.status_code == 200
    html = response.content.decode()
    assert "contacts-done.csv" in html and "contacts-waiting.csv" in html
    assert reverse("crm:export_job_download", args=[done.pk]) in html
    assert reverse("crm:export_job_download", args=[waiting.pk]) not in html


def test_the_export_pages_send_anonymous_visitors_to_sign_in(client, owner, workspace):
    job = ExportJobFactory(workspace=workspace, requested_by=owner.user)
    for url in (reverse("crm:export_job_list"), reverse("crm:export_job_detail", args=[job.pk]),
                reverse("crm:export_job_download", args=[job.pk])):
        response = client.get(url)
        assert response.status_code == 302 and reverse("login") in response["Location"]


def test_a_failed_job_shows_its_error_and_offers_to_export_again(owner_client, owner, workspace, monkeypatch):
    ContactFactory.create_batch(3, workspace=workspace)
    job = ExportJobFactory(workspace=workspace, requested_by=owner.user, query="stage=vip")

    def broken(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(exports, "csv_chunks", broken)
    exports_jobs.export_job_run(job_id=job.pk)
    job.refresh_from_db()
    assert job.status == ExportJob.Status.FAILED and job.finished_at
    assert job.error == "The export stopped on an unexpected error. Export again; if it fails again, tell us."
    html = owner_client.get(reverse("crm:export_job_detail", args=[job.pk]), **EN).content.decode()
    assert "The export stopped on an unexpected error" in html and 'role="alert"' in html
    assert f'{reverse("crm:contact_export_csv")}?stage=vip' in html
    assert download(owner_client, job).status_code == 404


def test_a_segment_whose_nested_segment_was_deleted_before_the_export_ran_fails_with_the_reason(
    owner_client, workspace, django_capture_on_commit_callbacks
):
    ContactFactory.create_batch(3, workspace=workspace, stage=Contact.Stage.VIP)
    inner = Segment.objects.create(
        workspace=workspace, name="大客", rule=rule_of({"field": "stage", "values": [Contact.Stage.VIP]})
    )
    outer = Segment.objects.create(
        workspace=workspace, name="大客们", rule=rule_of({"field": "in_segment", "segment": inner.pk})
    )
    with django_capture_on_commit_callbacks() as callbacks:
        owner_client.get(reverse("crm:segment_export_csv", args=[outer.pk]), **EN)
    inner_pk = inner.pk
    inner.delete()
    for callback in callbacks:
        callback()
    job = ExportJob.objects.get()
    assert job.status == ExportJob.Status.FAILED and job.error == f"Unknown segment #{inner_pk}."
    html = owner_client.get(reverse("crm:export_job_detail", args=[job.pk]), **EN).content.decode()
    assert job.error in html and 'id="export-again"' in html


def test_an_export_for_someone_who_left_the_workspace_fails_politely(owner, workspace):
    leaver = MemberFactory(workspace=workspace)
    job = ExportJobFactory(workspace=workspace, requested_by=leaver.user)
    leaver.delete()
    exports_jobs.export_job_run(job_id=job.pk)
    job.refresh_from_db()
    assert job.status == ExportJob.Status.FAILED
    assert job.error == "The member who asked for this export is no longer in the workspace."


def test_files_older_than_seven_days_are_deleted_and_the_job_says_it_expired(owner_client, owner, workspace, settings):
    ContactFactory.create_batch(3, workspace=workspace)
    old, recent = (ExportJobFactory(workspace=workspace, requested_by=owner.user) for _ in range(2))
    for job in (old, recent):
        exports_jobs.export_job_run(job_id=job.pk)
    ExportJob.objects.filter(pk=old.pk).update(finished_at=timezone.now() - timedelta(days=7, minutes=1))
    ExportJob.objects.filter(pk=recent.pk).update(finished_at=timezone.now() - timedelta(days=6))
    old.refresh_from_db()
    old_path = Path(settings.MEDIA_ROOT) / old.file.name
    assert old_path.exists()
    tasks.export_jobs_expire.delay()
    tasks.export_jobs_expire.delay()  # a second sweep finds nothing more to do
    old.refresh_from_db()
    recent.refresh_from_db()
    assert old.status == ExportJob.Status.EXPIRED and not old.file and not old_path.exists()
    assert recent.status == ExportJob.Status.DONE and (Path(settings.MEDIA_ROOT) / recent.file.name).exists()
    assert download(owner_client, old).status_code == 404
    html = owner_client.get(reverse("crm:export_job_detail", args=[old.pk]), **EN).content.decode()
    assert "This export has expired" in html and 'id="export-again"' in html


def test_a_running_job_whose_worker_was_lost_fails_on_the_next_sweep(owner, workspace, settings):
    job = ExportJobFactory(
        workspace=workspace, requested_by=owner.user, status=ExportJob.Status.RUNNING,
        started_at=timezone.now() - timedelta(seconds=settings.CELERY_TASK_TIME_LIMIT + 120),
    )
    fresh = ExportJobFactory(workspace=workspace, requested_by=owner.user, status=ExportJob.Status.RUNNING,
                             started_at=timezone.now())
    exports_jobs.export_jobs_expire()
    job.refresh_from_db()
    fresh.refresh_from_db()
    assert job.status == ExportJob.Status.FAILED and "lost" in job.error
    assert fresh.status == ExportJob.Status.RUNNING


def test_an_export_file_is_private_with_no_public_url(owner, workspace, settings):
    ContactFactory.create_batch(3, workspace=workspace)
    job = ExportJobFactory(workspace=workspace, requested_by=owner.user)
    exports_jobs.export_job_run(job_id=job.pk)
    job.refresh_from_db()
    assert job.file.name.startswith("private/exports/")
    with pytest.raises(ValueError):
        job.file.url


def test_the_admin_shows_export_jobs_read_only_without_a_file_link(owner, workspace, admin_client):
    job = ExportJobFactory(workspace=workspace, requested_by=owner.user, file_name="contacts-admin.csv")
    exports_jobs.export_job_run(job_id=job.pk)
    assert "contacts-admin.csv" in admin_client.get(reverse("admin:crm_exportjob_changelist")).content.decode()
    response = admin_client.get(reverse("admin:crm_exportjob_change", args=[job.pk]))
    assert response.status_code == 200 and "private/exports/" not in response.content.decode()
