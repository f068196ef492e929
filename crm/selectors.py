"""Reads of the customer book. Every selector is scoped by a workspace (or a member, who belongs to one)."""

import hashlib
import json
from array import array
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from itertools import islice
from typing import Callable, Iterable

from django.conf import settings
from django.core.cache import cache
from django.db.models import Count, Exists, OuterRef, Q, QuerySet
from django.urls import reverse
from django.utils import timezone

from crm.models import (
    Contact,
    ContactMerge,
    ContactTag,
    CustomerGroup,
    Heartbeat,
    Member,
    Order,
    Tag,
    TagGroup,
    TimelineEvent,
    WeChatAccount,
    Workspace,
)
from crm.phones import phone_search_digits


def member_for_user(*, user, workspace_id: int | None) -> Member | None:
    """The user's membership in the workspace they chose, else their first one; None when they have none."""
    memberships = Member.objects.filter(user=user).select_related("workspace").order_by("id")
    if workspace_id:
        chosen = memberships.filter(workspace_id=workspace_id).first()
        if chosen:
            return chosen
    return memberships.first()


def memberships_of_user(*, user) -> QuerySet[Member]:
    return Member.objects.filter(user=user).select_related("workspace").order_by("workspace__name")


def accounts_visible_to(*, member: Member) -> QuerySet[WeChatAccount]:
    accounts = WeChatAccount.objects.filter(workspace_id=member.workspace_id)
    if not member.sees_all_accounts:
        accounts = accounts.filter(assigned_members=member)
    return accounts


def contacts_visible_to(*, member: Member) -> QuerySet[Contact]:
    """The contacts a member may see: the whole workspace, or only those of their assigned accounts.

    Duplicates merged into another contact are hidden (kept only so that the merge can be undone).
    """
    contacts = Contact.objects.filter(workspace_id=member.workspace_id, merged_into__isnull=True)
    if not member.sees_all_accounts:
        contacts = contacts.filter(owner_account__in=member.assigned_accounts.values("id"))
    return contacts


@dataclass(frozen=True)
class ContactFilter:
    """What the contact list is narrowed to. Tag and account ids are already checked against the workspace."""

    q: str = ""
    tags_all: tuple[int, ...] = ()
    tags_any: tuple[int, ...] = ()
    tags_none: tuple[int, ...] = ()
    tag_group: int | None = None
    account: int | None = None
    stage: str = ""
    source: str = ""

    def fingerprint(self) -> str:
        data = asdict(self)
        return hashlib.sha1(json.dumps(data, sort_keys=True).encode()).hexdigest()


def _has_tag(tag_ids: Iterable[int]) -> Exists:
    return Exists(ContactTag.objects.filter(content_object=OuterRef("pk"), tag_id__in=list(tag_ids)))


def contact_list(*, member: Member, filters: ContactFilter) -> QuerySet[Contact]:
    """The member's contacts narrowed by the filter, newest friends first."""
    contacts = contacts_visible_to(member=member)
    for tag_id in filters.tags_all:
        contacts = contacts.filter(_has_tag([tag_id]))
    if filters.tags_any:
        contacts = contacts.filter(_has_tag(filters.tags_any))
    if filters.tags_none:
        contacts = contacts.exclude(_has_tag(filters.tags_none))
    if filters.tag_group:
        contacts = contacts.filter(
            Exists(ContactTag.objects.filter(content_object=OuterRef("pk"), tag__group_id=filters.tag_group))
        )
    if filters.account:
        contacts = contacts.filter(owner_account_id=filters.account)
    if filters.stage:
        contacts = contacts.filter(stage=filters.stage)
    if filters.source:
        contacts = contacts.filter(source=filters.source)
    if filters.q:
        contacts = contacts.filter(_search(filters.q))
    return contacts.select_related("owner_account").order_by("-added_at", "-id")


