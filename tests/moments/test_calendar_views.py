"""The week calendar per account (planned, published, missed), moving and duplicating posts, and a post's page:
as the owner, a teammate, a teammate limited to some accounts, and an outsider."""

from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.urls import reverse
from django.utils import timezone

from moments.models import Post, Publication
from tests.conftest import client_for
from tests.moments.conftest import ENGLISH, make_post

pytestmark = pytest.mark.django_db
SHANGHAI = ZoneInfo("Asia/Shanghai")


def local(day, hour=20):
    return datetime.combine(day, time(hour, 0), tzinfo=SHANGHAI)


@pytest.fixture
def week(workspace, manual_account):
    """A planned post tomorrow, one published today, one missed yesterday, and one of another account."""
    today = timezone.localdate(timezone.now(), SHANGHAI)
    planned = make_post(workspace, [manual_account], text="明天的新品", at=local(today + timedelta(days=1)))
    published = make_post(workspace, [manual_account], text="今天发过了", at=local(today, 0))
    published.publications.update(status=Publication.Status.PUBLISHED)
    missed = make_post(workspace, [manual_account], text="昨天忘了发", at=local(today - timedelta(days=1)))
    missed.publications.update(status=Publication.Status.PENDING)
    return {"planned": planned, "published": published, "missed": missed, "today": today}


def calendar_url(account, day=None):
    url = reverse("moments:calendar") + f"?account={account.pk}"
    return url + (f"&week={day.isoformat()}" if day else "")


def states_in(content: str) -> dict:
    import re

    return dict(re.findall(r'data-post="(\d+)" data-state="(\w+)"', content))


def test_the_owner_sees_the_week_with_planned_published_and_missed_posts(owner_client, manual_account, week):
    today = week["today"]
    seen = {}
    for day in {today, today + timedelta(days=1), today - timedelta(days=1)}:
        seen.update(states_in(owner_client.get(calendar_url(manual_account, day)).content.decode()))
    assert seen == {str(week["planned"].pk): "planned", str(week["published"].pk): "published",
                    str(week["missed"].pk): "missed"}


def test_a_teammate_sees_the_calendar_too(teammate_client, manual_account, week):
    response = teammate_client.get(calendar_url(manual_account, week["today"]))
    assert response.status_code == 200 and str(week["published"].pk) in states_in(response.content.decode())


def test_an_outsider_sees_none_of_it(outsider_client, manual_account, week):
    response = outsider_client.get(calendar_url(manual_account, week["today"]), **ENGLISH)
    assert response.status_code == 200 and not states_in(response.content.decode())
    assert outsider_client.get(reverse("moments:post_detail", args=[week["planned"].pk])).status_code == 404
    move = outsider_client.post(reverse("moments:post_move", args=[week["planned"].pk]), {"day": "2030-01-01"})
    assert move.status_code == 404


def test_a_limited_teammate_sees_only_their_accounts_posts(workspace, limited_staff, outbox_account, week):
    other = make_post(workspace, [outbox_account], text="别的号")
    staff = client_for(limited_staff)
    response = staff.get(calendar_url(outbox_account, week["today"]))
    assert str(other.pk) not in states_in(response.content.decode())  # falls back to their own account
    assert staff.get(reverse("moments:post_detail", args=[other.pk])).status_code == 404
    assert staff.get(reverse("moments:post_detail", args=[week["planned"].pk])).status_code == 200


def test_a_limited_teammate_cannot_change_a_post_that_also_goes_out_from_another_account(
        workspace, limited_staff, manual_account, outbox_account):
    shared = make_post(workspace, [manual_account, outbox_account])
    staff = client_for(limited_staff)
    assert staff.get(reverse("moments:post_detail", args=[shared.pk])).status_code == 200
    assert staff.get(reverse("moments:post_edit", args=[shared.pk])).status_code == 403
    assert staff.post(reverse("moments:post_duplicate", args=[shared.pk])).status_code == 403


def test_moving_a_post_keeps_its_time_of_day(owner_client, week):
    post = week["planned"]
    target = week["today"] + timedelta(days=3)
    response = owner_client.post(reverse("moments:post_move", args=[post.pk]), {"day": target.isoformat()})
    assert response.status_code == 302
    post.refresh_from_db()
    assert timezone.localtime(post.scheduled_at, SHANGHAI) == local(target)


def test_a_post_cannot_be_moved_into_the_past_or_once_handed_over(owner_client, week):
    planned, missed = week["planned"], week["missed"]
    before = planned.scheduled_at
    owner_client.post(reverse("moments:post_move", args=[planned.pk]),
                      {"day": (week["today"] - timedelta(days=2)).isoformat()})
    owner_client.post(reverse("moments:post_move", args=[missed.pk]), {"day": week["today"].isoformat()})
    planned.refresh_from_db()
    missed_before = missed.scheduled_at
    missed.refresh_from_db()
    assert planned.scheduled_at == before and missed.scheduled_at == missed_before


def test_duplicating_a_post_makes_a_draft_copy_with_its_pictures(owner, owner_client, manual_account, workspace):
    from moments import services
    from tests.moments.conftest import image_upload

    original = services.post_create(member=owner, text="可复用的文案", account_ids=[manual_account.pk],
                                    images=[image_upload()])
    response = owner_client.post(reverse("moments:post_duplicate", args=[original.pk]))
    copy = Post.objects.exclude(pk=original.pk).get()
    assert response.status_code == 302 and response["Location"] == reverse("moments:post_edit", args=[copy.pk])
    assert (copy.text, copy.status, copy.scheduled_at) == ("可复用的文案", Post.Status.DRAFT, None)
    assert copy.images.get().image.name != original.images.get().image.name
    assert list(copy.publications.values_list("account_id", "status")) == [(manual_account.pk, "waiting")]


def test_the_post_page_for_owner_teammate_and_outsider(owner_client, teammate_client, outsider_client, week):
    url = reverse("moments:post_detail", args=[week["published"].pk])
    assert owner_client.get(url).status_code == 200
    assert teammate_client.get(url).status_code == 200
    assert outsider_client.get(url).status_code == 404


def test_a_scheduled_post_can_go_back_to_draft_and_be_deleted(owner_client, week):
    post = week["planned"]
    owner_client.post(reverse("moments:post_unschedule", args=[post.pk]))
    post.refresh_from_db()
    assert post.status == Post.Status.DRAFT
    assert owner_client.get(reverse("moments:post_delete", args=[post.pk])).status_code == 200
    assert owner_client.post(reverse("moments:post_delete", args=[post.pk])).status_code == 302
    assert not Post.objects.filter(pk=post.pk).exists()
