"""Corp tags (企业标签), both ways.

WeCom → Siyu: get_corp_tag_list's groups and tags become Siyu tag groups and tags (matched by the WeCom ids
kept in WeComTagGroup / WeComTag, else by name), renamed and regrouped when they change there; a tag deleted in
WeCom keeps its row, marked gone, so the contacts holding it lose it at the next contact sync.

Siyu → WeCom: a Siyu tag WeCom lacks is created there with add_corp_tag when a WeCom customer first gets it (in
the WeCom group of its Siyu group, or a group of that name, or DEFAULT_GROUP_NAME).
"""

from __future__ import annotations

import logging
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass

from django.db import transaction
from django.utils import timezone

from crm import services
from crm.models import Tag, TagGroup, Workspace
from wecom.client import WeComClient, WeComError
from wecom.sync_models import WeComTag, WeComTagGroup

logger = logging.getLogger(__name__)

DEFAULT_GROUP_NAME = "私域CRM"
WECOM_NAME_MAX = 30  # WeCom's limit for tag and group names
SIYU_NAME_MAX = 50


@dataclass
class SyncContext:
    workspace: Workspace
    client: WeComClient
    tags_pulled: bool = False  # the tag list is fetched at most once per context when a contact names a new tag
    deadline: float = float("inf")  # time.monotonic() past which a run stops after its page, to go on in a new task


# Set while the sync writes what came from WeCom: the listeners of wecom/sync_push.py (run at the page's commit,
# inside this) then queue nothing. The WeComContact rows would make those pushes empty anyway; this saves a
# first sync of thousands of customers from queueing thousands of empty pushes.
_from_wecom: ContextVar[bool] = ContextVar("wecom_sync_from_wecom", default=False)


@contextmanager
def from_wecom():
    token = _from_wecom.set(True)
    try:
        yield
    finally:
        _from_wecom.reset(token)


def writing_from_wecom() -> bool:
    return _from_wecom.get()


def tags_pull(ctx: SyncContext) -> dict:
    """Bring WeCom's tag library into Siyu; the counts of what was seen and created."""
    answer = ctx.client.call("externalcontact/get_corp_tag_list", body={})
    ctx.tags_pulled = True
    counts = {"groups": 0, "tags": 0, "created": 0}
    seen: set[str] = set()
    with transaction.atomic():
        for group in answer.get("tag_group") or []:
            if group.get("deleted") or not group.get("group_id"):
                continue
            tag_group = _tag_group_for(ctx.workspace, group)
            counts["groups"] += 1
            for item in group.get("tag") or []:
                if item.get("deleted") or not item.get("id") or not (item.get("name") or "").strip():
                    continue
                seen.add(item["id"])
                counts["tags"] += 1
                counts["created"] += _tag_for(ctx.workspace, item, tag_group)
        WeComTag.objects.filter(workspace=ctx.workspace, gone_at__isnull=True).exclude(wecom_id__in=seen).update(
            gone_at=timezone.now()
        )
    return counts


def _name(value: str) -> str:
    return " ".join((value or "").split())[:SIYU_NAME_MAX]


def _tag_group_for(workspace: Workspace, group: dict) -> TagGroup:
    name = _name(group.get("group_name", "")) or group["group_id"][:SIYU_NAME_MAX]
    link = WeComTagGroup.objects.filter(workspace=workspace, wecom_id=group["group_id"]).select_related("group").first()
    if link is not None:
        tag_group = link.group
        if tag_group.name != name and not TagGroup.objects.filter(workspace=workspace, name=name).exists():
            services.tag_group_update(
                group=tag_group, name=name, exclusive=tag_group.exclusive, position=tag_group.position
            )
        return tag_group
    tag_group = TagGroup.objects.filter(workspace=workspace, name=name).first()
    if tag_group is None:
        tag_group = services.tag_group_create(workspace=workspace, name=name)
    WeComTagGroup.objects.create(workspace=workspace, group=tag_group, wecom_id=group["group_id"])
    return tag_group


