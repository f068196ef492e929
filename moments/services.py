"""What the moments pages write: a post created, edited, moved, duplicated or deleted, and the likes and comments
recorded on it. Publishing is moments.publishing."""

from __future__ import annotations

from datetime import date, datetime, timedelta

from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile
from django.db import IntegrityError, transaction
from django.db.models import Max
from django.utils import timezone
from django.utils.translation import gettext as _

from campaigns.drafts import link_card_clean
from crm import selectors as crm_selectors
from crm.models import Contact, Member, Tag, TimelineEvent
from moments import selectors, tasks
from moments.images import PreparedImage, moment_image_from_upload
from moments.models import Engagement, Post, PostImage, Publication

MAX_IMAGES = 9
MAX_TEXT_LENGTH = 2000
MAX_COMMENT_LENGTH = 500
# A post planned for "now" that took a moment to save is still on time.
SCHEDULE_GRACE = timedelta(minutes=1)


# Checking what the form sends ------------------------------------------------------------------------------------------


def _accounts_clean(member: Member, account_ids) -> list[int]:
    ids = sorted({int(pk) for pk in account_ids or []})
    if not ids:
        raise ValidationError(_("Choose the WeChat accounts that post it."))
    visible = set(crm_selectors.accounts_visible_to(member=member).filter(pk__in=ids).values_list("pk", flat=True))
    if set(ids) - visible:
        raise ValidationError(_("You can only post from the WeChat accounts assigned to you."))
    return ids


def _visibility_clean(member: Member, visibility: str, tag_ids) -> list[int]:
    if visibility not in Post.Visibility.values:
        raise ValidationError(_("Choose who sees the post."))
    if visibility == Post.Visibility.EVERYONE:
        return []
    ids = sorted({int(pk) for pk in tag_ids or []})
    if not ids:
        raise ValidationError(_("Choose the tags that decide who sees the post."))
    if Tag.objects.filter(workspace_id=member.workspace_id, pk__in=ids).count() != len(ids):
        raise ValidationError(_("Choose tags of this workspace."))
    return ids


def _fields_clean(*, member: Member, text: str, link: dict | None, visibility: str, tag_ids,
                  scheduled_at: datetime | None) -> dict:
    text = (text or "").replace("\r\n", "\n")
    if len(text) > MAX_TEXT_LENGTH:
        raise ValidationError(_("The text is %(n)d characters long; the limit is 2,000."), params={"n": len(text)})
    if scheduled_at is not None and timezone.is_naive(scheduled_at):
        raise ValidationError(_("The time to post has no time zone."))
    return {
        "text": text, "link": link_card_clean(link), "visibility": visibility,
        "visibility_tags": _visibility_clean(member, visibility, tag_ids), "scheduled_at": scheduled_at,
    }


def _content_check(*, fields: dict, images: int, cover: bool, schedule: bool) -> None:
    """Checked before any file is stored, so that a refusal leaves no file behind: images or a link card, and for
    a post to schedule, something to show and a time that has not passed."""
    if images > MAX_IMAGES:
        raise ValidationError(_("A post holds at most 9 images; this would make %(n)d."), params={"n": images})
    if fields["link"] and images:
        raise ValidationError(_("A post carries images or a link card, not both: remove one of them."))
    if cover and not fields["link"]:
        raise ValidationError(_("A cover goes with a link card: add the card's title and address, or no cover."))
    if not schedule:
        return
    if not (fields["text"].strip() or fields["link"] or images):
        raise ValidationError(_("A post needs text, images or a link card."))
    if fields["scheduled_at"] is None:
        raise ValidationError(_("Choose when to post it."))
    if fields["scheduled_at"] < timezone.now() - SCHEDULE_GRACE:
        raise ValidationError(_("The time to post has passed: choose a time in the future."))


def _images_prepare(uploads) -> list[PreparedImage]:
    """Every upload checked and prepared before anything is stored: one bad file stores none."""
    return [moment_image_from_upload(upload) for upload in uploads or []]


def _images_store(post: Post, prepared: list[PreparedImage]) -> None:
    """(Their number was checked by _content_check.)"""
    last = PostImage.objects.filter(post=post).aggregate(last=Max("position"))["last"]
    position = 0 if last is None else last + 1
    for offset, picture in enumerate(prepared):
        row = PostImage(post=post, position=position + offset)
        row.image.save(picture.image.name, picture.image, save=False)
        row.thumbnail.save(picture.thumbnail.name, picture.thumbnail, save=False)
        row.save()


def _delete_files_on_commit(files) -> None:
    names = [(file.storage, file.name) for file in files if file]
    transaction.on_commit(lambda: [storage.delete(name) for storage, name in names])


def _publications_sync(post: Post, account_ids: list[int]) -> None:
    """One publication per chosen account; those of accounts no longer chosen go (all of them still wait)."""
    post.publications.exclude(account_id__in=account_ids).delete()
    Publication.objects.bulk_create(
        [Publication(workspace_id=post.workspace_id, post=post, account_id=pk) for pk in account_ids],
        ignore_conflicts=True,
    )


