"""Likes and comments recorded from a post's page: on each contact's timeline, in the "moments engagement" segment
condition, and in the post's numbers (with the audience's orders within three days)."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils import timezone

from crm import segments
from crm.models import TimelineEvent
from moments import publishing, selectors, services
from moments.models import Engagement
from tests.factories import ContactFactory, OrderFactory, WorkspaceFactory
from tests.moments.conftest import ENGLISH, make_post

pytestmark = pytest.mark.django_db


@pytest.fixture
def published(workspace, outbox_account, customers):
    post = make_post(workspace, [outbox_account], at=timezone.now())
    publishing.moments_tick()
    return post


def engagement_rule(kind="either", days=30):
    return {"version": 1, "root": {"op": "and", "not": False, "children": [
        {"field": "moment_engagement", "not": False, "kind": kind, "within_days": days}]}}


def matching(workspace, rule):
    return set(segments.segment_contacts(workspace=workspace, rule=rule).values_list("pk", flat=True))


def test_a_like_and_a_comment_appear_on_the_contacts_timeline(owner_client, published, customers, outbox_account):
    fan = customers[outbox_account.pk][1]
    url = reverse("moments:engagement_add", args=[published.pk])
    owner_client.post(url, {"contact": fan.pk, "kind": "like"})
    owner_client.post(url, {"contact": fan.pk, "kind": "like"})  # a second like is the first one
    owner_client.post(url, {"contact": fan.pk, "kind": "comment", "comment": "多少钱一斤？"})
    kinds = list(TimelineEvent.objects.filter(contact=fan).values_list("kind", flat=True))
    assert sorted(kinds) == ["moment_commented", "moment_liked"]
    page = owner_client.get(reverse("crm:contact_detail", args=[fan.pk]), **ENGLISH).content.decode()
    assert "Liked a moments post" in page and "多少钱一斤？" in page


def test_the_segment_condition_finds_who_engaged_within_the_days(owner, workspace, published, customers,
                                                                 outbox_account):
    liker, commenter, quiet = customers[outbox_account.pk]
    services.engagement_add(post=published, member=owner, contact_id=liker.pk, kind="like")
    services.engagement_add(post=published, member=owner, contact_id=commenter.pk, kind="comment", comment="好")
    old = services.engagement_add(post=published, member=owner, contact_id=quiet.pk, kind="like",
                                  occurred_at=timezone.now() - timedelta(days=40))
    assert matching(workspace, engagement_rule("liked")) == {liker.pk}
    assert matching(workspace, engagement_rule("commented")) == {commenter.pk}
    assert matching(workspace, engagement_rule("either")) == {liker.pk, commenter.pk}
    assert matching(workspace, engagement_rule("either", days=60)) == {liker.pk, commenter.pk, quiet.pk}
    services.engagement_remove(engagement=old, member=owner)
    assert matching(workspace, engagement_rule("liked", days=60)) == {liker.pk}
    assert not TimelineEvent.objects.filter(contact=quiet).exists()


def test_the_condition_is_validated_and_offered_in_the_builder(workspace, owner_client):
    with pytest.raises(ValidationError):
        segments.validate_rule(workspace=workspace, rule=engagement_rule(kind="shared"))
    assert segments.validate_rule(workspace=workspace, rule=engagement_rule())["root"]["children"][0] == {
        "field": "moment_engagement", "not": False, "kind": "either", "within_days": 30}
    response = owner_client.post(reverse("crm:segment_builder"), {
        "rule": '{"version": 1, "root": {"op": "and", "not": false, "children": []}}',
        "action": "add_condition:r", "r.new_field": "moment_engagement",
    }, **ENGLISH)
    assert response.status_code in (200, 400) and 'name="r_0.kind"' in response.content.decode()


def test_a_contact_of_another_workspace_is_refused(owner, owner_client, published):
    stranger = ContactFactory(workspace=WorkspaceFactory())
    with pytest.raises(ValidationError, match="contact of this workspace"):
        services.engagement_add(post=published, member=owner, contact_id=stranger.pk, kind="like")
    response = owner_client.post(reverse("moments:engagement_add", args=[published.pk]),
                                 {"contact": stranger.pk, "kind": "like"}, follow=True, **ENGLISH)
    assert "contact of this workspace" in response.content.decode()
    assert not Engagement.objects.exists() and not TimelineEvent.objects.filter(contact=stranger).exists()


def test_a_comment_needs_its_text_and_a_post_must_have_gone_out(owner, workspace, published, manual_account,
                                                                customers):
    fan = customers[manual_account.pk][0]
    with pytest.raises(ValidationError, match="Enter the comment"):
        services.engagement_add(post=published, member=owner, contact_id=fan.pk, kind="comment", comment=" ")
    planned = make_post(workspace, [manual_account])
    with pytest.raises(ValidationError, match="once the post has gone out"):
        services.engagement_add(post=planned, member=owner, contact_id=fan.pk, kind="like")


def test_the_candidate_search_offers_only_contacts_the_member_sees(owner_client, outsider_client, published,
                                                                  customers, outbox_account):
    fan = customers[outbox_account.pk][0]
    url = reverse("moments:engagement_candidates", args=[published.pk]) + f"?q={fan.remark_name}"
    assert f'data-contact="{fan.pk}"' in owner_client.get(url).content.decode()
    assert outsider_client.get(url).status_code == 404


def test_the_post_counts_likes_comments_and_the_audiences_orders_within_three_days(owner, owner_client, workspace,
                                                                                    published, customers,
                                                                                    outbox_account):
    fans = customers[outbox_account.pk]
    services.engagement_add(post=published, member=owner, contact_id=fans[0].pk, kind="like")
    services.engagement_add(post=published, member=owner, contact_id=fans[1].pk, kind="comment", comment="想要")
    at = published.publications.get().published_at
    OrderFactory(contact=fans[1], amount=Decimal("299.00"), placed_at=at + timedelta(days=1))
    OrderFactory(contact=fans[2], amount=Decimal("99.00"), placed_at=at + timedelta(days=4))  # too late
    OrderFactory(contact=ContactFactory(workspace=workspace), placed_at=at + timedelta(hours=1))  # not the audience
    OrderFactory(contact=fans[0], placed_at=at + timedelta(hours=2), refunded_at=at + timedelta(days=2))  # no sale
    stats = selectors.post_stats(post=published)
    assert (stats.audience, stats.likes, stats.comments, stats.orders, stats.order_amount) == (
        3, 1, 1, 1, Decimal("299.00"))
    page = owner_client.get(reverse("moments:post_detail", args=[published.pk])).content.decode()
    assert 'data-stat="orders">1<' in page and 'data-stat="likes">1<' in page
