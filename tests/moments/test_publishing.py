"""Publishing: due posts found by the tick, each account's publication claimed once; through the manual channel a
"post now" card in the send-today queue (text to copy, the pictures in one zip, posted / skip), through the
outbox channel published at once."""

import io
import zipfile
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from crm.models import WeChatAccount
from moments import publishing, services, tasks
from moments.models import Post, PostImage, Publication
from tests.factories import WeChatAccountFactory
from tests.moments.conftest import ENGLISH, image_upload, make_post

pytestmark = pytest.mark.django_db


def due_post(workspace, accounts, **fields):
    return make_post(workspace, accounts, at=timezone.now() - timedelta(minutes=1), **fields)


def statuses(post):
    return dict(post.publications.values_list("account__name", "status"))


def test_the_tick_publishes_a_due_post_once_per_account_however_often_it_runs(workspace, manual_account,
                                                                              outbox_account, customers):
    post = due_post(workspace, [manual_account, outbox_account])
    assert publishing.moments_tick() == 2
    assert publishing.moments_tick() == 0
    tasks.moments_tick.delay()
    assert statuses(post) == {"手动号": "pending", "测试号": "published"}
    outbox = post.publications.get(account=outbox_account)
    assert outbox.audience_size == 3 and outbox.published_at is not None


def test_the_publish_task_delivered_twice_publishes_once(workspace, outbox_account, customers):
    post = due_post(workspace, [outbox_account])
    publication = post.publications.get()
    assert publishing.publication_publish(publication_id=publication.pk) is True
    assert publishing.publication_publish(publication_id=publication.pk) is False
    tasks.post_publish_due.delay(post.pk)
    publication.refresh_from_db()
    assert publication.status == Publication.Status.PUBLISHED and publication.audience_size == 3


def test_a_claim_lost_to_another_worker_hands_nothing_over(workspace, outbox_account, monkeypatch):
    """Two workers read the same due row; the second's conditional update matches nothing, so it publishes
    nothing."""
    post = due_post(workspace, [outbox_account])
    publication = post.publications.get()
    handed = []
    monkeypatch.setitem(publishing._PUBLISHERS, "outbox", lambda p: handed.append(p.pk) or ("published", ""))
    Publication.objects.filter(pk=publication.pk).update(status=Publication.Status.PENDING)  # the other worker won
    assert publishing.publication_publish(publication_id=publication.pk) is False
    assert handed == []


def test_a_post_not_due_a_draft_or_a_deleted_one_is_not_published(workspace, outbox_account):
    later = make_post(workspace, [outbox_account], at=timezone.now() + timedelta(hours=1))
    draft = due_post(workspace, [outbox_account], status=Post.Status.DRAFT)
    assert publishing.moments_tick() == 0
    assert set(Publication.objects.values_list("status", flat=True)) == {"waiting"}
    assert later.pk and draft.pk
    assert publishing.publication_publish(publication_id=999_999) is False


def test_a_wecom_account_of_a_workspace_without_wecom_set_up_fails_with_the_reason(workspace):
    wecom = WeChatAccountFactory(workspace=workspace, channel=WeChatAccount.Channel.WECOM)
    post = due_post(workspace, [wecom])
    publishing.moments_tick()
    publication = post.publications.get()
    assert publication.status == Publication.Status.FAILED and "not set up" in publication.error


