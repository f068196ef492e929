"""System status: is the background worker alive, which database and broker run, how big is the book."""

from urllib.parse import urlsplit

from django.conf import settings
from django.db import connection
from django.shortcuts import render

from crm import selectors
from crm.views.access import member_required


def _broker_kind() -> str:
    """Only the transport's name ("filesystem", "redis"): the URL may carry a host and a password."""
    return urlsplit(getattr(settings, "CELERY_BROKER_URL", "") or "").scheme or "?"


@member_required
def status(request):
    context = {
        "worker": selectors.worker_health(),
        "stale_after_minutes": int(selectors.HEARTBEAT_STALE_AFTER.total_seconds() // 60),
        "database": connection.display_name,
        "database_vendor": connection.vendor,
        "broker": _broker_kind(),
        "totals": selectors.workspace_totals(member=request.member),
        "memberships": selectors.memberships_of_user(user=request.user),
    }
    return render(request, "crm/status.html", context)
