"""Welcome messages (欢迎语): when a customer adds a staff member, the add_external_contact callback carries a
WelcomeCode that WeCom accepts for 20 seconds, once, in externalcontact/send_welcome_msg.

The message is the one of the channel QR code the customer scanned (found by the callback's State), else the
workspace's default; none set, nothing is sent. The callback's task sends it right after the contact is committed
(welcome_after_commit): a beat or a queue would be too late. The code is claimed (a WelcomeMessage row, unique per
workspace and code) before the call, so a callback WeCom delivers again, or a task run twice, sends nothing more.
"""

from __future__ import annotations

import logging

from django.db import IntegrityError, transaction

from crm.models import Contact, Workspace
from wecom import media
from wecom.client import WeComError, WeComUnavailable, client_for
from wecom.contact_ways import contact_way_for_state
from wecom.models import CallbackEvent, WeComCredentials, WelcomeMessage, WelcomeSettings

logger = logging.getLogger(__name__)

Status = WelcomeMessage.Status


def default_text(*, workspace: Workspace) -> str:
    return WelcomeSettings.objects.filter(workspace=workspace).values_list("text", flat=True).first() or ""


def default_text_set(*, workspace: Workspace, text: str) -> None:
    WelcomeSettings.objects.update_or_create(workspace=workspace, defaults={"text": text})


def welcome_after_commit(*, event: CallbackEvent, contact: Contact) -> None:
    code = event.payload.get("WelcomeCode", "")
    if not code:
        return  # the customer already got WeCom's own welcome, or the staff member's account set one itself
    workspace_id, state, contact_id = event.workspace_id, event.payload.get("State", ""), contact.pk
    # robust: an error here is logged and leaves the committed event as it is (done), not marked failed.
    transaction.on_commit(lambda: welcome_send(workspace_id=workspace_id, welcome_code=code, state=state,
                                               contact_id=contact_id), robust=True)


def welcome_send(*, workspace_id: int, welcome_code: str, state: str = "", contact_id: int | None = None) -> str:
    """Send the welcome message for this code once; the WelcomeMessage's status."""
    way = contact_way_for_state(workspace_id=workspace_id, state=state)
    text, image = "", ""
    if way is not None and (way.welcome_text or way.welcome_image):
        text, image = way.welcome_text, way.welcome_image.name if way.welcome_image else ""
    else:
        text = WelcomeSettings.objects.filter(workspace_id=workspace_id).values_list("text", flat=True).first() or ""
    try:
        with transaction.atomic():
            message = WelcomeMessage.objects.create(
                workspace_id=workspace_id, welcome_code=welcome_code[:255], contact_id=contact_id, contact_way=way,
                status=Status.SENDING if (text or image) else Status.NONE,
            )
    except IntegrityError:
        return ""  # this code was used already
    if message.status == Status.NONE:
        return Status.NONE
    credentials = WeComCredentials.objects.filter(workspace_id=workspace_id).first()
    status, reason = Status.SENT, ""
    try:
        if credentials is None:  # removed since the callback came: nothing can be sent
            raise WeComUnavailable("WeCom is no longer connected.")
        body: dict = {"welcome_code": welcome_code}
        if text:
            body["text"] = {"content": text}
        if image:
            body["attachments"] = [{"msgtype": "image", "image": {
                "media_id": media.media_id_for(credentials=credentials, name=image)}}]
        client_for(credentials).call("externalcontact/send_welcome_msg", body=body)
    except (WeComError, WeComUnavailable, media.PictureTooLarge, OSError) as error:
        # Not tried again: the code is good for 20 seconds only.
        logger.warning("WeCom welcome message of workspace %s failed: %s", workspace_id, error)
        status, reason = Status.FAILED, str(error)
    WelcomeMessage.objects.filter(pk=message.pk).update(status=status, error=reason[:500])
    return status
