"""Channel QR codes (联系我): made in WeCom with a state, listed for owner and teammates, one per referral
participant; bad input is a clear form error."""

from datetime import timedelta
from io import BytesIO

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import timezone
from PIL import Image

from crm.models import Contact, WeChatAccount
from referrals.models import Campaign, Participant
from tests.factories import ContactFactory, WeChatAccountFactory
from tests.wecom.signing import event_xml
from wecom import callbacks, contact_ways
from wecom.models import ContactWay

pytestmark = pytest.mark.django_db

LIST = reverse("wecom:contact_ways")
ENGLISH = {"HTTP_ACCEPT_LANGUAGE": "en"}


@pytest.fixture
def seller(workspace):
    return WeChatAccountFactory(workspace=workspace, name="小张", wechat_id="zhangsan",
                                channel=WeChatAccount.Channel.WECOM)


@pytest.fixture
def helper(workspace):
    return WeChatAccountFactory(workspace=workspace, name="小李", wechat_id="lisi", channel=WeChatAccount.Channel.WECOM)


def picture(size=(40, 40)) -> SimpleUploadedFile:
    out = BytesIO()
    Image.new("RGB", size, "red").save(out, format="JPEG")
    return SimpleUploadedFile("hi.jpg", out.getvalue(), content_type="image/jpeg")


def form(accounts, **changes):
    return {"label": "快递包裹卡", "accounts": [a.pk for a in accounts], "source": "shop", "state": "",
            "welcome_text": "谢谢购买！", **changes}


def test_the_owner_makes_a_qr_code_for_a_parcel_insert(owner_client, credentials, wecom, seller):
    response = owner_client.post(LIST, form([seller]))
    way = ContactWay.objects.get()
    assert response.status_code == 302 and response.url == reverse("wecom:contact_way_detail", args=[way.pk])
    assert (way.source, way.config_id, way.qr_code) == ("shop", "cfg1", "https://wwcdn.example.com/qr/1.png")
    assert way.state.startswith("cw-") and len(way.state) <= 30
    [body] = wecom.contact_ways
    assert (body["type"], body["scene"], body["user"], body["state"]) == (1, 2, ["zhangsan"], way.state)


def test_two_accounts_make_a_multi_person_code(owner_client, credentials, wecom, seller, helper):
    owner_client.post(LIST, form([seller, helper], state="shop-counter"))
    [body] = wecom.contact_ways
    assert (body["type"], sorted(body["user"]), body["state"]) == (2, ["lisi", "zhangsan"], "shop-counter")


def test_a_teammate_makes_and_sees_codes_and_their_qr_image(teammate_client, credentials, wecom, seller):
    teammate_client.post(LIST, form([seller]))
    way = ContactWay.objects.get()
    html = teammate_client.get(reverse("wecom:contact_way_detail", args=[way.pk])).content.decode()
    assert way.qr_code in html and "快递包裹卡" in html
    assert f'id="contact-way-{way.pk}"' in teammate_client.get(LIST).content.decode()


def test_another_workspaces_code_is_a_404(outsider_client, owner_client, credentials, wecom, seller):
    owner_client.post(LIST, form([seller]))
    way = ContactWay.objects.get()
    assert outsider_client.get(reverse("wecom:contact_way_detail", args=[way.pk])).status_code == 404
    assert f'id="contact-way-{way.pk}"' not in outsider_client.get(LIST).content.decode()


def test_a_state_over_30_characters_is_a_clear_form_error(owner_client, credentials, wecom, seller):
    response = owner_client.post(LIST, form([seller], state="x" * 31), **ENGLISH)
    assert response.status_code == 400
    assert "at most 30 characters for the state" in response.content.decode()
    assert not wecom.contact_ways and not ContactWay.objects.exists()


def test_a_state_taken_or_reserved_for_referrals_is_refused(owner_client, credentials, wecom, seller):
    owner_client.post(LIST, form([seller], state="counter"))
    assert owner_client.post(LIST, form([seller], state="counter")).status_code == 400
    assert owner_client.post(LIST, form([seller], state="ref:K7M2QX9A")).status_code == 400
    assert ContactWay.objects.count() == 1


def test_a_20_mb_welcome_picture_is_a_clear_form_error(owner_client, credentials, wecom, seller):
    huge = SimpleUploadedFile("big.jpg", b"\xff\xd8" + b"0" * (20 * 1024 * 1024), content_type="image/jpeg")
    response = owner_client.post(LIST, {**form([seller]), "welcome_image": huge}, **ENGLISH)
    assert response.status_code == 400 and "10 MB" in response.content.decode()
    assert not ContactWay.objects.exists()


def test_a_welcome_picture_is_kept_with_the_code(owner_client, credentials, wecom, seller):
    owner_client.post(LIST, {**form([seller]), "welcome_image": picture()})
    assert ContactWay.objects.get().welcome_image.name.endswith(".jpg")


def test_wecom_refusing_the_code_says_so_on_the_form(owner_client, credentials, wecom, seller, fake_wecom):
    fake_wecom.fail_next("externalcontact/add_contact_way", 84061)
    response = owner_client.post(LIST, form([seller]), **ENGLISH)
    assert response.status_code == 400 and "84061" in response.content.decode()


