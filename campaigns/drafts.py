"""What the broadcast pages write: a draft created and edited, its audience checked against the member, its
images, the workspace's messaging settings; and the reads those pages need. The send itself is campaigns.services.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, time

from django.core.exceptions import ValidationError
from django.core.validators import URLValidator
from django.db import transaction
from django.db.models import Count, Max, QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _

from campaigns.models import Broadcast, BroadcastImage, Delivery, MessagingSettings
from campaigns.services import audience_rule, broadcast_send
from campaigns.texts import PLACEHOLDER, personalise, placeholders_in
from crm import segments, selectors
from crm.content_check import ContentWarning, content_warnings, default_ad_words_text, words_from_text
from crm.models import Contact, Member, Workspace

MAX_IMAGES = 9
MAX_TEXT_LENGTH = 2000
INCLUDE_KEYS = ("segments", "tags", "groups", "accounts")
AUDIENCE_KEYS = (*INCLUDE_KEYS, "exclude_segments", "exclude_tags")
LINK_LIMITS = {"title": 64, "description": 120, "url": 1000}


def _assigned_accounts(member: Member) -> set[int] | None:
    """None for a member who may reach every account, else the ids of the accounts assigned to them."""
    if member.sees_all_accounts:
        return None
    return set(member.assigned_accounts.values_list("pk", flat=True))


def broadcast_audience_clean(*, member: Member, audience: dict | None) -> dict:
    """The audience with sorted, distinct ids under known keys only, each id checked against the workspace.

    A staff member limited to some accounts reaches only the customers of those accounts. The audience joins its
    segments, tags, groups and accounts with OR, so for them it is made of accounts alone (assigned ones; all of
    them when they chose none), narrowed by the exclusions: a tag or segment would reach other accounts' customers.
    """
    cleaned: dict[str, list[int]] = {}
    for key in AUDIENCE_KEYS:
        values = (audience or {}).get(key) or []
        try:
            ids = sorted({int(value) for value in values})
        except (TypeError, ValueError):
            raise ValidationError(_("The audience could not be read.")) from None
        if ids:
            cleaned[key] = ids
    assigned = _assigned_accounts(member)
    if assigned is not None:
        if any(cleaned.get(key) for key in ("segments", "tags", "groups")):
            raise ValidationError(
                _("You send to the customers of your own WeChat accounts: choose among them, and narrow the "
                  "audience with the exclusions.")
            )
        if not assigned:
            raise ValidationError(_("No WeChat account is assigned to you yet: ask the workspace's owner."))
        if set(cleaned.get("accounts", [])) - assigned:
            raise ValidationError(_("You can only send to the customers of the WeChat accounts assigned to you."))
        cleaned["accounts"] = cleaned.get("accounts") or sorted(assigned)
    segments.validate_rule(workspace=member.workspace, rule=audience_rule(cleaned))
    return cleaned


def broadcast_within_reach(*, member: Member, broadcast: Broadcast) -> bool:
    """Whether the member may change, send, pause or cancel the broadcast: anyone who sees every account may; a
    member limited to some accounts only a broadcast whose audience is made of their accounts alone."""
    assigned = _assigned_accounts(member)
    if assigned is None:
        return True
    audience = broadcast.audience or {}
    accounts = set(audience.get("accounts") or [])
    return (
        bool(accounts) and accounts <= assigned and not any(audience.get(key) for key in ("segments", "tags", "groups"))
    )


def link_card_clean(link: dict | None) -> dict | None:
    """A link card {"title", "description", "url"} (http or https only), or None when every part is empty."""
    if not link:
        return None
    card = {key: " ".join(str(link.get(key) or "").split()) for key in LINK_LIMITS}
    if not any(card.values()):
        return None
    for key, limit in LINK_LIMITS.items():
        if len(card[key]) > limit:
            raise ValidationError(_("The link card's %(part)s is longer than %(limit)d characters."),
                                  params={"part": key, "limit": limit})
    if not card["title"] or not card["url"]:
        raise ValidationError(_("A link card needs a title and a web address."))
    URLValidator(schemes=["http", "https"], message=_("Enter a web address starting with http:// or https://."))(card["url"])
    return card


def _fields_clean(*, member: Member, name: str, text: str, link: dict | None, audience: dict | None,
                  scheduled_at: datetime | None) -> dict:
    name = " ".join((name or "").split())
    if not name:
        raise ValidationError(_("A broadcast needs a name."))
    if len(name) > 100:
        raise ValidationError(_("The name is longer than 100 characters."))
    text = (text or "").replace("\r\n", "\n")
    if len(text) > MAX_TEXT_LENGTH:
        raise ValidationError(_("The message is %(n)d characters long; the limit is 2,000."), params={"n": len(text)})
    if scheduled_at is not None:
        if timezone.is_naive(scheduled_at):
            raise ValidationError(_("The time to send has no time zone."))
        if scheduled_at <= timezone.now():
            raise ValidationError(_("The time to send has passed: choose a time in the future."))
    return {
        "name": name, "text": text, "link": link_card_clean(link),
        "audience": broadcast_audience_clean(member=member, audience=audience), "scheduled_at": scheduled_at,
    }


def _images_prepare(uploads) -> list:
    """Every upload checked and prepared before anything is stored: one bad file stores none."""
    from campaigns.images import broadcast_image_from_upload

    prepared = []
    for upload in uploads:
        try:
            prepared.append(broadcast_image_from_upload(upload))
        except ValidationError as error:
            raise ValidationError(
                _("“%(name)s”: %(error)s"), params={"name": getattr(upload, "name", ""), "error": " ".join(error.messages)}
            ) from None
    return prepared


def _images_store(broadcast: Broadcast, prepared: list) -> None:
    if not prepared:
        return
    images = BroadcastImage.objects.filter(broadcast=broadcast)
    count = images.count()
    if count + len(prepared) > MAX_IMAGES:
        raise ValidationError(
            _("A broadcast holds at most 9 images; this would make %(n)d."), params={"n": count + len(prepared)}
        )
    position = (images.aggregate(last=Max("position"))["last"] or 0) + 1 if count else 0
    for offset, content in enumerate(prepared):
        image = BroadcastImage(broadcast=broadcast, position=position + offset)
        image.image.save(content.name, content, save=False)
        image.save()


def _images_or_link(*, link: dict | None, images: int) -> None:
    """Checked before any file is stored, so that a refusal leaves no file behind."""
    if link and images:
        raise ValidationError(_("A broadcast carries images or a link card, not both: remove one of them."))


@transaction.atomic
def broadcast_create(
    *, member: Member, name: str, text: str = "", link: dict | None = None, audience: dict | None = None,
    scheduled_at: datetime | None = None, images=(),
) -> Broadcast:
    """A draft. `scheduled_at` is the time it is planned for (None: as soon as it is sent), `images` uploads.
    A message, an image or a link and an audience are needed only to send it (broadcast_check)."""
    fields = _fields_clean(member=member, name=name, text=text, link=link, audience=audience,
                           scheduled_at=scheduled_at)
    prepared = _images_prepare(images)
    _images_or_link(link=fields["link"], images=len(prepared))
    broadcast = Broadcast.objects.create(workspace=member.workspace, created_by=member.user, **fields)
    _images_store(broadcast, prepared)
    return broadcast


def _draft_for_change(broadcast: Broadcast, member: Member) -> Broadcast:
    locked = Broadcast.objects.select_for_update().get(pk=broadcast.pk, workspace=member.workspace)
    if locked.status != Broadcast.Status.DRAFT:
        raise ValidationError(_("Only a draft can be changed; take a scheduled broadcast back to draft first."))
    if not broadcast_within_reach(member=member, broadcast=locked):
        raise ValidationError(_("This broadcast reaches customers of WeChat accounts not assigned to you."))
    return locked


@transaction.atomic
def broadcast_update(
    *, broadcast: Broadcast, member: Member, name: str, text: str = "", link: dict | None = None,
    audience: dict | None = None, scheduled_at: datetime | None = None, add_images=(), remove_image_ids=(),
) -> Broadcast:
    """A draft's new content, audience and plan; images removed first, then the new ones added."""
    locked = _draft_for_change(broadcast, member)
    fields = _fields_clean(member=member, name=name, text=text, link=link, audience=audience,
                           scheduled_at=scheduled_at)
    prepared = _images_prepare(add_images)
    for image_id in remove_image_ids:
        broadcast_image_remove(broadcast=locked, image_id=image_id, member=member)
    kept = BroadcastImage.objects.filter(broadcast=locked).count()
    _images_or_link(link=fields["link"], images=kept + len(prepared))
    for key, value in fields.items():
        setattr(locked, key, value)
    locked.save(update_fields=list(fields))
    _images_store(locked, prepared)
    broadcast.refresh_from_db()
    return locked


