import pytest
from django.contrib.auth.models import Permission
from django.urls import reverse

from crm.models import Member
from tests.conftest import client_for
from tests.factories import ContactFactory, MemberFactory, UserFactory

pytestmark = pytest.mark.django_db


def test_an_admin_user_sees_only_the_contacts_of_workspaces_they_own(workspace, outsider):
    owner = MemberFactory(workspace=workspace, role=Member.Role.OWNER, user=UserFactory(is_staff=True, is_superuser=False))
    owner.user.user_permissions.add(Permission.objects.get(codename="view_contact"))
    ContactFactory(workspace=workspace, remark_name="自家客户")
    ContactFactory(workspace=outsider.workspace, remark_name="别家客户")
    html = client_for(owner).get(reverse("admin:crm_contact_changelist")).content.decode()
    assert "自家客户" in html
    assert "别家客户" not in html


def test_a_superuser_sees_every_workspace_in_the_admin(workspace, outsider):
    superuser = UserFactory(is_staff=True, is_superuser=True)
    ContactFactory(workspace=workspace, remark_name="自家客户")
    ContactFactory(workspace=outsider.workspace, remark_name="别家客户")
    client = client_for(MemberFactory(user=superuser))
    html = client.get(reverse("admin:crm_contact_changelist")).content.decode()
    assert "自家客户" in html and "别家客户" in html
