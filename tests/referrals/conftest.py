"""Referral fixtures: a running campaign ("invite 1 friend: a sample; 3: a full-size product") from an account on
the outbox channel and one posting by hand, a participant, and helpers that bring friends in."""

from contextlib import contextmanager
from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from crm.models import Member, WeChatAccount
from referrals import services
from referrals.models import Campaign, Participant, RewardTier
from tests.factories import ContactFactory, MemberFactory, WeChatAccountFactory

ENGLISH = {"HTTP_ACCEPT_LANGUAGE": "en"}


@pytest.fixture
def outbox_account(workspace):
    return WeChatAccountFactory(workspace=workspace, name="测试号", channel=WeChatAccount.Channel.OUTBOX)


@pytest.fixture
def manual_account(workspace):
    return WeChatAccountFactory(workspace=workspace, name="手动号", channel=WeChatAccount.Channel.MANUAL)


def make_campaign(workspace, accounts, **fields) -> Campaign:
    now = timezone.now()
    values = {"name": "老带新·送海参", "starts_at": now - timedelta(days=1), "ends_at": now + timedelta(days=30),
              "status": Campaign.Status.ACTIVE, "stay_days": 3, "poster_text": "邀请好友，免费领海参", **fields}
    campaign = Campaign.objects.create(workspace=workspace, **values)
    campaign.accounts.set(accounts)
    RewardTier.objects.create(campaign=campaign, invites=1, name="试吃装", cost=Decimal("15.00"))
    RewardTier.objects.create(campaign=campaign, invites=3, name="正装海参", cost=Decimal("98.00"))
    return campaign


@pytest.fixture
def campaign(workspace, outbox_account):
    return make_campaign(workspace, [outbox_account])


def enrol(campaign, contact) -> Participant:
    services.participants_enrol(campaign=campaign, contact_ids=[contact.pk])
    return Participant.objects.get(campaign=campaign, contact=contact)


@pytest.fixture
def referrer(workspace, outbox_account):
    return ContactFactory(workspace=workspace, owner_account=outbox_account, nickname="王姐", phone="+8613800000001",
                          added_at=timezone.now() - timedelta(days=400))


@pytest.fixture
def participant(campaign, referrer):
    return enrol(campaign, referrer)


def new_friend(workspace, account, **fields):
    """A contact added just now: new to the book."""
    return ContactFactory(workspace=workspace, owner_account=account, added_at=timezone.now(), **fields)


def bring(participant, contact=None, *, at=None, **fields):
    """An invite of a new friend (or `contact`) through the participant's code."""
    contact = contact or new_friend(participant.campaign.workspace, participant.contact.owner_account, **fields)
    return services.attribute(contact=contact, code=participant.code, now=at)


@pytest.fixture
def limited_staff(workspace, manual_account):
    member = MemberFactory(workspace=workspace, role=Member.Role.STAFF, limited_to_assigned_accounts=True)
    member.assigned_accounts.add(manual_account)
    return member


@pytest.fixture
def committed(django_capture_on_commit_callbacks):
    """Run what the code queued for after its commit (events, tasks), as outside a test's transaction."""

    @contextmanager
    def run():
        with django_capture_on_commit_callbacks(execute=True):
            yield

    return run
