"""Who sees a post: everyone, only tags X (部分可见) or everyone but tags Y (不给谁看), always among the friends of
the accounts that post it, resolved by the segment selector and shown as a count."""

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from crm import segments
from moments import selectors, services
from moments.models import Post
from tests.factories import TagFactory, WorkspaceFactory
from tests.moments.conftest import ENGLISH

pytestmark = pytest.mark.django_db


def resolved(workspace, account_ids, visibility, tags=()):
    rule = selectors.audience_rule(account_ids=account_ids, visibility=visibility, tag_ids=[t.pk for t in tags])
    return set(segments.segment_contacts(workspace=workspace, rule=rule).values_list("pk", flat=True))


def test_everyone_is_every_friend_of_the_chosen_accounts_only(workspace, manual_account, customers):
    assert resolved(workspace, [manual_account.pk], Post.Visibility.EVERYONE) == {
        c.pk for c in customers[manual_account.pk]
    }


def test_only_tags_is_the_tagged_friends_of_the_chosen_accounts(workspace, manual_account, outbox_account,
                                                                customers, vip_tag):
    assert resolved(workspace, [manual_account.pk], Post.Visibility.ONLY_TAGS, [vip_tag]) == {
        customers[manual_account.pk][0].pk
    }
    both = resolved(workspace, [manual_account.pk, outbox_account.pk], Post.Visibility.ONLY_TAGS, [vip_tag])
    assert both == {customers[manual_account.pk][0].pk, customers[outbox_account.pk][0].pk}


def test_except_tags_is_every_friend_of_the_chosen_accounts_but_the_tagged(workspace, manual_account, customers,
                                                                           vip_tag):
    assert resolved(workspace, [manual_account.pk], Post.Visibility.EXCEPT_TAGS, [vip_tag]) == {
        c.pk for c in customers[manual_account.pk][1:]
    }


def test_the_count_is_stored_on_each_publication_when_it_goes_out(workspace, manual_account, outbox_account,
                                                                   customers, vip_tag):
    from django.utils import timezone

    from moments import publishing
    from tests.moments.conftest import make_post

    post = make_post(workspace, [manual_account, outbox_account], at=timezone.now(),
                     visibility=Post.Visibility.EXCEPT_TAGS, tags=[vip_tag])
    publishing.moments_tick()
    assert sorted(post.publications.values_list("audience_size", flat=True)) == [2, 2]
    assert selectors.post_stats(post=post).audience == 4


def test_the_composer_preview_shows_the_count(owner_client, manual_account, customers, vip_tag):
    response = owner_client.post(reverse("moments:post_preview"), {
        "text": "只给VIP看", "accounts": [manual_account.pk], "visibility": "only_tags", "visibility_tags": [vip_tag.pk],
    }, **ENGLISH)
    assert response.status_code == 200
    assert 'data-audience="1"' in response.content.decode()
    assert "Visible to 1 customer of the chosen accounts." in response.content.decode()


def test_tags_are_needed_to_narrow_and_must_be_the_workspaces(owner, manual_account):
    with pytest.raises(ValidationError, match="Choose the tags"):
        services.post_create(member=owner, text="x", account_ids=[manual_account.pk],
                             visibility=Post.Visibility.ONLY_TAGS)
    stranger = TagFactory(workspace=WorkspaceFactory())
    with pytest.raises(ValidationError, match="tags of this workspace"):
        services.post_create(member=owner, text="x", account_ids=[manual_account.pk],
                             visibility=Post.Visibility.EXCEPT_TAGS, tag_ids=[stranger.pk])
    assert not Post.objects.exists()


def test_a_limited_teammate_posts_from_their_own_accounts_only(limited_staff, manual_account, outbox_account):
    with pytest.raises(ValidationError, match="assigned to you"):
        services.post_create(member=limited_staff, text="x", account_ids=[outbox_account.pk])
    post = services.post_create(member=limited_staff, text="x", account_ids=[manual_account.pk])
    assert list(post.publications.values_list("account_id", flat=True)) == [manual_account.pk]
