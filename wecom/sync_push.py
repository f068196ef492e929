"""Siyu → WeCom: a tag added or removed, or a remark changed, on a WeCom customer in Siyu is written to WeCom
(externalcontact/mark_tag, externalcontact/remark) by a Celery task queued after the commit.

crm never imports wecom: crm.services emits TAG_ADDED, TAG_REMOVED and REMARK_CHANGED (crm/events.py) and
listen() subscribes to them (WeComConfig.ready). The task compares the contact with its WeComContact row, which
holds what WeCom has: only the difference is written, and the row is updated with it. So a change that came from
WeCom (the sync updates the row in the same transaction as the contact) writes nothing back, and a task run twice
writes once.
"""

from __future__ import annotations

import logging

from django.db import transaction

from crm import events as crm_events
from crm.models import Contact, Tag
from wecom.client import WeComError
from wecom.models import WeComCredentials
from wecom.sync import context_for
from wecom.sync_models import WeComContact, WeComTag
from wecom.sync_tags import SyncContext, corp_tag_ids, writing_from_wecom

logger = logging.getLogger(__name__)

CONTACTS_PER_TASK = 200  # one or two calls each: a task stays well inside Celery's time limit
REMARK_MAX, DESCRIPTION_MAX = 20, 150  # what externalcontact/remark accepts


def wecom_form(contact: Contact) -> tuple[str, str]:
    """The remark and description as WeCom can hold them."""
    return contact.remark_name[:REMARK_MAX], contact.description[:DESCRIPTION_MAX]


def contacts_changed_listener(*, workspace_id: int, items: list[dict]) -> None:
    """Batched (crm.events), after the commit of tag or remark changes: queue the writes to WeCom for the contacts
    it has."""
    if writing_from_wecom() or not WeComCredentials.objects.filter(workspace_id=workspace_id).exists():
        return
    contact_ids = {contact_id for item in items for contact_id in item["contact_ids"]}
    linked = list(
        WeComContact.objects.filter(workspace_id=workspace_id, contact_id__any_of=contact_ids, gone_at__isnull=True)
        .order_by("contact_id").values_list("contact_id", flat=True)
    )
    from wecom.tasks import push_contacts  # the tasks module imports this one

    for start in range(0, len(linked), CONTACTS_PER_TASK):
        push_contacts.delay(workspace_id, linked[start:start + CONTACTS_PER_TASK])


def listen() -> None:
    for event in (crm_events.TAG_ADDED, crm_events.TAG_REMOVED, crm_events.REMARK_CHANGED):
        crm_events.on(event, contacts_changed_listener, batched=True)


def contacts_push(*, workspace_id: int, contact_ids: list[int]) -> int:
    """Write each contact's Siyu-side changes to WeCom; how many contacts needed a call."""
    link_ids = list(
        WeComContact.objects.filter(workspace_id=workspace_id, contact_id__in=contact_ids, gone_at__isnull=True)
        .values_list("pk", flat=True)
    )
    if not link_ids:
        return 0
    workspace = WeComContact.objects.select_related("workspace").get(pk=link_ids[0]).workspace
    ctx = context_for(workspace)
    if ctx is None:
        return 0
    return sum(_push_one(ctx, link_id) for link_id in link_ids)


def _push_one(ctx: SyncContext, link_id: int) -> bool:
    # The row is locked for the call, so two tasks for one contact write once: the second sees the new row.
    with transaction.atomic():
        link = WeComContact.objects.select_for_update().select_related("contact").filter(pk=link_id).first()
        if link is None or link.gone_at:
            return False
        tags = list(Tag.objects.filter(contact_links__content_object_id=link.contact_id).select_related("group"))
        wanted = set(corp_tag_ids(ctx, tags).values())
        base = set(link.tag_ids)
        mapped = set(WeComTag.objects.filter(workspace=ctx.workspace, wecom_id__in=base).values_list("wecom_id", flat=True))
        # A corp tag Siyu does not know (not in the tag list yet) is never removed on Siyu's behalf.
        add, remove = sorted(wanted - base), sorted((base & mapped) - wanted)
        remark, description = wecom_form(link.contact)
        remark_changed = (remark, description) != (link.remark, link.description)
        if not (add or remove or remark_changed):
            return False
        try:
            if add or remove:
                ctx.client.call("externalcontact/mark_tag", body={
                    "userid": link.userid, "external_userid": link.external_userid, "add_tag": add,
                    "remove_tag": remove,
                })
                link.tag_ids = sorted((base | set(add)) - set(remove))
            if remark_changed:
                ctx.client.call("externalcontact/remark", body={
                    "userid": link.userid, "external_userid": link.external_userid, "remark": remark,
                    "description": description,
                })
                link.remark, link.description = remark, description
        except WeComError as error:
            # Refused (the customer left this staff member, say): what was written stays recorded; the rest is
            # tried again at the contact's next change, and the next sync shows WeCom's side.
            logger.warning("WeCom refused the changes of contact %s: %s", link.contact_id, error)
        link.save(update_fields=["tag_ids", "remark", "description"])
        return True
