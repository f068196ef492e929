"""The send-today queue (今日待发): one card per message of the manual channel, worked one account at a time."""

import io
import itertools
import zipfile
from datetime import datetime, timedelta, timezone as dt_timezone

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.urls import reverse
from django.utils import timezone

from crm import selectors
from crm.models import ManualSend, Member
from crm.wechat.base import Message
from crm.wechat.manual import ManualChannel
from tests.conftest import client_for
from tests.factories import ContactFactory, MemberFactory, WeChatAccountFactory

pytestmark = pytest.mark.django_db

QUEUE = reverse("crm:send_today")
_refs = itertools.count(1)


def today_of(workspace):
    return selectors.workspace_today(workspace=workspace)


def make_card(account, contact=None, *, text="你好，新品海参到货啦", days_ago=0, status=ManualSend.Status.PENDING, **fields):
    contact = contact or ContactFactory(workspace=account.workspace, owner_account=account)
    return ManualSend.objects.create(
        workspace=account.workspace, account=account, contact=contact, ref=f"test:{next(_refs)}", text=text,
        due_on=today_of(account.workspace) - timedelta(days=days_ago), status=status, **fields,
    )


def mark_url(card):
    return reverse("crm:send_today_mark", args=[card.pk])


@pytest.fixture
def other_account(workspace):
    return WeChatAccountFactory(workspace=workspace, name="海味小李")


@pytest.fixture
def limited(workspace, account):
    """A staff member who works only the account 海味小张."""
    member = MemberFactory(workspace=workspace, role=Member.Role.STAFF, limited_to_assigned_accounts=True)
    member.assigned_accounts.add(account)
    return member


# Who sees what --------------------------------------------------------------------------------------------------------


def test_owner_and_teammate_see_the_cards_due_today_with_the_customer(owner_client, teammate_client, account):
    contact = ContactFactory(workspace=account.workspace, owner_account=account, remark_name="张姐-老客", nickname="海风🌊")
    card = make_card(account, contact, text="张姐，您要的大连海参到了")
    for client in (owner_client, teammate_client):
        response = client.get(QUEUE)
        assert response.status_code == 200
        html = response.content.decode()
        assert f'id="card-{card.pk}"' in html
        assert "张姐-老客" in html and "海风🌊" in html
        assert "张姐，您要的大连海参到了" in html
        assert reverse("crm:contact_detail", args=[contact.pk]) in html
        assert 'class="avatar"' in html
        assert mark_url(card) in html


def test_the_page_groups_cards_by_account_with_a_tab_and_a_count_for_each(owner_client, owner, account, other_account):
    for _ in range(3):
        make_card(account)
    mine = make_card(other_account, days_ago=2)
    html = owner_client.get(QUEUE).content.decode()
    assert 'data-account="%d"' % account.pk in html and 'data-account="%d"' % other_account.pk in html
    tabs = selectors.send_today_counts(member=owner)
    assert tabs[account.pk].pending == 3 and tabs[other_account.pk].pending == 1
    assert tabs[other_account.pk].overdue == 1
    html = owner_client.get(QUEUE, {"account": other_account.pk}).content.decode()
    assert f'id="card-{mine.pk}"' in html
    assert f'href="{QUEUE}?account={other_account.pk}" data-account="{other_account.pk}" aria-current="page"' in html


def test_one_account_is_worked_at_a_time(owner_client, account, other_account):
    here, there = make_card(account), make_card(other_account)
    html = owner_client.get(QUEUE, {"account": account.pk}).content.decode()
    assert f'id="card-{here.pk}"' in html
    assert f'id="card-{there.pk}"' not in html


def test_a_limited_teammate_sees_only_their_accounts_cards(workspace, account, other_account, limited):
    mine, theirs = make_card(account), make_card(other_account)
    client = client_for(limited)
    for query in ({}, {"account": other_account.pk}):
        html = client.get(QUEUE, query).content.decode()
        assert f'id="card-{mine.pk}"' in html
        assert f'id="card-{theirs.pk}"' not in html
        assert "海味小李" not in html
    assert selectors.send_today_total(member=limited) == 1