def _scheduled(post: Post, *, schedule: bool) -> None:
    if not schedule:
        return
    post.status = Post.Status.SCHEDULED
    post.save(update_fields=["status"])
    if post.scheduled_at <= timezone.now():
        transaction.on_commit(lambda: tasks.post_publish_due.delay(post.pk))


# Posts ----------------------------------------------------------------------------------------------------------------


@transaction.atomic
def post_create(
    *, member: Member, text: str = "", link: dict | None = None, visibility: str = Post.Visibility.EVERYONE,
    tag_ids=(), account_ids=(), scheduled_at: datetime | None = None, images=(), link_cover=None,
    schedule: bool = False,
) -> Post:
    """A post from the chosen accounts: a draft, or scheduled when `schedule` (then it needs content and a time;
    a time now or just past publishes at once). `images` and `link_cover` are uploads."""
    fields = _fields_clean(member=member, text=text, link=link, visibility=visibility, tag_ids=tag_ids,
                           scheduled_at=scheduled_at)
    accounts = _accounts_clean(member, account_ids)
    prepared = _images_prepare(images)
    cover = moment_image_from_upload(link_cover) if link_cover else None
    _content_check(fields=fields, images=len(prepared), cover=bool(cover), schedule=schedule)
    post = Post(workspace=member.workspace, created_by=member.user, **fields)
    if cover:
        post.link_cover.save("cover.jpg", cover.thumbnail, save=False)
    post.save()
    _publications_sync(post, accounts)
    _images_store(post, prepared)
    _scheduled(post, schedule=schedule)
    return post


def _locked_for_change(post: Post, member: Member) -> Post:
    locked = Post.objects.select_for_update().get(pk=post.pk, workspace=member.workspace)
    if not selectors.post_within_reach(member=member, post=locked):
        raise ValidationError(_("This post goes out from WeChat accounts not assigned to you."))
    if not selectors.post_is_editable(post=locked):
        raise ValidationError(_("This post has been handed over already: duplicate it to post it again."))
    return locked


@transaction.atomic
def post_update(
    *, post: Post, member: Member, text: str = "", link: dict | None = None,
    visibility: str = Post.Visibility.EVERYONE, tag_ids=(), account_ids=(), scheduled_at: datetime | None = None,
    add_images=(), remove_image_ids=(), link_cover=None, remove_cover: bool = False, schedule: bool = False,
) -> Post:
    """The post's new content, audience and time; a draft until `schedule` (a scheduled post saved without it goes
    back to draft)."""
    locked = _locked_for_change(post, member)
    fields = _fields_clean(member=member, text=text, link=link, visibility=visibility, tag_ids=tag_ids,
                           scheduled_at=scheduled_at)
    accounts = _accounts_clean(member, account_ids)
    prepared = _images_prepare(add_images)
    cover = moment_image_from_upload(link_cover) if link_cover else None
    removed = list(PostImage.objects.filter(post=locked, pk__in=list(remove_image_ids or [])))
    _content_check(fields=fields, images=locked.images.count() - len(removed) + len(prepared), cover=bool(cover),
                   schedule=schedule)
    _delete_files_on_commit([file for row in removed for file in (row.image, row.thumbnail)])
    PostImage.objects.filter(pk__in=[row.pk for row in removed]).delete()
    if cover or remove_cover or not fields["link"]:  # a cover never outlives its link card
        _delete_files_on_commit([locked.link_cover])
        locked.link_cover = ""
    if cover:
        locked.link_cover.save("cover.jpg", cover.thumbnail, save=False)
    for key, value in fields.items():
        setattr(locked, key, value)
    locked.status = Post.Status.DRAFT
    locked.save()
    _publications_sync(locked, accounts)
    _images_store(locked, prepared)
    _scheduled(locked, schedule=schedule)
    return locked


@transaction.atomic
def post_unschedule(*, post: Post, member: Member) -> Post:
    """Back to draft: nothing is published until it is scheduled again."""
    locked = _locked_for_change(post, member)
    locked.status = Post.Status.DRAFT
    locked.save(update_fields=["status"])
    return locked


@transaction.atomic
def post_move(*, post: Post, member: Member, day: date) -> Post:
    """The post on another day at the same time of day (in the workspace's time zone)."""
    locked = _locked_for_change(post, member)
    if locked.scheduled_at is None:
        raise ValidationError(_("This draft has no time yet: edit it to choose one."))
    zone = selectors.zone_of(member.workspace)
    local = timezone.localtime(locked.scheduled_at, zone)
    moved = datetime.combine(day, local.timetz().replace(tzinfo=None), tzinfo=zone)
    if locked.status == Post.Status.SCHEDULED and moved < timezone.now():
        raise ValidationError(_("%(day)s at %(time)s has passed: choose a later day."),
                              params={"day": day.isoformat(), "time": local.strftime("%H:%M")})
    locked.scheduled_at = moved
    locked.save(update_fields=["scheduled_at"])
    return locked


