import io

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command

from crm.management.commands import crm_workspace
from crm.models import Member, Workspace
from tests.factories import MemberFactory, UserFactory, WorkspaceFactory

pytestmark = pytest.mark.django_db

User = get_user_model()
OWNER_PASSWORD = "haiwei-owner-2026-dalian"
MEMBER_PASSWORD = "haiwei-staff-2026-dalian"


class FakeTerminal(io.StringIO):
    def isatty(self):
        return True


@pytest.fixture(autouse=True)
def _no_terminal_and_no_passwords(monkeypatch):
    """Start every test with no password in the environment and no terminal to ask on."""
    monkeypatch.delenv(crm_workspace.OWNER_PASSWORD_ENV, raising=False)
    monkeypatch.delenv(crm_workspace.MEMBER_PASSWORD_ENV, raising=False)
    monkeypatch.setattr("sys.stdin", io.StringIO())

    def no_prompt(prompt=""):
        raise AssertionError("getpass must not be called without a terminal")

    monkeypatch.setattr(crm_workspace.getpass, "getpass", no_prompt)


def run(*args) -> str:
    out = io.StringIO()
    call_command("crm_workspace", *args, stdout=out)
    return out.getvalue()


def test_create_makes_the_workspace_and_its_owner_with_the_password_from_the_environment(monkeypatch):
    monkeypatch.setenv("CRM_OWNER_PASSWORD", OWNER_PASSWORD)
    output = run("create", "zhang-seafood", "--owner", "zhangjie", "--name", "张姐海味")
    workspace = Workspace.objects.get(slug="zhang-seafood")
    assert workspace.name == "张姐海味"
    user = User.objects.get(username="zhangjie")
    assert user.check_password(OWNER_PASSWORD)
    assert Member.objects.get(workspace=workspace, user=user).role == Member.Role.OWNER
    assert "zhang-seafood" in output
    assert OWNER_PASSWORD not in output


def test_the_name_defaults_to_the_slug(monkeypatch):
    monkeypatch.setenv("CRM_OWNER_PASSWORD", OWNER_PASSWORD)
    run("create", "li-tea", "--owner", "lijie")
    assert Workspace.objects.get(slug="li-tea").name == "li-tea"


def test_an_existing_user_becomes_owner_and_keeps_their_password(monkeypatch):
    user = UserFactory(username="zhangjie")
    old_hash = user.password
    monkeypatch.setenv("CRM_OWNER_PASSWORD", OWNER_PASSWORD)  # present, but not for an existing user
    run("create", "zhang-seafood", "--owner", "zhangjie")
    user.refresh_from_db()
    assert user.password == old_hash
    assert Member.objects.get(workspace__slug="zhang-seafood", user=user).is_owner


def test_an_existing_user_needs_no_password_at_all():
    UserFactory(username="zhangjie")
    run("create", "zhang-seafood", "--owner", "zhangjie")
    assert Workspace.objects.filter(slug="zhang-seafood").exists()


def test_the_password_is_asked_for_on_a_terminal(monkeypatch):
    monkeypatch.setattr("sys.stdin", FakeTerminal())
    prompts = []

    def fake_getpass(prompt=""):
        prompts.append(prompt)
        return OWNER_PASSWORD

    monkeypatch.setattr(crm_workspace.getpass, "getpass", fake_getpass)
    run("create", "zhang-seafood", "--owner", "zhangjie")
    assert len(prompts) == 2  # asked, then confirmed
    assert User.objects.get(username="zhangjie").check_password(OWNER_PASSWORD)


def test_two_different_passwords_on_the_terminal_are_refused(monkeypatch):
    monkeypatch.setattr("sys.stdin", FakeTerminal())
    answers = iter([OWNER_PASSWORD, "something-else-entirely"])
    monkeypatch.setattr(crm_workspace.getpass, "getpass", lambda prompt="": next(answers))
    with pytest.raises(CommandError, match="differ"):
        run("create", "zhang-seafood", "--owner", "zhangjie")
    assert not User.objects.filter(username="zhangjie").exists()
    assert not Workspace.objects.filter(slug="zhang-seafood").exists()


