"""Moments through WeCom (客户朋友圈): the `wecom` publisher of moments.publishing (registered by wecom/channel.py),
and the beat's follow-up.

    publish      a claimed publication becomes externalcontact/add_moment_task (text, pictures uploaded with
                 media/upload_attachment or a link; visible to the account's customers, or to those with the post's
                 tags as corp tags): the job's id is kept and the publication stays PENDING
    moment_tasks_poll, for each MomentTask not asked about lately:
      CREATING   get_moment_task_result: the job's moment_id (or why WeCom refused it); a task whose call never got
                 through is made again
      WAITING    get_moment_task: the staff member posted it from the WeCom app → PUBLISHED, with its real
                 audience (get_moment_customer_list)
      PUBLISHED  get_moment_comments: likes and comments of customers in the book become Engagement rows, each
                 once (MomentEngagementSeen), for FOLLOW_DAYS
Nobody posting it within FOLLOW_DAYS fails the publication with the reason.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext as _

from crm.models import Contact
from moments import services as moments_services
from moments.models import Engagement, Post, Publication
from wecom import media
from wecom.client import WeComClient, WeComError, WeComUnavailable, client_for
from wecom.models import MediaUpload, MomentEngagementSeen, MomentTask, WeComCredentials, WeComTag

logger = logging.getLogger(__name__)

POLL_EVERY = timedelta(minutes=10)
POLL_BATCH = 200
FOLLOW_DAYS = timedelta(days=7)
MAX_PICTURES = 9
JOB_DONE = 3  # get_moment_task_result: 1 started, 2 running, 3 done
Status = MomentTask.Status


def _not_set_up() -> str:
    return _("WeCom is not set up for this account (credentials, or its WeCom userid).")


# Publishing --------------------------------------------------------------------------------------------------------


def publish(publication: Publication) -> tuple[str, str]:
    """The publisher: hand the publication to WeCom once; PENDING until the staff member posts it."""
    account = publication.account
    credentials = WeComCredentials.objects.filter(workspace_id=publication.workspace_id).first()
    if credentials is None or not account.wechat_id:
        return Publication.Status.FAILED, _not_set_up()
    try:
        with transaction.atomic():
            task = MomentTask.objects.create(workspace_id=publication.workspace_id, publication=publication,
                                             sender=account.wechat_id)
    except IntegrityError:
        return Publication.Status.PENDING, ""  # handed to WeCom already
    return _create(task, credentials, publication.post)


def _create(task: MomentTask, credentials, post: Post) -> tuple[str, str]:
    try:
        answer = client_for(credentials).call("externalcontact/add_moment_task", body=_task_body(task, credentials,
                                                                                                 post))
    except WeComUnavailable as error:
        # Left CREATING without a job: the poll makes the call again.
        logger.info("WeCom moment task %s: later (%s)", task.pk, error)
        return Publication.Status.PENDING, ""
    except (WeComError, media.PictureTooLarge, OSError) as error:  # OSError: a picture's file is gone
        MomentTask.objects.filter(pk=task.pk).update(status=Status.FAILED, error=str(error)[:500])
        return Publication.Status.FAILED, str(error)
    MomentTask.objects.filter(pk=task.pk).update(jobid=answer.get("jobid", ""))
    return Publication.Status.PENDING, ""


def _task_body(task: MomentTask, credentials, post: Post) -> dict:
    visible: dict = {"sender_list": {"user_list": [task.sender]}}
    tags = corp_tag_ids(post)
    if tags:
        visible["external_contact_list"] = {"tag_list": tags}
    body: dict = {"visible_range": visible}
    if post.text:
        body["text"] = {"content": post.text}
    attachments = [
        {"msgtype": "image", "image": {"media_id": _moment_media(credentials, image.image.name)}}
        for image in post.images.all()[:MAX_PICTURES]
    ]
    if post.link and not attachments:  # WeCom takes pictures or one link, not both
        card = {"title": (post.link.get("title") or "")[:64], "url": post.link.get("url", "")}
        if post.link_cover:
            card["media_id"] = _moment_media(credentials, post.link_cover.name)
        attachments.append({"msgtype": "link", "link": card})
    if attachments:
        body["attachments"] = attachments
    return body


def _moment_media(credentials, name: str) -> str:
    return media.media_id_for(credentials=credentials, name=name, kind=MediaUpload.Kind.MOMENT)


def corp_tag_ids(post: Post) -> list[str]:
    """The corp tags (企业标签) standing for the tags of a post shown only to them. WeCom cannot hide a post from
    tags, and a tag the sync has not matched to a corp tag cannot be named: then the post is visible to all the
    account's customers, as the staff would post it by hand."""
    if post.visibility != Post.Visibility.ONLY_TAGS or not post.visibility_tags:
        return []
    return sorted(WeComTag.objects.filter(workspace_id=post.workspace_id, tag_id__in=post.visibility_tags,
                                          gone_at__isnull=True).values_list("wecom_id", flat=True))


# Following up ------------------------------------------------------------------------------------------------------


def moment_tasks_poll(*, now: datetime | None = None) -> int:
    """What the beat runs: every moment task still followed and not asked about lately; how many were asked."""
    now = now or timezone.now()
    due = (
        MomentTask.objects.filter(status__in=[Status.CREATING, Status.WAITING, Status.PUBLISHED])
        .filter(Q(checked_at__isnull=True) | Q(checked_at__lt=now - POLL_EVERY))
        .order_by(F("checked_at").asc(nulls_first=True), "id").values_list("pk", "checked_at")[:POLL_BATCH]
    )
    return sum(moment_task_check(task_id=pk, checked_at=checked_at, now=now) for pk, checked_at in list(due))


