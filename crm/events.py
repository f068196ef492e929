"""What happens in the customer book that automation reacts to: a contact added, a tag added or removed, a remark
changed, an order placed or refunded, a customer group joined, a friend who deleted the seller, a reply. The services
emit them; the campaigns, referrals and wecom apps listen (follow-up sequences start and stop on them, referral
invites qualify or void, WeCom customers' tags and remarks are written to WeCom) without crm importing them.
Listeners run after the commit, so they never see a rolled-back change, and take plain ids.

    events.on(events.TAG_ADDED, listener)        # listener(workspace_id=..., contact_ids=[...], tag_id=...)
    events.emit(events.TAG_ADDED, workspace_id=1, contact_ids=[2, 3], tag_id=4)
    events.emit_each(events.TAG_ADDED, workspace_id=1, items=[{"contact_ids": [2], "tag_id": 4}, ...])
"""

from collections import defaultdict
from collections.abc import Callable

from django.db import transaction

CONTACT_ADDED = "contact_added"
TAG_ADDED = "tag_added"  # tag_id
TAG_REMOVED = "tag_removed"  # tag_id (a channel that mirrors tags elsewhere, such as WeCom, follows both)
REMARK_CHANGED = "remark_changed"  # the remark name or description changed
ORDER_PLACED = "order_placed"  # order_id
ORDER_REFUNDED = "order_refunded"  # order_id
FRIEND_DELETED = "friend_deleted"  # the contact deleted the seller's account
GROUP_JOINED = "group_joined"  # group_id
OPTED_OUT = "opted_out"
REPLIED = "replied"  # text: what the customer wrote (a keyword such as 海报 asks for a referral poster)

_LISTENERS: dict[str, list[tuple[Callable, bool]]] = defaultdict(list)


def on(event: str, listener: Callable, *, batched: bool = False) -> None:
    """Call `listener(workspace_id=..., contact_ids=[...], **data)` after each emit; a batched listener is called
    once per emit_each with all of it, `listener(workspace_id=..., items=[{"contact_ids": [...], **data}, ...])`,
    so that what it checks for every change (is there a sequence for this tag? is WeCom set up?) it asks once."""
    if (listener, batched) not in _LISTENERS[event]:
        _LISTENERS[event].append((listener, batched))


def emit(event: str, *, workspace_id: int, contact_ids: list[int], **data) -> None:
    emit_each(event, workspace_id=workspace_id, items=[{"contact_ids": contact_ids, **data}])


def emit_each(event: str, *, workspace_id: int, items: list[dict]) -> None:
    """Many changes of one kind in one go, each {"contact_ids": [...], **data}: an import batch adds sixty tags,
    each to its own contacts."""
    items = [{**item, "contact_ids": list(item["contact_ids"])} for item in items if item["contact_ids"]]
    if not items or not _LISTENERS[event]:
        return

    def deliver():
        for listener, batched in _LISTENERS[event]:
            if batched:
                listener(workspace_id=workspace_id, items=items)
                continue
            for item in items:
                listener(workspace_id=workspace_id, **item)

    transaction.on_commit(deliver)
