"""The moments posts in the send-today queue (crm.queue_sections): each post an account publishes by hand is a
"post now" card with the text to copy and its images in one zip, above the account's messages."""

from datetime import date

from django.db.models import Count, Q

from crm.models import Member, Tag, WeChatAccount
from crm.queue_sections import QueueSection
from crm.selectors import SendTodayCount
from moments import selectors
from moments.models import Publication


def _local_day(publication: Publication, member: Member) -> date:
    return publication.post.scheduled_at.astimezone(selectors.zone_of(member.workspace)).date()


class MomentsQueue:
    def counts(self, *, member: Member, today: date) -> dict[int, SendTodayCount]:
        start_of_today = selectors.start_of_day(workspace=member.workspace, day=today)
        rows = (
            selectors.publications_to_post(member=member, today=today).order_by().values("account_id")
            .annotate(pending=Count("id"), overdue=Count("id", filter=Q(post__scheduled_at__lt=start_of_today)))
        )
        return {row["account_id"]: SendTodayCount(pending=row["pending"], overdue=row["overdue"]) for row in rows}

    def section(self, *, member: Member, account: WeChatAccount, today: date) -> QueueSection | None:
        publications = list(
            selectors.publications_to_post(member=member, today=today).filter(account=account)
            .select_related("post").prefetch_related("post__images").order_by("post__scheduled_at", "id")
        )
        if not publications:
            return None
        wanted = {pk for publication in publications for pk in publication.post.visibility_tags or []}
        names = dict(Tag.objects.filter(workspace_id=member.workspace_id, pk__in=wanted).values_list("pk", "name"))
        for publication in publications:
            publication.is_overdue = _local_day(publication, member) < today
            # The staff set 部分可见 / 不给谁看 on the phone by hand: the card names the tags.
            publication.tags = [names[pk] for pk in publication.post.visibility_tags or [] if pk in names]
        return QueueSection(template="moments/queue/_section.html", context={"publications": publications})
