"""Moments through WeCom: a due post becomes a moment task, published once the staff member posts it, and its likes
and comments come back as engagement, each once."""

from datetime import timedelta

import pytest
from django.core.files.base import ContentFile
from django.utils import timezone

from crm.models import TimelineEvent
from moments import publishing
from moments.models import Engagement, Post, PostImage, Publication
from tests.factories import ContactFactory, MemberFactory, TagFactory
from wecom import moments, tasks
from wecom.models import MomentTask, WeComTag

pytestmark = pytest.mark.django_db

ADD = "externalcontact/add_moment_task"


def due_post(workspace, account, *, text="今天到货的野生海参", **fields) -> Post:
    post = Post.objects.create(workspace=workspace, text=text, status=Post.Status.SCHEDULED,
                               scheduled_at=timezone.now() - timedelta(minutes=1), **fields)
    Publication.objects.create(workspace=workspace, post=post, account=account)
    return post


def later(minutes=20):
    return timezone.now() + timedelta(minutes=minutes)


@pytest.fixture
def published(workspace, seller, credentials, wecom):
    """A post handed to WeCom, created as moment mom1 and posted by the staff member."""
    post = due_post(workspace, seller)
    publishing.moments_tick()
    wecom.finish_job("job1", "mom1")
    wecom.publish("mom1", "zhangsan", viewers=["wm1", "wm2", "wm3"])
    moments.moment_tasks_poll()
    return post


def test_a_due_post_becomes_a_moment_task_of_the_accounts_staff_member(workspace, seller, credentials, wecom):
    post = due_post(workspace, seller)
    assert publishing.moments_tick() == 1
    [(_, body)] = wecom.server.calls_to(ADD)
    assert body == {"text": {"content": "今天到货的野生海参"},
                    "visible_range": {"sender_list": {"user_list": ["zhangsan"]}}}
    assert post.publications.get().status == Publication.Status.PENDING
    assert MomentTask.objects.get().jobid == "job1"


def test_a_post_handed_to_wecom_is_not_a_card_in_the_send_today_queue(workspace, seller, credentials, wecom, owner):
    from moments.selectors import publications_to_post

    due_post(workspace, seller)
    publishing.moments_tick()
    assert not publications_to_post(member=owner, today=timezone.localdate()).exists()


def test_pictures_are_uploaded_as_moment_attachments(workspace, seller, credentials, wecom):
    post = due_post(workspace, seller)
    PostImage.objects.create(post=post, image=ContentFile(b"\xff\xd8jpeg", name="a.jpg"),
                             thumbnail=ContentFile(b"\xff\xd8", name="t.jpg"))
    publishing.moments_tick()
    [upload] = wecom.uploads
    assert (upload["media_type"], upload["attachment_type"]) == ("image", "1")
    [(_, body)] = wecom.server.calls_to(ADD)
    assert body["attachments"] == [{"msgtype": "image", "image": {"media_id": "media-1"}}]


def test_a_link_goes_as_a_link_attachment(workspace, seller, credentials, wecom):
    due_post(workspace, seller, text="", link={"title": "秋季上新", "url": "https://shop.example.com/new"})
    publishing.moments_tick()
    [(_, body)] = wecom.server.calls_to(ADD)
    assert body["attachments"] == [{"msgtype": "link", "link": {"title": "秋季上新",
                                                                "url": "https://shop.example.com/new"}}]


def test_a_post_for_tags_is_shown_to_their_corp_tags(workspace, seller, credentials, wecom):
    vip, new = TagFactory(workspace=workspace, name="VIP"), TagFactory(workspace=workspace, name="新客")
    WeComTag.objects.create(workspace=workspace, tag=vip, wecom_id="etVIP")
    due_post(workspace, seller, visibility=Post.Visibility.ONLY_TAGS, visibility_tags=[vip.pk, new.pk])
    publishing.moments_tick()
    [(_, body)] = wecom.server.calls_to(ADD)
    assert body["visible_range"]["external_contact_list"] == {"tag_list": ["etVIP"]}


def test_a_post_for_tags_without_corp_tags_is_shown_to_all_the_accounts_customers(workspace, seller, credentials,
                                                                                  wecom):
    vip = TagFactory(workspace=workspace, name="VIP")
    due_post(workspace, seller, visibility=Post.Visibility.ONLY_TAGS, visibility_tags=[vip.pk])
    publishing.moments_tick()
    [(_, body)] = wecom.server.calls_to(ADD)
    assert "external_contact_list" not in body["visible_range"]


