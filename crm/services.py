"""Writes to the customer book. Every service takes the workspace (or a row that belongs to one) and stays in it."""

from collections.abc import Iterable, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import Decimal
from datetime import datetime
from itertools import islice

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from crm import attribution, events
from crm.images import avatar_from_upload
from crm.models import (
    Contact,
    ContactTag,
    CustomerGroup,
    GroupMembership,
    Heartbeat,
    Member,
    Order,
    Tag,
    TagGroup,
    TimelineEvent,
    WeChatAccount,
    Workspace,
)
from crm.selectors import book_changed

BULK_BATCH_SIZE = 2000
TAG_NAME_MAX_LENGTH = 50


@contextmanager
def name_must_be_free(message: str, name: str):
    """Turn the unique-name constraint's IntegrityError (the name taken meanwhile by another request) into the
    same clear error the form gives, instead of a 500."""
    try:
        with transaction.atomic():
            yield
    except IntegrityError:
        raise ValidationError(message, params={"name": name}) from None


def batched(iterable: Iterable, size: int):
    """Python 3.11 has no itertools.batched."""
    iterator = iter(iterable)
    while chunk := list(islice(iterator, size)):
        yield chunk


def _after_commit_book_changed(workspace_id: int) -> None:
    transaction.on_commit(lambda: book_changed(workspace_id=workspace_id))


# Workspaces and members ------------------------------------------------------------------------------------------


@transaction.atomic
def workspace_create(*, name: str, slug: str, owner) -> Workspace:
    if Workspace.objects.filter(slug=slug).exists():
        raise ValidationError(_("A workspace with the slug “%(slug)s” exists already."), params={"slug": slug})
    workspace = Workspace.objects.create(name=name, slug=slug)
    Member.objects.create(workspace=workspace, user=owner, role=Member.Role.OWNER)
    return workspace


def member_add(*, workspace: Workspace, user, role: str) -> Member:
    if Member.objects.filter(workspace=workspace, user=user).exists():
        raise ValidationError(_("%(user)s is a member already."), params={"user": user.get_username()})
    return Member.objects.create(workspace=workspace, user=user, role=role)


def user_create(*, username: str, password: str):
    User = get_user_model()
    if User.objects.filter(username=username).exists():
        raise ValidationError(_("The username “%(username)s” is taken."), params={"username": username})
    return User.objects.create_user(username=username, password=password)


def _check_accounts_of(workspace_id: int, accounts: Iterable[WeChatAccount]) -> list[WeChatAccount]:
    accounts = list(accounts)
    if any(account.workspace_id != workspace_id for account in accounts):
        raise ValidationError(_("That WeChat account belongs to another workspace."))
    return accounts


def _other_owners_locked(member: Member) -> bool:
    """Whether the workspace keeps an owner without this member; the owners' rows stay locked until commit, so two
    owners demoting or removing each other at once cannot leave the workspace with none."""
    owners = list(
        Member.objects.select_for_update()
        .filter(workspace_id=member.workspace_id, role=Member.Role.OWNER)
        .values_list("pk", flat=True)
    )
    return any(pk != member.pk for pk in owners)


@transaction.atomic
def member_update(
    *, member: Member, role: str, limited_to_assigned_accounts: bool, assigned_accounts: Iterable[WeChatAccount]
) -> Member:
    """Change a member's role and which WeChat accounts they see. The last owner stays an owner."""
    accounts = _check_accounts_of(member.workspace_id, assigned_accounts)
    was_owner = Member.objects.filter(pk=member.pk, role=Member.Role.OWNER).exists()
    if was_owner and role != Member.Role.OWNER and not _other_owners_locked(member):
        raise ValidationError(
            _("%(user)s is the workspace's only owner: make someone else an owner first."),
            params={"user": member.user.get_username()},
        )
    member.role = role
    member.limited_to_assigned_accounts = limited_to_assigned_accounts
    member.save(update_fields=["role", "limited_to_assigned_accounts"])
    member.assigned_accounts.set(accounts)
    # Cached counts of the member's contact list are keyed by the book version: what they see has changed.
    _after_commit_book_changed(member.workspace_id)
    return member


