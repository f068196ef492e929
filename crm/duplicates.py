"""Duplicate contacts: finding them, merging one into another, and undoing a merge.

Finding works a page of groups at a time from GROUP BY ... HAVING COUNT(*) > 1 queries on the indexed columns
(contact_ws_phone, contact_ws_wechat_id, contact_ws_union_id), so a workspace of a million contacts is never loaded
whole. A merge moves the duplicate's tags, groups, orders, timeline and referrals to the survivor, fills the
survivor's empty fields, hides the duplicate (merged_into) and records exactly what moved in a ContactMerge row,
from which contact_merge_undo puts it all back.
"""

import difflib
import unicodedata
from dataclasses import dataclass, field

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Count, F, QuerySet, Window
from django.db.models.functions import RowNumber
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from crm.models import Contact, ContactMerge, ContactTag, GroupMembership, Member, Order, TimelineEvent
from crm.selectors import book_changed, contacts_visible_to

GROUPS_PER_PAGE = 50
# A group is shown with at most this many contacts (a phone shared by 5,000 contacts is one group, not 5,000 rows).
CONTACTS_PER_GROUP = 20
# Contacts with the same remark name compared for similar nicknames; beyond it the rest of the group is skipped.
REMARK_GROUP_LIMIT = 50
NICKNAME_SIMILARITY = 0.8

REASONS = {
    "phone": gettext_lazy("Same phone"),
    "wechat_id": gettext_lazy("Same WeChat ID"),
    "union_id": gettext_lazy("Same union ID"),
    "remark": gettext_lazy("Same remark name, similar nickname"),
}
# Fields of the survivor filled from the duplicate when empty; the value that counts as empty.
FILLABLE_FIELDS = {
    "remark_name": "",
    "nickname": "",
    "description": "",
    "wechat_id": "",
    "phone": "",
    "region": "",
    "external_id": "",
    "union_id": "",
    "gender": Contact.Gender.UNKNOWN,
    "owner_account_id": None,
    "referred_by_id": None,
}


@dataclass
class DuplicateGroup:
    reason: str
    key: str
    contacts: list[Contact]
    size: int  # how many contacts share the key (may be more than are listed)

    @property
    def reason_label(self) -> str:
        return str(REASONS[self.reason])

    @property
    def truncated(self) -> bool:
        return self.size > len(self.contacts)


@dataclass
class DuplicatePage:
    reason: str
    number: int
    groups: list[DuplicateGroup] = field(default_factory=list)
    has_next: bool = False

    @property
    def has_previous(self) -> bool:
        return self.number > 1


# Finding -----------------------------------------------------------------------------------------------------------


def normalize_nickname(text: str) -> str:
    """A nickname without emoji, symbols, punctuation, spaces or invisible characters, case-folded and with
    full-width letters made plain: "Amy 🌸" and "amy" become the same."""
    text = unicodedata.normalize("NFKC", text or "")
    kept = [
        char
        for char in text
        if unicodedata.category(char)[0] not in "SZCP" and not 0xFE00 <= ord(char) <= 0xFE0F  # variation selectors
    ]
    return "".join(kept).casefold()


def nicknames_similar(a: str, b: str) -> bool:
    na, nb = normalize_nickname(a), normalize_nickname(b)
    if not na or not nb:
        # Nothing left to compare (emoji only, or empty): only the same nickname, written the same, counts.
        return bool(a.strip()) and a.strip() == b.strip()
    return na == nb or difflib.SequenceMatcher(None, na, nb).ratio() >= NICKNAME_SIMILARITY


def _duplicate_keys(contacts: QuerySet[Contact], column: str, *, offset: int, limit: int) -> list[tuple[str, int]]:
    """(value, how many) of the column's values held by more than one contact, in value order."""
    rows = (
        contacts.exclude(**{column: ""})
        .order_by(column)
        .values(column)
        .annotate(n=Count("id"))
        .filter(n__gt=1)
        .values_list(column, "n")
    )
    return list(rows[offset : offset + limit])