def _search(text: str) -> Q:
    # Text with no upper or lower case in it (Chinese, digits: most of what a seller types) matches the same with or
    # without case folding, so it is compared as it is: PostgreSQL then skips case folding on every row it reads (a
    # third of the time of a scan). Either way the trigram indexes on the plain columns serve it (migration 0002).
    lookup = "contains" if text.upper() == text == text.lower() else "trigram_icontains"
    match = (
        Q(**{f"nickname__{lookup}": text})
        | Q(**{f"remark_name__{lookup}": text})
        | Q(**{f"wechat_id__{lookup}": text})
        | Q(**{f"description__{lookup}": text})
    )
    digits = phone_search_digits(text)
    if digits:
        match |= Q(phone__contains=digits)
    return match


def member_scope(member: Member) -> str:
    """What part of the book the member sees, as a cache key part: everyone sees the same unless limited."""
    return "all" if member.sees_all_accounts else f"member{member.pk}"


def contact_list_count(*, member: Member, filters: ContactFilter, contacts: QuerySet[Contact]) -> int:
    """How many contacts the filter matches, counted once and reused until the book changes or the cache expires.

    Counting a filtered list over a million contacts can take a second on its own; a seller paging through the
    same list should not pay that on every page. Behind tag and text filters the count is the length of the
    cached id list (_ContactIds), which the same one query gives.
    """
    if _ContactIds.wanted(filters):
        return _ContactIds.of(member=member, filters=filters, contacts=contacts).count
    return cached_for_workspace(
        workspace_id=member.workspace_id,
        name=f"contact-count:{member_scope(member)}:{filters.fingerprint()}",
        compute=contacts.count,
    )


def contact_list_page(
    *, member: Member, filters: ContactFilter, contacts: QuerySet[Contact], start: int, stop: int
) -> QuerySet[Contact]:
    """Rows start..stop of contact_list(), in its order.

    Without tag or text filters an index serves the order and the filter (contact_ws_added, contact_ws_stage...),
    so the page is a plain slice. With them no index can, and OFFSET 9,950 means finding and throwing away 9,950
    matches first; there the page is looked up in the cached ordered ids of the whole list instead (_ContactIds),
    so page 200 costs what page 1 costs. The rows are still fetched through `contacts`, filter and all.
    """
    if _ContactIds.wanted(filters):
        ids = _ContactIds.of(member=member, filters=filters, contacts=contacts).slice(start, stop)
        if ids is not None:
            return contacts.filter(pk__in=ids)
    return contacts[start:stop]


