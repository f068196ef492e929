"""Landing-page scans: who opened a participant's page, told apart by a device fingerprint (a first-party cookie
and the browser's user agent, hashed: nothing about the visitor is stored in the clear).

A visit is one read and at most one insert: the device's earlier scans in the campaign say whether this is a
reload (the same page within REPEAT_WINDOW: not counted again, nothing written) and whether the device has scanned
more codes than the campaign allows (fraud "device": written, not counted)."""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta

from django.utils import timezone

from referrals.models import Participant, Scan

DEVICE_COOKIE = "sy_device"
DEVICE_COOKIE_MAX_AGE = 365 * 24 * 3600
REPEAT_WINDOW = timedelta(minutes=30)
HISTORY_LIMIT = 200  # a device's scans read per visit: far more than any limit a campaign sets


def device_cookie_value(current: str | None) -> tuple[str, bool]:
    """The visitor's device cookie, and whether it is new (to set on the response)."""
    if current and len(current) == 32 and all(c in "0123456789abcdef" for c in current):
        return current, False
    return secrets.token_hex(16), True


def device_fingerprint(cookie: str, user_agent: str) -> str:
    return hashlib.sha256(f"{cookie}|{user_agent[:500]}".encode()).hexdigest()[:32]


def scan_record(*, participant: Participant, device: str, now: datetime | None = None) -> Scan | None:
    """The scan written (counted or, past the device limit, not); None for a reload within REPEAT_WINDOW."""
    now = now or timezone.now()
    campaign = participant.campaign
    history = list(Scan.objects.filter(campaign_id=campaign.pk, device=device)
                   .values_list("participant_id", "scanned_at")[:HISTORY_LIMIT])
    if any(pk == participant.pk and at > now - REPEAT_WINDOW for pk, at in history):
        return None
    codes_scanned = {pk for pk, _at in history} | {participant.pk}
    counted = not campaign.device_scan_limit or len(codes_scanned) <= campaign.device_scan_limit
    return Scan.objects.create(campaign_id=campaign.pk, participant=participant, device=device, counted=counted,
                               scanned_at=now)
