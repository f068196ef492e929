"""The public landing page /r/<code>: no sign-in, counts the scan (once per device within half an hour), 404 on an
unknown or malformed code, and shows nothing of the participant or anyone else."""

import pytest
from django.test import Client
from django.urls import reverse

from referrals import services
from referrals.models import Scan
from tests.referrals.conftest import ENGLISH, enrol
from tests.factories import ContactFactory

pytestmark = pytest.mark.django_db

PHONE = {"HTTP_USER_AGENT": "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) MicroMessenger/8.0", **ENGLISH}


def landing(code):
    return reverse("referral_landing:landing", args=[code])


def test_it_works_without_signing_in_and_counts_the_scan(participant):
    client = Client()
    response = client.get(landing(participant.code), **PHONE)
    assert response.status_code == 200
    html = response.content.decode()
    assert participant.code in html and "老带新·送海参" in html
    assert Scan.objects.filter(participant=participant, counted=True).count() == 1
    assert "sy_device" in response.cookies and response.cookies["sy_device"]["httponly"]
    assert "sessionid" not in response.cookies and "csrftoken" not in response.cookies
    assert response["Cache-Control"] == "no-store"


def test_a_reload_from_the_same_phone_is_not_counted_again(participant):
    client = Client()
    client.get(landing(participant.code), **PHONE)
    client.get(landing(participant.code), **PHONE)
    assert Scan.objects.count() == 1
    Client().get(landing(participant.code), **PHONE)  # another phone
    assert Scan.objects.count() == 2


def test_a_lower_case_code_opens_the_same_page(participant):
    assert Client().get(landing(participant.code.lower()), **PHONE).status_code == 200


@pytest.mark.parametrize("code", ["ZZZZZZZZ", "short", "<script>", "1" * 200])
def test_an_unknown_or_malformed_code_is_a_404(participant, code):
    assert Client().get(f"/r/{code}", **PHONE).status_code == 404
    assert not Scan.objects.exists()


def test_it_reveals_nothing_of_the_participant_or_other_participants(workspace, campaign, participant):
    other = enrol(campaign, ContactFactory(workspace=workspace, nickname="李四", phone="+8613900000009"))
    html = Client().get(landing(participant.code), **PHONE).content.decode()
    contact = participant.contact
    for private in (contact.nickname, contact.remark_name, contact.phone, contact.wechat_id, other.code, "李四",
                    workspace.name):
        assert private not in html


def test_a_paused_campaign_shows_a_notice_and_counts_nothing(campaign, participant):
    services.campaign_pause(campaign=campaign)
    response = Client().get(landing(participant.code), **PHONE)
    assert response.status_code == 200 and 'id="not-running"' in response.content.decode()
    assert not Scan.objects.exists()


def test_only_get_is_allowed(participant):
    assert Client().post(landing(participant.code)).status_code in (403, 405)


def test_the_wechat_qr_is_served_when_the_campaign_has_one(participant):
    assert Client().get(reverse("referral_landing:wechat_qr", args=[participant.code])).status_code == 404