def _contacts_by_key(contacts: QuerySet[Contact], column: str, keys: list[str], per_key: int) -> dict[str, list[Contact]]:
    """The first `per_key` contacts (oldest friends first) of each key, in one query."""
    ranked = (
        contacts.filter(**{f"{column}__in": keys})
        .select_related("owner_account")
        .annotate(
            dup_rank=Window(RowNumber(), partition_by=[F(column)], order_by=[F("added_at").asc(), F("id").asc()])
        )
        .filter(dup_rank__lte=per_key)
        .order_by(column, "added_at", "id")
    )
    found: dict[str, list[Contact]] = {key: [] for key in keys}
    for contact in ranked:
        found[getattr(contact, column)].append(contact)
    return found


def _similar_clusters(contacts: list[Contact]) -> list[list[Contact]]:
    """Contacts joined (transitively) by similar nicknames; only clusters of two or more."""
    parent = list(range(len(contacts)))

    def root(i):
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for i in range(len(contacts)):
        for j in range(i + 1, len(contacts)):
            if root(i) != root(j) and nicknames_similar(contacts[i].nickname, contacts[j].nickname):
                parent[root(j)] = root(i)
    clusters: dict[int, list[Contact]] = {}
    for i, contact in enumerate(contacts):
        clusters.setdefault(root(i), []).append(contact)
    return [cluster for cluster in clusters.values() if len(cluster) > 1]


def duplicate_groups(
    *, member: Member, reason: str, page: int = 1, per_page: int = GROUPS_PER_PAGE
) -> DuplicatePage:
    """One page of the duplicate groups the member may see, for one reason (a key of REASONS).

    A page is `per_page` duplicated values (phones, WeChat ids, union ids or remark names); a remark name gives a
    group only for those of its contacts whose nicknames are similar, so a remark page may hold fewer groups.
    """
    if reason not in REASONS:
        raise ValueError(f"unknown duplicate reason {reason!r}")
    page = max(1, page)
    contacts = contacts_visible_to(member=member)
    column = "remark_name" if reason == "remark" else reason
    keys = _duplicate_keys(contacts, column, offset=(page - 1) * per_page, limit=per_page + 1)
    result = DuplicatePage(reason=reason, number=page, has_next=len(keys) > per_page)
    keys = keys[:per_page]
    sizes = dict(keys)
    per_key = REMARK_GROUP_LIMIT if reason == "remark" else CONTACTS_PER_GROUP
    by_key = _contacts_by_key(contacts, column, list(sizes), per_key)
    for key, members in by_key.items():
        if reason != "remark":
            result.groups.append(DuplicateGroup(reason=reason, key=key, contacts=members, size=sizes[key]))
            continue
        for cluster in _similar_clusters(members):
            result.groups.append(
                DuplicateGroup(reason=reason, key=key, contacts=cluster[:CONTACTS_PER_GROUP], size=len(cluster))
            )
    return result


def duplicates_of(*, member: Member, contact: Contact) -> list[DuplicateGroup]:
    """The contacts the member may see that look like duplicates of `contact`, grouped by reason."""
    others = contacts_visible_to(member=member).exclude(pk=contact.pk).select_related("owner_account")
    groups = []
    for column in ("phone", "wechat_id", "union_id"):
        value = getattr(contact, column)
        if value:
            found = list(others.filter(**{column: value}).order_by("added_at", "id")[:CONTACTS_PER_GROUP])
            if found:
                groups.append(DuplicateGroup(reason=column, key=value, contacts=[contact, *found], size=len(found) + 1))
    if contact.remark_name:
        same_remark = others.filter(remark_name=contact.remark_name).order_by("added_at", "id")[:REMARK_GROUP_LIMIT]
        found = [other for other in same_remark if nicknames_similar(contact.nickname, other.nickname)]
        if found:
            found = found[:CONTACTS_PER_GROUP]
            groups.append(
                DuplicateGroup(reason="remark", key=contact.remark_name, contacts=[contact, *found], size=len(found) + 1)
            )
    return groups


def merges_visible_to(*, member: Member) -> QuerySet[ContactMerge]:
    """Merges of the member's workspace whose survivor they may see, newest first."""
    return (
        ContactMerge.objects.filter(workspace_id=member.workspace_id, survivor__in=contacts_visible_to(member=member))
        .select_related("survivor", "duplicate", "actor")
        .order_by("-created_at", "-id")
    )


