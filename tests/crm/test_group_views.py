import re

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from crm import selectors, services
from crm.models import Contact, CustomerGroup, GroupMembership, Member, TimelineEvent
from tests.conftest import client_for
from tests.factories import (
    ContactFactory,
    CustomerGroupFactory,
    GroupMembershipFactory,
    MemberFactory,
    WeChatAccountFactory,
    WorkspaceFactory,
)

pytestmark = pytest.mark.django_db


def _html(response) -> str:
    return response.content.decode()


def _member_ids(group) -> set[int]:
    return set(GroupMembership.objects.filter(group=group).values_list("contact_id", flat=True))


@pytest.fixture
def limited_teammate(workspace, account):
    """A staff member who sees only the contacts of the account assigned to them."""
    member = MemberFactory(workspace=workspace, role=Member.Role.STAFF, limited_to_assigned_accounts=True)
    member.assigned_accounts.add(account)
    return member


# The list ---------------------------------------------------------------------------------------------------------


def test_the_list_shows_each_group_with_its_member_count_and_owner_account(owner_client, teammate_client, workspace, account):
    group = CustomerGroupFactory(workspace=workspace, name="海参福利群", owner_account=account)
    for _ in range(3):
        GroupMembershipFactory(group=group, contact=ContactFactory(workspace=workspace, owner_account=account))
    CustomerGroupFactory(workspace=workspace, name="空群")
    for client in (owner_client, teammate_client):
        response = client.get(reverse("crm:group_list"))
        assert response.status_code == 200
        html = _html(response)
        assert "海参福利群" in html and "海味小张" in html and "空群" in html
        assert re.findall(r'class="num member-count">(\d+)<', html) == ["3", "0"]  # 海参福利群, 空群: by name


def test_it_hides_other_workspaces_groups(outsider_client, workspace):
    CustomerGroupFactory(workspace=workspace, name="张姐的VIP群")
    assert "张姐的VIP群" not in _html(outsider_client.get(reverse("crm:group_list")))


def test_it_sends_anonymous_visitors_to_sign_in(client):
    response = client.get(reverse("crm:group_list"))
    assert response.status_code == 302
    assert reverse("login") in response["Location"]


def test_a_script_in_a_group_name_or_notes_renders_escaped(owner_client, workspace):
    group = CustomerGroupFactory(workspace=workspace, name="<script>alert(1)</script>", notes="<script>alert(2)</script>")
    urls = [
        reverse("crm:group_list"),
        reverse("crm:group_detail", args=[group.pk]),
        reverse("crm:group_edit", args=[group.pk]),
        reverse("crm:group_delete", args=[group.pk]),
    ]
    for url in urls:
        html = _html(owner_client.get(url))
        assert "<script>alert(" not in html, url
    html = _html(owner_client.get(reverse("crm:group_detail", args=[group.pk])))
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html and "&lt;script&gt;alert(2)&lt;/script&gt;" in html


# Creating, editing and deleting ------------------------------------------------------------------------------------


@pytest.mark.parametrize("who", ["owner_client", "teammate_client"])
def test_owner_and_staff_create_a_group(request, who, workspace, account):
    client = request.getfixturevalue(who)
    assert client.get(reverse("crm:group_create")).status_code == 200
    response = client.post(
        reverse("crm:group_create"), {"name": " 海参  福利群 ", "owner_account": account.pk, "notes": "每周五发券"}
    )
    group = CustomerGroup.objects.get(workspace=workspace)
    assert response.status_code == 302
    assert response["Location"] == reverse("crm:group_detail", args=[group.pk])
    assert (group.name, group.owner_account, group.notes) == ("海参 福利群", account, "每周五发券")


def test_a_duplicate_group_name_is_a_form_error(owner_client, workspace):
    CustomerGroupFactory(workspace=workspace, name="海参福利群")
    response = owner_client.post(reverse("crm:group_create"), {"name": "海参福利群"})
    assert response.status_code == 200
    assert response.context["form"].errors["name"]
    assert CustomerGroup.objects.filter(workspace=workspace).count() == 1


