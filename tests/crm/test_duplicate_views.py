import pytest
from django.urls import reverse

from crm.duplicates import contact_merge
from crm.models import ContactMerge, Order
from tests.conftest import client_for
from tests.factories import ContactFactory, OrderFactory, WeChatAccountFactory

pytestmark = pytest.mark.django_db

LIST_URL = reverse("crm:duplicate_list")
MERGE_URL = reverse("crm:duplicate_merge")


def undo_url(merge):
    return reverse("crm:contact_merge_undo", args=[merge.pk])


@pytest.fixture
def twins(workspace):
    return (
        ContactFactory(workspace=workspace, remark_name="王姐", phone="+8613812345678"),
        ContactFactory(workspace=workspace, remark_name="王姐-重复", phone="+8613812345678"),
    )


def test_the_duplicates_page_lists_groups_with_their_reason_to_owner_and_teammate(owner_client, teammate_client, twins):
    for client in (owner_client, teammate_client):
        response = client.get(LIST_URL)
        assert response.status_code == 200
        html = response.content.decode()
        assert "+8613812345678" in html and "王姐-重复" in html
        assert 'name="survivor"' in html and "csrfmiddlewaretoken" in html


def test_each_reason_has_its_own_tab(owner_client, workspace):
    ContactFactory(workspace=workspace, wechat_id="wxid_twin", remark_name="甲")
    ContactFactory(workspace=workspace, wechat_id="wxid_twin", remark_name="乙")
    assert "wxid_twin" not in owner_client.get(LIST_URL).content.decode()
    html = owner_client.get(LIST_URL, {"reason": "wechat_id"}).content.decode()
    assert "wxid_twin" in html
    assert owner_client.get(LIST_URL, {"reason": "nonsense", "page": "x"}).status_code == 200


def test_the_duplicates_page_hides_other_workspaces_groups(outsider_client, twins):
    html = outsider_client.get(LIST_URL).content.decode()
    assert "+8613812345678" not in html


def test_the_nav_links_to_the_duplicates_page(owner_client, twins):
    assert LIST_URL in owner_client.get(reverse("crm:contact_list")).content.decode()


def test_anonymous_visitors_are_sent_to_sign_in(client):
    response = client.get(LIST_URL)
    assert response.status_code == 302 and reverse("login") in response["Location"]


@pytest.mark.parametrize("who", ["owner", "teammate"])
def test_a_member_merges_a_group_into_the_contact_they_keep(request, who, twins):
    keep, other = twins
    order = OrderFactory(contact=other)
    client = client_for(request.getfixturevalue(who))
    response = client.post(MERGE_URL, {"survivor": keep.pk, "contacts": [keep.pk, other.pk], "next": LIST_URL})
    assert response.status_code == 302 and response["Location"] == LIST_URL
    other.refresh_from_db()
    assert other.merged_into == keep
    assert Order.objects.get(pk=order.pk).contact == keep


def test_a_merge_without_next_goes_to_the_survivor(owner_client, twins):
    keep, other = twins
    response = owner_client.post(MERGE_URL, {"survivor": other.pk, "contacts": [keep.pk, other.pk]})
    assert response["Location"] == reverse("crm:contact_detail", args=[other.pk])


def test_a_merge_refuses_an_offsite_next(owner_client, twins):
    keep, other = twins
    response = owner_client.post(
        MERGE_URL, {"survivor": keep.pk, "contacts": [other.pk], "next": "https://evil.example/"}
    )
    assert response["Location"] == reverse("crm:contact_detail", args=[keep.pk])


def test_a_merge_needs_a_survivor_and_another_contact(owner_client, twins):
    keep, _other = twins
    owner_client.post(MERGE_URL, {"contacts": [keep.pk]})
    owner_client.post(MERGE_URL, {"survivor": keep.pk, "contacts": [keep.pk]})
    assert not ContactMerge.objects.exists()


def test_the_merge_page_is_post_only(owner_client):
    assert owner_client.get(MERGE_URL).status_code == 405


