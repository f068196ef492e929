"""Publishing: a due post goes out once from each of its accounts, however often the beat or the broker runs it.

The beat's tick (every 30 s) finds the publications that are due in the database (no ETA tasks) and publishes each
one. A publication is claimed with a conditional update, WAITING → PENDING, which only one run can win; only the
winner hands it to its account's channel:

    manual   personal WeChat has no API: it stays PENDING, a "post now" card in the send-today queue, until a staff
             member marks it posted (PUBLISHED) or skipped
    outbox   development, demos and tests: PUBLISHED at once
    wecom    comes with the WeCom integration, which registers its publisher here; until then the publication is
             FAILED with the reason

The audience is counted when the claim is made and kept on the publication (a post's reach, for its numbers).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime

from django.contrib.auth.models import AbstractBaseUser
from django.utils import timezone
from django.utils.translation import gettext as _

from moments import selectors
from moments.models import Post, Publication

logger = logging.getLogger(__name__)

TICK_BATCH = 500
# A publisher hands a claimed publication to its channel and says what became of it: PENDING (someone reports the
# outcome later), PUBLISHED or FAILED (with an error).
Publisher = Callable[[Publication], tuple[str, str]]
_PUBLISHERS: dict[str, Publisher] = {}


def register_publisher(channel: str, publisher: Publisher) -> None:
    _PUBLISHERS[channel] = publisher


register_publisher("manual", lambda publication: (Publication.Status.PENDING, ""))
register_publisher("outbox", lambda publication: (Publication.Status.PUBLISHED, ""))


def moments_tick(*, now: datetime | None = None) -> int:
    """What the beat runs: every due publication published; how many this run published."""
    now = now or timezone.now()
    due = (
        Publication.objects.filter(status=Publication.Status.WAITING, post__status=Post.Status.SCHEDULED,
                                   post__scheduled_at__lte=now)
        .order_by("post__scheduled_at", "id").values_list("pk", flat=True)[:TICK_BATCH]
    )
    return sum(publication_publish(publication_id=pk, now=now) for pk in list(due))


def post_publish_due(*, post_id: int, now: datetime | None = None) -> int:
    """A post scheduled for now published at once rather than at the next tick."""
    now = now or timezone.now()
    waiting = Publication.objects.filter(post_id=post_id, status=Publication.Status.WAITING)
    return sum(publication_publish(publication_id=pk, now=now) for pk in list(waiting.values_list("pk", flat=True)))


def publication_publish(*, publication_id: int, now: datetime | None = None) -> bool:
    """Publish one publication if it is due and nobody has yet; True only for the run that did."""
    now = now or timezone.now()
    publication = (
        Publication.objects.filter(pk=publication_id).select_related("post", "post__workspace", "account").first()
    )
    if publication is None:  # deleted with its post meanwhile
        return False
    post = publication.post
    if post.status != Post.Status.SCHEDULED or post.scheduled_at is None or post.scheduled_at > now:
        return False
    audience = selectors.audience_count(workspace=post.workspace, account_ids=[publication.account_id],
                                        visibility=post.visibility, tag_ids=post.visibility_tags or [])
    claimed = Publication.objects.filter(
        pk=publication_id, status=Publication.Status.WAITING,
        post__status=Post.Status.SCHEDULED,  # not taken back to draft since it was read
    ).update(status=Publication.Status.PENDING, claimed_at=now, audience_size=audience)
    if claimed != 1:
        return False
    publisher = _PUBLISHERS.get(publication.account.channel)
    if publisher is None:
        status, error = Publication.Status.FAILED, _("Moments cannot be published through this channel yet.")
    else:
        status, error = publisher(publication)
    if status != Publication.Status.PENDING:
        Publication.objects.filter(pk=publication_id).update(
            status=status, error=error[:500], published_at=now if status == Publication.Status.PUBLISHED else None
        )
    logger.info("Moments post %s from account %s: %s", post.pk, publication.account_id, status)
    return True


def publication_mark(*, publication: Publication, status: str, actor: AbstractBaseUser) -> bool:
    """Posted or skipped by the staff (the send-today card); False when someone had done it already."""
    if status not in (Publication.Status.PUBLISHED, Publication.Status.SKIPPED):
        raise ValueError(status)
    now = timezone.now()
    return Publication.objects.filter(pk=publication.pk, status=Publication.Status.PENDING).update(
        status=status, done_by=actor, published_at=now if status == Publication.Status.PUBLISHED else None,
    ) == 1
