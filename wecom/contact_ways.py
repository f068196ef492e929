"""Channel QR codes (联系我): externalcontact/add_contact_way, one QR code per place a customer finds the seller.

    contact_way_create(workspace=..., actor=..., label="快递包裹卡", accounts=[...], source="shop")
    contact_way_for_participant(participant=..., actor=...)        # state "ref:K7M2QX9A": credits the referrer
    contact_ways_for_campaign(campaign=..., actor=...)              # one per participant still without one

A customer who scans the code adds the account's staff member (or one of several, type 2), and WeCom's
add_external_contact callback carries the code's `state` (at most 30 characters): wecom/events.py reads the
contact's source (or the referral) from it, and wecom/welcome.py its welcome message.
"""

from __future__ import annotations

import logging
import secrets

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils.translation import gettext as _

from crm.models import Contact, WeChatAccount, Workspace
from referrals.models import Campaign
from wecom.client import WeComError, WeComUnavailable, client_for
from wecom.models import ContactWay, WeComCredentials
from wecom.sending_models import STATE_MAX_LENGTH

logger = logging.getLogger(__name__)

REFERRAL_STATE_PREFIX = "ref:"  # the prefix wecom/events.py reads a referral code from
SINGLE, MULTI = 1, 2  # add_contact_way's type: one staff member, or several taking turns
QR_SCENE = 2  # a QR code (1 would be a mini-program button)


def wecom_accounts(*, workspace: Workspace):
    """The accounts that can be on a contact way: sending through WeCom, with the staff member's userid."""
    return WeChatAccount.objects.filter(workspace=workspace, channel=WeChatAccount.Channel.WECOM).exclude(wechat_id="")


def new_state() -> str:
    # A hyphen keeps it from looking like a bare referral code (letters and digits) to wecom/events.py.
    return f"cw-{secrets.token_hex(5)}"


def state_clean(*, workspace: Workspace, state: str) -> str:
    state = (state or "").strip()
    if len(state) > STATE_MAX_LENGTH:
        raise ValidationError(_("WeCom allows at most %(n)s characters for the state."), params={"n": STATE_MAX_LENGTH})
    if state.startswith(REFERRAL_STATE_PREFIX):
        raise ValidationError(_("States starting with “ref:” are kept for referral participants."))
    if state and ContactWay.objects.filter(workspace=workspace, state=state).exists():
        raise ValidationError(_("Another channel QR code has this state."))
    return state


def _credentials(workspace: Workspace) -> WeComCredentials:
    credentials = WeComCredentials.objects.filter(workspace=workspace).first()
    if credentials is None:
        raise ValidationError(_("Connect WeCom on the WeCom settings page first."))
    return credentials


def _add_contact_way(credentials, *, users: list[str], state: str, label: str) -> dict:
    body = {"type": SINGLE if len(users) == 1 else MULTI, "scene": QR_SCENE, "style": 1, "remark": label[:30],
            "skip_verify": True, "state": state, "user": users}
    try:
        return client_for(credentials).call("externalcontact/add_contact_way", body=body)
    except WeComError as error:
        raise ValidationError(_("WeCom refused the QR code: error %(code)s (%(message)s)."),
                              params={"code": error.errcode, "message": error.errmsg}) from None
    except WeComUnavailable:
        raise ValidationError(_("WeCom could not be reached. Try again in a minute.")) from None


def contact_way_create(
    *, workspace: Workspace, actor, label: str, accounts, state: str = "", source: str = Contact.Source.CHANNEL_QR,
    welcome_text: str = "", welcome_image=None, participant=None,
) -> ContactWay:
    """Make the QR code in WeCom and keep it; ValidationError with the reason when WeCom or the input says no."""
    credentials = _credentials(workspace)
    accounts = list(accounts)
    users = sorted({account.wechat_id for account in accounts if account.wechat_id})
    if not users or any(a.workspace_id != workspace.pk or a.channel != WeChatAccount.Channel.WECOM for a in accounts):
        raise ValidationError(_("Choose accounts that send through WeCom, with their WeCom userid."))
    if participant is None:
        state = state_clean(workspace=workspace, state=state) or new_state()
    answer = _add_contact_way(credentials, users=users, state=state, label=label)
    try:
        with transaction.atomic():
            way = ContactWay.objects.create(
                workspace=workspace, label=label[:60], state=state, source=source, welcome_text=welcome_text,
                participant=participant, config_id=answer.get("config_id", ""), qr_code=answer.get("qr_code", ""),
                created_by=actor,
            )
            if welcome_image:
                way.welcome_image.save(welcome_image.name, welcome_image, save=True)
            way.accounts.set(accounts)
    except IntegrityError:  # the same state made at the same moment by a teammate: theirs stands
        raise ValidationError(_("Another channel QR code has this state.")) from None
    return way


