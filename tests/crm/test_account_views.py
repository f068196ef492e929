import pytest
from django.urls import reverse

from crm.models import Contact, Member, WeChatAccount
from tests.factories import MemberFactory, WeChatAccountFactory, WorkspaceFactory
from tests.conftest import client_for

pytestmark = pytest.mark.django_db


def add_friends(account, n):
    Contact.objects.bulk_create(
        [Contact(workspace_id=account.workspace_id, owner_account=account, nickname=f"顾客{i}") for i in range(n)]
    )


def test_owner_and_teammate_see_each_account_with_its_friends_against_capacity(
    owner_client, teammate_client, workspace, account
):
    add_friends(account, 3)
    for client in (owner_client, teammate_client):
        response = client.get(reverse("crm:account_list"))
        assert response.status_code == 200
        html = response.content.decode()
        assert "海味小张" in html
        assert 'aria-valuenow="3"' in html and 'aria-valuemax="10000"' in html
        assert f'{reverse("crm:contact_list")}?account={account.pk}' in html
        assert 'class="meter"' in html


def test_the_account_list_hides_other_workspaces_accounts(outsider_client, account):
    response = outsider_client.get(reverse("crm:account_list"))
    assert response.status_code == 200
    assert "海味小张" not in response.content.decode()


def test_anonymous_visitors_are_sent_to_sign_in(client):
    response = client.get(reverse("crm:account_list"))
    assert response.status_code == 302
    assert reverse("login") in response["Location"]


def test_the_capacity_warning_shows_at_90_percent(owner_client, workspace):
    account = WeChatAccountFactory(workspace=workspace, capacity=10)
    add_friends(account, 9)
    html = owner_client.get(reverse("crm:account_list")).content.decode()
    assert 'class="badge-warn"' in html
    assert 'class="meter warn"' in html


def test_the_capacity_warning_does_not_show_at_89_percent(owner_client, workspace):
    account = WeChatAccountFactory(workspace=workspace, capacity=100)
    add_friends(account, 89)
    html = owner_client.get(reverse("crm:account_list")).content.decode()
    assert 'aria-valuenow="89"' in html
    assert "badge-warn" not in html
    assert "meter warn" not in html


def test_an_overfull_account_keeps_its_meter_inside_the_bar(owner_client, workspace):
    account = WeChatAccountFactory(workspace=workspace, capacity=2)
    add_friends(account, 3)
    html = owner_client.get(reverse("crm:account_list")).content.decode()
    assert "width:100%" in html
    assert "150%" in html


def test_a_staff_member_limited_to_one_account_sees_only_that_account(workspace):
    mine = WeChatAccountFactory(workspace=workspace, name="我的号")
    WeChatAccountFactory(workspace=workspace, name="别人的号")
    staff = MemberFactory(workspace=workspace, role=Member.Role.STAFF, limited_to_assigned_accounts=True)
    staff.assigned_accounts.add(mine)
    html = client_for(staff).get(reverse("crm:account_list")).content.decode()
    assert "我的号" in html
    assert "别人的号" not in html


def test_only_the_owner_sees_the_add_and_edit_links(owner_client, teammate_client, account):
    create_url = reverse("crm:account_create")
    edit_url = reverse("crm:account_edit", args=[account.pk])
    owner_html = owner_client.get(reverse("crm:account_list")).content.decode()
    teammate_html = teammate_client.get(reverse("crm:account_list")).content.decode()
    assert create_url in owner_html and edit_url in owner_html
    assert create_url not in teammate_html and edit_url not in teammate_html


def test_the_owner_adds_an_account_with_default_capacity(owner_client, workspace):
    assert owner_client.get(reverse("crm:account_create")).status_code == 200
    response = owner_client.post(reverse("crm:account_create"), {"name": "海味小李", "wechat_id": "haiwei_li", "capacity": 10000})
    assert response.status_code == 302
    account = WeChatAccount.objects.get(workspace=workspace, name="海味小李")
    assert account.wechat_id == "haiwei_li" and account.capacity == 10000


def test_a_teammate_cannot_add_or_edit_accounts(teammate_client, workspace, account):
    assert teammate_client.get(reverse("crm:account_create")).status_code == 403
    assert teammate_client.post(reverse("crm:account_create"), {"name": "偷偷加", "capacity": 10}).status_code == 403
    response = teammate_client.post(reverse("crm:account_edit", args=[account.pk]), {"name": "改名", "capacity": 5})
    assert response.status_code == 403
    account.refresh_from_db()
    assert account.name == "海味小张"
    assert not WeChatAccount.objects.filter(name="偷偷加").exists()


def test_a_duplicate_account_name_is_a_form_error(owner_client, workspace, account):
    response = owner_client.post(reverse("crm:account_create"), {"name": "海味小张", "capacity": 10000})
    assert response.status_code == 400
    assert "name" in response.context["form"].errors
    assert WeChatAccount.objects.filter(workspace=workspace).count() == 1


def test_the_same_account_name_is_fine_in_another_workspace(outsider_client, account):
    response = outsider_client.post(reverse("crm:account_create"), {"name": "海味小张", "capacity": 10000})
    assert response.status_code == 302
    assert WeChatAccount.objects.filter(name="海味小张").count() == 2


def test_a_capacity_below_one_is_refused(owner_client, workspace):
    response = owner_client.post(reverse("crm:account_create"), {"name": "新号", "capacity": 0})
    assert response.status_code == 400
    assert "capacity" in response.context["form"].errors
    assert not WeChatAccount.objects.filter(workspace=workspace, name="新号").exists()


