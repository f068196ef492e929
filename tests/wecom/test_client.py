"""The API client against the local WeCom: tokens cached and shared, refreshed when WeCom says so, backoff."""

import threading

import pytest

from tests.wecom.conftest import CORP_ID, SECRET
from wecom.client import WeComClient, WeComError, WeComUnavailable

GET = "externalcontact/get"


def new_client():
    return WeComClient(corp_id=CORP_ID, secret=SECRET)


def test_the_token_is_fetched_once_and_shared_by_every_client(fake_wecom):
    new_client().external_contact("wmA")
    new_client().external_contact("wmB")
    assert len(fake_wecom.calls_to("gettoken")) == 1
    assert len(fake_wecom.calls_to(GET)) == 2


def test_concurrent_workers_refresh_the_token_once(fake_wecom):
    tokens = []
    threads = [threading.Thread(target=lambda: tokens.append(new_client().access_token())) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(set(tokens)) == 1 and len(tokens) == 8
    assert len(fake_wecom.calls_to("gettoken")) == 1


def test_an_expired_token_is_refreshed_and_the_call_retried(fake_wecom):
    client = new_client()
    client.external_contact("wmA")
    fake_wecom.expire_tokens()  # WeCom answers 42001
    answer = client.external_contact("wmA")
    assert answer["external_contact"]["name"] == "李姐"
    assert len(fake_wecom.calls_to("gettoken")) == 2


@pytest.mark.parametrize("errcode", [40014, 42009])
def test_the_other_token_errors_refresh_it_too(fake_wecom, errcode):
    client = new_client()
    client.access_token()
    fake_wecom.fail_next(GET, errcode)
    assert client.external_contact("wmA")["errcode"] == 0
    assert len(fake_wecom.calls_to("gettoken")) == 2


def test_the_frequency_limit_backs_off_then_succeeds(fake_wecom, monkeypatch):
    pauses = []
    monkeypatch.setattr("wecom.client.time.sleep", pauses.append)
    fake_wecom.fail_next(GET, 45009, 45009)
    assert new_client().external_contact("wmA")["errcode"] == 0
    assert len(fake_wecom.calls_to(GET)) == 3 and len(pauses) == 2


def test_the_frequency_limit_gives_up_after_the_last_attempt(fake_wecom, settings):
    settings.WECOM_MAX_ATTEMPTS = 3
    fake_wecom.fail_next(GET, 45009, 45009, 45009)
    with pytest.raises(WeComUnavailable, match="frequency limit"):
        new_client().external_contact("wmA")


def test_backoff_grows_and_is_capped(settings):
    from wecom.client import backoff_delay

    settings.WECOM_BACKOFF_BASE_SECONDS, settings.WECOM_BACKOFF_CAP_SECONDS = 1, 8
    assert all(0 <= backoff_delay(attempt) <= min(8, 2**attempt) for attempt in range(10) for _ in range(20))


def test_an_unreachable_wecom_is_unavailable(settings):
    settings.WECOM_API_BASE = "http://127.0.0.1:9"  # discard port: connection refused
    settings.WECOM_BACKOFF_BASE_SECONDS, settings.WECOM_MAX_ATTEMPTS = 0, 2
    with pytest.raises(WeComUnavailable, match="network"):
        new_client().access_token()


def test_wrong_credentials_are_an_error_naming_the_code(fake_wecom):
    with pytest.raises(WeComError) as error:
        WeComClient(corp_id=CORP_ID, secret="wrong").access_token()
    assert error.value.errcode == 40001


def test_calls_past_the_minutes_limit_are_refused_before_reaching_wecom(fake_wecom, settings):
    settings.WECOM_CALLS_PER_MINUTE = 2
    client = new_client()
    client.external_contact("wmA")
    client.external_contact("wmB")
    with pytest.raises(WeComUnavailable, match="used up"):
        client.external_contact("wmC")
    assert len(fake_wecom.calls_to(GET)) == 2


def test_the_secret_and_the_token_are_never_logged(fake_wecom, caplog, monkeypatch):
    monkeypatch.setattr("wecom.client.time.sleep", lambda seconds: None)
    fake_wecom.fail_next(GET, 45009)
    client = new_client()
    client.external_contact("wmA")
    fake_wecom.expire_tokens()
    client.external_contact("wmA")
    assert caplog.records
    assert SECRET not in caplog.text and "token-1" not in caplog.text
