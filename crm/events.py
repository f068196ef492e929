"""What happens in the customer book that automation reacts to: a contact added, a tag added or removed, a remark
changed, an order placed or refunded, a customer group joined, a friend who deleted the seller, a reply. The services
emit them; the campaigns, referrals and wecom apps listen (follow-up sequences start and stop on them, referral
invites qualify or void, WeCom customers' tags and remarks are written to WeCom) without crm importing them.
Listeners run after the commit, so they never see a rolled-back change, and take plain ids.

    events.on(events.TAG_ADDED, listener)        # listener(workspace_id=..., contact_ids=[...], tag_id=...)
    events.emit(events.TAG_ADDED, workspace_id=1, contact_ids=[2, 3], tag_id=4)
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

_LISTENERS: dict[str, list[Callable]] = defaultdict(list)


def on(event: str, listener: Callable) -> None:
    if listener not in _LISTENERS[event]:
        _LISTENERS[event].append(listener)


def emit(event: str, *, workspace_id: int, contact_ids: list[int], **data) -> None:
    if not contact_ids or not _LISTENERS[event]:
        return
    contact_ids = list(contact_ids)

    def deliver():
        for listener in _LISTENERS[event]:
            listener(workspace_id=workspace_id, contact_ids=contact_ids, **data)

    transaction.on_commit(deliver)