def test_a_limited_teammate_cannot_touch_another_accounts_card(account, other_account, limited):
    theirs = make_card(other_account, images=["broadcasts/x.jpg"])
    client = client_for(limited)
    assert client.post(mark_url(theirs), {"status": "sent"}).status_code == 404
    assert client.get(reverse("crm:send_today_images", args=[theirs.pk])).status_code == 404
    assert client.get(reverse("crm:send_today_image", args=[theirs.pk, 0])).status_code == 404
    theirs.refresh_from_db()
    assert theirs.status == ManualSend.Status.PENDING


def test_an_outsider_sees_none_of_the_cards_and_gets_a_404_for_each(outsider_client, account):
    card = make_card(account, text="只给张姐的消息", images=["broadcasts/x.jpg"])
    html = outsider_client.get(QUEUE).content.decode()
    assert "只给张姐的消息" not in html and "海味小张" not in html
    assert outsider_client.post(mark_url(card), {"status": "sent"}).status_code == 404
    assert outsider_client.post(mark_url(card), {"status": "skipped"}, HTTP_HX_REQUEST="true").status_code == 404
    assert outsider_client.get(reverse("crm:send_today_images", args=[card.pk])).status_code == 404
    assert outsider_client.get(reverse("crm:send_today_image", args=[card.pk, 0])).status_code == 404
    card.refresh_from_db()
    assert card.status == ManualSend.Status.PENDING


def test_anonymous_visitors_are_sent_to_sign_in(client, account):
    card = make_card(account)
    for response in (client.get(QUEUE), client.post(mark_url(card), {"status": "sent"})):
        assert response.status_code == 302
        assert reverse("login") in response["Location"]


# Marking cards ---------------------------------------------------------------------------------------------------------


