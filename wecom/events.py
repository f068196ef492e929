"""What each WeCom callback does to the customer book.

    add_external_contact    a customer added a staff member: the contact, its account, and where it came from
                            (State: a referral code, a source, or a channel QR code's own label); then the
                            welcome message (WelcomeCode, wecom/welcome.py)
    edit_external_contact   the staff member changed the remark or tags in WeCom: touched, then synced
    del_external_contact    the staff member removed the customer: timeline, lost
    del_follow_user         the customer deleted the staff member: deleted us (timeline, automation), lost
    change_external_chat,   group chats and tags changed in WeCom: the chat, or the tag list, synced
    change_external_tag

Each event is claimed with a conditional update inside the transaction that applies it, so two workers never
both apply it and a failure leaves nothing half done.
"""

from __future__ import annotations

import logging
import re

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone, translation
from django.utils.translation import gettext

from crm import services
from crm.models import Contact, WeChatAccount
from wecom import contact_ways, welcome
from wecom.models import CallbackEvent, WeComCredentials

logger = logging.getLogger(__name__)

# State is the label a channel QR code (联系我) carries, up to 30 characters. "ref:CODE", or a bare code of
# letters and digits, is tried as a referral code; "src:<source>" names one of the contact sources.
REFERRAL_PREFIX = "ref:"
SOURCE_PREFIX = "src:"
CODE_PATTERN = re.compile(r"^[A-Za-z0-9]{4,16}$")

Status = CallbackEvent.Status


def event_process(*, event_id: int) -> None:
    try:
        with transaction.atomic():
            claimed = CallbackEvent.objects.filter(pk=event_id, processed_at__isnull=True).update(
                processed_at=timezone.now()
            )
            if not claimed:
                return  # done already, or gone
            event = CallbackEvent.objects.select_related("workspace").get(pk=event_id)
            status = _apply(event)
            CallbackEvent.objects.filter(pk=event_id).update(status=status)
    except Exception as error:
        # Rolled back, claim included: the event stays unprocessed, and running its task again retries it.
        logger.exception("WeCom callback event %s failed", event_id)
        CallbackEvent.objects.filter(pk=event_id).update(
            status=Status.FAILED, error=f"{type(error).__name__}: {error}"[:2000]
        )


def _apply(event: CallbackEvent) -> str:
    if event.event == "change_external_contact":
        handler = CONTACT_CHANGES.get(event.change_type)
        return handler(event) if handler else Status.IGNORED
    if event.event in {"change_external_chat", "change_external_tag"}:
        return _sync_after_commit(event)
    return Status.IGNORED


def _sync_after_commit(event: CallbackEvent) -> str:
    """Queue the small sync the event asks for (wecom/sync.py), which marks it done; waiting until then."""
    from wecom.tasks import sync_for_event  # the tasks module imports this one

    transaction.on_commit(lambda: sync_for_event.delay(event.pk))
    return Status.AWAITING_SYNC


# Finding the rows an event names -----------------------------------------------------------------------------------


def _account_for(event: CallbackEvent) -> WeChatAccount | None:
    """The account whose WeChat ID is the staff member's WeCom userid; a WeCom account first."""
    accounts = WeChatAccount.objects.filter(workspace=event.workspace, wechat_id=event.payload.get("UserID", ""))
    return accounts.filter(channel=WeChatAccount.Channel.WECOM).first() or accounts.first()


def _contacts_of(event: CallbackEvent):
    return Contact.objects.filter(
        workspace=event.workspace, external_id=event.payload.get("ExternalUserID") or "-", merged_into__isnull=True
    ).order_by("pk")


def _contact_for(event: CallbackEvent, account: WeChatAccount | None) -> Contact | None:
    """A contact is the customer as one account sees them, and WeCom's external userid is the same for every
    staff member of the corp: the account's contact, else one no account holds (imported, say); any, when the
    staff member has no account in Siyu."""
    contacts = _contacts_of(event)
    if account is None:
        return contacts.first()
    return contacts.filter(owner_account=account).first() or contacts.filter(owner_account__isnull=True).first()


# The contact changes --------------------------------------------------------------------------------------------