@transaction.atomic
def member_invite(
    *,
    workspace: Workspace,
    username: str,
    password: str,
    role: str,
    limited_to_assigned_accounts: bool = False,
    assigned_accounts: Iterable[WeChatAccount] = (),
):
    """Add a user to the workspace by username, creating the user (with `password`) when there is none."""
    user = get_user_model().objects.filter(username=username).first()
    if user is None:
        if not password:
            raise ValidationError(_("“%(username)s” is a new user: give them a password."), params={"username": username})
        user = user_create(username=username, password=password)
    member = member_add(workspace=workspace, user=user, role=role)
    return member_update(
        member=member,
        role=role,
        limited_to_assigned_accounts=limited_to_assigned_accounts,
        assigned_accounts=assigned_accounts,
    )


@transaction.atomic
def member_remove(*, member: Member) -> None:
    """Take a member out of the workspace (their user stays). The last owner cannot be removed."""
    if member.is_owner and not _other_owners_locked(member):
        raise ValidationError(
            _("%(user)s is the workspace's only owner and cannot be removed."),
            params={"user": member.user.get_username()},
        )
    member.delete()
    _after_commit_book_changed(member.workspace_id)


# WeChat accounts ---------------------------------------------------------------------------------------------------


def _check_account_name(*, workspace_id: int, name: str, exclude_pk: int | None = None) -> None:
    clash = WeChatAccount.objects.filter(workspace_id=workspace_id, name=name)
    if exclude_pk:
        clash = clash.exclude(pk=exclude_pk)
    if clash.exists():
        raise ValidationError(_("A WeChat account named “%(name)s” exists already."), params={"name": name})


def wechat_account_create(
    *, workspace: Workspace, name: str, wechat_id: str = "", capacity: int = 10_000,
    channel: str = WeChatAccount.Channel.MANUAL,
):
    _check_account_name(workspace_id=workspace.pk, name=name)
    with name_must_be_free(_("A WeChat account named “%(name)s” exists already."), name):
        account = WeChatAccount.objects.create(
            workspace=workspace, name=name, wechat_id=wechat_id, capacity=capacity, channel=channel
        )
    _after_commit_book_changed(workspace.pk)  # the list's account filter offers it
    return account


def wechat_account_update(
    *, account: WeChatAccount, name: str, wechat_id: str, capacity: int, channel: str | None = None
) -> WeChatAccount:
    """Change an account; `channel` None keeps its delivery channel."""
    _check_account_name(workspace_id=account.workspace_id, name=name, exclude_pk=account.pk)
    account.name, account.wechat_id, account.capacity = name, wechat_id, capacity
    if channel is not None:
        account.channel = channel
    with name_must_be_free(_("A WeChat account named “%(name)s” exists already."), name):
        account.save(update_fields=["name", "wechat_id", "capacity", "channel"])
    _after_commit_book_changed(account.workspace_id)  # its name shows on the list's rows
    return account


# Tags --------------------------------------------------------------------------------------------------------------


def clean_tag_name(name: str) -> str:
    name = " ".join((name or "").split())
    if not name:
        raise ValidationError(_("A tag needs a name."))
    if len(name) > TAG_NAME_MAX_LENGTH:
        raise ValidationError(
            _("“%(name)s” is longer than %(max)d characters."), params={"name": name, "max": TAG_NAME_MAX_LENGTH}
        )
    return name


def tag_get_or_create(*, workspace: Workspace, name: str, group: TagGroup | None = None) -> Tag:
    name = clean_tag_name(name)
    tag = Tag.objects.filter(workspace=workspace, name=name).first()
    if tag:
        return tag
    try:
        with transaction.atomic():
            tag = Tag.objects.create(workspace=workspace, name=name, group=group)
    except IntegrityError:  # created meanwhile by another request
        return Tag.objects.get(workspace=workspace, name=name)
    _after_commit_book_changed(workspace.pk)  # the list's tag filters offer it
    return tag


def tags_from_names(*, workspace: Workspace, names: Iterable[str]) -> list[Tag]:
    """Tags of the workspace for the given names, creating the missing ones; duplicates removed, order kept."""
    tags: dict[int, Tag] = {}
    for name in names:
        if name.strip():
            tag = tag_get_or_create(workspace=workspace, name=name)
            tags.setdefault(tag.pk, tag)
    return list(tags.values())


