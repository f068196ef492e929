"""The contact list keeps its rows, counts and filter choices cached until the book changes: every change a
seller makes shows on the next list request."""

import pytest
from django.urls import reverse

from tests.conftest import client_for
from tests.crm.test_avatars import image_upload
from tests.factories import ContactFactory, TagFactory, WeChatAccountFactory, tag_contact

pytestmark = pytest.mark.django_db

LIST = reverse("crm:contact_list")


@pytest.fixture
def commit(django_capture_on_commit_callbacks):
    """Run what a view schedules for after its commit (the book's version bump), as a real request would."""

    def run(request):
        with django_capture_on_commit_callbacks(execute=True):
            return request()

    return run


def list_page(client, **query) -> str:
    response = client.get(LIST, query)
    assert response.status_code == 200
    return response.content.decode()


def test_a_new_remark_shows_on_the_next_list_page(owner_client, workspace, commit):
    contact = ContactFactory(workspace=workspace, remark_name="张姐")
    assert "张姐" in list_page(owner_client)
    commit(lambda: owner_client.post(reverse("crm:contact_remark", args=[contact.pk]), {"remark_name": "张姐-老客"}))
    assert "张姐-老客" in list_page(owner_client)


def test_a_renamed_tag_shows_under_its_new_name_in_the_rows_and_the_filter(owner_client, workspace, commit):
    tag = TagFactory(workspace=workspace, name="海参")
    tag_contact(ContactFactory(workspace=workspace), tag)
    assert "海参" in list_page(owner_client)
    commit(lambda: owner_client.post(reverse("crm:tag_edit", args=[tag.pk]), {"name": "辽参", "group": ""}))
    page = list_page(owner_client)
    assert "辽参" in page
    assert "海参" not in page


def test_a_renamed_account_shows_on_its_contacts_rows(owner_client, workspace, account, commit):
    ContactFactory(workspace=workspace, owner_account=account)
    list_page(owner_client)
    commit(lambda: owner_client.post(
        reverse("crm:account_edit", args=[account.pk]), {"name": "客服三号", "wechat_id": "", "capacity": 10000}
    ))
    assert "<td>客服三号</td>" in list_page(owner_client)


def test_a_new_account_and_tag_are_offered_by_the_filters_at_once(owner_client, workspace, commit):
    list_page(owner_client)
    commit(lambda: owner_client.post(reverse("crm:account_create"), {"name": "新号", "wechat_id": "", "capacity": 10000}))
    commit(lambda: owner_client.post(reverse("crm:tag_create"), {"name": "燕窝", "group": ""}))
    page = list_page(owner_client)
    assert ">新号</option>" in page
    assert ">燕窝</option>" in page


def test_a_new_avatar_shows_on_the_list_row(owner_client, workspace, commit):
    contact = ContactFactory(workspace=workspace)
    avatar_url = reverse("crm:contact_avatar_image", args=[contact.pk])
    assert avatar_url not in list_page(owner_client)
    commit(lambda: owner_client.post(reverse("crm:contact_avatar", args=[contact.pk]), {"avatar": image_upload()}))
    assert avatar_url in list_page(owner_client)


def test_the_cached_rows_follow_the_language_of_the_reader(owner_client, workspace):
    ContactFactory(workspace=workspace, stage="vip")
    assert "VIP" in list_page(owner_client)
    english = owner_client.get(LIST, HTTP_ACCEPT_LANGUAGE="en").content.decode()
    chinese = owner_client.get(LIST, HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()
    assert 'aria-label="Select ' in english
    assert 'aria-label="选择 ' in chinese


def test_a_limited_teammate_never_gets_the_owners_cached_rows(owner_client, teammate, workspace, account):
    other = WeChatAccountFactory(workspace=workspace, name="别的号")
    ContactFactory(workspace=workspace, owner_account=account, remark_name="我的客户")
    ContactFactory(workspace=workspace, owner_account=other, remark_name="别人的客户")
    assert "别人的客户" in list_page(owner_client)
    teammate.limited_to_assigned_accounts = True
    teammate.save()
    teammate.assigned_accounts.set([account])
    page = list_page(client_for(teammate))
    assert "我的客户" in page
    assert "别人的客户" not in page


def test_a_remark_with_markup_stays_text_in_the_cached_rows(owner_client, workspace):
    ContactFactory(workspace=workspace, remark_name="<script>alert(1)</script>")
    for _ in range(2):  # rendered, then from the cache
        page = list_page(owner_client)
        assert "<script>alert(1)</script>" not in page
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