def test_the_owner_edits_an_account_keeping_its_own_name(owner_client, account):
    url = reverse("crm:account_edit", args=[account.pk])
    assert "海味小张" in owner_client.get(url).content.decode()
    response = owner_client.post(url, {"name": "海味小张", "wechat_id": "new_id", "capacity": 5000})
    assert response.status_code == 302
    account.refresh_from_db()
    assert (account.wechat_id, account.capacity) == ("new_id", 5000)


def test_renaming_an_account_to_a_taken_name_is_a_form_error(owner_client, workspace, account):
    other = WeChatAccountFactory(workspace=workspace, name="海味小李")
    response = owner_client.post(reverse("crm:account_edit", args=[other.pk]), {"name": "海味小张", "capacity": 10000})
    assert response.status_code == 400
    assert "name" in response.context["form"].errors
    other.refresh_from_db()
    assert other.name == "海味小李"


def test_another_workspaces_account_cannot_be_edited(outsider_client, account):
    url = reverse("crm:account_edit", args=[account.pk])
    assert outsider_client.get(url).status_code == 404
    assert outsider_client.post(url, {"name": "hacked", "capacity": 1}).status_code == 404
    account.refresh_from_db()
    assert account.name == "海味小张"


def test_an_account_name_with_a_script_renders_escaped(owner_client, workspace):
    WeChatAccountFactory(workspace=workspace, name="<script>alert(1)</script>")
    html = owner_client.get(reverse("crm:account_list")).content.decode()
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;" in html


def test_a_user_without_a_workspace_is_refused(client):
    from tests.factories import UserFactory

    client.force_login(UserFactory())
    assert client.get(reverse("crm:account_list")).status_code == 403


def test_an_unused_workspace_has_an_empty_account_list(db):
    member = MemberFactory(workspace=WorkspaceFactory(), role=Member.Role.OWNER)
    response = client_for(member).get(reverse("crm:account_list"))
    assert response.status_code == 200
    assert reverse("crm:account_create") in response.content.decode()


# Delivery channel ----------------------------------------------------------------------------------------------------


def test_the_list_shows_each_accounts_delivery_channel(owner_client, teammate_client, workspace, account):
    WeChatAccountFactory(workspace=workspace, name="测试号", channel=WeChatAccount.Channel.OUTBOX)
    for client in (owner_client, teammate_client):
        html = client.get(reverse("crm:account_list")).content.decode()
        assert 'data-channel="manual"' in html and 'data-channel="outbox"' in html
        assert f'{reverse("crm:send_today")}?account={account.pk}' in html  # a manual account's queue


def test_a_new_account_sends_by_hand_unless_told_otherwise(owner_client, workspace):
    owner_client.post(reverse("crm:account_create"), {"name": "手动号", "capacity": 10000})
    owner_client.post(reverse("crm:account_create"), {"name": "测试号", "capacity": 10000, "channel": "outbox"})
    assert WeChatAccount.objects.get(workspace=workspace, name="手动号").channel == "manual"
    assert WeChatAccount.objects.get(workspace=workspace, name="测试号").channel == "outbox"


def test_the_owner_switches_an_account_to_the_outbox_and_back(owner_client, account):
    url = reverse("crm:account_edit", args=[account.pk])
    response = owner_client.post(url, {"name": "海味小张", "capacity": 10000, "channel": "outbox"})
    assert response.status_code == 302
    account.refresh_from_db()
    assert account.channel == "outbox"
    owner_client.post(url, {"name": "海味小张", "capacity": 10000, "channel": "manual"})
    account.refresh_from_db()
    assert account.channel == "manual"


def test_wecom_is_shown_but_cannot_be_chosen_yet(owner_client, account):
    html = owner_client.get(reverse("crm:account_edit", args=[account.pk])).content.decode()
    assert '<option value="wecom" disabled>' in html
    response = owner_client.post(
        reverse("crm:account_edit", args=[account.pk]), {"name": "海味小张", "capacity": 10000, "channel": "wecom"}
    )
    assert response.status_code == 400
    assert "channel" in response.context["form"].errors
    account.refresh_from_db()
    assert account.channel == "manual"


def test_an_account_already_on_wecom_keeps_it_when_edited(owner_client, workspace):
    account = WeChatAccountFactory(workspace=workspace, channel=WeChatAccount.Channel.WECOM)
    url = reverse("crm:account_edit", args=[account.pk])
    assert '<option value="wecom" selected>' in owner_client.get(url).content.decode()
    response = owner_client.post(url, {"name": account.name, "capacity": 5000, "channel": "wecom"})
    assert response.status_code == 302
    account.refresh_from_db()
    assert (account.channel, account.capacity) == ("wecom", 5000)


def test_a_teammate_cannot_change_the_channel(teammate_client, account):
    response = teammate_client.post(
        reverse("crm:account_edit", args=[account.pk]), {"name": "海味小张", "capacity": 10000, "channel": "outbox"}
    )
    assert response.status_code == 403
    account.refresh_from_db()
    assert account.channel == "manual"


def test_a_name_clash_keeps_the_old_channel(owner_client, workspace, account):
    other = WeChatAccountFactory(workspace=workspace, name="海味小李")
    owner_client.post(reverse("crm:account_edit", args=[other.pk]), {"name": "海味小张", "capacity": 10000, "channel": "outbox"})
    other.refresh_from_db()
    assert other.channel == "manual"
