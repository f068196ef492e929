"""What the referral pages write: campaigns and their tiers, participants enrolled, invites attributed, approved or
refused, rewards delivered, acquisition costs; and the beat's tick that starts and ends campaigns. Qualification
and rewards are referrals.qualification; posters referrals.posters."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from campaigns.images import broadcast_image_from_upload
from crm import segments
from crm import selectors as crm_selectors
from crm.models import Contact, Member, Segment, TimelineEvent, Workspace
from referrals import codes, fraud, messaging, posters, qualification, tasks
from referrals.models import AcquisitionCost, Campaign, Invite, Participant, Reward, RewardTier, Scan

ENROL_BATCH = 2000
MAX_TIERS = 5
RECENT_SCANS = 20


# Campaigns ------------------------------------------------------------------------------------------------------


def _tiers_clean(tiers: Iterable[tuple[int, str, Decimal]]) -> list[tuple[int, str, Decimal]]:
    tiers = sorted((int(invites), (name or "").strip(), Decimal(cost or 0)) for invites, name, cost in tiers)
    if not tiers:
        raise ValidationError(_("Give at least one reward tier: how many qualified invites earn what."))
    if len(tiers) > MAX_TIERS:
        raise ValidationError(_("A campaign has at most 5 reward tiers."))
    if len({invites for invites, _name, _cost in tiers}) != len(tiers):
        raise ValidationError(_("Two tiers ask for the same number of invites."))
    if any(invites < 1 or not name for invites, name, _cost in tiers):
        raise ValidationError(_("Each tier needs a number of invites (1 or more) and a reward."))
    return tiers


def _accounts_clean(workspace: Workspace, accounts) -> list:
    accounts = list(accounts)
    if not accounts:
        raise ValidationError(_("Choose the WeChat accounts new friends should add."))
    if any(account.workspace_id != workspace.pk for account in accounts):
        raise ValidationError(_("That WeChat account belongs to another workspace."))
    return accounts


def _dates_clean(starts_at: datetime, ends_at: datetime) -> None:
    if ends_at <= starts_at:
        raise ValidationError(_("The campaign must end after it starts."))


def _status_for_dates(campaign: Campaign, now: datetime) -> str:
    if campaign.status == Campaign.Status.PAUSED:
        return Campaign.Status.PAUSED if campaign.ends_at > now else Campaign.Status.ENDED
    if campaign.ends_at <= now:
        return Campaign.Status.ENDED
    return Campaign.Status.ACTIVE if campaign.starts_at <= now else Campaign.Status.SCHEDULED


def _image(upload):
    return broadcast_image_from_upload(upload) if upload else None


@transaction.atomic
def campaign_create(*, member: Member, accounts, tiers, background=None, friend_qr=None, **fields) -> Campaign:
    """A campaign with its accounts and reward tiers; `background` and `friend_qr` are uploads, checked before
    anything is written."""
    _dates_clean(fields["starts_at"], fields["ends_at"])
    accounts = _accounts_clean(member.workspace, accounts)
    tiers = _tiers_clean(tiers)
    background, friend_qr = _image(background), _image(friend_qr)
    campaign = Campaign(workspace=member.workspace, created_by=member.user, **fields)
    campaign.status = _status_for_dates(campaign, timezone.now())
    if background:
        campaign.poster_background.save(background.name, background, save=False)
    if friend_qr:
        campaign.friend_qr.save(friend_qr.name, friend_qr, save=False)
    campaign.save()
    campaign.accounts.set(accounts)
    RewardTier.objects.bulk_create([RewardTier(campaign=campaign, invites=n, name=name, cost=cost)
                                    for n, name, cost in tiers])
    return campaign


POSTER_FIELDS = ("poster_text", "name")  # the poster shows them: a change makes the posters again


@transaction.atomic
def campaign_update(*, campaign: Campaign, accounts, tiers, background=None, friend_qr=None, **fields) -> Campaign:
    locked = Campaign.objects.select_for_update().get(pk=campaign.pk, workspace_id=campaign.workspace_id)
    _dates_clean(fields["starts_at"], fields["ends_at"])
    accounts = _accounts_clean(locked.workspace, accounts)
    tiers = _tiers_clean(tiers)
    background, friend_qr = _image(background), _image(friend_qr)
    poster_changed = bool(background) or any(fields.get(name, getattr(locked, name)) != getattr(locked, name)
                                             for name in POSTER_FIELDS)
    _tiers_replace(locked, tiers)  # may refuse: before any file is stored
    for name, value in fields.items():
        setattr(locked, name, value)
    old_files = []
    if background:
        old_files.append(locked.poster_background)
        locked.poster_background.save(background.name, background, save=False)
    if friend_qr:
        old_files.append(locked.friend_qr)
        locked.friend_qr.save(friend_qr.name, friend_qr, save=False)
    if poster_changed:
        locked.poster_version += 1
    locked.status = _status_for_dates(locked, timezone.now())
    locked.save()
    locked.accounts.set(accounts)
    if poster_changed:
        posters.posters_outdated(locked)
    _delete_on_commit([(file.storage, file.name) for file in old_files if file])
    return locked


def _tiers_replace(campaign: Campaign, tiers) -> None:
    """The tiers as given; a tier with rewards keeps its row (its rewards stay), with the new name and cost."""
    wanted = {invites: (name, cost) for invites, name, cost in tiers}
    for tier in campaign.tiers.all():
        if tier.invites in wanted:
            tier.name, tier.cost = wanted.pop(tier.invites)
            tier.save(update_fields=["name", "cost"])
        elif tier.rewards.exists():
            raise ValidationError(_("The tier of %(n)d invites has rewards granted already: keep it."),
                                  params={"n": tier.invites})
        else:
            tier.delete()
    RewardTier.objects.bulk_create([RewardTier(campaign=campaign, invites=n, name=name, cost=cost)
                                    for n, (name, cost) in wanted.items()])


def _delete_on_commit(files) -> None:
    transaction.on_commit(lambda: [storage.delete(name) for storage, name in files])


def campaign_pause(*, campaign: Campaign) -> bool:
    """No scans are counted and no friends attributed while paused; invites already in go on qualifying."""
    return Campaign.objects.filter(pk=campaign.pk, status__in=(Campaign.Status.ACTIVE, Campaign.Status.SCHEDULED)
                                   ).update(status=Campaign.Status.PAUSED) == 1


def campaign_resume(*, campaign: Campaign) -> bool:
    campaign.refresh_from_db()
    if campaign.status != Campaign.Status.PAUSED:
        return False
    campaign.status = Campaign.Status.SCHEDULED  # then as its dates say
    status = _status_for_dates(campaign, timezone.now())
    return Campaign.objects.filter(pk=campaign.pk, status=Campaign.Status.PAUSED).update(status=status) == 1


def campaigns_tick(*, now: datetime | None = None) -> int:
    """What the beat runs: campaigns whose start has come start, those whose end has come end; how many moved."""
    now = now or timezone.now()
    started = Campaign.objects.filter(status=Campaign.Status.SCHEDULED, starts_at__lte=now, ends_at__gt=now).update(
        status=Campaign.Status.ACTIVE)
    ended = Campaign.objects.filter(
        status__in=(Campaign.Status.SCHEDULED, Campaign.Status.ACTIVE, Campaign.Status.PAUSED), ends_at__lte=now,
    ).update(status=Campaign.Status.ENDED)
    return started + ended


# Participants ---------------------------------------------------------------------------------------------------


def participants_enrol(*, campaign: Campaign, contact_ids: Iterable[int], actor_id: int | None = None) -> int:
    """The contacts (of the campaign's workspace) enrolled, each with a new code; contacts enrolled already stay
    as they are. How many were enrolled."""
    enrolled = 0
    for batch in _batched(contact_ids, ENROL_BATCH):
        enrolled += _enrol_batch(campaign, batch, actor_id)
    return enrolled


def _batched(ids: Iterable[int], size: int):
    batch = []
    for pk in ids:
        batch.append(pk)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def _enrol_batch(campaign: Campaign, contact_ids: list[int], actor_id: int | None) -> int:
    live = set(Contact.objects.filter(workspace_id=campaign.workspace_id, pk__in=contact_ids,
                                      merged_into__isnull=True).values_list("pk", flat=True))
    have = set(Participant.objects.filter(campaign=campaign, contact_id__in=live).values_list("contact_id", flat=True))
    wanted = sorted(live - have)
    enrolled = 0
    for _attempt in range(3):
        rows = [Participant(workspace_id=campaign.workspace_id, campaign=campaign, contact_id=pk,
                            code=codes.new_code(), enrolled_by_id=actor_id) for pk in wanted]
        # ignore_conflicts: a contact enrolled meanwhile by a teammate, or a code taken (a trillion to one): the
        # next attempt draws that contact a new code.
        Participant.objects.bulk_create(rows, ignore_conflicts=True, batch_size=ENROL_BATCH)
        done = set(Participant.objects.filter(campaign=campaign, contact_id__in=wanted)
                   .values_list("contact_id", flat=True))
        enrolled += len(done)
        wanted = [pk for pk in wanted if pk not in done]
        if not wanted:
            break
    return enrolled


def participant_enrol(*, campaign: Campaign, member: Member, contact_id) -> Participant:
    contact = crm_selectors.contacts_visible_to(member=member).filter(pk=contact_id).first()
    if contact is None:
        raise ValidationError(_("Choose a contact of this workspace."))
    if campaign.status == Campaign.Status.ENDED:
        raise ValidationError(_("The campaign has ended."))
    participants_enrol(campaign=campaign, contact_ids=[contact.pk], actor_id=member.user_id)
    participant = Participant.objects.get(campaign=campaign, contact=contact)
    transaction.on_commit(lambda: tasks.poster_make.delay(participant.pk))
    return participant


def participants_enrol_segment(*, campaign: Campaign, segment: Segment, actor_id: int | None = None) -> int:
    """Every contact the segment matches (a million, in batches); what the enrol task runs."""
    contacts = segments.segment_contacts(workspace=campaign.workspace, rule=segment.rule)
    return participants_enrol(campaign=campaign, contact_ids=crm_selectors.ids_in_batches(
        contacts, batch_size=ENROL_BATCH), actor_id=actor_id)


def participants_enrol_on_request(*, workspace_id: int, contact_id: int, text: str) -> list[Participant]:
    """A customer replied a running campaign's keyword: enrolled, their poster made and sent; the participants
    (none when no campaign has that keyword)."""
    keyword = " ".join((text or "").split())
    campaigns = [campaign for campaign in Campaign.objects.filter(workspace_id=workspace_id, enrol_keyword=keyword)
                 if keyword and campaign.is_running(timezone.now())]
    enrolled = []
    for campaign in campaigns:
        participants_enrol(campaign=campaign, contact_ids=[contact_id])
        participant = Participant.objects.filter(campaign=campaign, contact_id=contact_id).first()
        if participant is not None:
            posters.poster_make(participant_id=participant.pk)
            messaging.poster_send_quietly(participant_id=participant.pk)
            enrolled.append(participant)
    return enrolled


# Attribution ----------------------------------------------------------------------------------------------------


def participant_for_code(*, workspace: Workspace, code: str) -> Participant | None:
    code = codes.normalise(code)
    if not codes.looks_like_code(code):
        return None
    return (Participant.objects.filter(workspace_id=workspace.pk, code=code)
            .select_related("campaign", "contact").first())


@transaction.atomic
def attribute(*, contact: Contact, code: str, actor=None, now: datetime | None = None) -> Invite:
    """The participant whose code this is brought `contact`: an invite, checked by the fraud rules (refused,
    held or waiting to qualify, with its reasons), and the contact's referrer. ValidationError when the code is
    unknown in the contact's workspace, its campaign is not running, or the contact was attributed in it
    already. What the contact form, the import (a referral_code column) and the WeCom callback (the add event's
    state) call."""
    now = now or timezone.now()
    participant = participant_for_code(workspace=contact.workspace, code=code)
    if participant is None:
        raise ValidationError(_("No referral campaign has the code “%(code)s”."), params={"code": code})
    if not participant.campaign.is_running(now):
        raise ValidationError(_("The campaign of the code “%(code)s” is not running."),
                              params={"code": participant.code})
    invitee = Contact.objects.select_for_update().get(pk=contact.pk)
    reasons = fraud.invite_reasons(participant=participant, invitee=invitee, now=now)
    status = fraud.status_for(reasons)
    try:
        with transaction.atomic():
            invite = Invite.objects.create(
                workspace_id=contact.workspace_id, campaign=participant.campaign, participant=participant,
                invitee=invitee, status=status, reasons=reasons, attributed_at=now,
                check_at=now if status == Invite.Status.PENDING else None,
            )
    except IntegrityError:
        raise ValidationError(_("%(name)s was brought by someone in this campaign already."),
                              params={"name": invitee.display_name}) from None
    if status != Invite.Status.REFUSED:
        _referrer_set(invitee, participant, actor)
    return invite


def _referrer_set(invitee: Contact, participant: Participant, actor) -> None:
    Contact.objects.filter(pk=invitee.pk).update(referred_by=participant.contact, source=Contact.Source.REFERRAL)
    TimelineEvent.objects.create(workspace_id=invitee.workspace_id, contact=invitee, kind=TimelineEvent.Kind.REFERRED,
                                 body=f"{participant.contact.display_name} · {participant.code}", actor=actor)
    transaction.on_commit(lambda: crm_selectors.book_changed(workspace_id=invitee.workspace_id))


class CodeAttribution:
    """The referral code field of crm's contact form (crm.attribution)."""

    def attribute(self, *, contact: Contact, code: str, actor) -> None:
        attribute(contact=contact, code=code, actor=actor)

    def recent_codes(self, *, workspace: Workspace) -> list[tuple[str, str]]:
        scans = (Scan.objects.filter(campaign__workspace=workspace, campaign__status=Campaign.Status.ACTIVE,
                                     counted=True)
                 .select_related("participant__contact").order_by("-scanned_at")[:RECENT_SCANS])
        zone = ZoneInfo(workspace.time_zone)
        seen, choices = set(), []
        for scan in scans:
            if scan.participant.code in seen:
                continue
            seen.add(scan.participant.code)
            at = timezone.localtime(scan.scanned_at, zone).strftime("%m-%d %H:%M")
            choices.append((scan.participant.code, f"{scan.participant.contact.display_name} · {at}"))
        return choices


# The seller's decisions -------------------------------------------------------------------------------------------


@transaction.atomic
def invite_approve(*, invite: Invite, actor) -> bool:
    """A held invite goes on to qualify like any other (its reasons stay, for the record)."""
    reasons = [*invite.reasons, fraud.reason("approved_by_seller", fraud.FLAG)]
    return Invite.objects.filter(pk=invite.pk, status=Invite.Status.HELD).update(
        status=Invite.Status.PENDING, check_at=timezone.now(), reasons=reasons, decided_by=actor) == 1


@transaction.atomic
def invite_refuse(*, invite: Invite, actor) -> bool:
    reasons = [*invite.reasons, fraud.reason("refused_by_seller", fraud.REFUSE)]
    return Invite.objects.filter(pk=invite.pk, status=Invite.Status.HELD).update(
        status=Invite.Status.REFUSED, check_at=None, reasons=reasons, decided_by=actor) == 1


def reward_deliver(*, reward: Reward) -> bool:
    """The gift went out to the participant."""
    return Reward.objects.filter(pk=reward.pk, status=Reward.Status.GRANTED).update(
        status=Reward.Status.DELIVERED, delivered_at=timezone.now()) == 1


# Acquisition costs ------------------------------------------------------------------------------------------------


def acquisition_cost_set(*, workspace: Workspace, channel: str, cost_per_customer: Decimal) -> AcquisitionCost:
    channel = " ".join((channel or "").split())
    if not channel:
        raise ValidationError(_("Name the channel."))
    if cost_per_customer < 0:
        raise ValidationError(_("A cost cannot be negative."))
    row, _created = AcquisitionCost.objects.update_or_create(
        workspace=workspace, channel=channel, defaults={"cost_per_customer": cost_per_customer})
    return row


def acquisition_cost_delete(*, cost: AcquisitionCost) -> None:
    cost.delete()


# The beat ---------------------------------------------------------------------------------------------------------


def referrals_tick(*, now: datetime | None = None) -> dict:
    """Campaigns started and ended, due invites checked, a batch of posters made."""
    now = now or timezone.now()
    return {
        "campaigns": campaigns_tick(now=now),
        "qualified": qualification.invites_check_due(now=now),
        "posters": posters.posters_make_wanted(),
    }
