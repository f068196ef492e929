"""Posters: drawn with Chinese text (a CJK font: required under CI), a QR code that decodes back to the
participant's landing page, made by Celery, remade when the campaign's poster changes, downloadable by members and
sent through the participant's account (a send-today card with the picture on the manual channel)."""

import os
from io import BytesIO

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse
from PIL import Image, ImageDraw

from crm import services as crm_services
from crm.models import ManualSend, OutboxMessage
from referrals import messaging, posters, services, tasks
from referrals.models import Participant
from tests.factories import ContactFactory
from tests.referrals.conftest import ENGLISH, enrol, make_campaign

pytestmark = pytest.mark.django_db


def require_cjk_font():
    if posters.font_path() is None:
        if os.environ.get("CI", "").lower() in {"1", "true", "yes"}:
            pytest.fail("No CJK font: .ci/run installs fonts-wqy-zenhei", pytrace=False)
        pytest.skip("No CJK font installed (apt-get install fonts-wqy-zenhei)")


def made(participant) -> Image.Image:
    tasks.poster_make.delay(participant.pk)
    participant.refresh_from_db()
    with participant.poster.open("rb") as file:
        return Image.open(BytesIO(file.read())).convert("RGB")


def test_the_qr_code_decodes_back_to_the_participants_landing_page(participant, settings):
    zxingcpp = pytest.importorskip("zxingcpp")
    settings.SITE_URL = "https://crm.example.com"
    poster = made(participant)
    assert poster.size == posters.SIZE
    results = zxingcpp.read_barcodes(poster)
    assert [result.text for result in results] == [f"https://crm.example.com/r/{participant.code}"]


def test_chinese_text_renders_with_the_cjk_font():
    """A CJK font draws 海 with many more ink pixels than the fallback's empty box."""
    require_cjk_font()
    font = posters._font(64)
    canvas = Image.new("L", (80, 80), 0)
    ImageDraw.Draw(canvas).text((8, 8), "海", font=font, fill=255)
    ink = sum(canvas.histogram()[129:])
    box = Image.new("L", (80, 80), 0)
    ImageDraw.Draw(box).text((8, 8), "口", font=font, fill=255)
    box_ink = sum(box.histogram()[129:])
    assert ink > 300 and ink != box_ink  # a real glyph, and not the same shape as every other character


def test_a_poster_with_chinese_text_is_drawn_where_the_text_goes(participant):
    require_cjk_font()
    poster = made(participant)
    text_band = poster.crop((56, 280, 694, 350))
    colours = text_band.getcolors(maxcolors=100_000)
    assert len(colours) > 20  # anti-aliased glyphs over the background, not a flat band


def test_the_poster_is_made_once_and_remade_when_the_campaign_changes(owner, campaign, participant):
    assert posters.poster_make(participant_id=participant.pk) is True
    assert posters.poster_make(participant_id=participant.pk) is False  # delivered twice
    participant.refresh_from_db()
    first = participant.poster.name
    services.campaign_update(campaign=campaign, accounts=campaign.accounts.all(),
                             tiers=[(1, "试吃装", 15), (3, "正装海参", 98)], poster_text="新年福利：邀请好友领礼品",
                             starts_at=campaign.starts_at, ends_at=campaign.ends_at, name=campaign.name)
    participant.refresh_from_db()
    assert participant.poster_wanted is True
    assert services.referrals_tick()["posters"] == 1
    participant.refresh_from_db()
    assert participant.poster.name != first and participant.poster_version == 2
    assert not participant.poster.storage.exists(first)


def test_members_download_the_poster_and_outsiders_get_a_404(owner_client, outsider_client, campaign, participant):
    posters.poster_make(participant_id=participant.pk)
    url = reverse("referrals:participant_poster", args=[campaign.pk, participant.pk])
    response = owner_client.get(url)
    assert response.status_code == 200 and response["Content-Type"] == "image/jpeg"
    assert outsider_client.get(url).status_code == 404


def test_sending_the_poster_by_hand_makes_a_send_today_card_with_the_picture(workspace, manual_account, owner_client):
    campaign = make_campaign(workspace, [manual_account])
    participant = enrol(campaign, ContactFactory(workspace=workspace, owner_account=manual_account))
    posters.poster_make(participant_id=participant.pk)
    url = reverse("referrals:participant_poster_send", args=[campaign.pk, participant.pk])
    owner_client.post(url, **ENGLISH)
    owner_client.post(url, **ENGLISH)  # twice: one card
    card = ManualSend.objects.get()
    participant.refresh_from_db()
    assert card.images == [participant.poster.name] and participant.code in card.text


def test_a_poster_not_made_yet_cannot_be_sent(participant):
    with pytest.raises(ValidationError, match="still being made"):
        messaging.poster_send(participant=Participant.objects.select_related("campaign", "contact").get(
            pk=participant.pk))


def test_without_a_cjk_font_posters_fall_back_and_the_campaign_page_says_so(owner_client, campaign, participant,
                                                                            settings, monkeypatch):
    monkeypatch.setattr(posters, "FONT_CANDIDATES", ())
    settings.REFERRAL_POSTER_FONT = "/nowhere/font.ttc"
    posters.font_path.cache_clear()
    try:
        assert posters.poster_make(participant_id=participant.pk) is True
        html = owner_client.get(reverse("referrals:campaign_detail", args=[campaign.pk]), **ENGLISH).content.decode()
        assert 'id="font-missing"' in html
    finally:
        posters.font_path.cache_clear()


def test_a_customer_who_replies_the_keyword_is_enrolled_and_sent_their_poster(workspace, campaign, outbox_account,
                                                                              committed):
    campaign.enrol_keyword = "海报"
    campaign.save()
    customer = ContactFactory(workspace=workspace, owner_account=outbox_account)
    with committed():
        crm_services.contact_reply_record(contact=customer, text=" 海报 ")
        crm_services.contact_reply_record(contact=customer, text="海报")  # asked twice: one participant, one poster
    participant = Participant.objects.get(campaign=campaign, contact=customer)
    assert posters.poster_is_current(participant)
    message = OutboxMessage.objects.get(contact=customer)
    assert message.images == [participant.poster.name]


def test_other_replies_enrol_nobody(workspace, campaign, outbox_account, committed):
    campaign.enrol_keyword = "海报"
    campaign.save()
    with committed():
        crm_services.contact_reply_record(contact=ContactFactory(workspace=workspace, owner_account=outbox_account),
                                          text="海报什么时候发？")
    assert not Participant.objects.exists()