def tag_rename(*, tag: Tag, name: str) -> Tag:
    name = clean_tag_name(name)
    clash = Tag.objects.filter(workspace_id=tag.workspace_id, name=name).exclude(pk=tag.pk).first()
    if clash:
        raise ValidationError(
            _("A tag named “%(name)s” exists already: merge the two instead."), params={"name": name}
        )
    tag.name = name
    tag.save(update_fields=["name"])
    _after_commit_book_changed(tag.workspace_id)  # its name shows on the list's rows
    return tag


def tag_update_group(*, tag: Tag, group: TagGroup | None) -> Tag:
    if group and group.workspace_id != tag.workspace_id:
        raise ValidationError(_("That tag group belongs to another workspace."))
    tag.group = group
    tag.save(update_fields=["group"])
    _after_commit_book_changed(tag.workspace_id)
    return tag


@transaction.atomic
def tag_merge(*, source: Tag, target: Tag) -> int:
    """Give every contact of `source` the tag `target`, then delete `source`. Returns how many contacts moved."""
    if source.workspace_id != target.workspace_id:
        raise ValidationError(_("Tags of different workspaces cannot be merged."))
    if source.pk == target.pk:
        raise ValidationError(_("A tag cannot be merged into itself."))
    moved = 0
    contact_ids = ContactTag.objects.filter(tag=source).values_list("content_object_id", flat=True)
    for chunk in batched(contact_ids.iterator(chunk_size=BULK_BATCH_SIZE), BULK_BATCH_SIZE):
        links = [ContactTag(content_object_id=cid, tag=target) for cid in chunk]
        moved += len(ContactTag.objects.bulk_create(links, ignore_conflicts=True))
    source.delete()
    _after_commit_book_changed(target.workspace_id)
    return moved


def tag_delete(*, tag: Tag) -> None:
    tag.delete()
    _after_commit_book_changed(tag.workspace_id)


@dataclass
class TagChange:
    added: int = 0
    removed: int = 0


def _check_exclusive(tags: Sequence[Tag]) -> None:
    seen: dict[int, Tag] = {}
    for tag in tags:
        if tag.group_id and tag.group.exclusive:
            if tag.group_id in seen:
                raise ValidationError(
                    _("“%(a)s” and “%(b)s” are both in the exclusive group “%(group)s”: choose one."),
                    params={"a": seen[tag.group_id].name, "b": tag.name, "group": tag.group.name},
                )
            seen[tag.group_id] = tag


def _link(*, workspace_id: int, contact_ids: list[int], tag: Tag, actor) -> int:
    have = set(
        ContactTag.objects.filter(tag=tag, content_object_id__in=contact_ids).values_list(
            "content_object_id", flat=True
        )
    )
    new_ids = [cid for cid in contact_ids if cid not in have]
    ContactTag.objects.bulk_create(
        [ContactTag(content_object_id=cid, tag=tag) for cid in new_ids], ignore_conflicts=True
    )
    _timeline_bulk(workspace_id, new_ids, TimelineEvent.Kind.TAG_ADDED, tag.name, actor)
    events.emit(events.TAG_ADDED, workspace_id=workspace_id, contact_ids=new_ids, tag_id=tag.pk)
    return len(new_ids)


def _unlink(*, workspace_id: int, contact_ids: list[int], tags: Sequence[Tag], actor) -> int:
    links = list(
        ContactTag.objects.filter(tag__in=tags, content_object_id__in=contact_ids).select_related("tag")
    )
    ContactTag.objects.filter(pk__in=[link.pk for link in links]).delete()
    for tag in tags:
        removed_from = [link.content_object_id for link in links if link.tag_id == tag.pk]
        _timeline_bulk(workspace_id, removed_from, TimelineEvent.Kind.TAG_REMOVED, tag.name, actor)
        events.emit(events.TAG_REMOVED, workspace_id=workspace_id, contact_ids=removed_from, tag_id=tag.pk)
    return len(links)


