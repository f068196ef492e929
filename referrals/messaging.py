"""What participants receive through their account's channel (crm.wechat): their poster ("here is your poster")
and, when the campaign asks for it, their progress ("2 of 3") each time it grows. Manual accounts get a card in
the send-today queue with the poster attached. Each message's ref names the participant and the poster version
or the count, so handing it over twice sends it once."""

from __future__ import annotations

import logging

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import translation
from django.utils.translation import gettext as _

from crm import wechat
from referrals.models import Participant, RewardTier

logger = logging.getLogger(__name__)


def _in_customer_language(render):
    """Customers read the seller's default language (Chinese), whatever language the member's page is in."""
    with translation.override(settings.LANGUAGE_CODE):
        return render()


def _send(participant: Participant, *, ref: str, text: str, images: tuple[str, ...] = ()) -> wechat.Result:
    contact = participant.contact
    if contact.owner_account is None:
        raise ValidationError(_("%(name)s is a friend of none of your WeChat accounts."),
                              params={"name": contact.display_name})
    message = wechat.Message(ref=ref, workspace_id=participant.workspace_id, account_id=contact.owner_account_id,
                             contact_id=contact.pk, text=text, images=images)
    return wechat.channel_for(contact.owner_account).send([message])[0]


def poster_send(*, participant: Participant) -> wechat.Result:
    """The participant's current poster through their account's channel; ValidationError when there is none yet
    or nobody to send it from; ChannelUnavailable when the channel cannot take it now."""
    if not participant.poster or participant.poster_version != participant.campaign.poster_version:
        raise ValidationError(_("The poster is still being made: try again in a minute."))
    text = _in_customer_language(lambda: _(
        "Here is your poster for “%(campaign)s”: share it with friends. Your code is %(code)s."
    ) % {"campaign": participant.campaign.name, "code": participant.code})
    return _send(participant, ref=f"referral-poster:{participant.pk}:{participant.poster_version}", text=text,
                 images=(participant.poster.name,))


def poster_send_quietly(*, participant_id: int) -> None:
    """The poster sent from a task, where a refusal is logged rather than shown."""
    participant = Participant.objects.filter(pk=participant_id).select_related(
        "campaign", "contact", "contact__owner_account").first()
    if participant is None:
        return
    try:
        poster_send(participant=participant)
    except (ValidationError, wechat.ChannelUnavailable) as error:
        logger.warning("Referral poster of participant %s not sent: %s", participant_id, error)


def progress_text(participant: Participant) -> str:
    count = participant.qualified_count
    next_tier = RewardTier.objects.filter(campaign_id=participant.campaign_id, invites__gt=count).first()
    if next_tier is None:
        return _("%(count)d friends have joined through you: thank you! Every reward is yours.") % {"count": count}
    return _("%(count)d of %(needed)d friends have joined through you: %(left)d more for “%(reward)s”.") % {
        "count": count, "needed": next_tier.invites, "left": next_tier.invites - count, "reward": next_tier.name,
    }


def progress_on_commit(participant: Participant) -> None:
    """After the count grew: the participant hears of it, when the campaign says so."""
    if not participant.campaign.notify_progress:
        return
    participant_id, count = participant.pk, participant.qualified_count
    transaction.on_commit(lambda: progress_send(participant_id=participant_id, count=count))


def progress_send(*, participant_id: int, count: int) -> None:
    participant = Participant.objects.filter(pk=participant_id).select_related(
        "campaign", "contact", "contact__owner_account").first()
    if participant is None or participant.qualified_count != count:
        return  # gone, or the count moved on: the later message says it
    try:
        _send(participant, ref=f"referral-progress:{participant.pk}:{count}",
              text=_in_customer_language(lambda: progress_text(participant)))
    except (ValidationError, wechat.ChannelUnavailable) as error:
        logger.warning("Referral progress of participant %s not sent: %s", participant_id, error)
