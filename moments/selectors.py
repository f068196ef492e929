"""Reads for the moments pages: which posts a member may see and change, who a post reaches (a segment rule
resolved by crm.segments), the week calendar of an account, a post's numbers, and the contacts to pick from."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from django.db.models import Count, Q, QuerySet, Sum
from django.utils import timezone

from crm import segments, selectors
from crm.models import Contact, Member, Order, WeChatAccount, Workspace
from moments.models import Engagement, Post, Publication

ORDERS_WINDOW = timedelta(days=3)  # orders by the audience this long after a post count towards it
HANDED_OVER = (Publication.Status.PENDING, Publication.Status.PUBLISHED)


def zone_of(workspace: Workspace) -> ZoneInfo:
    return ZoneInfo(workspace.time_zone)


# Reach --------------------------------------------------------------------------------------------------------------


def _assigned(member: Member) -> set[int] | None:
    """None for a member who sees every account, else the ids of their accounts."""
    if member.sees_all_accounts:
        return None
    return set(member.assigned_accounts.values_list("pk", flat=True))


def posts_visible_to(*, member: Member) -> QuerySet[Post]:
    """The workspace's posts; for a member limited to some accounts, those posted from at least one of them."""
    posts = Post.objects.filter(workspace_id=member.workspace_id)
    if not member.sees_all_accounts:
        posts = posts.filter(publications__account__in=member.assigned_accounts.values("pk")).distinct()
    return posts


def post_within_reach(*, member: Member, post: Post) -> bool:
    """Whether the member may change the post: anyone who sees every account, else only a post all of whose
    accounts are theirs."""
    assigned = _assigned(member)
    if assigned is None:
        return True
    accounts = set(post.publications.values_list("account_id", flat=True))
    return bool(accounts) and accounts <= assigned


def post_is_editable(*, post: Post) -> bool:
    """Nothing of it handed over yet: every account still waits for its time."""
    return not post.publications.exclude(status=Publication.Status.WAITING).exists()


# Audience -----------------------------------------------------------------------------------------------------------


def audience_rule(*, account_ids, visibility: str, tag_ids) -> dict:
    """Who sees a post, as a segment rule: the friends of its accounts, narrowed by its tags (部分可见) or without
    them (不给谁看)."""
    children = [{"field": "account", "not": False, "accounts": sorted(account_ids)}]
    if visibility == Post.Visibility.ONLY_TAGS:
        children.append({"field": "tags", "not": False, "match": "any", "tags": sorted(tag_ids)})
    elif visibility == Post.Visibility.EXCEPT_TAGS:
        children.append({"field": "tags", "not": True, "match": "any", "tags": sorted(tag_ids)})
    return {"version": segments.RULE_VERSION, "root": {"op": "and", "not": False, "children": children}}


def post_rule(*, post: Post, account_ids) -> dict:
    return audience_rule(account_ids=account_ids, visibility=post.visibility, tag_ids=post.visibility_tags or [])


def audience_count(*, workspace: Workspace, account_ids, visibility: str, tag_ids) -> int:
    """How many contacts would see the post (cached with the workspace's segment counts)."""
    if not account_ids:
        return 0
    rule = audience_rule(account_ids=account_ids, visibility=visibility, tag_ids=tag_ids)
    return segments.segment_count(workspace=workspace, rule=rule)


# The calendar --------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CalendarEntry:
    post: Post
    publication: Publication
    state: str  # draft, planned, pending, published, skipped, failed or missed
    at: datetime  # in the workspace's time zone


@dataclass(frozen=True)
class CalendarDay:
    day: date
    is_today: bool
    entries: list[CalendarEntry]


def week_start(day: date) -> date:
    return day - timedelta(days=day.weekday())


def entry_state(*, post: Post, publication: Publication, day: date, today: date) -> str:
    """Missed: due, but not published by the end of its day."""
    if post.status == Post.Status.DRAFT:
        return "draft"
    if publication.status in (Publication.Status.WAITING, Publication.Status.PENDING) and day < today:
        return "missed"
    return {Publication.Status.WAITING: "planned"}.get(publication.status, publication.status)


def calendar_week(*, workspace: Workspace, account: WeChatAccount, start: date) -> list[CalendarDay]:
    """The seven days from `start` (a Monday) with the account's posts planned on each, in time order."""
    zone = zone_of(workspace)
    today = timezone.localdate(timezone.now(), zone)
    begin = start_of_day(workspace=workspace, day=start)
    publications = (
        Publication.objects.filter(workspace=workspace, account=account, post__scheduled_at__gte=begin,
                                   post__scheduled_at__lt=begin + timedelta(days=7))
        .select_related("post").order_by("post__scheduled_at", "post_id")
    )
    by_day: dict[date, list[CalendarEntry]] = {start + timedelta(days=n): [] for n in range(7)}
    for publication in publications:
        post = publication.post
        at = timezone.localtime(post.scheduled_at, zone)
        state = entry_state(post=post, publication=publication, day=at.date(), today=today)
        by_day[at.date()].append(CalendarEntry(post=post, publication=publication, state=state, at=at))
    return [CalendarDay(day=day, is_today=day == today, entries=entries) for day, entries in by_day.items()]


