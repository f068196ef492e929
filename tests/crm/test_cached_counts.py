from decimal import Decimal

import pytest
from django.utils import timezone

from crm import segments, services
from tests.factories import ContactFactory, CustomerGroupFactory

pytestmark = pytest.mark.django_db

BUYERS = {"version": 1, "root": {"op": "and", "not": False, "children": [
    {"field": "order_count", "not": False, "op": ">=", "value": 1}]}}


def test_recording_an_order_refreshes_cached_segment_counts(workspace, owner, django_capture_on_commit_callbacks):
    contact = ContactFactory(workspace=workspace)
    assert segments.segment_count(workspace=workspace, rule=BUYERS) == 0
    with django_capture_on_commit_callbacks(execute=True):
        services.order_create(contact=contact, amount=Decimal("99"), placed_at=timezone.now(), channel="wechat",
                              actor=owner.user)
    assert segments.segment_count(workspace=workspace, rule=BUYERS) == 1


def test_joining_a_group_refreshes_cached_segment_counts(workspace, owner, django_capture_on_commit_callbacks):
    group = CustomerGroupFactory(workspace=workspace)
    contact = ContactFactory(workspace=workspace)
    in_group = {"version": 1, "root": {"op": "and", "not": False, "children": [
        {"field": "customer_group", "not": False, "groups": [group.pk]}]}}
    assert segments.segment_count(workspace=workspace, rule=in_group) == 0
    with django_capture_on_commit_callbacks(execute=True):
        services.customer_group_members_add(group=group, contact_ids=[contact.pk], actor=owner.user)
    assert segments.segment_count(workspace=workspace, rule=in_group) == 1
