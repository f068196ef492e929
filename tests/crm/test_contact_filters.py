import pytest
from django.urls import reverse

from crm.models import Contact, Member
from tests.factories import ContactFactory, MemberFactory, TagFactory, TagGroupFactory, WeChatAccountFactory, tag_contact
from tests.conftest import client_for

pytestmark = pytest.mark.django_db


def names_listed(client, query=""):
    response = client.get(reverse("crm:contact_list") + query)
    assert response.status_code == 200
    return {c.remark_name for c in response.context["page"]}


@pytest.fixture
def tagged(workspace):
    """Three customers: 张姐 (老客, 海参), 李哥 (老客), 王阿姨 (海参)."""
    old, sea = TagFactory(workspace=workspace, name="老客"), TagFactory(workspace=workspace, name="海参")
    tag_contact(ContactFactory(workspace=workspace, remark_name="张姐"), old, sea)
    tag_contact(ContactFactory(workspace=workspace, remark_name="李哥"), old)
    tag_contact(ContactFactory(workspace=workspace, remark_name="王阿姨"), sea)
    return old, sea


def test_has_all_of_two_tags_lists_only_contacts_with_both(owner_client, tagged):
    old, sea = tagged
    assert names_listed(owner_client, f"?tags_all={old.pk}&tags_all={sea.pk}") == {"张姐"}


def test_has_any_of_two_tags_lists_contacts_with_either(owner_client, tagged):
    old, sea = tagged
    assert names_listed(owner_client, f"?tags_any={old.pk}&tags_any={sea.pk}") == {"张姐", "李哥", "王阿姨"}


def test_has_none_of_a_tag_leaves_it_out(owner_client, tagged, workspace):
    old, _sea = tagged
    ContactFactory(workspace=workspace, remark_name="无标签")
    assert names_listed(owner_client, f"?tags_none={old.pk}") == {"王阿姨", "无标签"}


def test_a_tag_group_filter_lists_contacts_with_any_tag_of_the_group(owner_client, workspace):
    level = TagGroupFactory(workspace=workspace, name="客户等级")
    tag_contact(ContactFactory(workspace=workspace, remark_name="A级"), TagFactory(workspace=workspace, name="A", group=level))
    ContactFactory(workspace=workspace, remark_name="没等级")
    assert names_listed(owner_client, f"?tag_group={level.pk}") == {"A级"}


def test_the_account_stage_and_source_filters_narrow_the_list(owner_client, workspace):
    one, two = WeChatAccountFactory(workspace=workspace), WeChatAccountFactory(workspace=workspace)
    ContactFactory(workspace=workspace, owner_account=one, remark_name="一号VIP", stage="vip", source="referral")
    ContactFactory(workspace=workspace, owner_account=two, remark_name="二号VIP", stage="vip", source="ads")
    ContactFactory(workspace=workspace, owner_account=one, remark_name="一号新", stage="new", source="referral")
    assert names_listed(owner_client, f"?account={one.pk}") == {"一号VIP", "一号新"}
    assert names_listed(owner_client, "?stage=vip") == {"一号VIP", "二号VIP"}
    assert names_listed(owner_client, "?source=referral&stage=vip") == {"一号VIP"}


@pytest.mark.parametrize(
    "term,expected",
    [("海参", {"张姐-爱买海参"}), ("fish", {"小鱼"}), ("wxid_abc", {"阿彬"}), ("1381234", {"电话客户"}), ("138 1234", {"电话客户"})],
)
def test_search_finds_contacts_by_remark_nickname_wechat_id_or_phone(owner_client, workspace, term, expected):
    ContactFactory(workspace=workspace, remark_name="张姐-爱买海参")
    ContactFactory(workspace=workspace, remark_name="小鱼", nickname="Fish🐟")
    ContactFactory(workspace=workspace, remark_name="阿彬", wechat_id="wxid_abc")
    ContactFactory(workspace=workspace, remark_name="电话客户", phone="+8613812345678")
    assert names_listed(owner_client, f"?q={term}") == expected


