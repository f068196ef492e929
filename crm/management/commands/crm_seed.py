"""`manage.py crm_seed --workspace SLUG --contacts N`: add realistic, deterministic seed data to a workspace."""

import sys
import time
from datetime import datetime
from zoneinfo import ZoneInfo

from django.core.management.base import BaseCommand, CommandError, no_translations
from tqdm import tqdm

from crm.models import Workspace
from crm.seeding import DEFAULT_REFERENCE, seed_workspace


class Command(BaseCommand):
    help = "Add N realistic contacts with tags, orders, groups and notes to a workspace (same seed, same data)."

    def add_arguments(self, parser):
        parser.add_argument("--workspace", required=True, help="the workspace's slug")
        parser.add_argument("--contacts", type=int, required=True)
        parser.add_argument("--orders-per-contact", type=float, default=2.0)
        parser.add_argument("--seed", type=int, default=1)
        parser.add_argument(
            "--reference", help=f"the day the history ends, YYYY-MM-DD (default {DEFAULT_REFERENCE:%Y-%m-%d})"
        )
        parser.add_argument("--no-progress", action="store_true", help="no progress bar")

    @no_translations  # the command line speaks English; the web UI is Chinese by default
    def handle(self, *args, workspace, contacts, orders_per_contact, seed, reference, no_progress, **options):
        found = Workspace.objects.filter(slug=workspace).first()
        if found is None:
            raise CommandError(f"No workspace with the slug “{workspace}”.")
        if contacts < 0 or orders_per_contact < 0:
            raise CommandError("--contacts and --orders-per-contact must not be negative.")
        reference_at = None
        if reference:
            try:
                day = datetime.strptime(reference, "%Y-%m-%d")
            except ValueError:
                raise CommandError("--reference must be a date such as 2026-11-01.") from None
            reference_at = day.replace(hour=20, tzinfo=ZoneInfo(found.time_zone))
        started = time.monotonic()
        with tqdm(total=contacts, unit="contact", disable=no_progress or contacts < 1, file=sys.stderr) as bar:
            result = seed_workspace(
                workspace=found, contacts=contacts, orders_per_contact=orders_per_contact, seed=seed,
                progress=lambda done, total: bar.update(done - bar.n), reference=reference_at,
            )
        elapsed = time.monotonic() - started
        self.stdout.write(f"Seeded {found.slug}: {result.summary()} in {elapsed:.1f} s.")