def test_accounts_not_on_wecom_cannot_be_chosen(owner_client, credentials, wecom, workspace):
    manual = WeChatAccountFactory(workspace=workspace, wechat_id="wx1", channel=WeChatAccount.Channel.MANUAL)
    assert owner_client.post(LIST, form([manual])).status_code == 400
    assert not wecom.contact_ways


def test_the_welcome_message_of_a_code_is_changed_on_its_page(owner_client, credentials, wecom, seller):
    owner_client.post(LIST, form([seller]))
    way = ContactWay.objects.get()
    owner_client.post(reverse("wecom:contact_way_detail", args=[way.pk]), {"welcome_text": "欢迎光临"})
    way.refresh_from_db()
    assert way.welcome_text == "欢迎光临" and len(wecom.contact_ways) == 1


def test_a_customer_who_scans_a_parcel_code_comes_from_the_shop(credentials, wecom, seller, workspace,
                                                                django_capture_on_commit_callbacks):
    way = contact_ways.contact_way_create(workspace=workspace, actor=None, label="包裹卡", accounts=[seller],
                                          source=Contact.Source.SHOP)
    with django_capture_on_commit_callbacks(execute=True):
        callbacks.event_store(credentials, event_xml("add_external_contact", UserID="zhangsan",
                                                     ExternalUserID="wmNEW", State=way.state))
    assert Contact.objects.get(external_id="wmNEW").source == Contact.Source.SHOP


# Referral participants ---------------------------------------------------------------------------------------------


@pytest.fixture
def campaign(workspace, seller):
    campaign = Campaign.objects.create(workspace=workspace, name="老带新", starts_at=timezone.now(),
                                       ends_at=timezone.now() + timedelta(days=30), status=Campaign.Status.ACTIVE)
    campaign.accounts.add(seller)
    return campaign


def participant(campaign, code):
    contact = ContactFactory(workspace=campaign.workspace, remark_name=f"王姐{code}")
    return Participant.objects.create(workspace=campaign.workspace, campaign=campaign, contact=contact, code=code)


def test_a_participant_gets_a_code_whose_state_credits_them(credentials, wecom, campaign):
    wang = participant(campaign, "K7M2QX9A")
    way = contact_ways.contact_way_for_participant(participant=wang)
    assert (way.state, way.source, way.participant) == ("ref:K7M2QX9A", "referral", wang)
    assert wecom.contact_ways[0]["state"] == "ref:K7M2QX9A"
    assert contact_ways.contact_way_for_participant(participant=wang) == way  # asked again: the same one
    assert len(wecom.contact_ways) == 1


def test_the_campaign_button_makes_a_code_for_each_participant_once(owner_client, credentials, wecom, campaign,
                                                                    django_capture_on_commit_callbacks):
    for code in ("K7M2QX9A", "P3RSTUV4"):
        participant(campaign, code)
    url = reverse("wecom:campaign_contact_ways", args=[campaign.pk])
    assert "老带新" in owner_client.get(LIST).content.decode()
    for _ in range(2):
        with django_capture_on_commit_callbacks(execute=True):
            assert owner_client.post(url).status_code == 302
    assert sorted(ContactWay.objects.values_list("state", flat=True)) == ["ref:K7M2QX9A", "ref:P3RSTUV4"]
    assert len(wecom.contact_ways) == 2


def test_a_campaign_without_wecom_accounts_offers_no_codes(owner_client, credentials, wecom, workspace, campaign):
    campaign.accounts.set([WeChatAccountFactory(workspace=workspace, channel=WeChatAccount.Channel.MANUAL)])
    assert owner_client.post(reverse("wecom:campaign_contact_ways", args=[campaign.pk])).status_code == 404


def test_another_workspaces_campaign_is_a_404(outsider_client, credentials, wecom, campaign):
    assert outsider_client.post(reverse("wecom:campaign_contact_ways", args=[campaign.pk])).status_code == 404


def test_a_workspace_without_wecom_is_told_to_connect_it_first(owner_client, seller):
    html = owner_client.get(LIST, **ENGLISH).content.decode()
    assert 'id="not-connected"' in html


def test_a_teammate_limited_to_some_accounts_sees_only_their_codes(workspace, credentials, wecom, seller, helper,
                                                                  teammate, teammate_client):
    theirs = contact_ways.contact_way_create(workspace=workspace, actor=None, label="小李的码", accounts=[helper])
    others = contact_ways.contact_way_create(workspace=workspace, actor=None, label="小张的码", accounts=[seller])
    teammate.limited_to_assigned_accounts = True
    teammate.save()
    teammate.assigned_accounts.add(helper)
    html = teammate_client.get(LIST).content.decode()
    assert f'id="contact-way-{theirs.pk}"' in html and f'id="contact-way-{others.pk}"' not in html
    assert teammate_client.get(reverse("wecom:contact_way_detail", args=[others.pk])).status_code == 404


def test_the_page_speaks_chinese_by_default(owner_client, credentials, seller):
    assert "渠道活码" in owner_client.get(LIST).content.decode()