def test_a_new_owner_without_password_or_terminal_is_a_clear_error():
    with pytest.raises(CommandError, match="CRM_OWNER_PASSWORD"):
        run("create", "zhang-seafood", "--owner", "zhangjie")
    assert not User.objects.filter(username="zhangjie").exists()
    assert not Workspace.objects.exists()


def test_the_password_is_never_read_from_the_command_line():
    with pytest.raises(CommandError, match="unrecognized arguments"):
        run("create", "zhang-seafood", "--owner", "zhangjie", "--password", OWNER_PASSWORD)
    assert not User.objects.filter(username="zhangjie").exists()


def test_a_weak_password_from_the_environment_is_refused(monkeypatch):
    monkeypatch.setenv("CRM_OWNER_PASSWORD", "123456")
    with pytest.raises(CommandError, match="refused"):
        run("create", "zhang-seafood", "--owner", "zhangjie")
    assert not User.objects.filter(username="zhangjie").exists()


def test_a_taken_slug_is_an_error_and_creates_no_user(monkeypatch):
    WorkspaceFactory(slug="zhang-seafood")
    monkeypatch.setenv("CRM_OWNER_PASSWORD", OWNER_PASSWORD)
    with pytest.raises(CommandError, match="exists already"):
        run("create", "zhang-seafood", "--owner", "zhangjie")
    assert not User.objects.filter(username="zhangjie").exists()


@pytest.mark.parametrize("slug", ["张姐", "has space", "x" * 51])
def test_a_bad_slug_is_an_error(monkeypatch, slug):
    monkeypatch.setenv("CRM_OWNER_PASSWORD", OWNER_PASSWORD)
    with pytest.raises(CommandError):
        run("create", slug, "--owner", "zhangjie")
    assert not Workspace.objects.exists()


def test_add_member_adds_an_existing_user_as_staff():
    workspace = WorkspaceFactory(slug="zhang-seafood")
    user = UserFactory(username="xiaoli")
    output = run("add-member", "zhang-seafood", "xiaoli")
    assert Member.objects.get(workspace=workspace, user=user).role == Member.Role.STAFF
    assert "xiaoli" in output


def test_add_member_creates_a_new_user_with_the_member_password(monkeypatch):
    workspace = WorkspaceFactory(slug="zhang-seafood")
    monkeypatch.setenv("CRM_MEMBER_PASSWORD", MEMBER_PASSWORD)
    run("add-member", "zhang-seafood", "xiaoli", "--role", "owner")
    user = User.objects.get(username="xiaoli")
    assert user.check_password(MEMBER_PASSWORD)
    assert Member.objects.get(workspace=workspace, user=user).role == Member.Role.OWNER


def test_add_member_does_not_take_the_owner_password(monkeypatch):
    WorkspaceFactory(slug="zhang-seafood")
    monkeypatch.setenv("CRM_OWNER_PASSWORD", OWNER_PASSWORD)
    with pytest.raises(CommandError, match="CRM_MEMBER_PASSWORD"):
        run("add-member", "zhang-seafood", "xiaoli")
    assert not User.objects.filter(username="xiaoli").exists()


def test_add_member_to_an_unknown_workspace_is_an_error():
    UserFactory(username="xiaoli")
    with pytest.raises(CommandError, match="no workspace"):
        run("add-member", "nowhere", "xiaoli")


def test_adding_a_member_twice_is_an_error():
    member = MemberFactory(workspace=WorkspaceFactory(slug="zhang-seafood"), user=UserFactory(username="xiaoli"))
    with pytest.raises(CommandError, match="already"):
        run("add-member", "zhang-seafood", "xiaoli", "--role", "owner")
    member.refresh_from_db()
    assert member.role == Member.Role.STAFF


def test_an_unknown_role_is_an_error():
    WorkspaceFactory(slug="zhang-seafood")
    UserFactory(username="xiaoli")
    with pytest.raises(CommandError):
        run("add-member", "zhang-seafood", "xiaoli", "--role", "admin")
    assert not Member.objects.exists()


def test_the_command_line_exits_non_zero_on_an_error(capsys):
    from django.core.management import ManagementUtility

    utility = ManagementUtility(["manage.py", "crm_workspace", "add-member", "nowhere", "xiaoli"])
    with pytest.raises(SystemExit) as exit_info:
        utility.execute()
    assert exit_info.value.code != 0
    assert "no workspace" in capsys.readouterr().err