def unscheduled_drafts(*, workspace: Workspace, account: WeChatAccount) -> QuerySet[Post]:
    """The account's drafts with no date yet (a duplicated post, say), newest first."""
    return Post.objects.filter(
        workspace=workspace, publications__account=account, status=Post.Status.DRAFT, scheduled_at__isnull=True
    ).order_by("-created_at", "-id")


# A post's numbers ----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PostStats:
    audience: int  # the customers who could see it, counted when each account's publication was handed over
    likes: int
    comments: int
    orders: int  # placed by the audience within ORDERS_WINDOW of the post
    order_amount: Decimal


def post_stats(*, post: Post) -> PostStats:
    engagement = Engagement.objects.filter(post=post).aggregate(
        likes=Count("pk", filter=Q(kind=Engagement.Kind.LIKE)),
        comments=Count("pk", filter=Q(kind=Engagement.Kind.COMMENT)),
    )
    handed = list(post.publications.filter(status__in=HANDED_OVER))
    orders, amount = 0, Decimal("0.00")
    for publication in handed:
        counted = _orders_after(post=post, publication=publication)
        orders += counted["n"]
        amount += counted["total"] or Decimal("0.00")
    return PostStats(
        audience=sum(publication.audience_size or 0 for publication in handed),
        likes=engagement["likes"], comments=engagement["comments"], orders=orders, order_amount=amount,
    )


def publication_sent_at(*, post: Post, publication: Publication) -> datetime | None:
    """When the publication went out: published, else handed over, else planned."""
    return publication.published_at or publication.claimed_at or post.scheduled_at


def publication_audience(*, post: Post, publication: Publication) -> QuerySet[Contact]:
    """The customers the publication's rule matches (as they are now: the audience itself is not stored, a million
    rows for a big account). Also what the reports' moments effect counts from (reports.effect)."""
    return segments.segment_contacts(
        workspace=post.workspace, rule=post_rule(post=post, account_ids=[publication.account_id])
    )


def _orders_after(*, post: Post, publication: Publication) -> dict:
    """Orders placed within ORDERS_WINDOW of the publication by the customers its rule matches; a refunded order
    is no sale (as in the reports)."""
    since = publication_sent_at(post=post, publication=publication)
    audience = publication_audience(post=post, publication=publication)
    return Order.objects.filter(
        workspace_id=post.workspace_id, placed_at__gte=since, placed_at__lt=since + ORDERS_WINDOW,
        refunded_at__isnull=True, contact__in=audience.order_by().values("pk"),
    ).aggregate(n=Count("pk"), total=Sum("amount"))


def post_engagements(*, post: Post, member: Member) -> QuerySet[Engagement]:
    """The post's likes and comments from the contacts the member may see, newest first."""
    return (
        Engagement.objects.filter(post=post, contact__in=selectors.contacts_visible_to(member=member))
        .select_related("contact", "recorded_by")
    )


def engagement_candidates(*, member: Member, q: str, limit: int = 10) -> list[Contact]:
    """Contacts the member may see that match the search (remark name, nickname, WeChat ID, phone)."""
    q = (q or "").strip()
    if not q:
        return []
    return list(selectors.contact_list(member=member, filters=selectors.ContactFilter(q=q))[:limit])


# The send-today queue -------------------------------------------------------------------------------------------------


def start_of_day(*, workspace: Workspace, day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=zone_of(workspace))


def publications_to_post(*, member: Member, today: date) -> QuerySet[Publication]:
    """The posts handed to the staff of the accounts the member sees, due today or earlier: the "post now" cards."""
    # Not WeCom's: WeCom asks its staff in its own app, and wecom/moments.py follows those up.
    return Publication.objects.filter(
        workspace_id=member.workspace_id, status=Publication.Status.PENDING,
        account_id__in=selectors.accounts_visible_to(member=member).values("pk"),
        post__scheduled_at__lt=start_of_day(workspace=member.workspace, day=today + timedelta(days=1)),
    ).exclude(account__channel=WeChatAccount.Channel.WECOM)


def publication_for_member(*, member: Member, pk: int) -> Publication | None:
    """One publication of an account the member sees (None otherwise): what the queue's buttons act on."""
    return (
        Publication.objects.filter(
            workspace_id=member.workspace_id, pk=pk,
            account_id__in=selectors.accounts_visible_to(member=member).values("pk"),
        )
        .select_related("post", "account", "done_by")
        .first()
    )
