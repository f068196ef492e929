from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from crm import services
from crm.models import Heartbeat, Member
from tests.conftest import client_for
from tests.factories import (
    ContactFactory,
    CustomerGroupFactory,
    MemberFactory,
    TagFactory,
    WeChatAccountFactory,
    WorkspaceFactory,
)

pytestmark = pytest.mark.django_db


def worker_state(response) -> str:
    html = response.content.decode()
    start = html.index('id="worker-state" data-state="') + len('id="worker-state" data-state="')
    return html[start : html.index('"', start)]


def beat(minutes_ago: float) -> None:
    Heartbeat.objects.update_or_create(
        name="worker", defaults={"last_seen": timezone.now() - timedelta(minutes=minutes_ago), "hostname": "w1"}
    )


def test_owner_and_teammate_open_the_status_page(owner_client, teammate_client):
    for client in (owner_client, teammate_client):
        assert client.get(reverse("crm:status")).status_code == 200


def test_an_anonymous_visitor_is_sent_to_sign_in(client):
    response = client.get(reverse("crm:status"))
    assert response.status_code == 302
    assert reverse("login") in response["Location"]


def test_a_worker_that_never_ran_is_shown_as_never(owner_client):
    assert worker_state(owner_client.get(reverse("crm:status"))) == "never"


def test_a_heartbeat_a_minute_ago_is_healthy(owner_client):
    beat(minutes_ago=1)
    assert worker_state(owner_client.get(reverse("crm:status"))) == "healthy"


def test_the_real_heartbeat_task_makes_the_worker_healthy(owner_client):
    from crm.tasks import heartbeat

    heartbeat.delay()  # eager under tests
    assert worker_state(owner_client.get(reverse("crm:status"))) == "healthy"


def test_a_heartbeat_older_than_three_minutes_is_stale(owner_client):
    beat(minutes_ago=3.5)
    assert worker_state(owner_client.get(reverse("crm:status"))) == "stale"


def test_it_names_the_database_vendor_and_broker_kind_without_secrets(owner_client, settings):
    settings.CELERY_BROKER_URL = "redis://:s3cret-pass@redis.internal:6379/0"
    html = owner_client.get(reverse("crm:status")).content.decode()
    assert 'data-vendor="sqlite"' in html or 'data-vendor="postgresql"' in html
    assert '<dd id="broker">redis</dd>' in html
    assert "s3cret-pass" not in html
    assert "redis.internal" not in html


def test_the_local_broker_is_shown_as_filesystem(owner_client, settings):
    settings.CELERY_BROKER_URL = "filesystem://"
    assert '<dd id="broker">filesystem</dd>' in owner_client.get(reverse("crm:status")).content.decode()


def test_it_counts_the_workspaces_contacts_tags_and_groups(owner_client, workspace, outsider):
    ContactFactory.create_batch(3, workspace=workspace)
    TagFactory.create_batch(2, workspace=workspace)
    CustomerGroupFactory(workspace=workspace)
    ContactFactory.create_batch(5, workspace=outsider.workspace)  # another seller's book is not counted
    totals = owner_client.get(reverse("crm:status")).context["totals"]
    assert (totals.contacts, totals.tags, totals.customer_groups) == (3, 2, 1)


def test_the_contact_count_is_cached_until_the_book_changes(owner_client, workspace, django_capture_on_commit_callbacks):
    ContactFactory(workspace=workspace)
    assert owner_client.get(reverse("crm:status")).context["totals"].contacts == 1
    ContactFactory(workspace=workspace)  # written behind the services' back: the cached count stands
    assert owner_client.get(reverse("crm:status")).context["totals"].contacts == 1
    with django_capture_on_commit_callbacks(execute=True):
        services.contact_create(workspace=workspace, actor=None, nickname="新朋友")
    assert owner_client.get(reverse("crm:status")).context["totals"].contacts == 3


def test_a_limited_staff_member_counts_only_their_own_contacts(workspace):
    mine, theirs = WeChatAccountFactory(workspace=workspace), WeChatAccountFactory(workspace=workspace)
    ContactFactory(workspace=workspace, owner_account=mine)
    ContactFactory.create_batch(2, workspace=workspace, owner_account=theirs)
    staff = MemberFactory(workspace=workspace, limited_to_assigned_accounts=True)
    staff.assigned_accounts.add(mine)
    assert client_for(staff).get(reverse("crm:status")).context["totals"].contacts == 1


def test_the_switcher_lists_only_the_users_own_workspaces(owner_client, owner, outsider):
    second = MemberFactory(workspace=WorkspaceFactory(name="第二家店"), user=owner.user, role=Member.Role.STAFF)
    html = owner_client.get(reverse("crm:status")).content.decode()
    assert "第二家店" in html
    assert f'name="workspace" value="{second.workspace_id}"' in html
    assert f'name="workspace" value="{owner.workspace_id}"' not in html  # the current one has no button
    assert outsider.workspace.name not in html
    assert "csrfmiddlewaretoken" in html


def test_the_outsider_sees_their_own_workspace_only(outsider_client, workspace, outsider):
    html = outsider_client.get(reverse("crm:status")).content.decode()
    assert workspace.name not in html
    assert outsider.workspace.name in html
