"""Create a workspace with its owner, or add a member, from the command line.

    python manage.py crm_workspace create SLUG --owner USERNAME [--name NAME]
    python manage.py crm_workspace add-member SLUG USERNAME [--role staff|owner]

A new user's password is never taken from the command line (it would sit in the shell history and the process
list): it comes from CRM_OWNER_PASSWORD / CRM_MEMBER_PASSWORD, or is asked for when a terminal is attached.
An existing user keeps their password.
"""

import getpass
import os
import sys

from django.contrib.auth import get_user_model, password_validation
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, no_translations
from django.core.validators import validate_slug
from django.db import transaction

from crm import services
from crm.models import Member, Workspace

OWNER_PASSWORD_ENV = "CRM_OWNER_PASSWORD"
MEMBER_PASSWORD_ENV = "CRM_MEMBER_PASSWORD"


def _messages(error: ValidationError) -> str:
    return " ".join(error.messages)


class Command(BaseCommand):
    help = "Create a workspace and its owner, or add a member to a workspace."

    def add_arguments(self, parser):
        commands = parser.add_subparsers(dest="action", required=True, metavar="{create,add-member}")

        create = commands.add_parser("create", help="Create a workspace; its owner is created if missing.")
        create.add_argument("slug", help="Short ASCII name of the workspace, e.g. zhang-seafood.")
        create.add_argument("--owner", required=True, help="Username of the owner (created if missing).")
        create.add_argument("--name", help="Display name of the workspace (default: the slug).")

        add_member = commands.add_parser("add-member", help="Add a user to a workspace (created if missing).")
        add_member.add_argument("slug", help="Slug of the workspace.")
        add_member.add_argument("username", help="Username of the member (created if missing).")
        add_member.add_argument("--role", choices=[choice.value for choice in Member.Role], default=Member.Role.STAFF)

    @no_translations  # the command line speaks English; the web UI is Chinese by default
    def handle(self, *args, action, **options):
        if action == "create":
            self._create(slug=options["slug"], owner=options["owner"], name=options.get("name"))
        else:
            self._add_member(slug=options["slug"], username=options["username"], role=options["role"])

    def _create(self, *, slug: str, owner: str, name: str | None) -> None:
        try:
            validate_slug(slug)
        except ValidationError:
            raise CommandError(
                f"“{slug}” is not a valid slug: use letters, numbers, hyphens and underscores only."
            ) from None
        max_length = Workspace._meta.get_field("slug").max_length
        if len(slug) > max_length:
            raise CommandError(f"The slug is longer than {max_length} characters.")
        if Workspace.objects.filter(slug=slug).exists():
            raise CommandError(f"A workspace with the slug “{slug}” exists already.")
        try:
            with transaction.atomic():
                user, created = self._user(owner, env=OWNER_PASSWORD_ENV)
                workspace = services.workspace_create(name=name or slug, slug=slug, owner=user)
        except ValidationError as error:
            raise CommandError(_messages(error)) from None
        who = f"new user “{owner}”" if created else f"existing user “{owner}” (password unchanged)"
        self.stdout.write(self.style.SUCCESS(f"Created workspace “{workspace.name}” ({slug}) owned by {who}."))

    def _add_member(self, *, slug: str, username: str, role: str) -> None:
        workspace = Workspace.objects.filter(slug=slug).first()
        if workspace is None:
            raise CommandError(f"There is no workspace with the slug “{slug}”.")
        if Member.objects.filter(workspace=workspace, user__username=username).exists():
            raise CommandError(f"“{username}” is a member of “{slug}” already.")
        try:
            with transaction.atomic():
                user, created = self._user(username, env=MEMBER_PASSWORD_ENV)
                services.member_add(workspace=workspace, user=user, role=role)
        except ValidationError as error:
            raise CommandError(_messages(error)) from None
        who = f"new user “{username}”" if created else f"existing user “{username}”"
        self.stdout.write(self.style.SUCCESS(f"Added {who} to “{workspace.name}” ({slug}) as {role}."))

    def _user(self, username: str, *, env: str):
        """The user with this username, or a new one with a password from the environment or the terminal."""
        User = get_user_model()
        user = User.objects.filter(username=username).first()
        if user is not None:
            return user, False
        password = self._new_password(username, env=env)
        return services.user_create(username=username, password=password), True

    def _new_password(self, username: str, *, env: str) -> str:
        password = os.environ.get(env, "")
        if not password:
            if not sys.stdin.isatty():
                raise CommandError(
                    f"“{username}” is a new user and needs a password: set the environment variable {env}, "
                    "or run this command in a terminal to be asked for one."
                )
            password = getpass.getpass(f"Password for {username}: ")
            if password != getpass.getpass("Password (again): "):
                raise CommandError("The two passwords differ.")
            if not password:
                raise CommandError("The password cannot be empty.")
        try:
            password_validation.validate_password(password, user=get_user_model()(username=username))
        except ValidationError as error:
            raise CommandError(f"The password for “{username}” is refused: {_messages(error)}") from None
        return password