def _timeline_bulk(workspace_id: int, contact_ids: list[int], kind: str, body: str, actor) -> None:
    now = timezone.now()
    TimelineEvent.objects.bulk_create(
        [
            TimelineEvent(workspace_id=workspace_id, contact_id=cid, kind=kind, body=body, actor=actor, occurred_at=now)
            for cid in contact_ids
        ]
    )


def contacts_tag(
    *, workspace: Workspace, contact_ids: Iterable[int], add: Sequence[Tag] = (), remove: Sequence[Tag] = (), actor
) -> TagChange:
    """Add and remove tags on many contacts, in batches, each batch its own transaction.

    Adding a tag of an exclusive group takes the group's other tags off. Running it twice changes nothing more,
    so a redelivered task is harmless. The caller passes ids it has scoped to the workspace and the member.
    """
    for tag in [*add, *remove]:
        if tag.workspace_id != workspace.pk:
            raise ValidationError(_("That tag belongs to another workspace."))
    _check_exclusive(add)
    change = TagChange()
    for chunk in batched(contact_ids, BULK_BATCH_SIZE):
        chunk = list(chunk)
        with transaction.atomic():
            for tag in add:
                if tag.group_id and tag.group.exclusive:
                    siblings = list(Tag.objects.filter(group_id=tag.group_id).exclude(pk=tag.pk))
                    change.removed += _unlink(
                        workspace_id=workspace.pk, contact_ids=chunk, tags=siblings, actor=actor
                    )
                change.added += _link(workspace_id=workspace.pk, contact_ids=chunk, tag=tag, actor=actor)
            if remove:
                change.removed += _unlink(workspace_id=workspace.pk, contact_ids=chunk, tags=remove, actor=actor)
    book_changed(workspace_id=workspace.pk)
    return change


@transaction.atomic
def contact_tags_set(*, contact: Contact, tags: Sequence[Tag], actor) -> TagChange:
    """Make the contact's tags exactly `tags` (the inline editor)."""
    _check_exclusive(tags)
    current = {tag.pk: tag for tag in Tag.objects.filter(contact_links__content_object=contact)}
    wanted = {tag.pk: tag for tag in tags}
    to_remove = [tag for pk, tag in current.items() if pk not in wanted]
    to_add = [tag for pk, tag in wanted.items() if pk not in current]
    return contacts_tag(workspace=contact.workspace, contact_ids=[contact.pk], add=to_add, remove=to_remove, actor=actor)


def _check_tag_group(*, workspace_id: int, group: TagGroup | None) -> None:
    if group and group.workspace_id != workspace_id:
        raise ValidationError(_("That tag group belongs to another workspace."))


def tag_create(*, workspace: Workspace, name: str, group: TagGroup | None = None) -> Tag:
    """A new tag (the tag page); unlike tag_get_or_create, an existing name is an error."""
    name = clean_tag_name(name)
    _check_tag_group(workspace_id=workspace.pk, group=group)
    clash = _("A tag named “%(name)s” exists already.")
    if Tag.objects.filter(workspace=workspace, name=name).exists():
        raise ValidationError(clash, params={"name": name})
    try:
        with transaction.atomic():
            tag = Tag.objects.create(workspace=workspace, name=name, group=group)
    except IntegrityError:  # created meanwhile by another request
        raise ValidationError(clash, params={"name": name}) from None
    _after_commit_book_changed(workspace.pk)  # the list's tag filters offer it
    return tag


@transaction.atomic
def tag_update(*, tag: Tag, name: str, group: TagGroup | None) -> Tag:
    """Rename a tag and move it to another group (or none); a name clash is a ValidationError suggesting merge."""
    _check_tag_group(workspace_id=tag.workspace_id, group=group)
    try:
        with transaction.atomic():
            tag_rename(tag=tag, name=name)
    except IntegrityError:  # renamed meanwhile by another request
        raise ValidationError(
            _("A tag named “%(name)s” exists already: merge the two instead."), params={"name": name}
        ) from None
    if tag.group_id != (group.pk if group else None):
        tag_update_group(tag=tag, group=group)
    return tag


