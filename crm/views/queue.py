"""The send-today queue (今日待发): personal WeChat has no API, so every message of the manual channel is a card
that a staff member copies, sends from the account's phone and marks sent (or skips). One account at a time, the
overdue cards first; a member limited to some accounts sees only theirs. Other apps add their own cards above the
messages (crm.queue_sections: the moments posts to publish by hand)."""

import io
import logging
import mimetypes
import zipfile
from pathlib import PurePosixPath

from django.contrib import messages
from django.core.exceptions import SuspiciousFileOperation
from django.core.files.storage import default_storage
from django.http import FileResponse, Http404, HttpResponse, HttpResponseBadRequest
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import content_disposition_header, urlencode
from django.utils.translation import pgettext
from django.views.decorators.http import require_POST

from crm import queue_sections, selectors, wechat
from crm.models import ManualSend, WeChatAccount
from crm.views.access import member_required
from crm.views.contacts import CountedPaginator

logger = logging.getLogger(__name__)

PAGE_SIZE = 50
# Served inline as thumbnails; anything else (an SVG could carry a script) is only ever downloaded.
INLINE_IMAGE_TYPES = {"image/jpeg", "image/png", "image/gif", "image/webp"}


def _card_or_404(request, pk) -> ManualSend:
    card = selectors.send_today_card(member=request.member, pk=pk)
    if card is None:
        raise Http404
    return card


def _counts(member, today) -> tuple[dict[int, selectors.SendTodayCount], dict[int, selectors.SendTodayCount]]:
    """The messages waiting per account, and everything waiting per account (the messages and the other apps'
    cards, crm.queue_sections)."""
    messages_ = selectors.send_today_counts(member=member, today=today)
    everything = dict(messages_)
    for account_id, extra in queue_sections.extra_counts(member=member, today=today).items():
        known = everything.get(account_id, selectors.SendTodayCount(pending=0, overdue=0))
        everything[account_id] = selectors.SendTodayCount(
            pending=known.pending + extra.pending, overdue=known.overdue + extra.overdue
        )
    return messages_, everything


def _tabs(member, counts: dict[int, selectors.SendTodayCount]) -> list[WeChatAccount]:
    """The accounts to work, each with .pending and .overdue: those sending by hand, and any other with cards
    still waiting (made before its channel changed)."""
    accounts = selectors.accounts_visible_to(member=member).only("pk", "name", "channel").order_by("name", "id")
    tabs = []
    for account in accounts:
        count = counts.get(account.pk)
        if count is None and account.channel != WeChatAccount.Channel.MANUAL:
            continue
        account.pending = count.pending if count else 0
        account.overdue = count.overdue if count else 0
        tabs.append(account)
    return tabs


def _chosen(tabs: list[WeChatAccount], wanted) -> WeChatAccount | None:
    by_pk = {tab.pk: tab for tab in tabs}
    try:
        chosen = by_pk.get(int(wanted))
    except (TypeError, ValueError):
        chosen = None
    return chosen or next((tab for tab in tabs if tab.pending), None) or (tabs[0] if tabs else None)


def _safe_href(url) -> str:
    """A link card's address as a link only when it is a web address (never javascript: or data:)."""
    url = str(url or "").strip()
    return url if url.lower().startswith(("https://", "http://")) else ""


