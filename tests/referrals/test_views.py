"""Referral pages as the owner, a teammate, a staff member limited to one account, and an outsider (404); the
campaign form with good and bad input."""

from datetime import timedelta
from io import BytesIO

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import timezone
from PIL import Image

from crm.models import Segment
from referrals import qualification
from referrals.models import AcquisitionCost, Campaign, Invite, Participant
from tests.conftest import client_for
from tests.factories import ContactFactory
from tests.referrals.conftest import ENGLISH, bring, enrol

pytestmark = pytest.mark.django_db

PAGES = ["campaign_detail", "participant_list", "leaderboard", "tree", "held"]


def url(name, campaign, *args):
    return reverse(f"referrals:{name}", args=[campaign.pk, *args])


def image_upload(size=(750, 1334), fmt="PNG", name="bg.png") -> SimpleUploadedFile:
    buffer = BytesIO()
    Image.new("RGB", size, "gold").save(buffer, format=fmt)
    return SimpleUploadedFile(name, buffer.getvalue(), content_type=f"image/{fmt.lower()}")


def form_data(account, **overrides):
    start = timezone.localtime(timezone.now() - timedelta(minutes=5))
    data = {
        "name": "双十一老带新", "starts_at": start.strftime("%Y-%m-%dT%H:%M"),
        "ends_at": (start + timedelta(days=14)).strftime("%Y-%m-%dT%H:%M"), "accounts": [account.pk],
        "landing_text": "添加好友领取新人礼", "poster_text": "邀请 3 位好友，送正装海参", "stay_days": 3,
        "order_min_amount": "0", "order_within_days": 7, "reward_cap": 0, "burst_per_hour": 10,
        "device_scan_limit": 5, "early_delete_days": 7,
        "tier_1_invites": 3, "tier_1_name": "试吃装", "tier_1_cost": "15",
        "tier_2_invites": 10, "tier_2_name": "正装海参", "tier_2_cost": "98",
    }
    data.update(overrides)
    return data


@pytest.mark.parametrize("name", PAGES)
def test_every_page_opens_for_the_owner_and_the_teammate(owner_client, teammate_client, campaign, participant, name):
    assert owner_client.get(url(name, campaign)).status_code == 200
    assert teammate_client.get(url(name, campaign)).status_code == 200


@pytest.mark.parametrize("name", PAGES + ["report", "campaign_edit"])
def test_another_workspaces_campaign_is_a_404(outsider_client, campaign, name):
    assert outsider_client.get(url(name, campaign)).status_code == 404


def test_the_list_shows_only_this_workspaces_campaigns(owner_client, outsider_client, campaign):
    assert "老带新·送海参" in owner_client.get(reverse("referrals:campaign_list")).content.decode()
    assert "老带新·送海参" not in outsider_client.get(reverse("referrals:campaign_list")).content.decode()


def test_limited_staff_see_only_their_accounts_participants(workspace, campaign, participant, limited_staff,
                                                            manual_account):
    theirs = enrol(campaign, ContactFactory(workspace=workspace, owner_account=manual_account, remark_name="小林"))
    client = client_for(limited_staff)
    html = client.get(url("participant_list", campaign), **ENGLISH).content.decode()
    assert "小林" in html and participant.contact.display_name not in html
    assert client.get(url("participant_detail", campaign, participant.pk)).status_code == 404
    assert client.get(url("participant_detail", campaign, theirs.pk)).status_code == 200
    assert client.get(url("leaderboard", campaign)).status_code == 200


def test_limited_staff_cannot_change_campaigns_or_see_the_report(campaign, limited_staff, manual_account):
    client = client_for(limited_staff)
    assert client.get(reverse("referrals:campaign_create")).status_code == 403
    assert client.get(url("campaign_edit", campaign)).status_code == 403
    assert client.post(url("campaign_pause", campaign)).status_code == 403
    assert client.get(url("report", campaign)).status_code == 403
    assert client.get(reverse("referrals:costs")).status_code == 403