def tag_group_create(*, workspace: Workspace, name: str, exclusive: bool = False, position: int = 0) -> TagGroup:
    with name_must_be_free(_("A tag group named “%(name)s” exists already."), name):
        group = TagGroup.objects.create(workspace=workspace, name=name, exclusive=exclusive, position=position)
    _after_commit_book_changed(workspace.pk)  # the list's tag group filter offers it
    return group


def tag_group_update(*, group: TagGroup, name: str, exclusive: bool, position: int) -> TagGroup:
    """Change a tag group. Making it exclusive takes no tags off: contacts already holding several keep them."""
    group.name, group.exclusive, group.position = name, exclusive, position
    with name_must_be_free(_("A tag group named “%(name)s” exists already."), name):
        group.save(update_fields=["name", "exclusive", "position"])
    _after_commit_book_changed(group.workspace_id)
    return group


def tag_group_delete(*, group: TagGroup) -> None:
    """Delete a tag group; its tags stay, ungrouped (the foreign key is SET_NULL)."""
    workspace_id = group.workspace_id
    group.delete()
    _after_commit_book_changed(workspace_id)


# Contacts ----------------------------------------------------------------------------------------------------------


@transaction.atomic
def contact_create(
    *, workspace: Workspace, actor, tags: Sequence[Tag] = (), referral_code: str = "", **fields
) -> Contact:
    """A new contact; with a referral code, the friend who brought them is recorded too (a code that is no good
    raises ValidationError and adds nobody)."""
    account = fields.get("owner_account")
    if account and account.workspace_id != workspace.pk:
        raise ValidationError(_("That WeChat account belongs to another workspace."))
    contact = Contact.objects.create(workspace=workspace, **fields)
    events.emit(events.CONTACT_ADDED, workspace_id=workspace.pk, contact_ids=[contact.pk])
    if tags:
        contacts_tag(workspace=workspace, contact_ids=[contact.pk], add=tags, actor=actor)
    if referral_code and attribution.current():
        attribution.current().attribute(contact=contact, code=referral_code, actor=actor)
    _after_commit_book_changed(workspace.pk)
    return contact


@transaction.atomic
def contact_friend_deleted(*, contact: Contact, actor) -> bool:
    """The customer deleted the seller's account (删除好友); False when that was recorded already."""
    now = timezone.now()
    if not Contact.objects.filter(pk=contact.pk, friend_deleted_at__isnull=True).update(friend_deleted_at=now):
        return False
    contact.friend_deleted_at = now
    TimelineEvent.objects.create(
        workspace_id=contact.workspace_id, contact=contact, kind=TimelineEvent.Kind.FRIEND_DELETED, actor=actor
    )
    events.emit(events.FRIEND_DELETED, workspace_id=contact.workspace_id, contact_ids=[contact.pk])
    _after_commit_book_changed(contact.workspace_id)
    return True


@transaction.atomic
def contact_update(*, contact: Contact, actor, **fields) -> Contact:
    """Change a contact's WeChat fields; a new remark name or description is written on the timeline."""
    account = fields.get("owner_account")
    if account and account.workspace_id != contact.workspace_id:
        raise ValidationError(_("That WeChat account belongs to another workspace."))
    before = Contact.objects.get(pk=contact.pk)
    for name, value in fields.items():
        setattr(contact, name, value)
    contact.save()
    _timeline_remark_change(before=before, after=contact, actor=actor)
    _after_commit_book_changed(contact.workspace_id)
    return contact


def contact_remark_update(*, contact: Contact, remark_name: str, description: str, actor) -> Contact:
    return contact_update(contact=contact, actor=actor, remark_name=remark_name, description=description)


def _timeline_remark_change(*, before: Contact, after: Contact, actor) -> None:
    if (before.remark_name, before.description) == (after.remark_name, after.description):
        return
    TimelineEvent.objects.create(
        workspace_id=after.workspace_id,
        contact=after,
        kind=TimelineEvent.Kind.REMARK_CHANGED,
        # Stored without words: the event's kind is labelled in the reader's language when shown.
        body=f"“{before.remark_name}” → “{after.remark_name}”",
        actor=actor,
    )
    events.emit(events.REMARK_CHANGED, workspace_id=after.workspace_id, contact_ids=[after.pk])


