"""The composer: drafts and scheduled posts, clear errors that save nothing, text escaped, CSRF checked, and the
live preview (WeChat's grid and the "全文" fold), as the owner, a teammate and an outsider."""

from datetime import timedelta

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from moments.models import Post, Publication
from tests.moments.conftest import ENGLISH, image_upload, make_post

pytestmark = pytest.mark.django_db


def compose(client, **fields):
    data = {"text": "今天的新品", "visibility": "everyone", "action": "draft", **fields}
    return client.post(reverse("moments:post_create"), data, **ENGLISH)


def test_the_owner_and_a_teammate_open_the_composer_and_an_outsider_gets_no_account_of_ours(
        owner_client, teammate_client, outsider_client, manual_account):
    for client in (owner_client, teammate_client):
        response = client.get(reverse("moments:post_create") + f"?account={manual_account.pk}&day=2030-01-02")
        assert response.status_code == 200 and manual_account.name in response.content.decode()
        assert 'value="2030-01-02T20:00"' in response.content.decode()
    assert manual_account.name not in outsider_client.get(reverse("moments:post_create")).content.decode()


def test_a_draft_is_saved_with_its_accounts(owner_client, workspace, manual_account, outbox_account):
    response = compose(owner_client, accounts=[manual_account.pk, outbox_account.pk])
    post = Post.objects.get(workspace=workspace)
    assert response.status_code == 302 and post.status == Post.Status.DRAFT
    assert set(post.publications.values_list("account_id", flat=True)) == {manual_account.pk, outbox_account.pk}


def test_scheduling_needs_a_time_in_the_future_and_saves_nothing_otherwise(owner_client, workspace,
                                                                           manual_account):
    response = compose(owner_client, accounts=[manual_account.pk], action="schedule")
    assert response.status_code == 400 and "Choose the date and time" in response.content.decode()
    response = compose(owner_client, accounts=[manual_account.pk], action="schedule",
                       scheduled_at="2020-01-01T20:00")
    assert response.status_code == 400 and "has passed" in response.content.decode()
    response = compose(owner_client, accounts=[manual_account.pk], action="schedule", scheduled_at="tomorrow")
    assert response.status_code == 400 and "such as 2026-11-11 20:00" in response.content.decode()
    assert not Post.objects.exists()
    later = (timezone.localtime(timezone.now()) + timedelta(days=2)).strftime("%Y-%m-%dT20:00")
    assert compose(owner_client, accounts=[manual_account.pk], action="schedule", scheduled_at=later).status_code == 302
    assert Post.objects.get().status == Post.Status.SCHEDULED


def test_bad_input_gets_clear_errors(owner_client, manual_account):
    assert "Choose the WeChat accounts" in compose(owner_client).content.decode()
    both = compose(owner_client, accounts=[manual_account.pk], link_title="店铺", link_url="https://example.com",
                   images=[image_upload()])
    assert both.status_code == 400 and "images or a link card, not both" in both.content.decode()
    bad_link = compose(owner_client, accounts=[manual_account.pk], link_title="店铺", link_url="javascript:alert(1)")
    assert bad_link.status_code == 400 and "http:// or https://" in bad_link.content.decode()
    too_long = compose(owner_client, accounts=[manual_account.pk], text="好" * 2001)
    assert too_long.status_code == 400
    assert not Post.objects.exists()


def test_script_in_the_text_is_shown_as_text(owner_client, workspace, manual_account):
    compose(owner_client, accounts=[manual_account.pk], text="<script>alert('x')</script>")
    page = owner_client.get(reverse("moments:post_detail", args=[Post.objects.get().pk])).content.decode()
    assert "<script>alert(" not in page and "&lt;script&gt;alert(" in page


def test_every_form_checks_its_csrf_token(owner, workspace, manual_account):
    client = Client(enforce_csrf_checks=True)
    client.force_login(owner.user)
    post = make_post(workspace, [manual_account])
    for url, data in ((reverse("moments:post_create"), {"accounts": [manual_account.pk], "action": "draft"}),
                      (reverse("moments:post_move", args=[post.pk]), {"day": "2030-01-01"}),
                      (reverse("moments:post_duplicate", args=[post.pk]), {})):
        assert client.post(url, data).status_code == 403
    assert Post.objects.count() == 1


def test_a_link_card_with_a_cover_is_saved_and_previewed(owner_client, workspace, manual_account):
    response = compose(owner_client, accounts=[manual_account.pk], link_title="冬季上新",
                       link_description="野生海参", link_url="shop.example.com/new", link_cover=image_upload())
    post = Post.objects.get()
    assert response.status_code == 302 and post.link["url"] == "https://shop.example.com/new" and post.link_cover
    page = owner_client.get(reverse("moments:post_detail", args=[post.pk])).content.decode()
    assert reverse("moments:post_cover", args=[post.pk]) in page and "冬季上新" in page


@pytest.mark.parametrize("count, grid", [(1, "one"), (4, "four"), (5, "three"), (9, "three")])
def test_the_preview_lays_out_the_pictures_as_wechat_does(owner, owner_client, manual_account, count, grid):
    from moments import services

    post = services.post_create(member=owner, account_ids=[manual_account.pk],
                                images=[image_upload(size=(30, 30)) for _ in range(count)])
    response = owner_client.post(reverse("moments:post_preview"), {"post": post.pk, "accounts": [manual_account.pk]})
    assert f'class="moment-grid {grid}"' in response.content.decode()


def test_a_long_text_is_folded_behind_full_text(owner_client, manual_account):
    short = owner_client.post(reverse("moments:post_preview"), {"text": "短文"}, **ENGLISH).content.decode()
    long = owner_client.post(reverse("moments:post_preview"), {"text": "\n".join("第%d行" % n for n in range(8))},
                             **ENGLISH).content.decode()
    assert "data-fold-toggle" not in short
    assert "moment-text folded" in long and ">Full text</button>" in long


def test_editing_is_refused_once_the_post_is_handed_over(owner_client, workspace, manual_account):
    post = make_post(workspace, [manual_account], at=timezone.now())
    post.publications.update(status=Publication.Status.PENDING)
    response = owner_client.get(reverse("moments:post_edit", args=[post.pk]))
    assert response.status_code == 302 and response["Location"] == reverse("moments:post_detail", args=[post.pk])
