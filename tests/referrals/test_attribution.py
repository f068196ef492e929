"""Attribution without WeCom: the seller adds the new friend with the code they mention (or picks it from the recent
scans); the contact's referrer and the invite are recorded, or the form says what is wrong and adds nobody."""

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils import timezone

from crm.models import Contact, TimelineEvent
from referrals import scans, services
from referrals.models import Invite
from tests.referrals.conftest import ENGLISH, bring

pytestmark = pytest.mark.django_db


def add_contact(client, account, **data):
    return client.post(reverse("crm:contact_create"), {
        "nickname": "新朋友", "owner_account": account.pk, "source": "manual", "stage": "new",
        "added_at": timezone.localtime().strftime("%Y-%m-%dT%H:%M"),
        "gender": 0, **data,
    }, **ENGLISH)


def test_adding_a_contact_with_a_code_records_who_brought_them(owner_client, outbox_account, participant):
    response = add_contact(owner_client, outbox_account, referral_code=participant.code.lower())
    assert response.status_code == 302
    contact = Contact.objects.get(nickname="新朋友")
    assert contact.referred_by == participant.contact and contact.source == Contact.Source.REFERRAL
    invite = Invite.objects.get(invitee=contact)
    assert invite.participant == participant and invite.status == Invite.Status.PENDING
    assert TimelineEvent.objects.filter(contact=contact, kind=TimelineEvent.Kind.REFERRED).exists()


def test_an_unknown_code_is_a_form_error_and_adds_nobody(owner_client, outbox_account, participant):
    response = add_contact(owner_client, outbox_account, referral_code="ZZZZZZZZ")
    assert response.status_code == 200
    assert "No referral campaign has the code" in response.content.decode()
    assert not Contact.objects.filter(nickname="新朋友").exists()


def test_a_code_of_a_paused_campaign_is_refused(owner_client, outbox_account, campaign, participant):
    services.campaign_pause(campaign=campaign)
    response = add_contact(owner_client, outbox_account, referral_code=participant.code)
    assert "is not running" in response.content.decode()
    assert not Invite.objects.exists()


def test_another_workspaces_code_is_unknown(outsider_client, outsider, participant):
    from tests.factories import WeChatAccountFactory

    account = WeChatAccountFactory(workspace=outsider.workspace)
    response = add_contact(outsider_client, account, referral_code=participant.code)
    assert "No referral campaign has the code" in response.content.decode()


def test_the_contact_form_suggests_the_codes_of_recent_scans(owner_client, participant):
    scans.scan_record(participant=participant, device="a" * 32)
    html = owner_client.get(reverse("crm:contact_create"), **ENGLISH).content.decode()
    assert 'list="referral-codes"' in html
    assert f'<option value="{participant.code}">' in html


def test_a_contact_is_brought_once_per_campaign(participant):
    invite = bring(participant)
    with pytest.raises(ValidationError, match="brought by someone in this campaign already"):
        services.attribute(contact=invite.invitee, code=participant.code)


def test_the_edit_form_has_no_referral_code(owner_client, participant):
    html = owner_client.get(reverse("crm:contact_edit", args=[participant.contact_id]), **ENGLISH).content.decode()
    assert "referral_code" not in html


def test_an_imported_contact_with_a_referral_code_is_attributed_and_a_bad_code_is_reported(workspace, participant):
    from tests.crm.test_imports import csv_bytes, run

    data = csv_bytes([["微信号", "昵称", "推荐码"], ["wx_new_1", "阿新", participant.code], ["wx_new_2", "阿旧", "ZZZZZZZZ"]])
    result = run(workspace, "contacts", data)
    assert result.created == 2
    brought = Contact.objects.get(wechat_id="wx_new_1")
    assert brought.referred_by == participant.contact
    assert Invite.objects.get(invitee=brought).participant == participant
    unknown = Contact.objects.get(wechat_id="wx_new_2")  # imported all the same, its line reported
    assert unknown.referred_by is None
    assert [(entry.line, entry.code) for entry in result.report] == [(3, "bad_referral")]