def test_publishing_now_from_the_composer_hands_the_post_over_at_once(owner_client, workspace, outbox_account,
                                                                      django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        response = owner_client.post(reverse("moments:post_create"), {
            "text": "现在发", "accounts": [outbox_account.pk], "visibility": "everyone", "action": "now",
        })
    assert response.status_code == 302
    assert Publication.objects.get().status == Publication.Status.PUBLISHED


# The send-today queue ------------------------------------------------------------------------------------------------


@pytest.fixture
def card(workspace, manual_account, owner):
    post = services.post_create(member=owner, text="新品到了 <script>alert(1)</script>",
                                account_ids=[manual_account.pk], images=[image_upload(name="一.jpg"),
                                                                         image_upload(name="二.jpg")])
    Post.objects.filter(pk=post.pk).update(status=Post.Status.SCHEDULED,
                                           scheduled_at=timezone.now() - timedelta(minutes=1))
    publishing.moments_tick()
    return post.publications.get()


def test_a_manual_post_is_a_card_in_the_send_today_queue_with_its_text_and_zip(owner_client, card):
    response = owner_client.get(reverse("crm:send_today") + f"?account={card.account_id}", **ENGLISH)
    content = response.content.decode()
    assert f'id="moment-card-{card.pk}"' in content and "Post to moments now" in content
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in content and "<script>alert(1)" not in content
    assert reverse("moments:publication_images", args=[card.pk]) in content
    count = owner_client.get(reverse("crm:send_today_count"))
    assert ">1<" in count.content.decode()


def test_the_zip_holds_every_picture_for_members_only(owner_client, teammate_client, outsider_client, client,
                                                      limited_staff, card, workspace):
    from tests.conftest import client_for

    url = reverse("moments:publication_images", args=[card.pk])
    response = owner_client.get(url)
    assert response.status_code == 200 and response["Content-Type"] == "application/zip"
    archive = zipfile.ZipFile(io.BytesIO(b"".join(response.streaming_content)))
    assert [name[:3] for name in archive.namelist()] == ["01-", "02-"]
    assert archive.read(archive.namelist()[0]) == PostImage.objects.filter(post=card.post).first().image.read()
    assert teammate_client.get(url).status_code == 200
    assert client_for(limited_staff).get(url).status_code == 200  # the manual account is theirs
    assert outsider_client.get(url).status_code == 404
    assert client.get(url).status_code == 302


def test_a_limited_teammate_gets_no_zip_of_another_accounts_post(workspace, outbox_account, owner):
    from tests.conftest import client_for
    from tests.factories import MemberFactory

    other = MemberFactory(workspace=workspace, limited_to_assigned_accounts=True)
    other.assigned_accounts.add(outbox_account)
    manual = WeChatAccountFactory(workspace=workspace, channel=WeChatAccount.Channel.MANUAL)
    post = services.post_create(member=owner, text="x", account_ids=[manual.pk], images=[image_upload()])
    Post.objects.filter(pk=post.pk).update(status=Post.Status.SCHEDULED, scheduled_at=timezone.now())
    publishing.moments_tick()
    url = reverse("moments:publication_images", args=[post.publications.get().pk])
    assert client_for(other).get(url).status_code == 404


def test_marking_a_card_posted_twice_publishes_it_once(owner_client, teammate_client, teammate, card):
    url = reverse("moments:publication_mark", args=[card.pk])
    first = owner_client.post(url, {"status": "published"}, HTTP_HX_REQUEST="true", **ENGLISH)
    assert first.status_code == 200 and "Posted" in first.content.decode()
    second = teammate_client.post(url, {"status": "skipped"}, HTTP_HX_REQUEST="true", **ENGLISH)
    assert "Already done by" in second.content.decode()
    card.refresh_from_db()
    assert card.status == Publication.Status.PUBLISHED and card.published_at is not None
    queue = owner_client.get(reverse("crm:send_today") + f"?account={card.account_id}")
    assert f'id="moment-card-{card.pk}"' not in queue.content.decode()


def test_a_card_can_be_skipped_and_a_bad_status_is_refused(owner_client, outsider_client, card):
    url = reverse("moments:publication_mark", args=[card.pk])
    assert owner_client.post(url, {"status": "waiting"}).status_code == 400
    assert outsider_client.post(url, {"status": "skipped"}).status_code == 404
    assert owner_client.post(url, {"status": "skipped"}).status_code == 302
    card.refresh_from_db()
    assert card.status == Publication.Status.SKIPPED
