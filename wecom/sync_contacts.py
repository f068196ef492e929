"""Staff and their customers, WeCom → Siyu.

Staff with customer contact (get_follow_user_list) are WeChat accounts whose WeChat ID is their WeCom userid: an
account with that ID is theirs, else one is made (channel WeCom, named after user/get). Each customer of each staff
member (batch/get_by_user, or externalcontact/get for one) is a contact of that account: found through its
WeComContact row, else by external ID, else created. Remarks and tags merge three ways against the row, which
holds what WeCom showed last: a value WeCom changed since is taken, one only Siyu changed is left for Siyu to write
back (wecom/sync_push.py), and so an unchanged customer changes nothing.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone as dt_timezone

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Exists, OuterRef
from django.utils import timezone, translation
from django.utils.translation import gettext

from crm import events as crm_events
from crm import services
from crm.models import Contact, Tag, WeChatAccount, Workspace
from crm.selectors import book_changed
from wecom.client import WeComError
from wecom.sync_models import SyncState, WeComContact
from wecom.sync_tags import SyncContext, tag_map

USERS_PER_CALL = 100  # batch/get_by_user takes up to 100 userids
RECENTLY_ADDED = timedelta(days=1)
VANISH_BATCH = 500


@dataclass(frozen=True)
class Follow:
    """One customer as one staff member holds them."""

    userid: str
    external_userid: str
    name: str
    gender: int
    unionid: str
    remark: str
    description: str
    createtime: int
    tag_ids: tuple[str, ...]
    state: str


def _int(value) -> int:
    try:
        return int(value or 0)
    except (TypeError, ValueError):
        return 0


def _follow(person: dict, follow: dict, tag_ids: Iterable[str]) -> Follow:
    return Follow(
        userid=follow.get("userid") or "", external_userid=person.get("external_userid") or "",
        name=(person.get("name") or "")[:100], gender=_int(person.get("gender")), unionid=person.get("unionid") or "",
        remark=(follow.get("remark") or "")[:100], description=(follow.get("description") or "")[:2000],
        createtime=_int(follow.get("createtime")), tag_ids=tuple(sorted(set(tag_ids))), state=follow.get("state") or "",
    )


def follows_from_batch(answer: dict) -> list[Follow]:
    """batch/get_by_user: one follow_info per item, its corp tags as tag_id."""
    follows = []
    for item in answer.get("external_contact_list") or []:
        follow = item.get("follow_info") or {}
        follows.append(_follow(item.get("external_contact") or {}, follow, follow.get("tag_id") or []))
    return [f for f in follows if f.userid and f.external_userid]


def follows_from_detail(answer: dict) -> list[Follow]:
    """externalcontact/get: every staff member's follow_user, its tags as objects (type 1 = corp tag)."""
    person = answer.get("external_contact") or {}
    follows = [
        _follow(person, follow, [t["tag_id"] for t in follow.get("tags") or [] if t.get("type") == 1 and t.get("tag_id")])
        for follow in answer.get("follow_user") or []
    ]
    return [f for f in follows if f.userid and f.external_userid]


# Staff -----------------------------------------------------------------------------------------------------------


def accounts_by_userid(workspace: Workspace, userids: Iterable[str]) -> dict[str, WeChatAccount]:
    """The account of each userid; a WeCom account first when several carry the same WeChat ID."""
    accounts: dict[str, WeChatAccount] = {}
    for account in WeChatAccount.objects.filter(workspace=workspace, wechat_id__in=set(userids)).order_by("pk"):
        known = accounts.get(account.wechat_id)
        if known is None or (known.channel != WeChatAccount.Channel.WECOM and account.channel == WeChatAccount.Channel.WECOM):
            accounts[account.wechat_id] = account
    return accounts


def staff_pull(ctx: SyncContext) -> tuple[list[str], int]:
    """The userids of the staff with customer contact, each with an account; how many accounts were made."""
    userids = list(dict.fromkeys(ctx.client.call("externalcontact/get_follow_user_list").get("follow_user") or []))
    known = accounts_by_userid(ctx.workspace, userids)
    created = 0
    for userid in userids:
        if userid not in known:
            _account_create(ctx.workspace, userid=userid, name=_staff_name(ctx, userid))
            created += 1
    return userids, created


def _staff_name(ctx: SyncContext, userid: str) -> str:
    try:
        return ctx.client.call("user/get", params={"userid": userid}).get("name") or userid
    except WeComError:  # outside the app's visible range, say: the userid is name enough
        return userid