# Merging -----------------------------------------------------------------------------------------------------------


def _locked(*pks: int) -> dict[int, Contact]:
    """The contacts, re-read and locked until commit, in id order (two merges never wait on each other in a ring)."""
    return {contact.pk: contact for contact in Contact.objects.select_for_update().filter(pk__in=pks).order_by("pk")}


def _after_commit_book_changed(workspace_id: int) -> None:
    transaction.on_commit(lambda: book_changed(workspace_id=workspace_id))


@transaction.atomic
def contact_merge(*, survivor: Contact, duplicate: Contact, actor) -> ContactMerge:
    """Merge `duplicate` into `survivor`: what moved is recorded, so that contact_merge_undo can put it back."""
    if survivor.workspace_id != duplicate.workspace_id:
        raise ValidationError(_("Contacts of different workspaces cannot be merged."))
    if survivor.pk == duplicate.pk:
        raise ValidationError(_("A contact cannot be merged into itself."))
    rows = _locked(survivor.pk, duplicate.pk)
    if len(rows) != 2:
        raise ValidationError(_("One of these contacts no longer exists."))
    survivor, duplicate = rows[survivor.pk], rows[duplicate.pk]
    for contact in (survivor, duplicate):
        if contact.merged_into_id:
            raise ValidationError(
                _("“%(name)s” has been merged into another contact already."), params={"name": contact.display_name}
            )

    moved = {
        "tag_links": _move_tag_links(survivor, duplicate),
        "group_memberships": _move_group_memberships(survivor, duplicate),
        "orders": _move(Order.objects.filter(contact=duplicate), contact=survivor),
        "timeline_events": _move(TimelineEvent.objects.filter(contact=duplicate), contact=survivor),
        "referrals": _move(
            Contact.objects.filter(referred_by=duplicate).exclude(pk=survivor.pk), referred_by=survivor
        ),
        "fields": {},
        "survivor_referred_by": None,
    }
    changed = []
    if survivor.referred_by_id == duplicate.pk:
        # Referred by themselves once merged: the referral is dropped (and given back by undo).
        moved["survivor_referred_by"] = duplicate.pk
        survivor.referred_by_id = None
        changed.append("referred_by_id")
    for name, empty in FILLABLE_FIELDS.items():
        value = getattr(duplicate, name)
        if name == "referred_by_id" and value == survivor.pk:
            continue
        if getattr(survivor, name) == empty and value != empty:
            setattr(survivor, name, value)
            moved["fields"][name] = value
            changed.append(name)
    if changed:
        survivor.save(update_fields=[*dict.fromkeys(changed), "updated_at"])
    duplicate.merged_into = survivor
    duplicate.save(update_fields=["merged_into", "updated_at"])

    event = TimelineEvent.objects.create(
        workspace_id=survivor.workspace_id,
        contact=survivor,
        kind=TimelineEvent.Kind.MERGED,
        # Stored without words: the kind is labelled in the reader's language when shown.
        body=f"{duplicate.display_name} (#{duplicate.pk})",
        actor=actor,
    )
    moved["event_id"] = event.pk
    merge = ContactMerge.objects.create(
        workspace_id=survivor.workspace_id, survivor=survivor, duplicate=duplicate, moved=moved, actor=actor
    )
    _after_commit_book_changed(survivor.workspace_id)
    return merge


def _move(rows: QuerySet, **to) -> list[int]:
    ids = list(rows.order_by("pk").values_list("pk", flat=True))
    if ids:
        rows.model.objects.filter(pk__in=ids).update(**to)
    return ids


def _move_tag_links(survivor: Contact, duplicate: Contact) -> list[int]:
    """The duplicate's tags that the survivor lacks move over; in an exclusive tag group the survivor's tag wins.
    Tags both hold stay on the (hidden) duplicate's link, untouched."""
    held = ContactTag.objects.filter(content_object=survivor).select_related("tag__group")
    held_tags = {link.tag_id for link in held}
    taken_groups = {link.tag.group_id for link in held if link.tag.group_id and link.tag.group.exclusive}
    ids = []
    for link in ContactTag.objects.filter(content_object=duplicate).select_related("tag__group").order_by("pk"):
        if link.tag_id in held_tags:
            continue
        group = link.tag.group
        if group and group.exclusive:
            if group.pk in taken_groups:
                continue
            taken_groups.add(group.pk)
        held_tags.add(link.tag_id)
        ids.append(link.pk)
    if ids:
        ContactTag.objects.filter(pk__in=ids).update(content_object=survivor)
    return ids


