import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse

from crm.middleware import SESSION_WORKSPACE_KEY
from crm.models import Member
from tests.conftest import client_for
from tests.factories import MemberFactory, UserFactory, WeChatAccountFactory, WorkspaceFactory

pytestmark = pytest.mark.django_db

User = get_user_model()
GOOD_PASSWORD = "haiwei-2026-dalian-sea"


def test_the_owner_sees_every_member_with_role_limit_and_accounts(owner_client, workspace, account):
    limited = MemberFactory(workspace=workspace, user=UserFactory(username="xiaoli"), limited_to_assigned_accounts=True)
    limited.assigned_accounts.add(account)
    response = owner_client.get(reverse("crm:member_list"))
    assert response.status_code == 200
    html = response.content.decode()
    assert "xiaoli" in html and "海味小张" in html
    listed = {m.user.username: m for m in response.context["members"]}
    assert not listed["xiaoli"].sees_all_accounts
    assert [a.name for a in listed["xiaoli"].assigned_accounts.all()] == ["海味小张"]


def test_the_member_list_leaves_out_other_workspaces(outsider_client, teammate):
    html = outsider_client.get(reverse("crm:member_list")).content.decode()
    assert teammate.user.username not in html


@pytest.mark.parametrize("name", ["member_list", "member_add"])
def test_a_teammate_cannot_open_the_members_pages(teammate_client, name):
    assert teammate_client.get(reverse(f"crm:{name}")).status_code == 403


def test_a_teammate_cannot_edit_or_remove_members(teammate_client, owner, teammate):
    edit = teammate_client.post(reverse("crm:member_edit", args=[teammate.pk]), {"role": "owner"})
    remove = teammate_client.post(reverse("crm:member_remove", args=[owner.pk]))
    assert (edit.status_code, remove.status_code) == (403, 403)
    teammate.refresh_from_db()
    assert teammate.role == Member.Role.STAFF
    assert Member.objects.filter(pk=owner.pk).exists()


@pytest.mark.parametrize("name", ["member_edit", "member_remove"])
def test_another_workspaces_member_is_a_404(outsider_client, teammate, name):
    url = reverse(f"crm:{name}", args=[teammate.pk])
    assert outsider_client.get(url).status_code == 404
    assert outsider_client.post(url, {"role": "owner"}).status_code == 404
    teammate.refresh_from_db()
    assert teammate.role == Member.Role.STAFF


def test_an_existing_user_is_added_keeping_their_password(owner_client, workspace):
    user = UserFactory(username="laowang")
    old_hash = user.password
    response = owner_client.post(reverse("crm:member_add"), {"username": "laowang", "password": "ignored", "role": "staff"})
    assert response.status_code == 302
    member = Member.objects.get(workspace=workspace, user=user)
    assert member.role == Member.Role.STAFF
    user.refresh_from_db()
    assert user.password == old_hash


def test_a_new_username_becomes_a_user_with_the_given_password(owner_client, workspace, account):
    response = owner_client.post(
        reverse("crm:member_add"),
        {"username": "xiaomei", "password": GOOD_PASSWORD, "role": "staff",
         "limited_to_assigned_accounts": "on", "assigned_accounts": [account.pk]},
    )
    assert response.status_code == 302
    user = User.objects.get(username="xiaomei")
    assert user.check_password(GOOD_PASSWORD)
    member = Member.objects.get(workspace=workspace, user=user)
    assert member.limited_to_assigned_accounts
    assert list(member.assigned_accounts.all()) == [account]


def test_a_new_user_needs_a_password(owner_client):
    response = owner_client.post(reverse("crm:member_add"), {"username": "xiaomei", "role": "staff"})
    assert response.status_code == 400
    assert "password" in response.context["form"].errors
    assert not User.objects.filter(username="xiaomei").exists()


@pytest.mark.parametrize("password", ["123", "12345678901", "password123", "xiaomei2026"])
def test_a_weak_password_for_a_new_user_is_refused(owner_client, password):
    response = owner_client.post(reverse("crm:member_add"), {"username": "xiaomei2026", "password": password, "role": "staff"})
    assert response.status_code == 400
    assert "password" in response.context["form"].errors
    assert not User.objects.filter(username="xiaomei2026").exists()


def test_adding_someone_who_is_a_member_already_is_a_form_error(owner_client, workspace, teammate):
    response = owner_client.post(reverse("crm:member_add"), {"username": teammate.user.username, "role": "owner"})
    assert response.status_code == 400
    assert "username" in response.context["form"].errors
    teammate.refresh_from_db()
    assert teammate.role == Member.Role.STAFF


def test_another_workspaces_account_cannot_be_assigned(owner_client, workspace):
    elsewhere = WeChatAccountFactory(workspace=WorkspaceFactory())
    response = owner_client.post(
        reverse("crm:member_add"),
        {"username": "xiaomei", "password": GOOD_PASSWORD, "role": "staff", "assigned_accounts": [elsewhere.pk]},
    )
    assert response.status_code == 400
    assert "assigned_accounts" in response.context["form"].errors
    assert not User.objects.filter(username="xiaomei").exists()


def test_a_limited_member_needs_an_assigned_account(owner_client, teammate):
    response = owner_client.post(
        reverse("crm:member_edit", args=[teammate.pk]), {"role": "staff", "limited_to_assigned_accounts": "on"}
    )
    assert response.status_code == 400
    teammate.refresh_from_db()
    assert not teammate.limited_to_assigned_accounts