def test_another_workspaces_account_cannot_own_a_group(owner_client, workspace):
    foreign = WeChatAccountFactory(workspace=WorkspaceFactory())
    response = owner_client.post(reverse("crm:group_create"), {"name": "群", "owner_account": foreign.pk})
    assert response.status_code == 200
    assert response.context["form"].errors["owner_account"]
    assert not CustomerGroup.objects.filter(workspace=workspace).exists()


def test_the_account_choices_are_this_workspaces_only(owner_client, account):
    foreign = WeChatAccountFactory(workspace=WorkspaceFactory(), name="别家的号")
    choices = owner_client.get(reverse("crm:group_create")).context["form"].fields["owner_account"].queryset
    assert list(choices) == [account]
    assert foreign not in choices


def test_staff_edit_a_group(teammate_client, workspace, account):
    group = CustomerGroupFactory(workspace=workspace, name="旧群名")
    response = teammate_client.post(
        reverse("crm:group_edit", args=[group.pk]), {"name": "新群名", "owner_account": account.pk, "notes": "群公告"}
    )
    assert response.status_code == 302
    group.refresh_from_db()
    assert (group.name, group.owner_account, group.notes) == ("新群名", account, "群公告")


def test_renaming_a_group_onto_another_is_a_form_error(owner_client, workspace):
    CustomerGroupFactory(workspace=workspace, name="海参福利群")
    group = CustomerGroupFactory(workspace=workspace, name="鲍鱼群")
    response = owner_client.post(reverse("crm:group_edit", args=[group.pk]), {"name": "海参福利群"})
    assert response.status_code == 200
    assert response.context["form"].errors["name"]
    group.refresh_from_db()
    assert group.name == "鲍鱼群"


def test_the_owner_deletes_a_group_after_a_confirm_page_and_its_contacts_stay(owner_client, workspace):
    group = CustomerGroupFactory(workspace=workspace)
    contact = ContactFactory(workspace=workspace)
    GroupMembershipFactory(group=group, contact=contact)
    page = owner_client.get(reverse("crm:group_delete", args=[group.pk]))
    assert page.status_code == 200 and page.context["member_count"] == 1
    assert CustomerGroup.objects.filter(pk=group.pk).exists()
    response = owner_client.post(reverse("crm:group_delete", args=[group.pk]))
    assert response.status_code == 302
    assert not CustomerGroup.objects.filter(pk=group.pk).exists()
    assert Contact.objects.filter(pk=contact.pk).exists()


def test_deleting_a_group_is_forbidden_to_staff(teammate_client, workspace):
    group = CustomerGroupFactory(workspace=workspace)
    url = reverse("crm:group_delete", args=[group.pk])
    assert teammate_client.get(url).status_code == 403
    assert teammate_client.post(url).status_code == 403
    assert CustomerGroup.objects.filter(pk=group.pk).exists()
    assert reverse("crm:group_delete", args=[group.pk]) not in _html(
        teammate_client.get(reverse("crm:group_detail", args=[group.pk]))
    )


@pytest.mark.parametrize("name", ["group_detail", "group_edit", "group_delete"])
def test_another_workspaces_group_is_a_404(outsider_client, workspace, name):
    group = CustomerGroupFactory(workspace=workspace, name="张姐的VIP群")
    url = reverse(f"crm:{name}", args=[group.pk])
    assert outsider_client.get(url).status_code == 404
    assert outsider_client.post(url, {"name": "改名"}).status_code == 404
    group.refresh_from_db()
    assert group.name == "张姐的VIP群"


# The group's page -------------------------------------------------------------------------------------------------


