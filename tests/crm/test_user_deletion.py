"""A user who is deleted (from the admin) leaves what they did in the book: the orders they entered and the timeline
events they made stay, naming no one. Django clears the columns; the database keeps no constraint on them."""

import pytest

from crm.models import Order, TimelineEvent
from tests.factories import ContactFactory, OrderFactory

pytestmark = pytest.mark.django_db


def test_a_deleted_users_orders_and_notes_stay_with_no_author(workspace, teammate):
    contact = ContactFactory(workspace=workspace)
    order = OrderFactory(contact=contact, created_by=teammate.user)
    note = TimelineEvent.objects.create(
        workspace=workspace, contact=contact, kind=TimelineEvent.Kind.NOTE, body="老客，爱买海参", actor=teammate.user
    )
    teammate.user.delete()
    order.refresh_from_db()
    note.refresh_from_db()
    assert (order.created_by, note.actor, note.body) == (None, None, "老客，爱买海参")
    assert Order.objects.filter(contact=contact).count() == 1