def contact_avatar_set(*, contact: Contact, upload) -> Contact:
    """Store a verified, EXIF-free square thumbnail of the upload; ValidationError if it is no usable image."""
    thumbnail = avatar_from_upload(upload)
    old = contact.avatar.name if contact.avatar else ""
    contact.avatar.save(thumbnail.name, thumbnail, save=False)
    contact.save(update_fields=["avatar", "updated_at"])
    _after_commit_book_changed(contact.workspace_id)  # the list's row shows it
    if old:
        transaction.on_commit(lambda: contact.avatar.storage.delete(old))
    return contact


def contact_note_add(*, contact: Contact, kind: str, body: str, actor) -> TimelineEvent:
    if kind not in {TimelineEvent.Kind.NOTE, TimelineEvent.Kind.FOLLOW_UP}:
        raise ValidationError(_("A note is either a note or a follow-up."))
    body = body.strip()
    if not body:
        raise ValidationError(_("Write something first."))
    return TimelineEvent.objects.create(
        workspace_id=contact.workspace_id, contact=contact, kind=kind, body=body, actor=actor
    )


# Opting out ----------------------------------------------------------------------------------------------------------

# What a customer replies to stop receiving messages: the reply as a whole, case and spaces aside (a sentence
# that merely contains "td" is not a request).
OPT_OUT_KEYWORDS = frozenset({"退订", "td", "t", "取消订阅", "unsubscribe", "stop"})


@transaction.atomic
def contact_opt_out(*, contact: Contact, actor, reason: str = "") -> bool:
    """Stop every broadcast and follow-up message to the contact. False if they had opted out already."""
    now = timezone.now()
    if not Contact.objects.filter(pk=contact.pk, opted_out_at__isnull=True).update(opted_out_at=now):
        return False
    contact.opted_out_at = now
    TimelineEvent.objects.create(
        workspace_id=contact.workspace_id, contact=contact, kind=TimelineEvent.Kind.OPTED_OUT, body=reason, actor=actor
    )
    events.emit(events.OPTED_OUT, workspace_id=contact.workspace_id, contact_ids=[contact.pk])
    _after_commit_book_changed(contact.workspace_id)
    return True


@transaction.atomic
def contact_opt_in(*, contact: Contact, actor) -> bool:
    """Undo an opt-out (the customer asked to hear from the seller again)."""
    if not Contact.objects.filter(pk=contact.pk, opted_out_at__isnull=False).update(opted_out_at=None):
        return False
    contact.opted_out_at = None
    TimelineEvent.objects.create(
        workspace_id=contact.workspace_id, contact=contact, kind=TimelineEvent.Kind.OPTED_IN, actor=actor
    )
    _after_commit_book_changed(contact.workspace_id)
    return True


def is_opt_out_reply(text: str) -> bool:
    return " ".join(text.split()).lower() in OPT_OUT_KEYWORDS


@transaction.atomic
def contact_reply_record(*, contact: Contact, text: str, actor=None) -> TimelineEvent:
    """A reply from the customer on the timeline; an opt-out keyword (退订, TD...) opts them out."""
    text = text.strip()
    if not text:
        raise ValidationError(_("Write something first."))
    event = TimelineEvent.objects.create(
        workspace_id=contact.workspace_id, contact=contact, kind=TimelineEvent.Kind.REPLY, body=text, actor=actor
    )
    if is_opt_out_reply(text):
        contact_opt_out(contact=contact, actor=actor, reason=text)
    else:
        events.emit(events.REPLIED, workspace_id=contact.workspace_id, contact_ids=[contact.pk], text=text)
    return event


# Orders ------------------------------------------------------------------------------------------------------------


def order_create(
    *,
    contact: Contact,
    amount: Decimal,
    placed_at: datetime,
    channel: str,
    items: str = "",
    external_id: str = "",
    actor,
) -> Order:
    if amount < 0:
        raise ValidationError(_("An order amount cannot be negative."))
    order = Order.objects.create(
        workspace_id=contact.workspace_id,
        contact=contact,
        amount=amount,
        placed_at=placed_at,
        channel=channel,
        items=items,
        external_id=external_id,
        created_by=actor,
    )
    events.emit(events.ORDER_PLACED, workspace_id=contact.workspace_id, contact_ids=[contact.pk], order_id=order.pk)
    _after_commit_book_changed(contact.workspace_id)
    return order


