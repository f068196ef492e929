"""Broadcast fixtures: a workspace with accounts on the outbox channel and a few tagged customers."""

from datetime import time

import pytest

from campaigns.models import Broadcast, MessagingSettings
from crm.models import WeChatAccount
from tests.factories import ContactFactory, TagFactory, WeChatAccountFactory, tag_contact


@pytest.fixture(autouse=True)
def _no_quiet_hours(request):
    """Tests run at any hour of the day: the workspace has no quiet hours unless a test sets them."""
    if "workspace" in request.fixturenames:
        workspace = request.getfixturevalue("workspace")
        MessagingSettings.objects.create(workspace=workspace, quiet_start=time(0), quiet_end=time(0))


@pytest.fixture
def outbox_account(workspace):
    return WeChatAccountFactory(workspace=workspace, name="一号", channel=WeChatAccount.Channel.OUTBOX)


@pytest.fixture
def buyers(workspace, outbox_account):
    """Five customers tagged 老客 on the outbox account."""
    tag = TagFactory(workspace=workspace, name="老客")
    contacts = [ContactFactory(workspace=workspace, owner_account=outbox_account) for _ in range(5)]
    for contact in contacts:
        tag_contact(contact, tag)
    return {"tag": tag, "contacts": contacts}


def make_broadcast(workspace, *, text="{备注名}，新品到了", **audience) -> Broadcast:
    return Broadcast.objects.create(workspace=workspace, name="双十一", text=text, audience=audience)


@pytest.fixture
def broadcast(workspace, buyers):
    return make_broadcast(workspace, tags=[buyers["tag"].pk])