def test_the_owner_changes_a_members_role_limit_and_accounts(owner_client, workspace, teammate, account):
    url = reverse("crm:member_edit", args=[teammate.pk])
    assert owner_client.get(url).status_code == 200
    response = owner_client.post(url, {"role": "staff", "limited_to_assigned_accounts": "on", "assigned_accounts": [account.pk]})
    assert response.status_code == 302
    teammate.refresh_from_db()
    assert teammate.limited_to_assigned_accounts
    assert list(teammate.assigned_accounts.all()) == [account]
    owner_client.post(url, {"role": "owner"})
    teammate.refresh_from_db()
    assert teammate.role == Member.Role.OWNER
    assert not teammate.assigned_accounts.exists()


def test_the_last_owner_cannot_be_demoted(owner_client, owner):
    response = owner_client.post(reverse("crm:member_edit", args=[owner.pk]), {"role": "staff"})
    assert response.status_code == 400
    assert response.context["form"].non_field_errors()
    owner.refresh_from_db()
    assert owner.role == Member.Role.OWNER


def test_the_last_owner_cannot_be_removed(owner_client, owner):
    url = reverse("crm:member_remove", args=[owner.pk])
    assert owner_client.get(url).status_code == 200  # the confirmation page
    response = owner_client.post(url, follow=True)
    assert Member.objects.filter(pk=owner.pk).exists()
    assert [m.level_tag for m in response.context["messages"]] == ["error"]


def test_an_owner_may_step_down_when_another_owner_remains(owner_client, workspace, owner):
    MemberFactory(workspace=workspace, role=Member.Role.OWNER)
    response = owner_client.post(reverse("crm:member_edit", args=[owner.pk]), {"role": "staff"})
    assert response.status_code == 302
    assert response["Location"] == reverse("crm:contact_list")
    owner.refresh_from_db()
    assert owner.role == Member.Role.STAFF


def test_the_owner_removes_a_teammate_after_confirming(owner_client, teammate):
    url = reverse("crm:member_remove", args=[teammate.pk])
    assert 'method="post"' in owner_client.get(url).content.decode()
    assert Member.objects.filter(pk=teammate.pk).exists()  # a GET only asks
    response = owner_client.post(url)
    assert response.status_code == 302
    assert not Member.objects.filter(pk=teammate.pk).exists()
    assert User.objects.filter(pk=teammate.user_id).exists()


def test_a_removed_member_loses_the_workspace(owner_client, teammate_client, teammate):
    owner_client.post(reverse("crm:member_remove", args=[teammate.pk]))
    assert teammate_client.get(reverse("crm:contact_list")).status_code == 403


def test_a_limited_members_contact_count_follows_their_new_accounts(
    owner_client, workspace, django_capture_on_commit_callbacks
):
    from tests.factories import ContactFactory

    first, second = WeChatAccountFactory(workspace=workspace), WeChatAccountFactory(workspace=workspace)
    ContactFactory(workspace=workspace, owner_account=first)
    ContactFactory.create_batch(2, workspace=workspace, owner_account=second)
    staff = MemberFactory(workspace=workspace, limited_to_assigned_accounts=True)
    staff.assigned_accounts.add(first)
    staff_client = client_for(staff)
    assert staff_client.get(reverse("crm:contact_list")).context["count"] == 1
    with django_capture_on_commit_callbacks(execute=True):
        owner_client.post(
            reverse("crm:member_edit", args=[staff.pk]),
            {"role": "staff", "limited_to_assigned_accounts": "on", "assigned_accounts": [second.pk]},
        )
    assert staff_client.get(reverse("crm:contact_list")).context["count"] == 2


# Switching workspaces ----------------------------------------------------------------------------------------------


def test_a_user_switches_to_another_workspace_they_belong_to(owner_client, owner):
    other = MemberFactory(workspace=WorkspaceFactory(name="第二家店"), user=owner.user, role=Member.Role.STAFF)
    response = owner_client.post(reverse("crm:workspace_switch"), {"workspace": other.workspace_id})
    assert response.status_code == 302
    assert response["Location"] == reverse("crm:contact_list")
    assert owner_client.session[SESSION_WORKSPACE_KEY] == other.workspace_id
    assert owner_client.get(reverse("crm:contact_list")).context["workspace"] == other.workspace
    # Staff in the other workspace: its members page is closed to them.
    assert owner_client.get(reverse("crm:member_list")).status_code == 403


def test_switching_to_a_workspace_without_membership_is_a_404(owner_client, outsider):
    response = owner_client.post(reverse("crm:workspace_switch"), {"workspace": outsider.workspace_id})
    assert response.status_code == 404
    assert SESSION_WORKSPACE_KEY not in owner_client.session


@pytest.mark.parametrize("value", ["", "abc", "-1"])
def test_switching_to_a_nonsense_id_is_a_404(teammate_client, value):
    assert teammate_client.post(reverse("crm:workspace_switch"), {"workspace": value}).status_code == 404


def test_switching_needs_a_post(owner_client, workspace):
    assert owner_client.get(reverse("crm:workspace_switch"), {"workspace": workspace.pk}).status_code == 405


def test_switching_needs_a_signed_in_user(client, workspace):
    response = client.post(reverse("crm:workspace_switch"), {"workspace": workspace.pk})
    assert response.status_code == 302
    assert reverse("login") in response["Location"]