def test_the_owner_creates_a_campaign_with_tiers_and_images(owner_client, workspace, outbox_account):
    data = form_data(outbox_account, background=image_upload(), wechat_qr=image_upload((300, 300), name="qr.png"))
    response = owner_client.post(reverse("referrals:campaign_create"), data, **ENGLISH)
    assert response.status_code == 302
    campaign = Campaign.objects.get(workspace=workspace)
    assert campaign.status == Campaign.Status.ACTIVE
    assert list(campaign.tiers.values_list("invites", "name")) == [(3, "试吃装"), (10, "正装海参")]
    assert campaign.poster_background and campaign.friend_qr


def test_a_file_that_is_not_an_image_is_refused_politely(owner_client, workspace, outbox_account):
    bad = SimpleUploadedFile("bg.png", b"not an image at all", content_type="image/png")
    response = owner_client.post(reverse("referrals:campaign_create"), form_data(outbox_account, background=bad),
                                 **ENGLISH)
    assert response.status_code == 400
    assert "not an image Siyu can read" in response.content.decode()
    assert not Campaign.objects.exists()


def test_a_20_mb_background_is_refused(owner_client, outbox_account):
    big = SimpleUploadedFile("bg.jpg", b"\xff\xd8\xff" + b"0" * (20 * 1024 * 1024), content_type="image/jpeg")
    response = owner_client.post(reverse("referrals:campaign_create"), form_data(outbox_account, background=big),
                                 **ENGLISH)
    assert response.status_code == 400
    assert "the limit is 10 MB" in response.content.decode()
    assert not Campaign.objects.exists()


def test_an_end_before_the_start_is_a_form_error(owner_client, outbox_account):
    data = form_data(outbox_account, ends_at="2020-01-01T00:00")
    response = owner_client.post(reverse("referrals:campaign_create"), data, **ENGLISH)
    assert response.status_code == 400 and "must end after it starts" in response.content.decode()


def test_script_in_texts_is_shown_as_text(owner_client, outbox_account, workspace):
    script = "<script>alert(1)</script>"
    owner_client.post(reverse("referrals:campaign_create"),
                      form_data(outbox_account, name=script, landing_text=script, tier_1_name=script), **ENGLISH)
    campaign = Campaign.objects.get(workspace=workspace)
    participant = enrol(campaign, ContactFactory(workspace=workspace, nickname=script))
    pages = (url("campaign_detail", campaign), url("participant_list", campaign), reverse("referrals:campaign_list"))
    for page in pages:
        html = owner_client.get(page).content.decode()
        assert script not in html and "&lt;script&gt;" in html
    from django.test import Client

    assert script not in Client().get(reverse("referral_landing:landing", args=[participant.code])).content.decode()


def test_editing_keeps_rewarded_tiers_and_refuses_removing_them(owner_client, campaign, participant, outbox_account):
    invite = bring(participant)
    qualification.invite_check(invite_id=invite.pk, now=invite.attributed_at + timedelta(days=4))
    data = form_data(outbox_account, tier_1_invites=5, tier_1_name="别的", tier_2_invites="", tier_2_name="")
    response = owner_client.post(url("campaign_edit", campaign), data, **ENGLISH)
    assert response.status_code == 400 and "has rewards granted already" in response.content.decode()
    assert campaign.tiers.count() == 2


def test_pause_and_resume(owner_client, campaign):
    owner_client.post(url("campaign_pause", campaign))
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.PAUSED
    owner_client.post(url("campaign_pause", campaign), {"action": "resume"})
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.ACTIVE


def test_enrolling_one_contact_gives_them_a_code_and_a_poster(owner_client, workspace, campaign, outbox_account,
                                                             committed):
    contact = ContactFactory(workspace=workspace, owner_account=outbox_account)
    with committed():
        response = owner_client.post(url("participant_enrol", campaign), {"contact": contact.pk})
    participant = Participant.objects.get(contact=contact)
    assert response.status_code == 302 and len(participant.code) == 8
    assert participant.poster and participant.poster_wanted is False


def test_another_workspaces_contact_cannot_be_enrolled(owner_client, campaign, outsider):
    stranger = ContactFactory(workspace=outsider.workspace)
    owner_client.post(url("participant_enrol", campaign), {"contact": stranger.pk})
    assert not Participant.objects.exists()


