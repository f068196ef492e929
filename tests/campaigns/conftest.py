"""Broadcast fixtures: a workspace with accounts on the outbox channel and a few tagged customers, a broadcast that
is sending, and the helpers the page tests share."""

from datetime import time

import pytest
from django.urls import reverse

from campaigns import services, tasks
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


# Pages speak Chinese by default; these tests read English messages.
ENGLISH = {"HTTP_ACCEPT_LANGUAGE": "en"}
HTMX = {"HTTP_HX_REQUEST": "true"}


def html(response) -> str:
    return response.content.decode()


def detail(client, broadcast, **extra):
    return client.get(reverse("campaigns:broadcast_detail", args=[broadcast.pk]), **ENGLISH, **extra)


@pytest.fixture
def held_chunks(monkeypatch):
    """Chunk tasks collected instead of run: run them one by one, or leave a broadcast SENDING."""
    queued = []
    monkeypatch.setattr(tasks.deliveries_send_chunk, "delay", lambda *args: queued.append(args))
    return queued


@pytest.fixture
def sending(broadcast, held_chunks, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        services.broadcast_send(broadcast=broadcast)
    broadcast.refresh_from_db()
    assert broadcast.status == Broadcast.Status.SENDING
    return broadcast
