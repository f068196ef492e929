"""The callback endpoint: URL verification, refusals (signature, replay, age, XML, size) and storing once."""

import time

import pytest
from django.test import Client
from django.urls import reverse

from tests.wecom.conftest import CALLBACK_TOKEN
from tests.wecom.signing import crypto, event_xml, post_raw, signed_post
from wecom.crypto import signature
from wecom.models import CallbackEvent

pytestmark = pytest.mark.django_db


@pytest.fixture
def wecom_client():
    return Client(enforce_csrf_checks=True)  # as WeCom posts: no session, no CSRF token


def add_event(**fields):
    return event_xml("add_external_contact", UserID="zhangsan", ExternalUserID="wmAAA", **fields)


def test_the_url_check_echoes_the_decrypted_echostr(wecom_client, credentials):
    echostr = crypto.encrypt(b"8034563295")
    timestamp, nonce = str(int(time.time())), "263014780"
    url = reverse("wecom:callback", args=[credentials.callback_key])
    response = wecom_client.get(url, {"msg_signature": signature(CALLBACK_TOKEN, timestamp, nonce, echostr),
                                      "timestamp": timestamp, "nonce": nonce, "echostr": echostr})
    assert (response.status_code, response.content) == (200, b"8034563295")


def test_a_url_check_with_a_wrong_signature_is_refused(wecom_client, credentials):
    url = reverse("wecom:callback", args=[credentials.callback_key])
    response = wecom_client.get(url, {"msg_signature": "0" * 40, "timestamp": "1", "nonce": "2",
                                      "echostr": crypto.encrypt(b"1")})
    assert response.status_code == 403


def test_an_event_is_acknowledged_stored_and_processed_after_the_commit(
    wecom_client, credentials, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = signed_post(wecom_client, credentials, add_event())
    assert (response.status_code, response.content) == (200, b"success")
    event = CallbackEvent.objects.get()
    assert (event.workspace_id, event.change_type, event.payload["ExternalUserID"]) == (
        credentials.workspace_id, "add_external_contact", "wmAAA")
    assert event.status == CallbackEvent.Status.DONE  # Celery is eager in tests


def test_a_redelivered_event_is_acknowledged_but_stored_once(wecom_client, credentials):
    first = signed_post(wecom_client, credentials, add_event(), nonce="111")
    second = signed_post(wecom_client, credentials, add_event(), nonce="222")  # WeCom's retry: new nonce
    assert (first.content, second.content) == (b"success", b"success")
    assert CallbackEvent.objects.count() == 1


def test_a_bad_signature_is_refused_logged_and_not_stored(wecom_client, credentials, caplog):
    response = signed_post(wecom_client, credentials, add_event(), tamper=True)
    assert response.status_code == 403
    assert not CallbackEvent.objects.exists()
    assert "signature does not match" in caplog.text
    assert CALLBACK_TOKEN not in caplog.text


def test_a_replayed_message_is_refused(wecom_client, credentials):
    plaintext = add_event()
    encrypted, timestamp, nonce = crypto.encrypt(plaintext), str(int(time.time())), "42"
    body = f"<xml><Encrypt><![CDATA[{encrypted}]]></Encrypt></xml>".encode()
    msg_signature = signature(CALLBACK_TOKEN, timestamp, nonce, encrypted)
    first = post_raw(wecom_client, credentials, body, msg_signature=msg_signature, timestamp=timestamp, nonce=nonce)
    again = post_raw(wecom_client, credentials, body, msg_signature=msg_signature, timestamp=timestamp, nonce=nonce)
    assert (first.status_code, again.status_code) == (200, 403)
    assert CallbackEvent.objects.count() == 1


def test_a_stale_timestamp_is_refused(wecom_client, credentials):
    response = signed_post(wecom_client, credentials, add_event(), timestamp=str(int(time.time()) - 3600))
    assert response.status_code == 403
    assert not CallbackEvent.objects.exists()


@pytest.mark.parametrize("body", [
    b"<xml><Encrypt>unclosed",
    b"not xml at all",
    b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaa">]><xml><Encrypt>&a;</Encrypt></xml>',
    b"<xml><ToUserName>no ciphertext</ToUserName></xml>",
])
def test_malformed_xml_is_refused(wecom_client, credentials, body):
    assert post_raw(wecom_client, credentials, body).status_code == 400
    assert not CallbackEvent.objects.exists()


def test_an_encrypted_message_that_is_not_xml_is_refused(wecom_client, credentials):
    assert signed_post(wecom_client, credentials, b"<xml><Event>").status_code == 400
    assert not CallbackEvent.objects.exists()


def test_a_body_over_64_kb_is_refused(wecom_client, credentials):
    body = b"<xml><Encrypt>" + b"A" * 70_000 + b"</Encrypt></xml>"
    assert post_raw(wecom_client, credentials, body).status_code == 400


def test_an_unknown_callback_key_is_a_404(wecom_client, credentials):
    url = reverse("wecom:callback", args=["no-such-key"])
    assert wecom_client.post(url, data=b"<xml/>", content_type="text/xml").status_code == 404
