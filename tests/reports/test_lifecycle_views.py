"""The lifecycle settings, the due-to-reorder list with its follow-up button, and the dashboard's lost-customer
digest, as owner, teammate, limited staff and outsider."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from crm.models import ManualSend
from reports.models import LifecycleSettings
from reports.rollups import rollups_refresh
from tests.factories import ContactFactory, OrderFactory

SETTINGS = reverse("reports:lifecycle_settings")
REORDER = reverse("reports:reorder")
FOLLOW_UP = reverse("reports:reorder_follow_up")
THRESHOLDS = {"engaged_days": 14, "vip_orders": 3, "vip_spent": "999.00", "dormant_days": 60, "lost_days": 120,
              "reorder_text": "{昵称} 该补货啦"}


@pytest.fixture
def due(workspace, account):
    """A customer every 20 days whose last order was 60 days ago."""
    contact = ContactFactory(workspace=workspace, owner_account=account, remark_name="老王",
                             added_at=timezone.now() - timedelta(days=400))
    for days in (100, 80, 60):
        OrderFactory(contact=contact, placed_at=timezone.now() - timedelta(days=days), amount=Decimal("50.00"))
    rollups_refresh(workspace=workspace)
    return contact


def test_the_owner_changes_the_thresholds(owner_client, workspace, django_capture_on_commit_callbacks):
    assert owner_client.get(SETTINGS).status_code == 200
    with django_capture_on_commit_callbacks(execute=True):
        response = owner_client.post(SETTINGS, THRESHOLDS)
    assert response.status_code == 302
    saved = LifecycleSettings.objects.get(workspace=workspace)
    assert (saved.vip_orders, saved.dormant_days, saved.reorder_text) == (3, 60, "{昵称} 该补货啦")


def test_lost_must_come_after_dormant(owner_client, workspace):
    response = owner_client.post(SETTINGS, {**THRESHOLDS, "lost_days": 30})
    assert response.status_code == 200
    assert "lost_days" in response.context["form"].errors
    assert not LifecycleSettings.objects.exists()


def test_only_the_owner_may_change_the_thresholds(teammate_client, limited_client):
    assert teammate_client.get(SETTINGS).status_code == 403
    assert teammate_client.post(SETTINGS, THRESHOLDS).status_code == 403
    assert limited_client.post(SETTINGS, THRESHOLDS).status_code == 403
    assert not LifecycleSettings.objects.exists()


def test_an_outsider_edits_only_their_own_workspaces_thresholds(outsider_client, outsider, workspace):
    outsider_client.post(SETTINGS, THRESHOLDS)
    assert LifecycleSettings.objects.get().workspace == outsider.workspace


def test_the_owner_and_a_teammate_see_who_is_due(owner_client, teammate_client, due):
    for client in (owner_client, teammate_client):
        response = client.get(REORDER)
        assert response.status_code == 200
        assert f'id="due-{due.pk}"' in response.content.decode()


def test_limited_staff_see_their_accounts_customers_and_no_others(limited_client, workspace, due):
    assert f'id="due-{due.pk}"' in limited_client.get(REORDER).content.decode()
    ContactFactory(workspace=workspace)  # another account's contact: the page still shows only theirs
    assert limited_client.get(reverse("reports:dashboard")).status_code == 403


def test_an_outsider_sees_none_of_ours_and_cannot_nudge_them(outsider_client, due):
    assert f'id="due-{due.pk}"' not in outsider_client.get(REORDER).content.decode()
    outsider_client.post(FOLLOW_UP, {"contact": [due.pk]})
    assert not ManualSend.objects.exists()


def test_one_click_queues_one_follow_up_however_often_it_is_clicked(teammate_client, due):
    for _ in range(2):
        assert teammate_client.post(FOLLOW_UP, {"contact": [due.pk]}).status_code == 302
    assert ManualSend.objects.filter(contact=due).count() == 1
    assert "Queued today" in teammate_client.get(REORDER, HTTP_ACCEPT_LANGUAGE="en").content.decode()


def test_a_rows_own_button_queues_that_row_alone(owner_client, due, workspace, account):
    ticked = ContactFactory(workspace=workspace, owner_account=account, added_at=timezone.now() - timedelta(days=400))
    for days in (100, 80, 60):
        OrderFactory(contact=ticked, placed_at=timezone.now() - timedelta(days=days))
    rollups_refresh(workspace=workspace)
    owner_client.post(FOLLOW_UP, {"contact": [ticked.pk], "only": due.pk})
    assert list(ManualSend.objects.values_list("contact_id", flat=True)) == [due.pk]
    owner_client.post(FOLLOW_UP, {"contact": [ticked.pk, due.pk]})
    assert ManualSend.objects.filter(contact=ticked).count() == 1


def test_the_follow_up_needs_a_csrf_token(teammate, due):
    client = Client(enforce_csrf_checks=True)
    client.force_login(teammate.user)
    assert client.post(FOLLOW_UP, {"contact": [due.pk]}).status_code == 403
    assert not ManualSend.objects.exists()


def test_the_dashboard_digest_links_to_friends_who_deleted_us(owner_client, workspace, account):
    gone = ContactFactory(workspace=workspace, owner_account=account, remark_name="删了我的",
                          friend_deleted_at=timezone.now() - timedelta(days=1))
    html = owner_client.get(reverse("reports:dashboard")).content.decode()
    assert 'id="lost-digest"' in html
    assert reverse("crm:contact_detail", args=[gone.pk]) in html


def test_the_pages_speak_chinese_by_default(owner_client, due):
    assert "该复购了" in owner_client.get(REORDER).content.decode()
    assert "生命周期设置" in owner_client.get(SETTINGS).content.decode()


def test_an_anonymous_visitor_is_sent_to_sign_in(client):
    assert client.get(REORDER).status_code == 302
    assert client.post(FOLLOW_UP).status_code == 302


def test_limited_staff_reach_the_list_from_the_menu(limited_client):
    assert f'href="{REORDER}"' in limited_client.get(REORDER).content.decode()