def contact_way_update(*, way: ContactWay, welcome_text: str, welcome_image=None, clear_image: bool = False) -> None:
    """The welcome message is Siyu's own (sent on each add): changed here without asking WeCom."""
    old = way.welcome_image.name if way.welcome_image else ""
    way.welcome_text = welcome_text
    if clear_image:
        way.welcome_image = ""
    if welcome_image:
        way.welcome_image.save(welcome_image.name, welcome_image, save=False)
    way.save()
    if old and old != way.welcome_image.name:
        storage = way.welcome_image.storage
        transaction.on_commit(lambda: storage.delete(old))  # the replaced picture's file, once the row is saved


def contact_way_for_state(*, workspace_id: int, state: str) -> ContactWay | None:
    if not state:
        return None
    return ContactWay.objects.filter(workspace_id=workspace_id, state=state).first()


# Referral participants -----------------------------------------------------------------------------------------


def _campaign_wecom_accounts(campaign) -> list[WeChatAccount]:
    return list(campaign.accounts.filter(channel=WeChatAccount.Channel.WECOM).exclude(wechat_id=""))


def contact_way_for_participant(*, participant, actor=None) -> ContactWay:
    """The participant's own QR code: friends who scan it add the campaign's WeCom accounts, and the state
    "ref:CODE" credits the participant (wecom/events.py). Made once; asked again, the same one."""
    existing = ContactWay.objects.filter(workspace_id=participant.workspace_id, participant=participant).first()
    if existing:
        return existing
    campaign = participant.campaign
    accounts = _campaign_wecom_accounts(campaign)
    if not accounts:
        raise ValidationError(_("The campaign's accounts do not send through WeCom."))
    label = f"{campaign.name} · {participant.contact.display_name}"
    return contact_way_create(
        workspace=campaign.workspace, actor=actor, label=label, accounts=accounts, participant=participant,
        state=f"{REFERRAL_STATE_PREFIX}{participant.code}", source=Contact.Source.REFERRAL,
    )


def contact_ways_for_campaign(*, campaign, actor=None) -> int:
    """A QR code for each participant still without one; how many were made. WeCom refusing one stops the run
    (the reason is raised); run again, it continues with those still missing."""
    if not _campaign_wecom_accounts(campaign):
        raise ValidationError(_("The campaign's accounts do not send through WeCom."))
    made = 0
    missing = campaign.participants.filter(wecom_contact_ways__isnull=True).select_related("contact", "campaign")
    for participant in missing.order_by("pk").iterator(chunk_size=200):
        contact_way_for_participant(participant=participant, actor=actor)
        made += 1
    return made


def contact_ways_for_campaign_id(*, campaign_id: int, actor_id: int | None) -> int:
    """The background task's: the campaign gone, or WeCom refusing, is logged and nothing more."""
    campaign = Campaign.objects.filter(pk=campaign_id).select_related("workspace").first()
    if campaign is None:
        return 0
    try:
        return contact_ways_for_campaign(campaign=campaign, actor=get_user_model().objects.filter(pk=actor_id).first())
    except ValidationError as error:
        logger.warning("Channel QR codes of campaign %s stopped: %s", campaign_id, error.messages[0])
        return 0


def campaigns_with_wecom(*, workspace: Workspace):
    """The referral campaigns that use WeCom accounts: those whose participants can have a QR code of their own."""
    return Campaign.objects.filter(
        workspace=workspace, accounts__channel=WeChatAccount.Channel.WECOM,
    ).exclude(status=Campaign.Status.ENDED).distinct().order_by("-starts_at", "-id")
