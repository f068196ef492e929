"""Receiving a callback: check it, decrypt it, store it once and hand it to Celery.

Nothing here trusts the request before its signature is checked: the outer XML is parsed only to find the
ciphertext, with doctypes (and so entity definitions) refused before the parser sees them, and the body is size
capped. A message is refused when its signature is wrong, its timestamp is more than a few minutes away from
now, or its signature was seen already (a replay). A delivery WeCom retries decrypts to the same message: its
dedupe key (the plaintext's hash) is stored already, so it is acknowledged without being processed twice.
"""

from __future__ import annotations

import hashlib
import logging
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass

from django.conf import settings
from django.core.cache import cache
from django.db import IntegrityError, transaction

from wecom.crypto import CallbackCryptoError, MessageCrypto
from wecom.models import CallbackEvent, WeComCredentials
from wecom.tasks import process_callback_event

logger = logging.getLogger(__name__)

MAX_BODY_BYTES = 64 * 1024
DEFAULT_MAX_AGE_SECONDS = 300


class CallbackRefused(Exception):
    """The request is not a genuine, fresh WeCom callback; the reason goes to the log, never the body. A request
    that is no callback at all (malformed, too large) is a 400, one that fails the checks a 403."""

    def __init__(self, reason: str, *, status: int = 403):
        super().__init__(reason)
        self.status = status


@dataclass(frozen=True)
class Signed:
    msg_signature: str
    timestamp: str
    nonce: str

    @classmethod
    def from_query(cls, query) -> "Signed":
        return cls(query.get("msg_signature", ""), query.get("timestamp", ""), query.get("nonce", ""))


def crypto_for(credentials: WeComCredentials) -> MessageCrypto:
    try:
        return MessageCrypto(
            token=credentials.callback_token, encoding_aes_key=credentials.encoding_aes_key,
            receive_id=credentials.corp_id,
        )
    except CallbackCryptoError as error:
        raise CallbackRefused(f"credentials unusable: {error}") from None


def parse_xml(data: bytes) -> dict[str, str]:
    """A flat <xml> document as {tag: text}. Doctypes are refused outright: WeCom never sends one, and without
    them no entity can be defined, let alone expanded."""
    if b"<!DOCTYPE" in data.upper() or b"<!ENTITY" in data.upper():
        raise CallbackRefused("XML with a doctype", status=400)
    try:
        root = ET.fromstring(data)
    except ET.ParseError:
        raise CallbackRefused("malformed XML", status=400) from None
    return {child.tag: (child.text or "").strip() for child in root}


def verify_url(credentials: WeComCredentials, signed: Signed, echostr: str) -> bytes:
    """The admin console's check of a new callback URL: the decrypted echostr proves we hold the key."""
    try:
        return crypto_for(credentials).verify_and_decrypt(
            msg_signature=signed.msg_signature, timestamp=signed.timestamp, nonce=signed.nonce, encrypted=echostr
        )
    except CallbackCryptoError as error:
        raise CallbackRefused(str(error)) from None


def _check_fresh(signed: Signed) -> None:
    max_age = getattr(settings, "WECOM_CALLBACK_MAX_AGE_SECONDS", DEFAULT_MAX_AGE_SECONDS)
    try:
        sent_at = int(signed.timestamp)
    except ValueError:
        raise CallbackRefused("timestamp is not a number") from None
    if abs(time.time() - sent_at) > max_age:
        raise CallbackRefused("timestamp too old or in the future")


def _check_not_replayed(credentials: WeComCredentials, signed: Signed) -> None:
    """Remember each verified signature for longer than a timestamp stays fresh: a second use is a replay."""
    max_age = getattr(settings, "WECOM_CALLBACK_MAX_AGE_SECONDS", DEFAULT_MAX_AGE_SECONDS)
    seen = hashlib.sha256(f"{signed.msg_signature}:{signed.timestamp}:{signed.nonce}".encode()).hexdigest()
    if not cache.add(f"wecom:seen:{credentials.workspace_id}:{seen}", 1, timeout=2 * max_age + 60):
        raise CallbackRefused("replayed message")


def open_message(credentials: WeComCredentials, signed: Signed, body: bytes) -> bytes:
    """The decrypted inner XML of a POSTed callback, or CallbackRefused."""
    if len(body) > MAX_BODY_BYTES:
        raise CallbackRefused("body too large", status=400)
    encrypted = parse_xml(body).get("Encrypt", "")
    if not encrypted:
        raise CallbackRefused("no Encrypt element", status=400)
    crypto = crypto_for(credentials)
    try:
        crypto.check_signature(
            msg_signature=signed.msg_signature, timestamp=signed.timestamp, nonce=signed.nonce, encrypted=encrypted
        )
        _check_fresh(signed)
        _check_not_replayed(credentials, signed)
        return crypto.decrypt(encrypted)
    except CallbackCryptoError as error:
        raise CallbackRefused(str(error)) from None


def event_store(credentials: WeComCredentials, plaintext: bytes) -> CallbackEvent | None:
    """Store the event once; None when this message was stored already (WeCom delivered it again). Its
    processing is queued after the commit, so the task always finds the row."""
    fields = parse_xml(plaintext)
    dedupe_key = hashlib.sha256(plaintext).hexdigest()
    try:
        with transaction.atomic():
            event = CallbackEvent.objects.create(
                workspace_id=credentials.workspace_id, dedupe_key=dedupe_key, event=fields.get("Event", "")[:50],
                change_type=fields.get("ChangeType", "")[:50], payload=fields,
            )
    except IntegrityError:
        logger.info("WeCom callback for workspace %s delivered again: acknowledged", credentials.workspace_id)
        return None
    transaction.on_commit(lambda: process_callback_event.delay(event.pk))
    return event