@transaction.atomic
def broadcast_image_add(*, broadcast: Broadcast, member: Member, upload) -> BroadcastImage:
    """One more image on a draft (at most MAX_IMAGES): verified, EXIF stripped, resized (campaigns.images)."""
    locked = _draft_for_change(broadcast, member)
    prepared = _images_prepare([upload])
    _images_or_link(link=locked.link, images=len(prepared))
    _images_store(locked, prepared)
    return BroadcastImage.objects.filter(broadcast=locked).order_by("-position", "-id").first()


@transaction.atomic
def broadcast_image_remove(*, broadcast: Broadcast, member: Member, image_id: int) -> bool:
    """Take an image off a draft; its file is deleted once the removal is committed."""
    locked = _draft_for_change(broadcast, member)
    image = BroadcastImage.objects.filter(broadcast=locked, pk=image_id).first()
    if image is None:
        return False
    storage, name = image.image.storage, image.image.name
    image.delete()
    transaction.on_commit(lambda: storage.delete(name))
    return True


def broadcast_send_planned(*, broadcast: Broadcast, member: Member) -> Broadcast:
    """The send page's button: send the draft as planned (now, or at its time), if the member may."""
    if not broadcast_within_reach(member=member, broadcast=broadcast):
        raise ValidationError(_("This broadcast reaches customers of WeChat accounts not assigned to you."))
    at = broadcast.scheduled_at if broadcast.status == Broadcast.Status.DRAFT else None
    if at is not None and at <= timezone.now():
        raise ValidationError(
            _("The time it was planned for has passed: edit the broadcast to choose a new time, or to send it now.")
        )
    return broadcast_send(broadcast=broadcast, at=at)