class _ContactIds:
    """The ordered ids of the contacts a tag or text filter matches, from one query, cached in blocks of BLOCK ids
    (8 bytes each) under the workspace's book version like the counts: they live until the book changes or
    CONTACT_COUNT_CACHE_SECONDS pass. Only the first MAX_CACHED ids (4,000 pages) are kept; a list longer than
    that is also counted, and its pages beyond them use OFFSET."""

    BLOCK = 1000
    MAX_CACHED = 200_000

    def __init__(self, *, key: str, count: int, cached: int, blocks: dict[int, list[int]] | None = None):
        self.key, self.count, self.cached, self.blocks = key, count, cached, blocks or {}

    @staticmethod
    def wanted(filters: ContactFilter) -> bool:
        return bool(filters.q or filters.tags_all or filters.tags_any or filters.tags_none or filters.tag_group)

    @classmethod
    def of(cls, *, member: Member, filters: ContactFilter, contacts: QuerySet[Contact]) -> "_ContactIds":
        scope = member_scope(member)
        version = book_version(workspace_id=member.workspace_id)
        key = f"crm:{member.workspace_id}:{version}:contact-ids:{scope}:{filters.fingerprint()}"
        meta = cache.get(key)
        if meta is not None:
            return cls(key=key, count=meta[0], cached=meta[1])
        ids = list(contacts.order_by("-added_at", "-id").values_list("pk", flat=True)[: cls.MAX_CACHED + 1])
        count = len(ids) if len(ids) <= cls.MAX_CACHED else contacts.count()
        ids = ids[: cls.MAX_CACHED]
        blocks = {n: ids[n * cls.BLOCK : (n + 1) * cls.BLOCK] for n in range((len(ids) + cls.BLOCK - 1) // cls.BLOCK)}
        timeout = settings.CONTACT_COUNT_CACHE_SECONDS
        cache.set_many({f"{key}:{n}": array("q", block).tobytes() for n, block in blocks.items()}, timeout)
        cache.set(key, (count, len(ids)), timeout)  # last, so a reader who finds it finds the blocks too
        return cls(key=key, count=count, cached=len(ids), blocks=blocks)

    def slice(self, start: int, stop: int) -> list[int] | None:
        """The ids of rows start..stop, or None when they are not cached (beyond MAX_CACHED, or evicted)."""
        stop = min(stop, self.count)
        if start >= stop:
            return []
        if stop > self.cached:
            return None
        wanted = range(start // self.BLOCK, (stop - 1) // self.BLOCK + 1)
        missing = [n for n in wanted if n not in self.blocks]
        if missing:
            found = cache.get_many([f"{self.key}:{n}" for n in missing])
            for n in missing:
                raw = found.get(f"{self.key}:{n}")
                if raw is None:
                    return None
                self.blocks[n] = array("q", raw).tolist()
        ids = [pk for n in wanted for pk in self.blocks[n]]
        offset = wanted.start * self.BLOCK
        return ids[start - offset : stop - offset]


def contact_list_rows(*, contacts: QuerySet[Contact]) -> list[Contact]:
    """A page of the contact list, each contact with .url, .tag_names, .stage_label, .source_label and .added_on.

    Tag names come from one flat query rather than a prefetch of link and tag objects (about 500 of each on a
    page), and labels from one lookup table: the list renders a thousand fewer model instances and lazy strings.
    """
    rows = list(contacts.defer("description", "created_at", "updated_at"))
    names: dict[int, list[str]] = {row.pk: [] for row in rows}
    links = ContactTag.objects.filter(content_object_id__in=names).order_by("tag__name")
    for contact_id, tag_name in links.values_list("content_object_id", "tag__name"):
        names[contact_id].append(tag_name)
    stages, sources = dict(Contact.Stage.choices), dict(Contact.Source.choices)
    # One reverse() for the page, not one per row (a tenth of the page's rendering time).
    url_of = reverse("crm:contact_detail", args=[999_999_999]).replace("999999999", "{}").format
    for row in rows:
        row.url = url_of(row.pk)
        row.tag_names = names[row.pk]
        row.stage_label = stages.get(row.stage, row.stage)
        row.source_label = sources.get(row.source, row.source)
        row.added_on = timezone.localdate(row.added_at).isoformat()
    return rows


def _version_key(workspace_id: int) -> str:
    return f"crm:book-version:{workspace_id}"


def book_version(*, workspace_id: int) -> str:
    return cache.get_or_set(_version_key(workspace_id), lambda: "0", timeout=None)


def book_changed(*, workspace_id: int) -> None:
    """Forget every cached count of the workspace: contacts, tags or accounts changed."""
    cache.set(_version_key(workspace_id), datetime.now().isoformat(), timeout=None)


def cached_for_workspace(*, workspace_id: int, name: str, compute: Callable):
    key = f"crm:{workspace_id}:{book_version(workspace_id=workspace_id)}:{name}"
    return cache.get_or_set(key, compute, timeout=settings.CONTACT_COUNT_CACHE_SECONDS)


@dataclass(frozen=True)
class TimelineEntry:
    kind: str
    label: str
    occurred_at: datetime
    body: str = ""
    actor: object = None
    order: Order | None = None
    merge_id: int | None = None  # on a MERGED entry whose merge can still be undone


def _event_body(event: TimelineEvent) -> str:
    """The body as the reader should see it: a stage change is stored as codes ("vip → dormant"), shown as the
    stages' names in the reader's language."""
    if event.kind != TimelineEvent.Kind.STAGE_CHANGED:
        return event.body
    labels = dict(Contact.Stage.choices)
    return " → ".join(str(labels.get(code.strip(), code.strip())) for code in event.body.split("→"))


def contact_timeline(*, contact: Contact, limit: int = 100) -> list[TimelineEntry]:
    """Notes, follow-ups, tag and remark changes and orders of one contact, newest first."""
    # The merge behind each MERGED event still undoable: the merge records its event's id (crm.duplicates).
    merges = {
        moved.get("event_id"): pk
        for pk, moved in ContactMerge.objects.filter(survivor=contact, undone_at__isnull=True).values_list("pk", "moved")
    }
    events = [
        TimelineEntry(
            kind=e.kind, label=e.get_kind_display(), occurred_at=e.occurred_at, body=_event_body(e),
            actor=e.actor,
            merge_id=merges.get(e.pk) if e.kind == TimelineEvent.Kind.MERGED else None,
        )
        for e in contact.timeline_events.select_related("actor")[:limit]
    ]
    orders = [
        TimelineEntry(kind="order", label=str(Order._meta.verbose_name), occurred_at=o.placed_at, order=o)
        for o in contact.orders.all()[:limit]
    ]
    merged = sorted(events + orders, key=lambda entry: entry.occurred_at, reverse=True)
    return list(islice(merged, limit))


def contact_tags(*, contact: Contact) -> QuerySet[Tag]:
    return Tag.objects.filter(contact_links__content_object=contact).select_related("group").order_by(
        "group__position", "group__name", "name"
    )


def tags_of_workspace(*, workspace: Workspace) -> QuerySet[Tag]:
    return Tag.objects.filter(workspace=workspace).select_related("group").order_by(
        "group__position", "group__name", "name"
    )


def tag_groups_of_workspace(*, workspace: Workspace) -> QuerySet[TagGroup]:
    return TagGroup.objects.filter(workspace=workspace)


@dataclass(frozen=True)
class FilterChoices:
    """What the contact list's filters offer, as plain values: built on every list request otherwise."""

    tags: list[tuple[str, int, str]]  # (tag group name, "" for none; tag id; tag name), in tags_of_workspace order
    tag_groups: list[tuple[int, str]]
    accounts: list[tuple[int, str]]  # the accounts the member sees

    @property
    def tag_names(self) -> list[str]:
        return [name for _group, _pk, name in self.tags]


def contact_filter_choices(*, member: Member) -> FilterChoices:
    """The tags, tag groups and accounts to filter by, cached until the book changes (every service that adds,
    renames or removes one of them calls book_changed)."""

    def compute():
        tags = tags_of_workspace(workspace=member.workspace).values_list("group__name", "pk", "name")
        return FilterChoices(
            tags=[(group or "", pk, name) for group, pk, name in tags],
            tag_groups=list(tag_groups_of_workspace(workspace=member.workspace).values_list("pk", "name")),
            accounts=list(accounts_visible_to(member=member).order_by("name").values_list("pk", "name")),
        )

    return cached_for_workspace(
        workspace_id=member.workspace_id, name=f"filter-choices:{member_scope(member)}", compute=compute
    )


def tag_contact_counts(*, workspace: Workspace) -> dict[int, int]:
    """How many contacts carry each tag of the workspace (cached: a full count over millions of tag rows)."""

    def compute():
        rows = (
            ContactTag.objects.filter(tag__workspace=workspace, content_object__merged_into__isnull=True)
            .values("tag_id")
            .annotate(n=Count("id"))
        )
        return {row["tag_id"]: row["n"] for row in rows}

    return cached_for_workspace(workspace_id=workspace.pk, name="tag-counts", compute=compute)


def account_friend_counts(*, workspace: Workspace) -> dict[int, int]:
    def compute():
        rows = (
            Contact.objects.filter(workspace=workspace, owner_account__isnull=False, merged_into__isnull=True)
            .values("owner_account_id")
            .annotate(n=Count("id"))
        )
        return {row["owner_account_id"]: row["n"] for row in rows}

    return cached_for_workspace(workspace_id=workspace.pk, name="account-friend-counts", compute=compute)


def accounts_with_friend_counts(*, member: Member) -> list[WeChatAccount]:
    """The member's WeChat accounts, each with .friend_count, .fill_ratio and .near_capacity set."""
    counts = account_friend_counts(workspace=member.workspace)
    accounts = list(accounts_visible_to(member=member))
    for account in accounts:
        account.friend_count = counts.get(account.pk, 0)
        account.fill_ratio = account.friend_count / account.capacity
        account.near_capacity = account.fill_ratio >= WeChatAccount.CAPACITY_WARNING_RATIO
    return accounts


def customer_groups_with_counts(*, workspace: Workspace) -> QuerySet[CustomerGroup]:
    return (
        CustomerGroup.objects.filter(workspace=workspace)
        .select_related("owner_account")
        .annotate(member_count=Count("memberships"))
        .order_by("name", "id")
    )


def heartbeat_last_seen() -> datetime | None:
    return Heartbeat.objects.filter(name="worker").values_list("last_seen", flat=True).first()


def ids_in_batches(rows: QuerySet, *, batch_size: int):
    """Every primary key of a queryset, highest first, fetched a batch at a time by keyset (no big OFFSET, no
    cursor held open across the writes that a bulk change makes between batches)."""
    rows = rows.order_by("-pk").values_list("pk", flat=True)
    last = None
    while True:
        batch = list((rows.filter(pk__lt=last) if last else rows)[:batch_size])
        yield from batch
        if len(batch) < batch_size:
            return
        last = batch[-1]


# Tag page and customer groups ------------------------------------------------------------------------------------


@dataclass
class TagSection:
    """One block of the tag page: a tag group (None for the ungrouped tags) and its tags, each with .contact_count."""

    group: TagGroup | None
    tags: list[Tag]


def tag_overview(*, workspace: Workspace) -> list[TagSection]:
    """Every tag of the workspace under its group: groups in position order (empty ones too), ungrouped tags last."""
    counts = tag_contact_counts(workspace=workspace)
    sections = {group.pk: TagSection(group=group, tags=[]) for group in tag_groups_of_workspace(workspace=workspace)}
    ungrouped = TagSection(group=None, tags=[])
    for tag in Tag.objects.filter(workspace=workspace).order_by("name", "id"):
        tag.contact_count = counts.get(tag.pk, 0)
        sections.get(tag.group_id, ungrouped).tags.append(tag)
    return [*sections.values(), *([ungrouped] if ungrouped.tags else [])]


def tag_group_conflict_count(*, group: TagGroup) -> int:
    """How many contacts hold two or more tags of the group: what an exclusive group no longer allows."""
    return (
        ContactTag.objects.filter(tag__group=group)
        .order_by()
        .values("content_object_id")
        .annotate(n=Count("id"))
        .filter(n__gte=2)
        .count()
    )


def customer_group_memberships(*, group: CustomerGroup, member: Member) -> QuerySet:
    """The group's memberships whose contact the member may see, latest joiners first, each with its contact."""
    return (
        group.memberships.filter(contact__in=contacts_visible_to(member=member))
        .select_related("contact", "contact__owner_account")
        .order_by("-joined_at", "-id")
    )


def customer_group_candidates(*, group: CustomerGroup, member: Member, q: str, limit: int = 20) -> list[Contact]:
    """Contacts the member may see that match the search and are not in the group yet (the "add members" box)."""
    contacts = contact_list(member=member, filters=ContactFilter(q=q)).exclude(group_memberships__group=group)
    return list(contacts[:limit])


def members_of_workspace(*, workspace: Workspace) -> QuerySet[Member]:
    """The workspace's members, owners first, each with their user and assigned accounts."""
    return (
        Member.objects.filter(workspace=workspace)
        .select_related("user")
        .prefetch_related("assigned_accounts")
        .order_by("role", "user__username", "id")  # "owner" sorts before "staff"
    )


HEARTBEAT_STALE_AFTER = timedelta(minutes=3)


@dataclass(frozen=True)
class WorkerHealth:
    state: str  # "healthy", "stale" or "never"
    last_seen: datetime | None = None


def worker_health(*, now: datetime | None = None) -> WorkerHealth:
    """Whether the Celery worker ran the heartbeat (every 60 s, from beat) within the last three minutes."""
    last_seen = heartbeat_last_seen()
    if last_seen is None:
        return WorkerHealth(state="never")
    now = now or timezone.now()
    return WorkerHealth(state="stale" if now - last_seen > HEARTBEAT_STALE_AFTER else "healthy", last_seen=last_seen)


@dataclass(frozen=True)
class WorkspaceTotals:
    contacts: int
    tags: int
    customer_groups: int


def workspace_totals(*, member: Member) -> WorkspaceTotals:
    """Contacts the member sees (the contact list's own cached count), and the workspace's tags and groups."""
    return WorkspaceTotals(
        contacts=contact_list_count(
            member=member, filters=ContactFilter(), contacts=contacts_visible_to(member=member)
        ),
        tags=Tag.objects.filter(workspace_id=member.workspace_id).count(),
        customer_groups=CustomerGroup.objects.filter(workspace_id=member.workspace_id).count(),
    )


# Segments (the rules themselves are compiled in crm.segments) ---------------------------------------------------


def segments_of_workspace(*, workspace: Workspace) -> QuerySet:
    from crm.models import Segment  # the import list above is shared; kept local to this appended section

    return Segment.objects.filter(workspace=workspace).select_related("created_by").order_by("name", "id")


# The send-today queue (今日待发) ---------------------------------------------------------------------------------


def workspace_today(*, workspace: Workspace):
    """Today's date where the seller works: a card is due on the workspace's day, not the server's."""
    from zoneinfo import ZoneInfo

    return timezone.localdate(timezone.now(), ZoneInfo(workspace.time_zone))


def _pending_sends(*, member: Member, today):
    from crm.models import ManualSend  # the import list above is shared; kept local to this appended section

    # The account ids first, so that the manual_send_queue index (account, status, due_on, id) serves every
    # count and page: ManualSend has no index led by the workspace.
    return ManualSend.objects.filter(
        workspace_id=member.workspace_id,
        account_id__in=accounts_visible_to(member=member).values("pk"),
        status=ManualSend.Status.PENDING,
        due_on__lte=today,
    )


@dataclass(frozen=True)
class SendTodayCount:
    pending: int  # due today or earlier and not done
    overdue: int  # of those, due before today


def send_today_counts(*, member: Member, today=None) -> dict[int, SendTodayCount]:
    """Cards waiting in each WeChat account the member sees (accounts with none are left out): one grouped
    query."""
    today = today or workspace_today(workspace=member.workspace)
    rows = (
        _pending_sends(member=member, today=today)
        .order_by()
        .values("account_id")
        .annotate(pending=Count("id"), overdue=Count("id", filter=Q(due_on__lt=today)))
    )
    return {row["account_id"]: SendTodayCount(pending=row["pending"], overdue=row["overdue"]) for row in rows}


def send_today_total(*, member: Member, today=None) -> int:
    """Every card the member could work now, over all their accounts (the navigation's badge): one COUNT."""
    today = today or workspace_today(workspace=member.workspace)
    return _pending_sends(member=member, today=today).count()


def send_today_cards(*, member: Member, account_id: int, today=None) -> QuerySet:
    """The account's cards due today or earlier and not done, overdue ones first (oldest due day, then oldest
    card), each with its contact. Empty for an account the member does not see."""
    today = today or workspace_today(workspace=member.workspace)
    return (
        _pending_sends(member=member, today=today)
        .filter(account_id=account_id)
        .select_related("contact")
        .order_by("due_on", "id")
    )


def send_today_card(*, member: Member, pk: int):
    """One card of an account the member sees, whatever its status (None otherwise): what the queue's buttons
    and downloads act on."""
    from crm.models import ManualSend

    return (
        ManualSend.objects.filter(
            workspace_id=member.workspace_id, account_id__in=accounts_visible_to(member=member).values("pk"), pk=pk
        )
        .select_related("contact", "account", "done_by")
        .first()
    )