def test_the_group_page_shows_notes_and_members(owner_client, teammate_client, workspace):
    group = CustomerGroupFactory(workspace=workspace, notes="每周五晚八点发券")
    GroupMembershipFactory(group=group, contact=ContactFactory(workspace=workspace, remark_name="张姐-老客"))
    ContactFactory(workspace=workspace, remark_name="不在群里的人")
    for client in (owner_client, teammate_client):
        html = _html(client.get(reverse("crm:group_detail", args=[group.pk])))
        assert "每周五晚八点发券" in html and "张姐-老客" in html
        assert "不在群里的人" not in html


def test_members_are_paged_fifty_at_a_time(owner_client, workspace, account):
    group = CustomerGroupFactory(workspace=workspace)
    for _ in range(51):
        GroupMembershipFactory(group=group, contact=ContactFactory(workspace=workspace, owner_account=account))
    first = owner_client.get(reverse("crm:group_detail", args=[group.pk]))
    assert len(first.context["page"].object_list) == 50
    assert first.context["page"].paginator.count == 51
    assert "?page=2" in _html(first)
    second = owner_client.get(reverse("crm:group_detail", args=[group.pk]) + "?page=2")
    assert len(second.context["page"].object_list) == 1


def test_a_limited_staff_member_sees_only_the_members_they_may_see(limited_teammate, workspace, account):
    group = CustomerGroupFactory(workspace=workspace)
    GroupMembershipFactory(group=group, contact=ContactFactory(workspace=workspace, owner_account=account, remark_name="我的客户"))
    GroupMembershipFactory(group=group, contact=ContactFactory(workspace=workspace, remark_name="同事的客户"))
    html = _html(client_for(limited_teammate).get(reverse("crm:group_detail", args=[group.pk])))
    assert "我的客户" in html and "同事的客户" not in html


# Finding and adding members ---------------------------------------------------------------------------------------


def test_the_search_finds_contacts_not_yet_in_the_group(owner_client, workspace):
    group = CustomerGroupFactory(workspace=workspace)
    wanted = ContactFactory(workspace=workspace, remark_name="海参王姐")
    already = ContactFactory(workspace=workspace, remark_name="海参李姐")
    GroupMembershipFactory(group=group, contact=already)
    ContactFactory(workspace=workspace, remark_name="鲍鱼赵哥")
    ContactFactory(workspace=WorkspaceFactory(), remark_name="海参别家客")
    response = owner_client.get(reverse("crm:group_detail", args=[group.pk]), {"q": "海参"})
    assert [c.pk for c in response.context["candidates"]] == [wanted.pk]
    html = _html(response)
    assert f'name="contacts" value="{wanted.pk}"' in html
    assert "海参别家客" not in html and "鲍鱼赵哥" not in html


def test_the_search_answers_htmx_with_the_results_fragment(owner_client, workspace):
    group = CustomerGroupFactory(workspace=workspace)
    ContactFactory(workspace=workspace, remark_name="海参王姐")
    response = owner_client.get(
        reverse("crm:group_detail", args=[group.pk]), {"q": "王姐"},
        HTTP_HX_REQUEST="true", HTTP_HX_TARGET="member-search-results",
    )
    html = _html(response)
    assert response.status_code == 200
    assert "海参王姐" in html and "<html" not in html
    assert 'name="csrfmiddlewaretoken"' in html


def test_the_search_shows_at_most_twenty_contacts(owner_client, workspace, account):
    group = CustomerGroupFactory(workspace=workspace)
    for n in range(25):
        ContactFactory(workspace=workspace, owner_account=account, remark_name=f"海参客{n}")
    response = owner_client.get(reverse("crm:group_detail", args=[group.pk]), {"q": "海参客"})
    assert len(response.context["candidates"]) == 20


def test_a_limited_staff_member_finds_only_contacts_they_may_see(limited_teammate, workspace, account):
    group = CustomerGroupFactory(workspace=workspace)
    ContactFactory(workspace=workspace, owner_account=account, remark_name="海参我的")
    ContactFactory(workspace=workspace, remark_name="海参同事的")
    response = client_for(limited_teammate).get(reverse("crm:group_detail", args=[group.pk]), {"q": "海参"})
    assert [c.remark_name for c in response.context["candidates"]] == ["海参我的"]


