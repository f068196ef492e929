"""The `wecom` channel of crm.wechat: a batch of messages from one account becomes externalcontact/add_msg_template
calls, one per distinct content and 10,000 customers, with the account's WeChat ID as the sending staff member's
WeCom userid. WeCom delivers such a message once the staff member confirms it in the app, so each customer's
result is PENDING; those WeCom refuses at once (fail_list: not a customer of that member) are FAILED.

The final results are fetched later by the beat (wecom/results.py), which reports them. Pictures go as image
attachments, each uploaded once with media/upload and its media_id reused for three days (wecom/media.py); a
picture WeCom refuses (over 10 MB) fails its messages with the reason.
"""

from __future__ import annotations

import hashlib
import json
from collections import defaultdict
from collections.abc import Sequence

from django.db import IntegrityError, transaction

from crm.models import Contact, WeChatAccount
from crm.wechat.base import ChannelUnavailable, Message, Outcome, Result, register_channel
from moments.publishing import register_publisher
from wecom import media, moments
from wecom.client import WeComError, WeComUnavailable, client_for
from wecom.models import MassSend, WeComCredentials

MAX_CUSTOMERS_PER_CALL = 10_000
NOT_A_WECOM_CUSTOMER = "The contact has no WeCom external ID."
MAX_ATTACHMENTS = 9  # WeCom's limit per mass send


def _batch_key(messages: Sequence[Message]) -> str:
    return hashlib.sha256("\n".join(sorted(m.ref for m in messages)).encode()).hexdigest()


def _attachments(message: Message, media_ids: list[str]) -> list[dict]:
    attachments = [{"msgtype": "image", "image": {"media_id": media_id}} for media_id in media_ids]
    if message.link:
        link = message.link
        card = {"title": link.get("title", "")[:128], "url": link.get("url", "")}
        if link.get("description"):
            card["desc"] = link["description"][:512]
        attachments.append({"msgtype": "link", "link": card})
    return attachments[:MAX_ATTACHMENTS]


def _content(message: Message) -> tuple[str, str, tuple[str, ...]]:
    """Messages with the same content share one call."""
    return (message.text, json.dumps(message.link, sort_keys=True), message.images)


def _media_ids(credentials, images: tuple[str, ...]) -> list[str]:
    """The pictures' media_ids, uploaded if need be. WeCom unreachable: the chunk goes again later."""
    try:
        return [media.media_id_for(credentials=credentials, name=name) for name in images[:MAX_ATTACHMENTS]]
    except WeComUnavailable as error:
        raise ChannelUnavailable(str(error)) from None


class WeComChannel:
    name = "wecom"
    max_batch = MAX_CUSTOMERS_PER_CALL

    def send(self, messages: Sequence[Message]) -> list[Result]:
        if not messages:
            return []
        account = WeChatAccount.objects.get(pk=messages[0].account_id)
        credentials = WeComCredentials.objects.filter(workspace_id=account.workspace_id).first()
        if credentials is None or not account.wechat_id:
            raise ChannelUnavailable("WeCom is not set up for this account (credentials, or its WeCom userid).")
        external_ids = dict(
            Contact.objects.filter(workspace_id=account.workspace_id, pk__in={m.contact_id for m in messages})
            .exclude(external_id="").values_list("pk", "external_id")
        )
        results: dict[str, Result] = {}
        sendable: dict[tuple, list[Message]] = defaultdict(list)
        for message in messages:
            if message.contact_id not in external_ids:
                results[message.ref] = Result(message.ref, Outcome.FAILED, NOT_A_WECOM_CUSTOMER)
            else:
                sendable[_content(message)].append(message)
        for group in sendable.values():
            try:
                media_ids = _media_ids(credentials, group[0].images)
            except (media.PictureTooLarge, WeComError, OSError) as error:  # OSError: the picture's file is gone
                results.update({m.ref: Result(m.ref, Outcome.FAILED, str(error)) for m in group})
                continue
            for start in range(0, len(group), MAX_CUSTOMERS_PER_CALL):
                chunk = group[start : start + MAX_CUSTOMERS_PER_CALL]
                results.update(_send_chunk(account, credentials, chunk, external_ids, media_ids))
        return [results[m.ref] for m in messages]


def _claim(account: WeChatAccount, chunk: list[Message], recipients: dict[str, str]) -> MassSend | None:
    """The chunk's row, created before the call; None when this chunk was handed to WeCom already."""
    try:
        with transaction.atomic():
            return MassSend.objects.create(
                workspace_id=account.workspace_id, account=account, batch_key=_batch_key(chunk),
                sender=account.wechat_id, recipients=recipients,
            )
    except IntegrityError:
        return None


def _send_chunk(account, credentials, chunk: list[Message], external_ids: dict[int, str],
                media_ids: list[str]) -> dict[str, Result]:
    recipients = {external_ids[m.contact_id]: m.ref for m in chunk}
    mass_send = _claim(account, chunk, recipients)
    if mass_send is None:
        return {m.ref: Result(m.ref, Outcome.PENDING) for m in chunk}
    try:
        answer = client_for(credentials).add_msg_template(
            sender=account.wechat_id, external_userids=list(recipients), text=chunk[0].text,
            attachments=_attachments(chunk[0], media_ids),
        )
    except WeComUnavailable as error:
        mass_send.delete()  # nothing was sent: the sender hands the chunk over again later
        raise ChannelUnavailable(str(error)) from None
    except WeComError as error:
        MassSend.objects.filter(pk=mass_send.pk).update(status=MassSend.Status.FAILED, error=str(error))
        return {m.ref: Result(m.ref, Outcome.FAILED, str(error)) for m in chunk}
    failed = set(answer.get("fail_list") or [])
    MassSend.objects.filter(pk=mass_send.pk).update(
        status=MassSend.Status.SUBMITTED, msgid=answer.get("msgid", ""), failed=sorted(failed)
    )
    return {
        m.ref: Result(m.ref, Outcome.FAILED, "WeCom refused this customer (fail_list).")
        if external_ids[m.contact_id] in failed else Result(m.ref, Outcome.PENDING)
        for m in chunk
    }


register_channel(WeComChannel())
# Moments posted through WeCom (wecom/moments.py) are registered with the channel, on the same app load.
register_publisher("wecom", moments.publish)