def test_copied_and_sent_swaps_the_card_out_once_and_a_second_post_is_harmless(owner_client, owner, account):
    card = make_card(account)
    other = make_card(account)
    response = owner_client.post(mark_url(card), {"status": "sent"}, HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    html = response.content.decode()
    assert f'id="card-{card.pk}"' in html and "data-card-done" in html
    assert 'id="queue-tabs" class="queue-tabs"' in html and 'hx-swap-oob="true"' in html  # the counts follow
    card.refresh_from_db()
    assert (card.status, card.done_by) == (ManualSend.Status.SENT, owner.user)
    done_at = card.done_at

    again = owner_client.post(mark_url(card), {"status": "skipped"}, HTTP_HX_REQUEST="true")
    assert again.status_code == 200
    card.refresh_from_db()
    assert (card.status, card.done_at) == (ManualSend.Status.SENT, done_at)
    assert selectors.send_today_counts(member=owner)[account.pk].pending == 1
    other.refresh_from_db()
    assert other.status == ManualSend.Status.PENDING


def test_skip_marks_the_card_skipped(teammate_client, teammate, account):
    card = make_card(account)
    response = teammate_client.post(mark_url(card), {"status": "skipped"}, HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    card.refresh_from_db()
    assert (card.status, card.done_by) == (ManualSend.Status.SKIPPED, teammate.user)


def test_a_card_done_by_someone_else_says_who_instead_of_failing(owner_client, teammate_client, teammate, account):
    card = make_card(account)
    teammate_client.post(mark_url(card), {"status": "sent"}, HTTP_HX_REQUEST="true")
    response = owner_client.post(mark_url(card), {"status": "sent"}, HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    assert teammate.user.username in response.content.decode()
    card.refresh_from_db()
    assert card.done_by == teammate.user


def test_without_javascript_the_buttons_post_and_come_back_to_the_account(owner_client, account):
    card = make_card(account)
    response = owner_client.post(mark_url(card), {"status": "sent", "page": "1"}, follow=True)
    assert response.redirect_chain[-1][0] == f"{QUEUE}?account={account.pk}&page=1"
    html = response.content.decode()
    assert f'id="card-{card.pk}"' not in html
    assert card.contact.display_name in html  # the message says whom it was sent to
    # Done already: the page says so and nothing changes.
    response = owner_client.post(mark_url(card), {"status": "skipped"}, follow=True)
    assert response.status_code == 200
    card.refresh_from_db()
    assert card.status == ManualSend.Status.SENT


def test_an_unknown_status_is_refused(owner_client, account):
    card = make_card(account)
    assert owner_client.post(mark_url(card), {"status": "deleted"}).status_code == 400
    assert owner_client.get(mark_url(card)).status_code == 405
    card.refresh_from_db()
    assert card.status == ManualSend.Status.PENDING


# What the queue holds ------------------------------------------------------------------------------------------------


def test_overdue_cards_come_first_oldest_first(owner_client, account):
    today = make_card(account, text="今天的")
    last_week = make_card(account, text="上周的", days_ago=7)
    yesterday = make_card(account, text="昨天的", days_ago=1)
    html = owner_client.get(QUEUE).content.decode()
    positions = [html.index(f'id="card-{card.pk}"') for card in (last_week, yesterday, today)]
    assert positions == sorted(positions)
    assert html.count("qcard overdue") == 2


def test_cards_due_later_and_cards_done_already_are_not_shown(owner_client, account):
    tomorrow = make_card(account, days_ago=-1)
    sent = make_card(account, status=ManualSend.Status.SENT)
    skipped = make_card(account, status=ManualSend.Status.SKIPPED)
    html = owner_client.get(QUEUE).content.decode()
    for card in (tomorrow, sent, skipped):
        assert f'id="card-{card.pk}"' not in html


def test_today_is_the_workspaces_day_not_the_servers(owner_client, workspace, account, monkeypatch):
    # 20:00 UTC: already the 24th in Shanghai (the server's zone), still the 23rd in Los Angeles.
    monkeypatch.setattr(timezone, "now", lambda: datetime(2026, 11, 23, 20, 0, tzinfo=dt_timezone.utc))
    workspace.time_zone = "America/Los_Angeles"
    workspace.save()
    contact = ContactFactory(workspace=workspace, owner_account=account)
    due = lambda day: ManualSend.objects.create(  # noqa: E731
        workspace=workspace, account=account, contact=contact, ref=f"day:{day}", text=f"第{day}天", due_on=day
    )
    on_23rd, on_24th = due(datetime(2026, 11, 23).date()), due(datetime(2026, 11, 24).date())
    html = owner_client.get(QUEUE).content.decode()
    assert f'id="card-{on_23rd.pk}"' in html
    assert f'id="card-{on_24th.pk}"' not in html


def test_the_copy_text_is_shown_escaped(owner_client, account):
    make_card(account, text="<script>alert(1)</script>\n第二行")
    html = owner_client.get(QUEUE).content.decode()
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "data-copy-source" in html and "data-copy" in html


def test_the_card_shows_its_images_and_link_card(owner_client, account):
    card = make_card(
        account, images=["broadcasts/2026/11/a.jpg", "broadcasts/2026/11/b.png"],
        link={"title": "双十一海参礼盒", "description": "买二送一", "url": "https://shop.example.com/haishen"},
    )
    html = owner_client.get(QUEUE).content.decode()
    assert reverse("crm:send_today_image", args=[card.pk, 0]) in html
    assert reverse("crm:send_today_image", args=[card.pk, 1]) in html
    assert reverse("crm:send_today_images", args=[card.pk]) in html
    assert "双十一海参礼盒" in html and "买二送一" in html
    assert 'href="https://shop.example.com/haishen"' in html


def test_a_link_card_that_is_no_web_address_is_not_made_a_link(owner_client, account):
    make_card(account, link={"title": "看这里", "url": "javascript:alert(1)"})
    html = owner_client.get(QUEUE).content.decode()
    assert 'href="javascript:' not in html
    assert "javascript:alert(1)" in html  # shown as text


def test_a_card_for_a_customer_who_opted_out_since_says_to_skip(owner_client, account):
    contact = ContactFactory(workspace=account.workspace, owner_account=account, opted_out_at=timezone.now())
    make_card(account, contact)
    html = owner_client.get(QUEUE).content.decode()
    assert "badge-danger" in html


def test_the_queue_pages_fifty_cards_per_account(owner_client, account):
    contact = ContactFactory(workspace=account.workspace, owner_account=account)
    ManualSend.objects.bulk_create(
        [
            ManualSend(workspace=account.workspace, account=account, contact=contact, ref=f"bulk:{n}", text=f"第{n}条",
                       due_on=today_of(account.workspace))
            for n in range(60)
        ]
    )
    first = owner_client.get(QUEUE).content.decode()
    assert first.count("data-card ") == 50
    second = owner_client.get(QUEUE, {"account": account.pk, "page": 2}).content.decode()
    assert second.count("data-card ") == 10


def test_the_counts_are_one_grouped_query(owner, account, other_account, django_assert_num_queries):
    make_card(account), make_card(account), make_card(other_account, days_ago=3)
    owner.workspace  # loaded already on a request (the middleware selects it)
    with django_assert_num_queries(1):
        counts = selectors.send_today_counts(member=owner, today=today_of(owner.workspace))
    assert counts == {
        account.pk: selectors.SendTodayCount(pending=2, overdue=0),
        other_account.pk: selectors.SendTodayCount(pending=1, overdue=1),
    }


def test_a_broadcast_through_the_manual_channel_lands_in_the_queue(owner_client, workspace, account):
    contact = ContactFactory(workspace=workspace, owner_account=account, remark_name="王姐")
    message = Message(ref="bd:1", workspace_id=workspace.pk, account_id=account.pk, contact_id=contact.pk, text="王姐，周末福利")
    ManualChannel().send([message])
    ManualChannel().send([message])  # handed over twice: one card
    html = owner_client.get(QUEUE).content.decode()
    assert html.count("王姐，周末福利") == 1


# Images ----------------------------------------------------------------------------------------------------------------


def test_download_all_is_a_zip_of_the_cards_images(owner_client, account):
    first = default_storage.save("broadcasts/2026/11/haishen.jpg", ContentFile(b"\xff\xd8jpeg-bytes"))
    second = default_storage.save("broadcasts/2026/11/price.png", ContentFile(b"\x89PNG-bytes"))
    card = make_card(account, images=[first, second])
    make_card(account, images=[default_storage.save("broadcasts/2026/11/other.jpg", ContentFile(b"other"))])
    response = owner_client.get(reverse("crm:send_today_images", args=[card.pk]))
    assert response.status_code == 200
    assert response["Content-Type"] == "application/zip"
    assert "attachment" in response["Content-Disposition"]
    archive = zipfile.ZipFile(io.BytesIO(response.content))
    assert archive.namelist() == ["01-haishen.jpg", "02-price.png"]
    assert archive.read("01-haishen.jpg") == b"\xff\xd8jpeg-bytes"
    assert archive.read("02-price.png") == b"\x89PNG-bytes"


def test_a_card_without_images_has_no_zip(owner_client, account):
    card = make_card(account)
    assert owner_client.get(reverse("crm:send_today_images", args=[card.pk])).status_code == 404


def test_an_image_is_served_through_its_card_only(owner_client, account):
    name = default_storage.save("broadcasts/2026/11/haishen.jpg", ContentFile(b"\xff\xd8jpeg-bytes"))
    card = make_card(account, images=[name])
    response = owner_client.get(reverse("crm:send_today_image", args=[card.pk, 0]))
    assert response.status_code == 200
    assert response["Content-Type"] == "image/jpeg"
    assert b"".join(response.streaming_content) == b"\xff\xd8jpeg-bytes"
    assert owner_client.get(reverse("crm:send_today_image", args=[card.pk, 1])).status_code == 404


# The navigation ------------------------------------------------------------------------------------------------------


def test_every_page_links_to_the_queue_and_loads_its_count(owner_client, account):
    html = owner_client.get(reverse("crm:contact_list")).content.decode()
    assert f'href="{QUEUE}"' in html
    assert reverse("crm:send_today_count") in html


def test_the_count_badge_counts_what_the_member_can_work(owner_client, limited, account, other_account):
    make_card(account), make_card(account, days_ago=2), make_card(other_account)
    make_card(account, days_ago=-1), make_card(account, status=ManualSend.Status.SENT)
    html = owner_client.get(reverse("crm:send_today_count")).content.decode()
    assert 'id="send-today-count"' in html and ">3<" in html
    assert ">2<" in client_for(limited).get(reverse("crm:send_today_count")).content.decode()


def test_the_page_speaks_chinese_by_default(owner_client, account):
    make_card(account)
    html = owner_client.get(QUEUE).content.decode()
    assert "今日待发" in html
    assert "已复制并发送" in html