@pytest.mark.parametrize("who", ["owner_client", "teammate_client"])
def test_owner_and_staff_add_the_selected_contacts(request, who, workspace):
    client = request.getfixturevalue(who)
    group = CustomerGroupFactory(workspace=workspace)
    a, b = ContactFactory(workspace=workspace), ContactFactory(workspace=workspace)
    response = client.post(reverse("crm:group_members_add", args=[group.pk]), {"contacts": [a.pk, b.pk]})
    assert response.status_code == 302
    assert _member_ids(group) == {a.pk, b.pk}
    assert TimelineEvent.objects.filter(contact=a, kind=TimelineEvent.Kind.GROUP_JOINED).exists()


def test_adding_ignores_another_workspaces_contact_ids(owner_client, workspace):
    group = CustomerGroupFactory(workspace=workspace)
    mine = ContactFactory(workspace=workspace)
    foreign = ContactFactory(workspace=WorkspaceFactory())
    response = owner_client.post(reverse("crm:group_members_add", args=[group.pk]), {"contacts": [mine.pk, foreign.pk]})
    assert response.status_code == 302
    assert _member_ids(group) == {mine.pk}
    assert not GroupMembership.objects.filter(contact=foreign).exists()


def test_adding_ignores_contacts_a_limited_staff_member_cannot_see(limited_teammate, workspace, account):
    group = CustomerGroupFactory(workspace=workspace)
    mine = ContactFactory(workspace=workspace, owner_account=account)
    hidden = ContactFactory(workspace=workspace)
    client_for(limited_teammate).post(reverse("crm:group_members_add", args=[group.pk]), {"contacts": [mine.pk, hidden.pk]})
    assert _member_ids(group) == {mine.pk}


def test_adding_a_member_twice_keeps_one_membership(owner_client, workspace):
    group = CustomerGroupFactory(workspace=workspace)
    contact = ContactFactory(workspace=workspace)
    url = reverse("crm:group_members_add", args=[group.pk])
    owner_client.post(url, {"contacts": [contact.pk, contact.pk]})
    owner_client.post(url, {"contacts": [contact.pk]})
    assert GroupMembership.objects.filter(group=group, contact=contact).count() == 1


def test_adding_nothing_or_junk_is_an_error_message_not_a_crash(owner_client, workspace):
    group = CustomerGroupFactory(workspace=workspace)
    url = reverse("crm:group_members_add", args=[group.pk])
    for data in ({}, {"contacts": ["abc"]}):
        response = owner_client.post(url, data, follow=True)
        assert response.status_code == 200
        assert [m for m in response.context["messages"] if m.level_tag == "error"]
    assert not _member_ids(group)


def test_an_outsider_cannot_add_to_another_workspaces_group(outsider_client, outsider, workspace):
    group = CustomerGroupFactory(workspace=workspace)
    theirs = ContactFactory(workspace=outsider.workspace)
    response = outsider_client.post(reverse("crm:group_members_add", args=[group.pk]), {"contacts": [theirs.pk]})
    assert response.status_code == 404
    assert not _member_ids(group)


def test_adding_members_takes_a_post(owner_client, workspace):
    group = CustomerGroupFactory(workspace=workspace)
    assert owner_client.get(reverse("crm:group_members_add", args=[group.pk])).status_code == 405


# Removing members -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("who", ["owner_client", "teammate_client"])
def test_owner_and_staff_remove_a_member(request, who, workspace):
    client = request.getfixturevalue(who)
    group = CustomerGroupFactory(workspace=workspace)
    leaving, staying = ContactFactory(workspace=workspace), ContactFactory(workspace=workspace)
    GroupMembershipFactory(group=group, contact=leaving)
    GroupMembershipFactory(group=group, contact=staying)
    url = reverse("crm:group_member_remove", args=[group.pk, leaving.pk])
    assert client.get(url).status_code == 405
    response = client.post(url, {"page": "1"})
    assert response.status_code == 302
    assert response["Location"] == reverse("crm:group_detail", args=[group.pk]) + "?page=1"
    assert _member_ids(group) == {staying.pk}
    assert Contact.objects.filter(pk=leaving.pk).exists()
    assert TimelineEvent.objects.filter(contact=leaving, kind=TimelineEvent.Kind.GROUP_LEFT).exists()


