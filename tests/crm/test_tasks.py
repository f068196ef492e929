import pytest
from django.urls import reverse

from crm import selectors, tasks

pytestmark = pytest.mark.django_db


def test_the_heartbeat_task_records_when_the_worker_last_ran():
    assert selectors.heartbeat_last_seen() is None
    tasks.heartbeat.delay()
    first = selectors.heartbeat_last_seen()
    assert first is not None
    tasks.heartbeat.delay()
    assert selectors.heartbeat_last_seen() >= first


def test_the_footer_says_when_the_worker_last_ran(owner_client):
    url = reverse("crm:contact_list")
    assert "has not run yet" in owner_client.get(url, HTTP_ACCEPT_LANGUAGE="en").content.decode()
    tasks.heartbeat.delay()
    assert "last ran" in owner_client.get(url, HTTP_ACCEPT_LANGUAGE="en").content.decode()


def test_celery_is_configured_for_json_only_with_time_limits():
    from crm.celery import app

    assert app.conf.task_serializer == "json"
    assert app.conf.accept_content == ["json"]
    assert app.conf.task_soft_time_limit and app.conf.task_time_limit > app.conf.task_soft_time_limit
    assert app.conf.beat_scheduler == "django_celery_beat.schedulers:DatabaseScheduler"
    assert "heartbeat" in app.conf.beat_schedule
