"""Create the demo workspace and its owner once, seed it once, and print how to sign in (used by `make run`)."""

import secrets
from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from django.db import transaction

from crm import selectors, services
from crm.models import Workspace
from crm.seeding import seed_workspace

DEMO_SLUG = "demo"
DEMO_USERNAME = "demo"
DEMO_CONTACTS = 3000


class Command(BaseCommand):
    help = "Create and seed the demo workspace if it is missing, then print the demo sign-in."

    def add_arguments(self, parser):
        parser.add_argument("--url", default="http://127.0.0.1:8000/")
        parser.add_argument("--contacts", type=int, default=DEMO_CONTACTS)

    def handle(self, *args, url, contacts, **options):
        workspace, password = self._workspace_and_password()
        if not workspace.contacts.exists():
            self.stdout.write(f"Seeding the demo workspace with {contacts} customers…")
            seed_workspace(workspace=workspace, contacts=contacts, orders_per_contact=2.0, seed=2026)
            self._show_a_nearly_full_account(workspace)
        self.stdout.write(
            self.style.SUCCESS(f"\nSiyu CRM is starting at {url}\n  username: {DEMO_USERNAME}\n  password: {password}\n")
        )

    def _show_a_nearly_full_account(self, workspace):
        """Give the busiest demo account a small capacity so the demo shows the 90% warning."""
        busiest = selectors.accounts_with_friend_counts(member=workspace.members.get(user__username=DEMO_USERNAME))
        busiest = max(busiest, key=lambda account: account.friend_count, default=None)
        if busiest and busiest.friend_count:
            busiest.capacity = int(busiest.friend_count / 0.95)
            busiest.save(update_fields=["capacity"])

    @transaction.atomic
    def _workspace_and_password(self) -> tuple[Workspace, str]:
        """The password is generated on first run and kept in var/ (readable by this user only), never in code."""
        credentials = Path(settings.VAR_DIR) / "demo-password"
        User = get_user_model()
        user = User.objects.filter(username=DEMO_USERNAME).first()
        password = credentials.read_text().strip() if credentials.exists() else ""
        if user is None or not password or not user.check_password(password):
            password = secrets.token_urlsafe(12)
            credentials.parent.mkdir(parents=True, exist_ok=True)
            credentials.touch(mode=0o600)
            credentials.write_text(password)
            if user is None:
                user = services.user_create(username=DEMO_USERNAME, password=password)
            else:
                user.set_password(password)
                user.save(update_fields=["password"])
        workspace = Workspace.objects.filter(slug=DEMO_SLUG).first()
        if workspace is None:
            workspace = services.workspace_create(name="张姐海味（演示）", slug=DEMO_SLUG, owner=user)
        return workspace, password