def test_the_group_page_has_a_remove_button_per_member(owner_client, workspace):
    group = CustomerGroupFactory(workspace=workspace)
    contacts = [ContactFactory(workspace=workspace) for _ in range(2)]
    for contact in contacts:
        GroupMembershipFactory(group=group, contact=contact)
    html = _html(owner_client.get(reverse("crm:group_detail", args=[group.pk])))
    for contact in contacts:
        assert reverse("crm:group_member_remove", args=[group.pk, contact.pk]) in html


def test_an_outsider_cannot_remove_members_of_another_workspaces_group(outsider_client, workspace):
    group = CustomerGroupFactory(workspace=workspace)
    contact = ContactFactory(workspace=workspace)
    GroupMembershipFactory(group=group, contact=contact)
    response = outsider_client.post(reverse("crm:group_member_remove", args=[group.pk, contact.pk]))
    assert response.status_code == 404
    assert _member_ids(group) == {contact.pk}


def test_a_limited_staff_member_cannot_remove_a_contact_they_cannot_see(limited_teammate, workspace):
    group = CustomerGroupFactory(workspace=workspace)
    hidden = ContactFactory(workspace=workspace)
    GroupMembershipFactory(group=group, contact=hidden)
    response = client_for(limited_teammate).post(reverse("crm:group_member_remove", args=[group.pk, hidden.pk]))
    assert response.status_code == 404
    assert _member_ids(group) == {hidden.pk}


def test_every_post_form_carries_a_csrf_token(owner_client, workspace):
    group = CustomerGroupFactory(workspace=workspace)
    GroupMembershipFactory(group=group, contact=ContactFactory(workspace=workspace, remark_name="海参王姐"))
    ContactFactory(workspace=workspace, remark_name="海参李姐")
    urls = [
        reverse("crm:group_create"), reverse("crm:group_edit", args=[group.pk]),
        reverse("crm:group_delete", args=[group.pk]), reverse("crm:group_detail", args=[group.pk]) + "?q=海参",
    ]
    for url in urls:
        html = _html(owner_client.get(url))
        main = html[html.index("<main"):]
        assert main.count('method="post"') == main.count('name="csrfmiddlewaretoken"'), url


# Services behind the pages ------------------------------------------------------------------------------------------


def test_customer_group_create_refuses_another_workspaces_account(workspace):
    with pytest.raises(ValidationError):
        services.customer_group_create(
            workspace=workspace, name="群", owner_account=WeChatAccountFactory(workspace=WorkspaceFactory())
        )
    assert not CustomerGroup.objects.exists()


def test_customer_group_update_refuses_a_duplicate_name(workspace):
    CustomerGroupFactory(workspace=workspace, name="海参福利群")
    group = CustomerGroupFactory(workspace=workspace, name="鲍鱼群")
    with pytest.raises(ValidationError):
        services.customer_group_update(group=group, name="海参福利群")
    group.refresh_from_db()
    assert group.name == "鲍鱼群"


def test_the_candidates_leave_out_members_and_other_workspaces(owner, workspace):
    group = CustomerGroupFactory(workspace=workspace)
    wanted = ContactFactory(workspace=workspace, nickname="海参")
    GroupMembershipFactory(group=group, contact=ContactFactory(workspace=workspace, nickname="海参"))
    ContactFactory(workspace=WorkspaceFactory(), nickname="海参")
    assert selectors.customer_group_candidates(group=group, member=owner, q="海参") == [wanted]