def test_a_tag_of_another_workspace_in_the_filter_is_a_form_error_not_a_leak(owner_client, outsider, workspace):
    foreign = TagFactory(workspace=outsider.workspace, name="别家标签")
    ContactFactory(workspace=workspace, remark_name="我的客户")
    response = owner_client.get(reverse("crm:contact_list") + f"?tags_all={foreign.pk}")
    assert response.status_code == 200
    assert response.context["filter_form"].errors
    assert "别家标签" not in response.content.decode()


def test_a_malformed_filter_value_does_not_break_the_page(owner_client, workspace):
    response = owner_client.get(reverse("crm:contact_list") + "?tags_all=abc&account=x&page=zzz")
    assert response.status_code == 200


def test_pages_hold_fifty_contacts_and_page_two_has_the_rest(owner_client, workspace):
    ContactFactory.create_batch(60, workspace=workspace)
    assert len(owner_client.get(reverse("crm:contact_list")).context["page"]) == 50
    assert len(owner_client.get(reverse("crm:contact_list") + "?page=2").context["page"]) == 10


def test_the_htmx_filter_returns_only_the_results_fragment(owner_client, tagged):
    response = owner_client.get(
        reverse("crm:contact_list") + "?q=张", HTTP_HX_REQUEST="true", HTTP_HX_TARGET="contact-results"
    )
    html = response.content.decode()
    assert "张姐" in html and "<html" not in html


def test_the_count_is_cached_until_the_book_changes(owner_client, workspace, django_assert_max_num_queries):
    ContactFactory.create_batch(3, workspace=workspace)
    assert owner_client.get(reverse("crm:contact_list")).context["count"] == 3
    Contact.objects.filter(workspace=workspace).first().delete()  # behind the services' back: cache still holds 3
    assert owner_client.get(reverse("crm:contact_list")).context["count"] == 3
    owner_client.post(reverse("crm:contact_create"), {"nickname": "新客", "gender": 0, "added_at": "2026-11-01T09:00", "source": "manual", "stage": "new"})
    assert owner_client.get(reverse("crm:contact_list")).context["count"] == 3  # 2 left + the new one


def test_a_staff_member_limited_to_one_account_sees_only_its_contacts(workspace):
    mine, theirs = WeChatAccountFactory(workspace=workspace), WeChatAccountFactory(workspace=workspace)
    limited = MemberFactory(workspace=workspace, role=Member.Role.STAFF, limited_to_assigned_accounts=True)
    limited.assigned_accounts.add(mine)
    visible = ContactFactory(workspace=workspace, owner_account=mine, remark_name="我的")
    hidden = ContactFactory(workspace=workspace, owner_account=theirs, remark_name="别人的")
    client = client_for(limited)
    assert names_listed(client) == {"我的"}
    assert names_listed(client, f"?account={theirs.pk}") == {"我的"}  # not a choice: ignored, not leaked
    assert client.get(reverse("crm:contact_detail", args=[hidden.pk])).status_code == 404
    assert client.get(reverse("crm:contact_detail", args=[visible.pk])).status_code == 200


def test_the_tag_filter_keeps_the_chosen_tags_selected_and_escapes_their_names(owner_client, workspace):
    group = TagGroupFactory(workspace=workspace, name="<b>等级</b>")
    chosen = TagFactory(workspace=workspace, name="<script>x</script>", group=group)
    TagFactory(workspace=workspace, name="其他")
    html = owner_client.get(reverse("crm:contact_list") + f"?tags_all={chosen.pk}").content.decode()
    assert f'<option value="{chosen.pk}" selected>&lt;script&gt;x&lt;/script&gt;</option>' in html
    assert '<optgroup label="&lt;b&gt;等级&lt;/b&gt;">' in html
    assert "<script>x</script>" not in html