def _account_create(workspace: Workspace, *, userid: str, name: str) -> WeChatAccount:
    for candidate in (name[:64], f"{name} ({userid})"[:64], userid[:64]):
        try:
            return services.wechat_account_create(
                workspace=workspace, name=candidate, wechat_id=userid, channel=WeChatAccount.Channel.WECOM
            )
        except ValidationError:  # another account has that name
            continue
    raise ValidationError(f"No free account name for WeCom userid {userid}.")


# Customers --------------------------------------------------------------------------------------------------------


def _added_at(follow: Follow) -> datetime | None:
    return datetime.fromtimestamp(follow.createtime, tz=dt_timezone.utc) if follow.createtime else None


def _contact_changes(contact: Contact, follow: Follow, link: WeComContact | None, account: WeChatAccount) -> dict:
    changes = {}
    if follow.name and contact.nickname != follow.name:
        changes["nickname"] = follow.name
    if follow.gender and contact.gender != follow.gender:
        changes["gender"] = follow.gender
    if follow.unionid and contact.union_id != follow.unionid:
        changes["union_id"] = follow.unionid[:64]
    if contact.owner_account_id is None:
        changes["owner_account"] = account
    for field, remote, base in (
        ("remark_name", follow.remark, link.remark if link else None),
        ("description", follow.description, link.description if link else None),
    ):
        # Taken when WeCom changed it since it was last seen (or, seen for the first time, when it says something).
        changed_in_wecom = remote != base if link else bool(remote)
        if changed_in_wecom and getattr(contact, field) != remote:
            changes[field] = remote
    added_at = _added_at(follow)
    if link is None and added_at and contact.added_at != added_at:
        changes["added_at"] = added_at
    if link is not None and link.gone_at and contact.stage == Contact.Stage.LOST:
        changes["stage"] = Contact.Stage.NEW  # gone at a sync, back now
    return changes


def _pick(candidates: list[Contact], external_userid: str, account: WeChatAccount) -> Contact | None:
    """The account's contact with that external ID, else one no account holds (imported, say)."""
    mine = [c for c in candidates if c.external_id == external_userid and c.owner_account_id == account.pk]
    free = [c for c in candidates if c.external_id == external_userid and c.owner_account_id is None]
    contact = (mine or free or [None])[0]
    if contact is not None:
        candidates.remove(contact)
    return contact


def follows_apply(ctx: SyncContext, follows: list[Follow], *, run: int | None) -> dict:
    """Apply one page of customers inside the caller's transaction; `run` stamps them seen (None: leave the
    stamps, a single customer's update). Returns the page's counts."""
    workspace = ctx.workspace
    accounts = accounts_by_userid(workspace, {f.userid for f in follows})
    follows = [f for f in follows if f.userid in accounts]  # staff Siyu has no account for yet: the full sync
    counts = {"created": 0, "updated": 0}
    if not follows:
        return counts
    links = {
        (link.userid, link.external_userid): link
        for link in WeComContact.objects.filter(
            workspace=workspace, external_userid__in={f.external_userid for f in follows}
        ).select_related("contact")
    }
    unlinked = {f.external_userid for f in follows if (f.userid, f.external_userid) not in links}
    candidates = list(
        Contact.objects.filter(
            workspace=workspace, external_id__in=unlinked, merged_into__isnull=True, wecom_link__isnull=True
        ).order_by("pk")
    )
    tag_adds: dict[str, set] = defaultdict(set)  # WeCom tag id → keys of the follows that gained it
    tag_removes: dict[str, set] = defaultdict(set)
    new_contacts: dict[tuple, Contact] = {}
    contact_of: dict[tuple, Contact] = {}
    for follow in follows:
        key, account = (follow.userid, follow.external_userid), accounts[follow.userid]
        link = links.get(key)
        contact = link.contact if link else _pick(candidates, follow.external_userid, account)
        if contact is None:
            from wecom.events import _source_of  # the add event's State → source rule, kept in one place

            new_contacts[key] = Contact(
                workspace=workspace, owner_account=account, external_id=follow.external_userid[:64],
                nickname=follow.name, gender=follow.gender, union_id=follow.unionid[:64], remark_name=follow.remark,
                description=follow.description, added_at=_added_at(follow) or timezone.now(),
                source=_source_of(follow.state),
            )
        else:
            contact_of[key] = contact
            changes = _contact_changes(contact, follow, link, account)
            if changes:
                # Per row, through the service (timeline entry for a new remark): after the first sync only the
                # few customers changed in WeCom get here.
                services.contact_update(contact=contact, actor=None, **changes)
                counts["updated"] += 1
        base = set(link.tag_ids) if link else set()
        for tag_id in set(follow.tag_ids) - base:
            tag_adds[tag_id].add(key)
        for tag_id in base - set(follow.tag_ids):
            tag_removes[tag_id].add(key)
    if new_contacts:
        # Set-based: the first sync of a shop brings thousands of customers, and contact_create per row would be
        # a transaction, an event and a cache reset each.
        created = Contact.objects.bulk_create(list(new_contacts.values()))
        contact_of.update(zip(new_contacts.keys(), created))
        counts["created"] = len(created)
        # "Contact added" (follow-up sequences start on it) only for customers added lately, whose add callback
        # went missing; the rest are the shop's history, brought in like an import, and get no welcome series.
        recent = timezone.now() - RECENTLY_ADDED
        crm_events.emit(crm_events.CONTACT_ADDED, workspace_id=workspace.pk,
                        contact_ids=[c.pk for c in created if c.added_at >= recent])
        transaction.on_commit(lambda: book_changed(workspace_id=workspace.pk))
    _tags_apply(workspace, tag_adds, tag_removes, contact_of)
    _links_save(workspace, follows, links, contact_of, run=run)
    return counts


