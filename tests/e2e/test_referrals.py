"""The referral landing page on a phone: the code to mention fits the screen without scrolling sideways, the
seller's QR code shows, and the visit is counted."""

from datetime import timedelta
from io import BytesIO

import pytest
from django.core.files.base import ContentFile
from django.utils import timezone
from PIL import Image
from playwright.sync_api import expect

from referrals import services
from referrals.models import Campaign, Participant, RewardTier, Scan
from tests.factories import ContactFactory, WeChatAccountFactory, WorkspaceFactory

pytestmark = pytest.mark.e2e

PHONE = {"width": 375, "height": 667}  # iPhone SE


@pytest.fixture
def participant(transactional_db):
    workspace = WorkspaceFactory(name="张姐海味", slug="zhang-seafood")
    account = WeChatAccountFactory(workspace=workspace, name="海味小张")
    now = timezone.now()
    campaign = Campaign.objects.create(workspace=workspace, name="老带新·送海参", starts_at=now - timedelta(days=1),
                                       ends_at=now + timedelta(days=30), status=Campaign.Status.ACTIVE,
                                       landing_text="添加好友，领取新人礼")
    buffer = BytesIO()
    Image.new("RGB", (300, 300), "black").save(buffer, format="PNG")
    campaign.friend_qr.save("qr.png", ContentFile(buffer.getvalue()))
    RewardTier.objects.create(campaign=campaign, invites=3, name="试吃装")
    contact = ContactFactory(workspace=workspace, owner_account=account)
    services.participants_enrol(campaign=campaign, contact_ids=[contact.pk])
    return Participant.objects.get(campaign=campaign)


def test_the_landing_page_fits_a_phone_and_counts_the_visit(browser, live_server, participant):
    context = browser.new_context(locale="zh-CN", viewport=PHONE, is_mobile=True, has_touch=True)
    page = context.new_page()
    try:
        page.goto(f"{live_server.url}/r/{participant.code}")
        expect(page.locator("#code")).to_have_text(participant.code)
        expect(page.locator("img.qr")).to_be_visible()
        assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
        assert page.locator("img.qr").evaluate("img => img.naturalWidth") == 300
        assert Scan.objects.filter(participant=participant).count() == 1
    finally:
        context.close()
