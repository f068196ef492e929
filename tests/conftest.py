"""Shared fixtures: a workspace seen by its owner, a teammate, and an outsider from another workspace."""

import pytest
from django.test import Client
from django.utils import translation

from crm.models import Member
from tests.factories import MemberFactory, WeChatAccountFactory, WorkspaceFactory


@pytest.fixture(autouse=True)
def _media_in_tmp(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


@pytest.fixture(autouse=True)
def _fresh_cache():
    from django.core.cache import cache

    cache.clear()
    yield
    cache.clear()


@pytest.fixture(autouse=True)
def _english_outside_requests():
    """Code called straight from a test (services, commands) speaks English, so messages read the same in every
    test; pages still speak the language each request asks for (Chinese by default, tests/crm/test_language.py)."""
    with translation.override("en"):
        yield


@pytest.fixture
def workspace(db):
    return WorkspaceFactory(name="张姐海味", slug="zhang-seafood")


@pytest.fixture
def account(workspace):
    return WeChatAccountFactory(workspace=workspace, name="海味小张")


@pytest.fixture
def owner(workspace):
    return MemberFactory(workspace=workspace, role=Member.Role.OWNER)


@pytest.fixture
def teammate(workspace):
    return MemberFactory(workspace=workspace, role=Member.Role.STAFF)


@pytest.fixture
def outsider(db):
    return MemberFactory(workspace=WorkspaceFactory(name="别家店"), role=Member.Role.OWNER)


def client_for(member) -> Client:
    client = Client()
    client.force_login(member.user)
    return client


@pytest.fixture
def owner_client(owner):
    return client_for(owner)


@pytest.fixture
def teammate_client(teammate):
    return client_for(teammate)


@pytest.fixture
def outsider_client(outsider):
    return client_for(outsider)
