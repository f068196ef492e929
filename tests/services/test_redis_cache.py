"""The Django cache on Redis: configured from REDIS_URL, and a cached contact count reused from it."""

import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
import redis
from django.test import override_settings

from crm import selectors
from crm.models import Contact, Member
from crm.selectors import ContactFilter
from tests.factories import ContactFactory, MemberFactory, TagFactory, WorkspaceFactory, tag_contact

pytestmark = pytest.mark.services

BASE_DIR = Path(__file__).resolve().parents[2]
REDIS_CACHE = "django.core.cache.backends.redis.RedisCache"

# Under pytest the settings choose an in-process cache; a process outside pytest (web, worker) is what uses Redis.
PROBE = """
import django
django.setup()
from django.conf import settings
from django.core.cache import cache
print(settings.CACHES["default"]["BACKEND"])
print(settings.CACHES["default"]["LOCATION"])
cache.set(KEY, "from-django", 60)
"""


def test_the_django_cache_is_redis_when_redis_url_is_set(redis_url):
    key = f"siyu-services-test-{uuid.uuid4().hex}"
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "crm.settings", "REDIS_URL": redis_url, "SIYU_TESTING": "false"}
    env.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
    result = subprocess.run(
        [sys.executable, "-c", f"KEY = {key!r}\n{PROBE}"],
        cwd=BASE_DIR, env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    backend, location = result.stdout.split()[:2]
    assert (backend, location) == (REDIS_CACHE, redis_url)
    client = redis.Redis.from_url(redis_url)
    try:
        stored = [k for k in client.scan_iter(match=f"*{key}")]
        assert len(stored) == 1, "the value Django cached is not in Redis"
    finally:
        for k in client.scan_iter(match=f"*{key}"):
            client.delete(k)
        client.close()


@pytest.mark.parametrize(
    "filter_by", ["tag", "stage"], ids=["tag-filter", "plain-filter"]
)  # the selector may cache a tag filter's count differently (with its ids) from a plain one's
def test_a_cached_contact_count_is_reused_from_redis(db, redis_url, django_assert_num_queries, filter_by):
    workspace = WorkspaceFactory()
    owner = MemberFactory(workspace=workspace, role=Member.Role.OWNER)
    tag = TagFactory(workspace=workspace, name="海参")

    def add_contact():  # written behind the cache's back: no book_changed
        tag_contact(ContactFactory(workspace=workspace, stage=Contact.Stage.REPEAT), tag)

    add_contact()
    add_contact()
    ContactFactory(workspace=workspace, stage=Contact.Stage.NEW)  # matches neither filter
    filters = ContactFilter(tags_all=(tag.pk,)) if filter_by == "tag" else ContactFilter(stage=Contact.Stage.REPEAT)

    def count() -> int:
        contacts = selectors.contact_list(member=owner, filters=filters)
        return selectors.contact_list_count(member=owner, filters=filters, contacts=contacts)

    prefix = f"siyu-services-test-{uuid.uuid4().hex}"
    client = redis.Redis.from_url(redis_url)

    def cached_keys() -> list[bytes]:
        return list(client.scan_iter(match=f"{prefix}:*"))

    # A context manager, not the settings fixture: the cache must be back in memory before the suite's autouse
    # fixture clears it (clearing a Redis cache flushes the whole Redis database).
    try:
        with override_settings(CACHES={"default": {"BACKEND": REDIS_CACHE, "LOCATION": redis_url, "KEY_PREFIX": prefix}}):
            assert count() == 2
            assert cached_keys(), "contact_list_count stored nothing in Redis"
            add_contact()
            with django_assert_num_queries(0):
                assert count() == 2  # the cached count, as it was
            client.delete(*cached_keys())
            assert count() == 3  # so the reused count came from Redis: gone from there, it is counted again
            add_contact()
            assert count() == 3
            selectors.book_changed(workspace_id=workspace.pk)
            assert count() == 4  # a change to the book forgets the cached counts
    finally:
        for k in cached_keys():
            client.delete(k)
        client.close()