def moment_task_check(*, task_id: int, checked_at: datetime | None, now: datetime) -> bool:
    # Claimed with a conditional update on when it was last asked about: of two runs, one asks.
    if not MomentTask.objects.filter(pk=task_id, checked_at=checked_at).update(checked_at=now):
        return False
    task = MomentTask.objects.select_related("publication__post", "publication__account").get(pk=task_id)
    credentials = WeComCredentials.objects.filter(workspace_id=task.workspace_id).first()
    if credentials is None:
        return False
    client = client_for(credentials)
    try:
        if task.status == Status.CREATING:
            _check_job(task, client, credentials)
        if task.status == Status.WAITING:
            _check_posted(task, client, now)
        if task.status == Status.PUBLISHED:
            engagement_fetch(task=task, client=client)
    except WeComUnavailable as error:
        logger.info("WeCom moment task %s: later (%s)", task.pk, error)
    except WeComError as error:
        logger.warning("WeCom moment task %s: %s", task.pk, error)
        MomentTask.objects.filter(pk=task.pk).update(error=str(error)[:500])
    _expire(task, now)
    return True


def _fail(task: MomentTask, error: str) -> None:
    task.status = Status.FAILED
    MomentTask.objects.filter(pk=task.pk).update(status=Status.FAILED, error=error[:500])
    Publication.objects.filter(pk=task.publication_id, status=Publication.Status.PENDING).update(
        status=Publication.Status.FAILED, error=error[:500]
    )


def _check_job(task: MomentTask, client: WeComClient, credentials) -> None:
    if not task.jobid:
        if task.publication.status == Publication.Status.PENDING:
            status, error = _create(task, credentials, task.publication.post)
            if status == Publication.Status.FAILED:
                _fail(task, error)
        return
    answer = client.call("externalcontact/get_moment_task_result", params={"jobid": task.jobid})
    if int(answer.get("status", 0)) != JOB_DONE:
        return
    result = answer.get("result") or {}
    if int(result.get("errcode", 0)):
        _fail(task, _("WeCom refused the moment: error %(code)s (%(message)s).") % {
            "code": result.get("errcode"), "message": result.get("errmsg", "")})
        return
    if task.sender in ((result.get("invalid_sender_list") or {}).get("user_list") or []):
        _fail(task, _("The staff member may not post to customers' moments: check the app's customer contact "
                      "permissions in the WeCom admin console."))
        return
    task.moment_id, task.status = result.get("moment_id", ""), Status.WAITING
    MomentTask.objects.filter(pk=task.pk).update(moment_id=task.moment_id, status=Status.WAITING)


def _check_posted(task: MomentTask, client: WeComClient, now: datetime) -> None:
    posted = any(
        row.get("userid") == task.sender and int(row.get("publish_status", 0)) == 1
        for row in client.pages("externalcontact/get_moment_task", {"moment_id": task.moment_id}, "task_list")
    )
    if not posted:
        return
    audience = sum(1 for _row in client.pages(
        "externalcontact/get_moment_customer_list", {"moment_id": task.moment_id, "userid": task.sender}, "customer_list"
    ))
    task.status = Status.PUBLISHED
    MomentTask.objects.filter(pk=task.pk).update(status=Status.PUBLISHED)
    Publication.objects.filter(pk=task.publication_id, status=Publication.Status.PENDING).update(
        status=Publication.Status.PUBLISHED, published_at=now, audience_size=audience
    )


def _expire(task: MomentTask, now: datetime) -> None:
    if now - task.created_at <= FOLLOW_DAYS:
        return
    if task.status in (Status.CREATING, Status.WAITING):
        _fail(task, _("The staff member did not post it from WeCom within seven days."))
    elif task.status == Status.PUBLISHED:
        MomentTask.objects.filter(pk=task.pk).update(status=Status.EXPIRED)


# Likes and comments ------------------------------------------------------------------------------------------------


def engagement_fetch(*, task: MomentTask, client: WeComClient) -> int:
    """The moment's likes and comments, each recorded once; how many were new."""
    answer = client.call("externalcontact/get_moment_comments",
                         body={"moment_id": task.moment_id, "userid": task.sender})
    new = 0
    for kind, rows in ((Engagement.Kind.LIKE, answer.get("like_list")),
                       (Engagement.Kind.COMMENT, answer.get("comment_list"))):
        for row in rows or []:
            if row.get("external_userid"):  # staff members' own likes and comments are not customers'
                new += _engagement_record(task, kind, row["external_userid"], int(row.get("create_time") or 0))
    return new


def _contact(task: MomentTask, external_userid: str) -> Contact | None:
    contacts = Contact.objects.filter(workspace_id=task.workspace_id, external_id=external_userid,
                                      merged_into__isnull=True).order_by("pk")
    return contacts.filter(owner_account_id=task.publication.account_id).first() or contacts.first()


def _engagement_record(task: MomentTask, kind: str, external_userid: str, created: int) -> bool:
    # WeCom gives neither an id nor a comment's text: a like is one per customer, a comment one per moment in time.
    key = f"like:{external_userid}" if kind == Engagement.Kind.LIKE else f"comment:{external_userid}:{created}"
    if MomentEngagementSeen.objects.filter(task=task, key=key).exists():
        return False
    contact = _contact(task, external_userid)
    if contact is None:
        return False  # not in the book (yet): counted once the sync brings the customer
    at = datetime.fromtimestamp(created, tz=timezone.get_current_timezone()) if created else timezone.now()
    try:
        with transaction.atomic():
            seen = MomentEngagementSeen.objects.create(task=task, key=key)
            seen.engagement = moments_services.engagement_record(
                post=task.publication.post, contact=contact, kind=kind, occurred_at=at
            )
            seen.save(update_fields=["engagement"])
    except IntegrityError:
        return False  # another run recorded it meanwhile
    return True
