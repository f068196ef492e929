"""Opting a contact out of messages (and back in), and recording their replies, from the contact page."""

from datetime import datetime, timezone as dt_timezone

import pytest
from django.urls import reverse
from django.utils import timezone

from crm.models import Member, TimelineEvent
from tests.conftest import client_for
from tests.factories import ContactFactory, MemberFactory, WeChatAccountFactory

pytestmark = pytest.mark.django_db


def url(name, contact):
    return reverse(f"crm:{name}", args=[contact.pk])


@pytest.fixture
def contact(workspace, account):
    return ContactFactory(workspace=workspace, owner_account=account, remark_name="张姐-老客")


def test_the_contact_page_offers_to_opt_out_and_to_record_a_reply(owner_client, teammate_client, contact):
    for client in (owner_client, teammate_client):
        html = client.get(url("contact_detail", contact)).content.decode()
        assert f'action="{url("contact_opt_out", contact)}"' in html
        assert f'action="{url("contact_reply", contact)}"' in html
        assert 'name="reply"' in html
        assert "badge-danger" not in html


def test_opting_out_stops_messages_shows_the_badge_and_lands_on_the_timeline(owner_client, owner, contact):
    response = owner_client.post(url("contact_opt_out", contact), HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    assert response["HX-Trigger"] == "timeline-changed"
    html = response.content.decode()
    contact.refresh_from_db()
    assert contact.opted_out_at is not None
    day = timezone.localtime(contact.opted_out_at).strftime("%Y-%m-%d")
    assert day in html
    assert f'action="{url("contact_opt_in", contact)}"' in html  # the button turns into "opt back in"
    assert 'id="opt-out-badge" hx-swap-oob="true"' in html
    event = contact.timeline_events.get(kind=TimelineEvent.Kind.OPTED_OUT)
    assert event.actor == owner.user


def test_opting_out_twice_changes_nothing_more(owner_client, contact):
    owner_client.post(url("contact_opt_out", contact), HTTP_HX_REQUEST="true")
    contact.refresh_from_db()
    first = contact.opted_out_at
    assert owner_client.post(url("contact_opt_out", contact), HTTP_HX_REQUEST="true").status_code == 200
    contact.refresh_from_db()
    assert contact.opted_out_at == first
    assert contact.timeline_events.filter(kind=TimelineEvent.Kind.OPTED_OUT).count() == 1


def test_an_opted_out_contact_shows_since_when_and_opts_back_in(teammate_client, contact):
    contact.opted_out_at = datetime(2026, 11, 2, 4, 0, tzinfo=dt_timezone.utc)
    contact.save()
    html = teammate_client.get(url("contact_detail", contact)).content.decode()
    assert "2026-11-02" in html and "badge-danger" in html
    response = teammate_client.post(url("contact_opt_in", contact), HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    assert f'action="{url("contact_opt_out", contact)}"' in response.content.decode()
    contact.refresh_from_db()
    assert contact.opted_out_at is None
    assert contact.timeline_events.filter(kind=TimelineEvent.Kind.OPTED_IN).exists()


def test_without_javascript_the_buttons_come_back_to_the_contact_page(owner_client, contact):
    response = owner_client.post(url("contact_opt_out", contact))
    assert response.status_code == 302 and response["Location"] == url("contact_detail", contact)
    contact.refresh_from_db()
    assert contact.opted_out_at is not None
    owner_client.post(url("contact_opt_in", contact))
    contact.refresh_from_db()
    assert contact.opted_out_at is None


def test_a_reply_of_tuiding_opts_the_contact_out_and_the_page_says_so(owner_client, contact):
    response = owner_client.post(url("contact_reply", contact), {"reply": " 退订 "}, HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    assert response["HX-Trigger"] == "timeline-changed"
    html = response.content.decode()
    assert "退订" in html and "badge-danger" in html
    contact.refresh_from_db()
    assert contact.opted_out_at is not None
    assert contact.timeline_events.get(kind=TimelineEvent.Kind.REPLY).body == "退订"
    assert contact.timeline_events.get(kind=TimelineEvent.Kind.OPTED_OUT).body == "退订"


@pytest.mark.parametrize("reply", ["TD", "td", "T D"])
def test_td_opts_the_contact_out_too(owner_client, contact, reply):
    owner_client.post(url("contact_reply", contact), {"reply": reply}, HTTP_HX_REQUEST="true")
    contact.refresh_from_db()
    assert (contact.opted_out_at is not None) == (reply != "T D")


def test_an_ordinary_reply_is_only_recorded(owner_client, contact):
    response = owner_client.post(url("contact_reply", contact), {"reply": "海参还有货吗？td一下价格"}, HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    contact.refresh_from_db()
    assert contact.opted_out_at is None
    assert contact.timeline_events.get(kind=TimelineEvent.Kind.REPLY).body == "海参还有货吗？td一下价格"
    assert "badge-danger" not in response.content.decode()


def test_an_empty_reply_is_refused_in_place(owner_client, contact):
    response = owner_client.post(url("contact_reply", contact), {"reply": "  "}, HTTP_HX_REQUEST="true")
    assert response.status_code == 200  # htmx swaps no 4xx response: the error shows in the form
    assert "errorlist" in response.content.decode()
    response = owner_client.post(url("contact_reply", contact), {"reply": ""})
    assert response.status_code == 400
    assert not contact.timeline_events.exists()


def test_a_reply_with_a_script_renders_escaped(owner_client, contact):
    owner_client.post(url("contact_reply", contact), {"reply": "<script>alert(1)</script>"}, HTTP_HX_REQUEST="true")
    html = owner_client.get(url("contact_detail", contact)).content.decode()
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


@pytest.mark.parametrize("name", ["contact_opt_out", "contact_opt_in", "contact_reply"])
def test_another_workspaces_contact_is_a_404(outsider_client, contact, name):
    response = outsider_client.post(url(name, contact), {"reply": "退订"}, HTTP_HX_REQUEST="true")
    assert response.status_code == 404
    contact.refresh_from_db()
    assert contact.opted_out_at is None
    assert not contact.timeline_events.exists()


@pytest.mark.parametrize("name", ["contact_opt_out", "contact_reply"])
def test_a_limited_teammate_cannot_opt_out_a_contact_they_do_not_see(workspace, contact, name):
    staff = MemberFactory(workspace=workspace, role=Member.Role.STAFF, limited_to_assigned_accounts=True)
    staff.assigned_accounts.add(WeChatAccountFactory(workspace=workspace))
    response = client_for(staff).post(url(name, contact), {"reply": "退订"})
    assert response.status_code == 404
    contact.refresh_from_db()
    assert contact.opted_out_at is None


@pytest.mark.parametrize("name", ["contact_opt_out", "contact_opt_in", "contact_reply"])
def test_the_buttons_only_answer_post(owner_client, contact, name):
    assert owner_client.get(url(name, contact)).status_code == 405


def test_the_contact_page_speaks_chinese_by_default(owner_client, contact):
    html = owner_client.get(url("contact_detail", contact)).content.decode()
    assert "退订消息" in html
    html = owner_client.post(url("contact_opt_out", contact), HTTP_HX_REQUEST="true").content.decode()
    assert "恢复接收" in html