def messaging_settings_update(
    *, workspace: Workspace, quiet_start: time, quiet_end: time, daily_cap: int, monthly_cap: int | None,
    ad_words: str | None = None,
) -> MessagingSettings:
    """The workspace's quiet hours, frequency caps and content-check words (the owner's page)."""
    if daily_cap < 1:
        raise ValidationError(_("Allow at least one broadcast per customer per day."))
    if monthly_cap is not None and monthly_cap < 1:
        raise ValidationError(_("Allow at least one broadcast per customer per month, or leave it empty."))
    defaults = {"quiet_start": quiet_start, "quiet_end": quiet_end, "daily_cap": daily_cap, "monthly_cap": monthly_cap}
    if ad_words is not None:
        defaults["ad_words"] = "\n".join(words_from_text(ad_words))
    rules, _created = MessagingSettings.objects.update_or_create(workspace=workspace, defaults=defaults)
    return rules


def workspace_content_warnings(*, workspace: Workspace, text: str) -> list[ContentWarning]:
    """The content check of a broadcast's or moments post's text against the workspace's words (the defaults
    until its messaging settings are saved)."""
    stored = MessagingSettings.objects.filter(workspace=workspace).values_list("ad_words", flat=True).first()
    words = words_from_text(default_ad_words_text() if stored is None else stored)
    return content_warnings(text, words=words)