def _move_group_memberships(survivor: Contact, duplicate: Contact) -> list[int]:
    """The duplicate's customer groups that the survivor is not in already."""
    in_groups = GroupMembership.objects.filter(contact=survivor).values("group_id")
    return _move(GroupMembership.objects.filter(contact=duplicate).exclude(group_id__in=in_groups), contact=survivor)


@transaction.atomic
def contact_merge_undo(*, merge: ContactMerge, actor) -> ContactMerge:
    """Put back what the merge moved (only the rows that moved and are still on the survivor), show the duplicate
    again and write MERGE_UNDONE on both timelines. Undoing twice is refused."""
    merge = ContactMerge.objects.select_for_update().get(pk=merge.pk)
    if merge.undone_at:
        raise ValidationError(
            _("This merge was undone already, on %(when)s."),
            params={"when": timezone.localtime(merge.undone_at).strftime("%Y-%m-%d %H:%M")},
        )
    rows = _locked(merge.survivor_id, merge.duplicate_id)
    survivor, duplicate = rows[merge.survivor_id], rows[merge.duplicate_id]
    if survivor.merged_into_id:
        raise ValidationError(
            _("“%(name)s” has since been merged into another contact: undo that merge first."),
            params={"name": survivor.display_name},
        )
    if duplicate.merged_into_id != survivor.pk:
        raise ValidationError(_("This merge can no longer be undone: the duplicate has changed since."))
    # The conditional update is the claim: of two undos at once, one finds undone_at set and changes nothing.
    now = timezone.now()
    if ContactMerge.objects.filter(pk=merge.pk, undone_at__isnull=True).update(undone_at=now) != 1:
        raise ValidationError(_("This merge was undone already."))
    merge.undone_at = now
    moved = merge.moved

    duplicate_tags = ContactTag.objects.filter(content_object=duplicate).values("tag_id")
    ContactTag.objects.filter(pk__in=moved.get("tag_links", []), content_object=survivor).exclude(
        tag_id__in=duplicate_tags
    ).update(content_object=duplicate)
    duplicate_groups_ = GroupMembership.objects.filter(contact=duplicate).values("group_id")
    GroupMembership.objects.filter(pk__in=moved.get("group_memberships", []), contact=survivor).exclude(
        group_id__in=duplicate_groups_
    ).update(contact=duplicate)
    Order.objects.filter(pk__in=moved.get("orders", []), contact=survivor).update(contact=duplicate)
    TimelineEvent.objects.filter(pk__in=moved.get("timeline_events", []), contact=survivor).update(contact=duplicate)
    Contact.objects.filter(pk__in=moved.get("referrals", []), referred_by=survivor).update(referred_by=duplicate)

    changed = []
    for name, value in moved.get("fields", {}).items():
        # A field the seller has changed since is theirs now; only a value still as filled is emptied again.
        if name in FILLABLE_FIELDS and getattr(survivor, name) == value:
            setattr(survivor, name, FILLABLE_FIELDS[name])
            changed.append(name)
    if moved.get("survivor_referred_by") and survivor.referred_by_id is None:
        survivor.referred_by_id = moved["survivor_referred_by"]
        changed.append("referred_by_id")
    if changed:
        survivor.save(update_fields=[*dict.fromkeys(changed), "updated_at"])
    duplicate.merged_into = None
    duplicate.save(update_fields=["merged_into", "updated_at"])

    for contact, body in ((survivor, f"{duplicate.display_name} (#{duplicate.pk})"),
                          (duplicate, f"{survivor.display_name} (#{survivor.pk})")):
        TimelineEvent.objects.create(
            workspace_id=merge.workspace_id,
            contact=contact,
            kind=TimelineEvent.Kind.MERGE_UNDONE,
            body=body,
            actor=actor,
        )
    _after_commit_book_changed(merge.workspace_id)
    return merge
