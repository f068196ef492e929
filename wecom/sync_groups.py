"""Customer group chats (客户群), WeCom → Siyu: each chat of groupchat/list, read with groupchat/get, is a customer
group (found through its WeComGroupChat row, else created), owned by the account of the chat's owner, and its
members are the contacts of its external members. A chat WeCom no longer lists (dismissed) keeps its group, with
a note saying so."""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import ValidationError
from django.utils import timezone, translation
from django.utils.translation import gettext

from crm import services
from crm.models import Contact, CustomerGroup, GroupMembership
from wecom.sync_contacts import accounts_by_userid
from wecom.sync_models import WeComGroupChat
from wecom.sync_tags import SyncContext

EXTERNAL_MEMBER = 2  # member_list[].type: 1 staff, 2 customer


def chat_detail(ctx: SyncContext, chat_id: str) -> dict:
    return ctx.client.call("externalcontact/groupchat/get", body={"chat_id": chat_id, "need_name": 1}).get(
        "group_chat"
    ) or {}


def _default_name(chat_id: str) -> str:
    with translation.override(settings.LANGUAGE_CODE):  # stored once, for everyone
        return gettext("Group chat %(id)s") % {"id": chat_id[-6:]}


def _group_create(ctx: SyncContext, name: str, chat_id: str, owner_account) -> CustomerGroup:
    for candidate in (name, f"{name} ({chat_id[-6:]})"[:100], chat_id[:100]):
        try:
            return services.customer_group_create(workspace=ctx.workspace, name=candidate, owner_account=owner_account)
        except ValidationError:  # a group of that name exists already
            continue
    raise ValidationError(f"No free group name for WeCom chat {chat_id}.")


def chat_apply(ctx: SyncContext, chat: dict, *, run: int | None) -> dict:
    """Apply one chat (groupchat/get's group_chat) inside the caller's transaction; its counts."""
    counts = {"created": 0, "joined": 0, "left": 0}
    chat_id = chat.get("chat_id") or ""
    if not chat_id:
        return counts
    workspace = ctx.workspace
    name = " ".join((chat.get("name") or "").split())[:100] or _default_name(chat_id)
    owner = chat.get("owner") or ""
    owner_account = accounts_by_userid(workspace, [owner]).get(owner)
    link = WeComGroupChat.objects.filter(workspace=workspace, chat_id=chat_id).select_related("group").first()
    if link is None:
        group = _group_create(ctx, name, chat_id, owner_account)
        link = WeComGroupChat.objects.create(workspace=workspace, group=group, chat_id=chat_id, seen_run=run or 0)
        counts["created"] = 1
    group = link.group
    if CustomerGroup.objects.filter(workspace=workspace, name=name).exclude(pk=group.pk).exists():
        name = group.name  # the chat's new name is another group's: this one keeps its own
    owner_account = owner_account or group.owner_account
    if (group.name, group.owner_account_id) != (name, owner_account.pk if owner_account else None):
        try:
            services.customer_group_update(group=group, name=name, owner_account=owner_account, notes=group.notes)
        except ValidationError:  # taken meanwhile by another group: keep the old name
            group.refresh_from_db()
    updates = {"gone_at": None} | ({"seen_run": run} if run is not None else {})
    if any(getattr(link, field) != value for field, value in updates.items()):
        WeComGroupChat.objects.filter(pk=link.pk).update(**updates)
    counts["joined"], counts["left"] = _members_apply(group, chat, owner_account)
    return counts


def _members_apply(group: CustomerGroup, chat: dict, owner_account) -> tuple[int, int]:
    """Make the group's WeCom customers exactly the chat's; contacts without an external ID (added by hand) stay."""
    external = {
        member.get("userid") for member in chat.get("member_list") or []
        if member.get("type") == EXTERNAL_MEMBER and member.get("userid")
    }
    contacts: dict[str, int] = {}
    for contact_id, external_id, account_id in (
        # The "not empty" term lets the index of the contacts that have an external ID serve a chat's hundreds.
        Contact.objects.filter(workspace_id=group.workspace_id, external_id__in=external, merged_into__isnull=True)
        .exclude(external_id="").order_by("pk").values_list("pk", "external_id", "owner_account_id")
    ):
        # A customer who added several staff members is a contact of each: the chat owner's contact first.
        if external_id not in contacts or (owner_account and account_id == owner_account.pk):
            contacts[external_id] = contact_id
    wanted = set(contacts.values())
    current = dict(
        GroupMembership.objects.filter(group=group).exclude(contact__external_id="").values_list(
            "contact_id", "contact__external_id"
        )
    )
    joined = services.customer_group_members_add(
        group=group, contact_ids=sorted(wanted - set(current)), actor=None
    ) if wanted - set(current) else 0
    left = [
        contact_id for contact_id, external_id in current.items()
        if contact_id not in wanted and external_id not in contacts
    ]
    for contact in Contact.objects.filter(pk__in=left):
        services.customer_group_member_remove(group=group, contact=contact, actor=None)
    return joined, len(left)


def chat_gone(ctx: SyncContext, chat_id: str) -> bool:
    """The chat was dismissed (or left WeCom's list): its group stays, marked with a note; False if it was already."""
    link = WeComGroupChat.objects.filter(workspace=ctx.workspace, chat_id=chat_id, gone_at__isnull=True).first()
    if link is None:
        return False
    now = timezone.now()
    if not WeComGroupChat.objects.filter(pk=link.pk, gone_at__isnull=True).update(gone_at=now):
        return False
    group = link.group
    with translation.override(settings.LANGUAGE_CODE):
        note = gettext("Dismissed in WeCom (%(date)s).") % {"date": timezone.localdate(now).isoformat()}
    notes = f"{group.notes}\n{note}".strip()[:2000]
    CustomerGroup.objects.filter(pk=group.pk).update(notes=notes)
    return True


def chats_vanish(ctx: SyncContext, *, run: int) -> int:
    stale = WeComGroupChat.objects.filter(workspace=ctx.workspace, gone_at__isnull=True).exclude(seen_run=run)
    return sum(chat_gone(ctx, chat_id) for chat_id in stale.values_list("chat_id", flat=True))