def _tags_apply(workspace, tag_adds: dict, tag_removes: dict, contact_of: dict) -> None:
    """One contacts_tag call per tag and page: set-based, with the timeline and events of a tag change."""
    wecom_to_siyu = tag_map(workspace)
    tags = Tag.objects.select_related("group").in_bulk(
        {wecom_to_siyu[t] for t in [*tag_adds, *tag_removes] if t in wecom_to_siyu}
    )
    for changes, side in ((tag_removes, "remove"), (tag_adds, "add")):
        for wecom_id, keys in sorted(changes.items()):
            tag = tags.get(wecom_to_siyu.get(wecom_id))
            if tag is None:
                continue  # a tag WeCom has not listed: kept in the row, applied once the tag list knows it
            contact_ids = sorted(contact_of[key].pk for key in keys)
            services.contacts_tag(workspace=workspace, contact_ids=contact_ids, actor=None, **{side: [tag]})


def _links_save(workspace, follows: list[Follow], links: dict, contact_of: dict, *, run: int | None) -> None:
    new_links, changed = [], []
    stamp = run if run is not None else _current_run(workspace)
    for follow in follows:
        key = (follow.userid, follow.external_userid)
        link = links.get(key)
        values = {"remark": follow.remark, "description": follow.description, "tag_ids": list(follow.tag_ids),
                  "gone_at": None}
        if link is None:
            new_links.append(WeComContact(workspace=workspace, contact=contact_of[key], userid=follow.userid[:64],
                                          external_userid=follow.external_userid[:64], seen_run=stamp, **values))
            continue
        if run is not None:
            values["seen_run"] = run
        if any(getattr(link, name) != value for name, value in values.items()):
            for name, value in values.items():
                setattr(link, name, value)
            changed.append(link)
    WeComContact.objects.bulk_create(new_links)
    WeComContact.objects.bulk_update(changed, ["remark", "description", "tag_ids", "gone_at", "seen_run"])


def _current_run(workspace) -> int:
    state = SyncState.objects.filter(workspace=workspace, kind=SyncState.Kind.CONTACTS).first()
    return state.run if state else 0


def contacts_vanish(ctx: SyncContext, *, userids: list[str], run: int, since: datetime) -> int:
    """Customers of the synced staff that this run did not see are lost (the staff member removed them, or
    they deleted the staff member), with a note; their row is marked gone so that a return makes them new.
    Contacts made since the run began (an add callback meanwhile) were not there to be seen, and stay."""
    workspace = ctx.workspace
    accounts = accounts_by_userid(workspace, userids)
    seen = WeComContact.objects.filter(contact=OuterRef("pk"), seen_run=run)
    gone = (
        Contact.objects.filter(workspace=workspace, owner_account__in=accounts.values(), merged_into__isnull=True,
                               created_at__lt=since)
        .exclude(external_id="").exclude(stage=Contact.Stage.LOST).exclude(Exists(seen))
        .select_related("owner_account")
    )
    vanished = 0
    while batch := list(gone[:VANISH_BATCH]):
        with transaction.atomic():
            now = timezone.now()
            for contact in batch:
                userid = contact.owner_account.wechat_id
                with translation.override(settings.LANGUAGE_CODE):  # stored once, for everyone
                    body = gettext("No longer among %(user)s's customers in WeCom (sync).") % {"user": userid}
                services.contact_note_add(contact=contact, kind="note", body=body, actor=None)
                services.contact_update(contact=contact, actor=None, stage=Contact.Stage.LOST)
                WeComContact.objects.update_or_create(
                    contact=contact,
                    defaults={"workspace": workspace, "userid": userid, "external_userid": contact.external_id,
                              "gone_at": now},
                )
            vanished += len(batch)
    return vanished