def test_an_outsider_cannot_merge_another_workspaces_contacts(outsider, outsider_client, twins):
    keep, other = twins
    mine = ContactFactory(workspace=outsider.workspace)
    assert outsider_client.post(MERGE_URL, {"survivor": keep.pk, "contacts": [other.pk]}).status_code == 404
    # Nor pull someone else's contact into their own.
    assert outsider_client.post(MERGE_URL, {"survivor": mine.pk, "contacts": [other.pk]}).status_code == 404
    assert not ContactMerge.objects.exists()


def test_a_limited_teammate_cannot_merge_contacts_of_accounts_they_do_not_see(teammate, workspace, account):
    keep = ContactFactory(workspace=workspace, owner_account=account)
    hidden = ContactFactory(workspace=workspace, owner_account=WeChatAccountFactory(workspace=workspace, name="别的号"))
    teammate.limited_to_assigned_accounts = True
    teammate.save()
    teammate.assigned_accounts.set([account])
    response = client_for(teammate).post(MERGE_URL, {"survivor": keep.pk, "contacts": [hidden.pk]})
    assert response.status_code == 404
    assert not ContactMerge.objects.exists()


def test_undo_from_the_contacts_timeline(owner, owner_client, twins):
    keep, other = twins
    merge = contact_merge(survivor=keep, duplicate=other, actor=owner.user)
    detail = reverse("crm:contact_detail", args=[keep.pk])
    html = owner_client.get(detail).content.decode()
    assert undo_url(merge) in html
    response = owner_client.post(undo_url(merge), {"next": detail})
    assert response["Location"] == detail
    other.refresh_from_db()
    assert other.merged_into is None
    assert undo_url(merge) not in owner_client.get(detail).content.decode()


def test_undo_from_the_duplicates_page(owner, teammate_client, twins):
    keep, other = twins
    merge = contact_merge(survivor=keep, duplicate=other, actor=owner.user)
    assert undo_url(merge) in teammate_client.get(LIST_URL).content.decode()
    teammate_client.post(undo_url(merge), {"next": LIST_URL})
    merge.refresh_from_db()
    assert merge.undone_at is not None


def test_undoing_twice_shows_a_clear_message(owner, owner_client, twins):
    keep, other = twins
    merge = contact_merge(survivor=keep, duplicate=other, actor=owner.user)
    owner_client.post(undo_url(merge))
    response = owner_client.post(undo_url(merge), follow=True, HTTP_ACCEPT_LANGUAGE="en")
    assert "undone already" in response.content.decode()


def test_an_outsider_cannot_undo_another_workspaces_merge(owner, outsider_client, twins):
    keep, other = twins
    merge = contact_merge(survivor=keep, duplicate=other, actor=owner.user)
    assert outsider_client.post(undo_url(merge)).status_code == 404
    merge.refresh_from_db()
    assert merge.undone_at is None


def test_the_duplicates_of_one_contact(owner_client, outsider_client, twins):
    keep, other = twins
    url = reverse("crm:contact_duplicates", args=[keep.pk])
    html = owner_client.get(url).content.decode()
    assert "王姐-重复" in html
    assert reverse("crm:contact_duplicates", args=[keep.pk]) in owner_client.get(
        reverse("crm:contact_detail", args=[keep.pk])
    ).content.decode()
    assert outsider_client.get(url).status_code == 404


def test_a_remark_with_a_script_renders_escaped_on_the_duplicates_page(owner_client, workspace):
    ContactFactory(workspace=workspace, remark_name="<script>alert(1)</script>", phone="+8613800000000")
    ContactFactory(workspace=workspace, remark_name="x", phone="+8613800000000")
    html = owner_client.get(LIST_URL).content.decode()
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;" in html


def test_the_contact_list_links_to_both_exports_with_its_filter(owner_client, twins):
    html = owner_client.get(reverse("crm:contact_list"), {"stage": "vip"}).content.decode()
    assert f'{reverse("crm:contact_export_csv")}?stage=vip' in html
    assert f'{reverse("crm:contact_export_xlsx")}?stage=vip' in html