def test_enrolling_a_segment_enrols_everyone_in_it_once(owner_client, workspace, campaign, outbox_account,
                                                      committed):
    contacts = [ContactFactory(workspace=workspace, owner_account=outbox_account) for _ in range(3)]
    segment = Segment.objects.create(workspace=workspace, name="全部", rule={
        "version": 1, "root": {"op": "and", "not": False, "children": []}})
    for _ in range(2):
        with committed():
            owner_client.post(url("participants_enrol_segment", campaign), {"segment": segment.pk})
    assert Participant.objects.filter(campaign=campaign).count() == len(contacts)
    assert Participant.objects.values("code").distinct().count() == len(contacts)


def test_held_invites_are_approved_from_the_page(owner_client, campaign, participant):
    campaign.burst_per_hour = 1
    campaign.save()
    bring(participant)
    held = bring(participant)
    html = owner_client.get(url("held", campaign), **ENGLISH).content.decode()
    assert "Burst: too many invites within an hour (held)" in html
    owner_client.post(url("invite_decide", campaign, held.pk), {"decision": "approve"})
    held.refresh_from_db()
    assert held.status == Invite.Status.PENDING


def test_an_outsider_cannot_decide_an_invite(outsider_client, campaign, participant):
    campaign.burst_per_hour = 1
    campaign.save()
    bring(participant)
    held = bring(participant)
    assert outsider_client.post(url("invite_decide", campaign, held.pk), {"decision": "approve"}).status_code == 404
    held.refresh_from_db()
    assert held.status == Invite.Status.HELD


def test_the_tree_opens_one_level_at_a_time(owner_client, campaign, participant):
    invitee = bring(participant).invitee
    bring(enrol(campaign, invitee))
    html = owner_client.get(url("tree", campaign), **ENGLISH).content.decode()
    assert participant.contact.display_name in html and "brought 1" in html
    level = owner_client.get(url("tree", campaign) + f"?parent={participant.contact_id}", HTTP_HX_REQUEST="true",
                             **ENGLISH).content.decode()
    assert invitee.display_name in level and "brought 1" in level


def test_the_leaderboard_ranks_by_qualified_invites(owner_client, workspace, campaign, participant, outbox_account):
    other = enrol(campaign, ContactFactory(workspace=workspace, owner_account=outbox_account, remark_name="第二名"))
    Participant.objects.filter(pk=participant.pk).update(qualified_count=5)
    Participant.objects.filter(pk=other.pk).update(qualified_count=2)
    html = owner_client.get(url("leaderboard", campaign)).content.decode()
    assert html.index(participant.contact.display_name) < html.index("第二名")


def test_the_report_compares_the_cost_per_customer_with_paid_channels(owner_client, workspace, campaign,
                                                                     participant):
    AcquisitionCost.objects.create(workspace=workspace, channel="抖音投放", cost_per_customer="45.00")
    invite = bring(participant)
    qualification.invite_check(invite_id=invite.pk, now=invite.attributed_at + timedelta(days=4))
    html = owner_client.get(url("report", campaign), **ENGLISH).content.decode()
    assert 'data-key="qualified">1<' in html
    assert 'data-key="cost_per_customer">¥15.00<' in html
    assert "抖音投放" in html and "¥30.00" in html  # 45 − 15 saved per customer


def test_the_owner_enters_acquisition_costs(owner_client, workspace):
    response = owner_client.post(reverse("referrals:costs"), {"channel": "淘宝直通车", "cost_per_customer": "28.5"})
    assert response.status_code == 302
    assert AcquisitionCost.objects.get(workspace=workspace).cost_per_customer == 28.5


def test_limited_staff_see_only_their_accounts_invites_and_tree(workspace, campaign, participant, limited_staff,
                                                                 manual_account):
    campaign.burst_per_hour = 1
    campaign.save()
    bring(participant)
    held = bring(participant)  # a friend on the outbox account, not theirs
    theirs = enrol(campaign, ContactFactory(workspace=workspace, owner_account=manual_account, remark_name="小林"))
    bring(theirs, remark_name="小林的朋友")
    client = client_for(limited_staff)
    held_page = client.get(url("held", campaign), **ENGLISH).content.decode()
    assert held.invitee.display_name not in held_page
    assert client.post(url("invite_decide", campaign, held.pk), {"decision": "approve"}).status_code == 404
    tree_page = client.get(url("tree", campaign), **ENGLISH).content.decode()
    assert "小林" in tree_page and participant.contact.display_name not in tree_page
    assert client.get(url("campaign_detail", campaign)).status_code == 200