def test_the_publication_is_published_once_the_staff_member_posts_it(workspace, seller, credentials, wecom):
    post = due_post(workspace, seller)
    publishing.moments_tick()
    moments.moment_tasks_poll()
    assert MomentTask.objects.get().status == MomentTask.Status.CREATING  # WeCom still creating it
    wecom.finish_job("job1", "mom1")
    moments.moment_tasks_poll(now=later())
    assert MomentTask.objects.get().status == MomentTask.Status.WAITING
    assert post.publications.get().status == Publication.Status.PENDING
    wecom.publish("mom1", "zhangsan", viewers=["wm1", "wm2"])
    moments.moment_tasks_poll(now=later(40))
    publication = post.publications.get()
    assert (publication.status, publication.audience_size) == (Publication.Status.PUBLISHED, 2)


def test_a_moment_wecom_refuses_fails_the_publication_with_the_reason(workspace, seller, credentials, wecom):
    post = due_post(workspace, seller)
    publishing.moments_tick()
    wecom.finish_job("job1", errcode=41001)
    moments.moment_tasks_poll()
    publication = post.publications.get()
    assert publication.status == Publication.Status.FAILED and "41001" in publication.error


def test_a_post_nobody_posts_within_seven_days_fails(workspace, seller, credentials, wecom):
    post = due_post(workspace, seller)
    publishing.moments_tick()
    wecom.finish_job("job1", "mom1")
    moments.moment_tasks_poll(now=timezone.now() + moments.FOLLOW_DAYS + timedelta(hours=1))
    assert post.publications.get().status == Publication.Status.FAILED


def test_likes_and_comments_become_engagement_on_the_contacts_timeline(workspace, seller, published, wecom):
    li = ContactFactory(workspace=workspace, owner_account=seller, external_id="wm1")
    wecom.like("mom1", "wm1")
    wecom.comment("mom1", "wm1")
    wecom.like("mom1", "wmSTRANGER")  # not in the book
    moments.moment_tasks_poll(now=later())
    assert sorted(published.engagements.values_list("contact_id", "kind")) == [(li.pk, "comment"), (li.pk, "like")]
    assert set(TimelineEvent.objects.filter(contact=li).values_list("kind", flat=True)) == {
        "moment_liked", "moment_commented"}


def test_a_like_fetched_twice_is_one_engagement(workspace, seller, published, wecom):
    ContactFactory(workspace=workspace, owner_account=seller, external_id="wm1")
    wecom.like("mom1", "wm1")
    wecom.comment("mom1", "wm1", at=1700000200)
    moments.moment_tasks_poll(now=later())
    wecom.comment("mom1", "wm1", at=1700000300)  # a second comment is a second engagement
    moments.moment_tasks_poll(now=later(40))
    assert Engagement.objects.filter(kind="like").count() == 1
    assert Engagement.objects.filter(kind="comment").count() == 2


def test_a_like_recorded_by_hand_is_not_recorded_again(workspace, seller, published, wecom, owner):
    from moments import services

    li = ContactFactory(workspace=workspace, owner_account=seller, external_id="wm1")
    services.engagement_add(post=published, member=owner, contact_id=li.pk, kind="like")
    wecom.like("mom1", "wm1")
    moments.moment_tasks_poll(now=later())
    assert Engagement.objects.filter(kind="like").count() == 1


def test_a_task_just_asked_about_waits_for_the_next_round(workspace, seller, credentials, wecom):
    due_post(workspace, seller)
    publishing.moments_tick()
    moments.moment_tasks_poll()
    moments.moment_tasks_poll()
    assert len(wecom.server.calls_to("externalcontact/get_moment_task_result")) == 1


def test_a_task_whose_call_did_not_get_through_is_made_again(workspace, seller, credentials, wecom, fake_wecom,
                                                             settings):
    settings.WECOM_MAX_ATTEMPTS = 1
    fake_wecom.fail_next(ADD, 45009)
    post = due_post(workspace, seller)
    publishing.moments_tick()
    assert post.publications.get().status == Publication.Status.PENDING and not MomentTask.objects.get().jobid
    tasks.moment_tasks_poll()
    assert MomentTask.objects.get().jobid == "job1"
    assert len(wecom.server.calls_to(ADD)) == 2


def test_an_outsiders_contact_with_the_same_external_id_gets_no_engagement(workspace, seller, published, wecom):
    other = MemberFactory().workspace
    ContactFactory(workspace=other, external_id="wm1")
    wecom.like("mom1", "wm1")
    moments.moment_tasks_poll(now=later())
    assert not Engagement.objects.exists()