# Reads for the pages.

PROGRESS_CACHE_SECONDS = {Broadcast.Status.FINISHED: 300, Broadcast.Status.CANCELLED: 300}


def broadcasts_progress(*, broadcasts: Iterable[Broadcast]) -> dict[int, dict]:
    """broadcast_progress() of a page of broadcasts, in one grouped query; counts of broadcasts that are over are
    cached for a few minutes (a list of big broadcasts would otherwise count millions of rows on every view)."""
    from django.core.cache import cache

    progress: dict[int, dict] = {}
    keys = {
        broadcast.pk: f"campaigns:progress:{broadcast.pk}:{broadcast.status}"
        for broadcast in broadcasts
        if broadcast.started_at is not None
    }
    found = cache.get_many(list(keys.values()))
    wanted = [pk for pk, key in keys.items() if key not in found]
    for pk, key in keys.items():
        if key in found:
            progress[pk] = found[key]
    rows = (
        Delivery.objects.filter(broadcast_id__in=wanted).values("broadcast_id", "status").annotate(n=Count("id"))
        .order_by()
        if wanted else []
    )
    counted: dict[int, dict[str, int]] = {pk: {} for pk in wanted}
    for row in rows:
        counted[row["broadcast_id"]][row["status"]] = row["n"]
    statuses = {broadcast.pk: broadcast.status for broadcast in broadcasts}
    for pk, by_status in counted.items():
        progress[pk] = {"by_status": by_status, "total": sum(by_status.values())}
        seconds = PROGRESS_CACHE_SECONDS.get(statuses[pk])
        if seconds:
            cache.set(keys[pk], progress[pk], seconds)
    return progress


def broadcast_deliveries(*, broadcast: Broadcast, member: Member, status: str = "") -> QuerySet[Delivery]:
    """A broadcast's deliveries, newest first, to the contacts the member may see (optionally of one status)."""
    deliveries = Delivery.objects.filter(broadcast=broadcast, workspace=broadcast.workspace)
    if not member.sees_all_accounts:
        deliveries = deliveries.filter(contact__in=selectors.contacts_visible_to(member=member))
    if status:
        deliveries = deliveries.filter(status=status)
    return deliveries.select_related("contact", "account").order_by("-id")


@dataclass(frozen=True)
class TextSample:
    text: str  # the message as the contact would read it
    contact: Contact | None  # whom it is shown for (None: an example customer)
    placeholders: list[str]  # the placeholders the message uses
    unknown: list[str]  # "{...}" that are no placeholder, sent as they are


EXAMPLE_NAMES = {"remark_name": "王姐", "nickname": "小王"}
_BRACES = re.compile(r"\{[^{}\n]{1,20}\}")


def broadcast_text_sample(*, member: Member, text: str, audience: dict | None) -> TextSample:
    """The message personalised for the first contact of the audience the member may see (newest friend first),
    or for an example customer when the audience is empty or unreadable."""
    contact = None
    try:
        rule = audience_rule(broadcast_audience_clean(member=member, audience=audience))
        if any((audience or {}).get(key) for key in INCLUDE_KEYS) or not member.sees_all_accounts:
            contact = segments.segment_contacts_for_member(member=member, rule=rule).only(
                "pk", "remark_name", "nickname", "wechat_id"
            ).first()
    except ValidationError:
        contact = None
    names = {"remark_name": contact.remark_name, "nickname": contact.nickname} if contact else EXAMPLE_NAMES
    text = (text or "")[:MAX_TEXT_LENGTH]
    used = placeholders_in(text)
    unknown = [found for found in dict.fromkeys(_BRACES.findall(text)) if not PLACEHOLDER.fullmatch(found)]
    return TextSample(text=personalise(text, **names), contact=contact, placeholders=used, unknown=unknown)
