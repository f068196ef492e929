"""The public landing page a poster's QR code opens (/r/<code>): no sign-in, no session, a few kilobytes of HTML
for a phone. It shows the seller's WeChat QR code and the code to mention when adding, counts the scan
(referrals.scans), and says nothing about the participant or anyone else. An unknown code is a 404, like a
malformed one, so that codes cannot be told apart by probing."""

from django.http import FileResponse, Http404
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_GET

from referrals import codes, scans
from referrals.models import Participant


def _participant(code: str) -> Participant:
    code = codes.normalise(code)
    if not codes.looks_like_code(code):
        raise Http404
    participant = (Participant.objects.select_related("campaign")
                   .only("id", "code", "campaign", "campaign__id", "campaign__name", "campaign__status",
                         "campaign__starts_at", "campaign__ends_at", "campaign__landing_text",
                         "campaign__friend_qr", "campaign__device_scan_limit")
                   .filter(code=code).first())
    if participant is None:
        raise Http404
    return participant


@require_GET
def landing(request, code):
    participant = _participant(code)
    campaign = participant.campaign
    running = campaign.is_running(timezone.now())
    cookie, new_cookie = scans.device_cookie_value(request.COOKIES.get(scans.DEVICE_COOKIE))
    if running:
        device = scans.device_fingerprint(cookie, request.headers.get("User-Agent", ""))
        scans.scan_record(participant=participant, device=device)
    response = render(request, "referrals/landing.html",
                      {"campaign": campaign, "code": participant.code, "running": running})
    response["Cache-Control"] = "no-store"  # every visit is a scan to count
    response["X-Robots-Tag"] = "noindex"
    if new_cookie:
        response.set_cookie(scans.DEVICE_COOKIE, cookie, max_age=scans.DEVICE_COOKIE_MAX_AGE, httponly=True,
                            samesite="Lax", secure=request.is_secure())
    return response


@require_GET
def landing_wechat_qr(request, code):
    """The seller's WeChat QR code: public, as it is printed on the page anyway."""
    campaign = _participant(code).campaign
    if not campaign.friend_qr or not campaign.friend_qr.storage.exists(campaign.friend_qr.name):
        raise Http404
    kind = {"png": "image/png", "webp": "image/webp", "gif": "image/gif"}.get(
        campaign.friend_qr.name.rsplit(".", 1)[-1].lower(), "image/jpeg")
    response = FileResponse(campaign.friend_qr.open("rb"), content_type=kind)
    response["Cache-Control"] = "public, max-age=3600"
    return response
