"""The reports from the command line: `crm_report repeat-purchase --workspace SLUG [--since D] [--until D] --json`."""

import json
from datetime import date

from django.core.management.base import BaseCommand, CommandError

from crm.models import Order, Segment, WeChatAccount, Workspace
from reports import selectors
from reports.forms import default_range, workspace_today


def _day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise CommandError(f"Not a date (YYYY-MM-DD): {text!r}") from None


class Command(BaseCommand):
    help = "Print a report of a workspace. Dates are local days of the workspace's time zone, both included."

    def add_arguments(self, parser):
        subcommands = parser.add_subparsers(dest="report", required=True)
        repeat = subcommands.add_parser("repeat-purchase", help="Customers, repeat customers, orders, revenue.")
        repeat.add_argument("--workspace", required=True, help="the workspace's slug")
        repeat.add_argument("--since", type=_day, help="first day (default: the first of the month 11 months ago)")
        repeat.add_argument("--until", type=_day, help="last day (default: today)")
        repeat.add_argument("--channel", choices=Order.Channel.values)
        repeat.add_argument("--account", help="a WeChat account's name")
        repeat.add_argument("--segment", help="a saved segment's name")
        repeat.add_argument("--json", action="store_true", help="one JSON object instead of lines of text")

    def handle(self, *args, **options):
        workspace = Workspace.objects.filter(slug=options["workspace"]).first()
        if workspace is None:
            raise CommandError(f"No workspace {options['workspace']!r}.")
        filters = self._filters(workspace, options)
        data = {
            "workspace": workspace.slug,
            "since": filters.since.isoformat(),
            "until": filters.until.isoformat(),
            **selectors.repeat_purchase(workspace=workspace, filters=filters).as_json(),
        }
        if options["json"]:
            self.stdout.write(json.dumps(data, ensure_ascii=False))
        else:
            for key, value in data.items():
                self.stdout.write(f"{key}: {value}")

    def _filters(self, workspace, options) -> selectors.ReportFilter:
        since, until = default_range(today=workspace_today(workspace))
        since, until = options["since"] or since, options["until"] or until
        if since > until:
            raise CommandError("--since comes after --until.")
        return selectors.ReportFilter(
            since=since, until=until, channel=options["channel"] or "",
            account_id=self._named(WeChatAccount, workspace, options["account"], "WeChat account"),
            segment_id=self._named(Segment, workspace, options["segment"], "segment"),
        )

    @staticmethod
    def _named(model, workspace, name, what) -> int | None:
        if not name:
            return None
        found = model.objects.filter(workspace=workspace, name=name).values_list("pk", flat=True).first()
        if found is None:
            raise CommandError(f"No {what} named {name!r} in {workspace.slug}.")
        return found
