"""The hand-computed book every report test checks against (figures worked out in the tests' docstrings).

Workspace time zone Asia/Shanghai (UTC+8); the report's range is 2026-01-01 to 2026-03-31, local days.
"""

from datetime import datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone

from crm.models import Member
from tests.conftest import client_for
from tests.factories import ContactFactory, MemberFactory, OrderFactory, WorkspaceFactory

SHANGHAI = ZoneInfo("Asia/Shanghai")


def local(*args) -> datetime:
    return datetime(*args, tzinfo=SHANGHAI)


def order(contact, when, amount, **extra):
    return OrderFactory(contact=contact, placed_at=when, amount=Decimal(amount), **extra)


@pytest.fixture
def book(workspace, account):
    """Seven customers and the traps: a refund, two orders on one day, an order before the contact was added,
    orders minutes either side of local midnight and another workspace's orders."""
    def contact(name, **extra):
        return ContactFactory(workspace=workspace, owner_account=account, remark_name=name, **extra)

    a, b, c = contact("A"), contact("B"), contact("C")
    d = contact("D", added_at=local(2026, 3, 1, 12))
    e, f, g = contact("E"), contact("F"), contact("G")
    order(a, local(2026, 1, 10, 10), "100.00")
    order(a, local(2026, 1, 20, 10), "50.00")
    order(a, local(2026, 2, 5, 10), "150.00")
    order(b, local(2026, 1, 15, 9), "200.00")
    order(b, local(2026, 1, 15, 18), "80.00")  # the same day: 0 days to the second order
    order(c, local(2026, 2, 1, 0, 30), "300.00")  # 2026-01-31 16:30 UTC: February here
    order(c, local(2026, 2, 10, 12), "500.00", refunded_at=timezone.now())  # refunded: no sale
    order(d, local(2026, 2, 20, 12), "120.00")  # before D was added: still D's order
    order(d, local(2026, 3, 10, 12), "60.00")
    order(e, local(2026, 1, 31, 23, 30), "40.00")
    order(e, local(2026, 3, 31, 23, 59), "10.00")  # the last minute of the range
    order(e, local(2026, 4, 1, 0, 0, 30), "999.00")  # 30 seconds after it
    order(f, local(2026, 1, 1, 0, 10), "30.00")  # 2025-12-31 16:10 UTC: inside the range here
    order(g, local(2025, 12, 31, 23, 50), "25.00")  # 10 minutes before the range
    elsewhere = ContactFactory(workspace=WorkspaceFactory(), remark_name="other shop")
    order(elsewhere, local(2026, 1, 12, 10), "888.00")
    return {"a": a, "b": b, "c": c, "d": d, "e": e, "f": f, "g": g}


@pytest.fixture
def limited_client(workspace, account):
    member = MemberFactory(workspace=workspace, role=Member.Role.STAFF, limited_to_assigned_accounts=True)
    member.assigned_accounts.add(account)
    return client_for(member)
