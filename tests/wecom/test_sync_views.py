"""The sync section of the WeCom settings page and its "Sync now" button: the owner's alone."""

import pytest
from django.urls import reverse
from django.utils import timezone

from crm.models import Contact
from tests.wecom.fake_sync import FakeCorp
from wecom.sync_models import SyncState

pytestmark = pytest.mark.django_db

SETTINGS = reverse("wecom:settings")
SYNC_NOW = reverse("wecom:sync_now")


@pytest.fixture
def corp(fake_wecom):
    corp = FakeCorp()
    corp.install(fake_wecom)
    corp.add_customer("zhangsan", "wmA", remark="李姐")
    return corp


def test_the_owner_syncs_now_and_the_customers_arrive(owner_client, credentials, corp, workspace,
                                                      django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        response = owner_client.post(SYNC_NOW, follow=True)
    assert [m.level_tag for m in response.context["messages"]] == ["success"]
    assert Contact.objects.get(workspace=workspace, external_id="wmA").remark_name == "李姐"
    html = response.content.decode()
    assert "wecom-sync-now" in html


def test_the_htmx_button_answers_with_the_sync_section(owner_client, credentials, corp):
    response = owner_client.post(SYNC_NOW, HTTP_HX_REQUEST="true")
    html = response.content.decode()
    assert response.status_code == 200 and 'id="wecom-sync"' in html and "<html" not in html
    assert "wecom-sync-queued" in html


def test_the_page_shows_the_last_syncs_time_and_counts(owner_client, credentials, workspace):
    SyncState.objects.create(
        workspace=workspace, kind=SyncState.Kind.CONTACTS, status=SyncState.Status.DONE,
        finished_at=timezone.make_aware(timezone.datetime(2026, 11, 20, 9, 30)), counts={"created": 1234},
    )
    html = owner_client.get(SETTINGS, HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "2026-11-20" in html and "new 1234" in html


def test_a_failed_sync_shows_wecoms_error(owner_client, credentials, workspace):
    SyncState.objects.create(workspace=workspace, kind=SyncState.Kind.GROUPS, status=SyncState.Status.FAILED,
                             last_error="WeCom externalcontact/groupchat/list: error 48002 (api forbidden)")
    html = owner_client.get(SETTINGS).content.decode()
    assert "48002" in html


def test_the_sync_section_speaks_chinese_by_default(owner_client, credentials):
    html = owner_client.get(SETTINGS, HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()
    assert "立即同步" in html and "客户群" in html


def test_a_teammate_cannot_sync(teammate_client, credentials, fake_wecom, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        assert teammate_client.post(SYNC_NOW).status_code == 403
    assert fake_wecom.calls == []


def test_an_outsider_cannot_sync_another_workspace(outsider_client, credentials, fake_wecom,
                                                  django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        assert outsider_client.post(SYNC_NOW).status_code == 404  # they have no credentials of their own
    assert fake_wecom.calls == []


def test_syncing_needs_a_post(owner_client, credentials):
    assert owner_client.get(SYNC_NOW).status_code == 405


def test_a_visitor_is_sent_to_sign_in(client, credentials):
    assert client.post(SYNC_NOW).status_code == 302