@transaction.atomic
def post_duplicate(*, post: Post, member: Member) -> Post:
    """A new draft with the post's text, images, link card, accounts and audience, and no time yet."""
    if not selectors.post_within_reach(member=member, post=post):
        raise ValidationError(_("This post goes out from WeChat accounts not assigned to you."))
    copy = Post.objects.create(
        workspace=post.workspace, text=post.text, link=post.link, visibility=post.visibility,
        visibility_tags=list(post.visibility_tags or []), created_by=member.user,
    )
    if post.link_cover:
        copy.link_cover.save("cover.jpg", _file_copy(post.link_cover), save=True)
    for image in post.images.all():
        row = PostImage(post=copy, position=image.position)
        row.image.save(image.image.name.rsplit("/", 1)[-1], _file_copy(image.image), save=False)
        row.thumbnail.save(image.thumbnail.name.rsplit("/", 1)[-1], _file_copy(image.thumbnail), save=False)
        row.save()
    _publications_sync(copy, list(post.publications.values_list("account_id", flat=True)))
    return copy


def _file_copy(file) -> ContentFile:
    """Each post keeps its own files, so deleting one never takes another's pictures with it."""
    with file.open("rb") as source:
        return ContentFile(source.read())


@transaction.atomic
def post_delete(*, post: Post, member: Member) -> None:
    """A post not handed over yet, with its files (once the deletion is committed)."""
    locked = _locked_for_change(post, member)
    files = [locked.link_cover] + [file for row in locked.images.all() for file in (row.image, row.thumbnail)]
    _delete_files_on_commit(files)
    locked.delete()


# Likes and comments ----------------------------------------------------------------------------------------------------


def _excerpt(post: Post) -> str:
    text = " ".join((post.text or (post.link or {}).get("title") or "").split())
    return text[:60] + ("…" if len(text) > 60 else "")


@transaction.atomic
def engagement_add(*, post: Post, member: Member, contact_id, kind: str, comment: str = "",
                   occurred_at: datetime | None = None) -> Engagement:
    """A like or a comment of a contact the member may see on a post that has gone out, put on the contact's
    timeline. A second like of the same contact is the first one."""
    if kind not in Engagement.Kind.values:
        raise ValidationError(_("Record a like or a comment."))
    contact = crm_selectors.contacts_visible_to(member=member).filter(pk=contact_id).first()
    if contact is None:
        raise ValidationError(_("Choose a contact of this workspace."))
    if not post.publications.filter(status__in=selectors.HANDED_OVER).exists():
        raise ValidationError(_("Likes and comments come once the post has gone out."))
    comment = " ".join((comment or "").split())
    if kind == Engagement.Kind.COMMENT and not comment:
        raise ValidationError(_("Enter the comment."))
    if len(comment) > MAX_COMMENT_LENGTH:
        raise ValidationError(_("A comment is at most 500 characters."))
    return engagement_record(post=post, contact=contact, kind=kind, comment=comment, occurred_at=occurred_at,
                             actor=member.user)


@transaction.atomic
def engagement_record(*, post: Post, contact: Contact, kind: str, comment: str = "",
                      occurred_at: datetime | None = None, actor=None) -> Engagement:
    """Record a checked like or comment (by a member's hand, or fetched from WeCom by wecom.moments) with its timeline
    event. A second like of the same contact is the first one."""
    if kind == Engagement.Kind.LIKE:
        existing = Engagement.objects.filter(post=post, contact=contact, kind=kind).first()
        if existing:
            return existing
    at = occurred_at or timezone.now()
    event = TimelineEvent.objects.create(
        workspace_id=post.workspace_id, contact=contact, actor=actor, occurred_at=at,
        kind=TimelineEvent.Kind.MOMENT_LIKED if kind == Engagement.Kind.LIKE else TimelineEvent.Kind.MOMENT_COMMENTED,
        body=f"{comment}\n— {_excerpt(post)}" if comment else _excerpt(post),
    )
    try:
        with transaction.atomic():
            engagement = Engagement.objects.create(
                workspace_id=post.workspace_id, post=post, contact=contact, kind=kind, comment=comment,
                timeline_event=event, recorded_by=actor, occurred_at=at,
            )
    except IntegrityError:  # the same like recorded at the same moment by a teammate
        event.delete()
        return Engagement.objects.get(post=post, contact=contact, kind=kind)
    _book_changed_on_commit(post.workspace_id)
    return engagement


@transaction.atomic
def engagement_remove(*, engagement: Engagement, member: Member) -> None:
    """A like or comment recorded by mistake, with its timeline event."""
    if not crm_selectors.contacts_visible_to(member=member).filter(pk=engagement.contact_id).exists():
        raise ValidationError(_("Choose a contact of this workspace."))
    if engagement.timeline_event_id:
        TimelineEvent.objects.filter(pk=engagement.timeline_event_id).delete()
    engagement.delete()
    _book_changed_on_commit(engagement.workspace_id)


def _book_changed_on_commit(workspace_id: int) -> None:
    """Segment counts are cached per version of the book; an engagement changes who "liked a post" matches."""
    transaction.on_commit(lambda: crm_selectors.book_changed(workspace_id=workspace_id))