@transaction.atomic
def order_refund(*, order: Order, actor) -> bool:
    """The order's money went back to the customer; False when it was refunded already."""
    now = timezone.now()
    if not Order.objects.filter(pk=order.pk, refunded_at__isnull=True).update(refunded_at=now):
        return False
    order.refunded_at = now
    TimelineEvent.objects.create(
        workspace_id=order.workspace_id, contact_id=order.contact_id, kind=TimelineEvent.Kind.ORDER_REFUNDED,
        body=f"¥{order.amount}", actor=actor,
    )
    events.emit(events.ORDER_REFUNDED, workspace_id=order.workspace_id, contact_ids=[order.contact_id],
                order_id=order.pk)
    _after_commit_book_changed(order.workspace_id)
    return True


def order_delete(*, order: Order) -> None:
    order.delete()
    _after_commit_book_changed(order.workspace_id)


# Customer groups ---------------------------------------------------------------------------------------------------


@transaction.atomic
def customer_group_members_add(*, group: CustomerGroup, contact_ids: Iterable[int], actor) -> int:
    """Add contacts (already scoped to the group's workspace by the caller) to a group; returns how many joined."""
    contact_ids = list(contact_ids)
    if Contact.objects.filter(pk__in=contact_ids).exclude(workspace_id=group.workspace_id).exists():
        raise ValidationError(_("Some of those contacts belong to another workspace."))
    have = set(GroupMembership.objects.filter(group=group, contact_id__in=contact_ids).values_list("contact_id", flat=True))
    new_ids = [cid for cid in dict.fromkeys(contact_ids) if cid not in have]
    GroupMembership.objects.bulk_create(
        [GroupMembership(group=group, contact_id=cid) for cid in new_ids], ignore_conflicts=True
    )
    _timeline_bulk(group.workspace_id, new_ids, TimelineEvent.Kind.GROUP_JOINED, group.name, actor)
    events.emit(events.GROUP_JOINED, workspace_id=group.workspace_id, contact_ids=new_ids, group_id=group.pk)
    _after_commit_book_changed(group.workspace_id)
    return len(new_ids)


@transaction.atomic
def customer_group_member_remove(*, group: CustomerGroup, contact: Contact, actor) -> None:
    deleted, _count = GroupMembership.objects.filter(group=group, contact=contact).delete()
    if deleted:
        _timeline_bulk(group.workspace_id, [contact.pk], TimelineEvent.Kind.GROUP_LEFT, group.name, actor)
        _after_commit_book_changed(group.workspace_id)


def _check_group_account(*, workspace_id: int, owner_account) -> None:
    if owner_account and owner_account.workspace_id != workspace_id:
        raise ValidationError(_("That WeChat account belongs to another workspace."))


def customer_group_create(*, workspace: Workspace, name: str, owner_account=None, notes: str = "") -> CustomerGroup:
    _check_group_account(workspace_id=workspace.pk, owner_account=owner_account)
    with name_must_be_free(_("A group named “%(name)s” exists already."), name):
        return CustomerGroup.objects.create(
            workspace=workspace, name=name, owner_account=owner_account, notes=notes
        )


def customer_group_update(*, group: CustomerGroup, name: str, owner_account=None, notes: str = "") -> CustomerGroup:
    _check_group_account(workspace_id=group.workspace_id, owner_account=owner_account)
    group.name, group.owner_account, group.notes = name, owner_account, notes
    with name_must_be_free(_("A group named “%(name)s” exists already."), name):
        group.save(update_fields=["name", "owner_account", "notes"])
    return group


def customer_group_delete(*, group: CustomerGroup) -> None:
    """Delete the group and its memberships; the contacts stay."""
    group.delete()


# Wiring ------------------------------------------------------------------------------------------------------------


def heartbeat_record(*, hostname: str) -> None:
    Heartbeat.objects.update_or_create(name="worker", defaults={"last_seen": timezone.now(), "hostname": hostname})
