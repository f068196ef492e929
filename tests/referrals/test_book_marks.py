"""What referrals need from the customer book: an order marked refunded, a contact who deleted the seller; both
recorded once, on the timeline, and scoped to the workspace."""

import pytest
from django.urls import reverse

from crm.models import TimelineEvent
from tests.factories import ContactFactory, OrderFactory
from tests.referrals.conftest import ENGLISH

pytestmark = pytest.mark.django_db


def test_an_order_is_marked_refunded_once(owner_client, workspace):
    order = OrderFactory(contact=ContactFactory(workspace=workspace))
    url = reverse("crm:order_refund", args=[order.contact_id, order.pk])
    owner_client.post(url)
    owner_client.post(url)
    order.refresh_from_db()
    assert order.refunded_at is not None
    assert TimelineEvent.objects.filter(contact=order.contact, kind="order_refunded").count() == 1
    html = owner_client.get(reverse("crm:contact_detail", args=[order.contact_id]), **ENGLISH).content.decode()
    assert "Refunded" in html


def test_a_contact_who_deleted_us_is_recorded_once(owner_client, workspace):
    contact = ContactFactory(workspace=workspace)
    url = reverse("crm:contact_friend_deleted", args=[contact.pk])
    owner_client.post(url)
    owner_client.post(url)
    contact.refresh_from_db()
    assert contact.friend_deleted_at is not None
    assert TimelineEvent.objects.filter(contact=contact, kind="friend_deleted").count() == 1
    html = owner_client.get(reverse("crm:contact_detail", args=[contact.pk]), **ENGLISH).content.decode()
    assert 'id="friend-deleted"' in html


def test_another_workspaces_order_and_contact_are_404s(outsider_client, workspace):
    order = OrderFactory(contact=ContactFactory(workspace=workspace))
    assert outsider_client.post(reverse("crm:order_refund", args=[order.contact_id, order.pk])).status_code == 404
    assert outsider_client.post(reverse("crm:contact_friend_deleted", args=[order.contact_id])).status_code == 404
    order.refresh_from_db()
    assert order.refunded_at is None