def _dress(card: ManualSend, today) -> ManualSend:
    """What the card template shows, worked out once."""
    card.is_overdue = card.due_on < today
    card.image_urls = [
        reverse("crm:send_today_image", args=[card.pk, index]) for index in range(len(card.images or []))
    ]
    link = card.link if isinstance(card.link, dict) else None
    card.link_card = (
        {"title": link.get("title", ""), "description": link.get("description", ""), "url": link.get("url", ""),
         "href": _safe_href(link.get("url"))}
        if link and any(link.get(key) for key in ("title", "description", "url"))
        else None
    )
    # Tall enough for the whole message (a line of about 40 characters), within reason.
    card.text_rows = min(12, max(2, sum(1 + len(line) // 40 for line in (card.text or "").split("\n"))))
    return card


def _queue_url(account_id=None, page=None) -> str:
    query = {key: value for key, value in (("account", account_id), ("page", page)) if value}
    return reverse("crm:send_today") + (f"?{urlencode(query)}" if query else "")


@member_required
def send_today(request):
    member = request.member
    today = selectors.workspace_today(workspace=request.workspace)
    message_counts, counts = _counts(member, today)
    tabs = _tabs(member, counts)
    current = _chosen(tabs, request.GET.get("account"))
    context = {
        "tabs": tabs,
        "current": current,
        "today": today,
        "send_today_total": sum(count.pending for count in counts.values()),
    }
    if current:
        cards = selectors.send_today_cards(member=member, account_id=current.pk, today=today)
        waiting = message_counts.get(current.pk)
        page = CountedPaginator(cards, PAGE_SIZE, count=waiting.pending if waiting else 0).get_page(
            request.GET.get("page")
        )
        context["page"] = page
        context["cards"] = [_dress(card, today) for card in page.object_list]
        context["sections"] = queue_sections.sections_for(member=member, account=current, today=today)
    return render(request, "crm/queue/page.html", context)


@member_required
def send_today_count(request):
    """The navigation's badge: how many cards the member could work now (loaded after the page, by htmx)."""
    today = selectors.workspace_today(workspace=request.workspace)
    extra = queue_sections.extra_counts(member=request.member, today=today)
    total = selectors.send_today_total(member=request.member, today=today) + sum(c.pending for c in extra.values())
    return render(request, "crm/queue/_nav_count.html", {"send_today_total": total})


@member_required
@require_POST
def send_today_mark(request, pk):
    """Copied & sent, or skipped. A card someone else has done already says so instead of failing."""
    card = _card_or_404(request, pk)
    status = request.POST.get("status")
    if status not in (ManualSend.Status.SENT, ManualSend.Status.SKIPPED):
        return HttpResponseBadRequest(pgettext("send-today queue", "A card is either sent or skipped."))
    changed = wechat.manual_send_mark(send=card, status=status, actor=request.user)
    card = _card_or_404(request, pk)  # as it is now, with whoever did it
    if request.htmx:
        member = request.member
        today = selectors.workspace_today(workspace=request.workspace)
        _messages, counts = _counts(member, today)
        context = {
            "card": card,
            "changed": changed,
            "tabs": _tabs(member, counts),
            "current": card.account,
            "send_today_total": sum(count.pending for count in counts.values()),
            "oob": True,
        }
        return render(request, "crm/queue/_card_done.html", context)
    name = {"name": card.contact.display_name}
    if not changed:
        messages.warning(request, _done_by_someone_else(card))
    elif card.status == ManualSend.Status.SENT:
        messages.success(request, pgettext("send-today queue", "Sent to %(name)s.") % name)
    else:
        messages.success(request, pgettext("send-today queue", "Skipped %(name)s.") % name)
    return redirect(_queue_url(card.account_id, request.POST.get("page")))


def _done_by_someone_else(card: ManualSend) -> str:
    params = {"name": card.contact.display_name, "who": card.done_by.get_username() if card.done_by else "?"}
    if card.status == ManualSend.Status.SENT:
        return pgettext("send-today queue", "%(who)s has sent the message to %(name)s already.") % params
    return pgettext("send-today queue", "%(who)s has skipped the message to %(name)s already.") % params


@member_required
def send_today_images(request, pk):
    """Every image of the card in one zip, to save to the phone at once."""
    card = _card_or_404(request, pk)
    if not card.images:
        raise Http404
    buffer = io.BytesIO()
    # Stored, not deflated: photos are compressed already.
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:
        for number, name in enumerate(card.images, start=1):
            try:
                with default_storage.open(name, "rb") as image:
                    data = image.read()
            except (OSError, SuspiciousFileOperation):
                logger.warning("Send-today card %s: image %r is missing", card.pk, name)
                continue
            archive.writestr(f"{number:02d}-{PurePosixPath(name).name}", data)
    response = HttpResponse(buffer.getvalue(), content_type="application/zip")
    response["Content-Disposition"] = content_disposition_header(True, f"send-today-{card.pk}-images.zip")
    response["Cache-Control"] = "private, no-store"
    return response


@member_required
def send_today_image(request, pk, index):
    """One image of a card: customers' messages are not public media, so they are served through the card."""
    card = _card_or_404(request, pk)
    images = card.images or []
    if index >= len(images):
        raise Http404
    name = images[index]
    try:
        image = default_storage.open(name, "rb")
    except (OSError, SuspiciousFileOperation):
        raise Http404 from None
    content_type = mimetypes.guess_type(name)[0] or ""
    inline = content_type in INLINE_IMAGE_TYPES
    response = FileResponse(
        image,
        content_type=content_type if inline else "application/octet-stream",
        as_attachment=not inline,
        filename=PurePosixPath(name).name,
    )
    response["Cache-Control"] = "private, max-age=3600"
    return response