def _referral_code(state: str) -> str:
    code = state.removeprefix(REFERRAL_PREFIX)
    return code if CODE_PATTERN.match(code) else ""


def _source_of(state: str) -> str:
    if not state:
        return Contact.Source.ORGANIC
    named = state.removeprefix(SOURCE_PREFIX)
    if state.startswith(SOURCE_PREFIX) and named in Contact.Source.values:
        return named
    return Contact.Source.CHANNEL_QR


def _referral_attribution():
    """The attribution the referrals app registers in crm.attribution; None in a project without one."""
    try:
        from crm import attribution
    except ImportError:
        return None
    return attribution.current()


def _attribute(contact: Contact, state: str) -> bool:
    """Credit the referrer when State carries a referral code and the referrals app is installed."""
    code, referrals = _referral_code(state), _referral_attribution()
    if not code or referrals is None:
        return False
    try:
        with transaction.atomic():
            referrals.attribute(contact=contact, code=code, actor=None)
    except ValidationError as error:
        logger.info("WeCom add of contact %s: state is no referral code (%s)", contact.pk, error.messages[0])
        return False
    return True


def contact_added(event: CallbackEvent) -> str:
    # One add at a time per workspace (its credentials row is the lock), so two deliveries about the same
    # customer, processed by two workers at once, cannot both create the contact.
    WeComCredentials.objects.select_for_update().filter(workspace=event.workspace).first()
    account = _account_for(event)
    contact = _contact_for(event, account)
    state = event.payload.get("State", "")
    if contact is not None:
        welcome.welcome_after_commit(event=event, contact=contact)
        return _contact_added_again(contact, account)
    contact = services.contact_create(
        workspace=event.workspace, actor=None, owner_account=account,
        external_id=event.payload["ExternalUserID"][:64], source=_source_from(event, state),
    )
    _attribute(contact, state)
    # WeCom takes a welcome message for 20 seconds after the add: sent by this task as soon as the contact is
    # committed, not queued behind other work.
    welcome.welcome_after_commit(event=event, contact=contact)
    return Status.DONE


def _source_from(event: CallbackEvent, state: str) -> str:
    """A channel QR code made in Siyu names its own source (a parcel insert: shop); else the state says it."""
    way = contact_ways.contact_way_for_state(workspace_id=event.workspace_id, state=state)
    if way is not None and way.participant_id is None:
        return way.source
    return _source_of(state)


def _contact_added_again(contact: Contact, account: WeChatAccount | None) -> str:
    """A customer the book knows: now the account's, and no longer lost if they had gone."""
    changes = {}
    if account and contact.owner_account_id != account.pk:
        changes["owner_account"] = account
    if contact.stage == Contact.Stage.LOST:
        changes["stage"] = Contact.Stage.NEW
    if changes:
        services.contact_update(contact=contact, actor=None, **changes)
    return Status.DONE


def contact_edited(event: CallbackEvent) -> str:
    contact = _contact_for(event, _account_for(event))
    if contact is None:
        return Status.IGNORED
    services.contact_update(contact=contact, actor=None)  # touched; its remark and tags come with the sync
    return _sync_after_commit(event)


def contact_removed_by_seller(event: CallbackEvent) -> str:
    contact = _contact_for(event, _account_for(event))
    if contact is None:
        return Status.IGNORED
    with translation.override(settings.LANGUAGE_CODE):  # stored once, for everyone: the default language
        body = gettext("Removed in WeCom by %(user)s.") % {"user": event.payload.get("UserID", "?")}
    services.contact_note_add(contact=contact, kind="note", body=body, actor=None)
    services.contact_update(contact=contact, actor=None, stage=Contact.Stage.LOST)
    return Status.DONE


def contact_deleted_seller(event: CallbackEvent) -> str:
    contact = _contact_for(event, _account_for(event))
    if contact is None:
        return Status.IGNORED
    services.contact_friend_deleted(contact=contact, actor=None)
    services.contact_update(contact=contact, actor=None, stage=Contact.Stage.LOST)
    return Status.DONE


CONTACT_CHANGES = {
    "add_external_contact": contact_added,
    "edit_external_contact": contact_edited,
    "del_external_contact": contact_removed_by_seller,
    "del_follow_user": contact_deleted_seller,
}