def _tag_for(workspace: Workspace, item: dict, tag_group: TagGroup) -> int:
    """Map one corp tag to a Siyu tag; 1 when the Siyu tag was created."""
    name = _name(item["name"])
    link = WeComTag.objects.filter(workspace=workspace, wecom_id=item["id"]).select_related("tag").first()
    if link is not None:
        tag = link.tag
        if link.gone_at:
            WeComTag.objects.filter(pk=link.pk).update(gone_at=None)
        if tag.name != name and not Tag.objects.filter(workspace=workspace, name=name).exists():
            services.tag_rename(tag=tag, name=name)
        if tag.group_id != tag_group.pk:
            services.tag_update_group(tag=tag, group=tag_group)
        return 0
    tag = Tag.objects.filter(workspace=workspace, name=name).first()
    if tag is not None and WeComTag.objects.filter(tag=tag).exists():
        # WeCom allows one name in two groups, Siyu one name per workspace: the second gets its group's name.
        name = _name(f"{name} · {tag_group.name}")
        tag = Tag.objects.filter(workspace=workspace, name=name).first()
        if tag is not None and WeComTag.objects.filter(tag=tag).exists():
            return 0
    created = tag is None
    if created:
        tag = services.tag_get_or_create(workspace=workspace, name=name, group=tag_group)
    elif tag.group_id is None:
        services.tag_update_group(tag=tag, group=tag_group)
    WeComTag.objects.create(workspace=workspace, tag=tag, wecom_id=item["id"])
    return int(created)


def tags_ensure_known(ctx: SyncContext, wecom_tag_ids) -> None:
    """Fetch the tag list once when a contact holds a corp tag Siyu has not seen: it was created since."""
    wanted = set(wecom_tag_ids)
    if not wanted or ctx.tags_pulled:
        return
    known = set(WeComTag.objects.filter(workspace=ctx.workspace, wecom_id__in=wanted).values_list("wecom_id", flat=True))
    if wanted - known:
        tags_pull(ctx)


def tag_map(workspace: Workspace) -> dict[str, int]:
    """WeCom tag id → Siyu tag id, gone tags included (their removal still has to reach the contacts)."""
    return dict(WeComTag.objects.filter(workspace=workspace).values_list("wecom_id", "tag_id"))


def corp_tag_ids(ctx: SyncContext, tags: list[Tag]) -> dict[int, str]:
    """The WeCom ids of Siyu tags, creating in WeCom the ones it lacks (those it refuses are left out)."""
    ids = dict(
        WeComTag.objects.filter(workspace=ctx.workspace, tag__in=tags, gone_at__isnull=True).values_list(
            "tag_id", "wecom_id"
        )
    )
    for tag in tags:
        if tag.pk not in ids:
            created = _corp_tag_create(ctx, tag)
            if created:
                ids[tag.pk] = created
    return ids


def _corp_tag_create(ctx: SyncContext, tag: Tag) -> str | None:
    group_link = WeComTagGroup.objects.filter(workspace=ctx.workspace, group_id=tag.group_id).first() if tag.group_id else None
    body: dict = {"tag": [{"name": tag.name[:WECOM_NAME_MAX]}]}
    if group_link is not None:
        body["group_id"] = group_link.wecom_id
    else:  # WeCom puts the tag in the group of that name, creating the group if it has none
        body["group_name"] = (tag.group.name if tag.group_id else DEFAULT_GROUP_NAME)[:WECOM_NAME_MAX]
    try:
        answer = ctx.client.call("externalcontact/add_corp_tag", body=body)
    except WeComError as error:
        # Most often the name exists in WeCom already (made there since the last sync): the tag list maps it.
        logger.info("WeCom add_corp_tag of tag %s refused (%s): fetching the tag list", tag.pk, error.errcode)
        if not ctx.tags_pulled:
            tags_pull(ctx)
        return WeComTag.objects.filter(tag=tag, gone_at__isnull=True).values_list("wecom_id", flat=True).first()
    group = answer.get("tag_group") or {}
    created = next((item.get("id") for item in group.get("tag") or [] if item.get("id")), None)
    if not created:
        return None
    with transaction.atomic():
        if tag.group_id and group_link is None and group.get("group_id"):
            WeComTagGroup.objects.get_or_create(
                workspace=ctx.workspace, wecom_id=group["group_id"], defaults={"group_id": tag.group_id}
            )
        WeComTag.objects.update_or_create(
            tag=tag, defaults={"workspace": ctx.workspace, "wecom_id": created, "gone_at": None}
        )
    return created
