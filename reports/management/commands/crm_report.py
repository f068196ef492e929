"""The reports from the command line, each as one JSON object with --json:

    crm_report repeat-purchase --workspace SLUG [--since D] [--until D] [--channel C] [--account A] [--segment S]
    crm_report acquisition --workspace SLUG [--since D] [--until D] [--cost CHANNEL]
    crm_report campaign-effect --workspace SLUG [--since D] [--until D] [--days 3|7|14]
"""

import json
from datetime import date

from django.core.management.base import BaseCommand, CommandError

from crm.models import Order, Segment, WeChatAccount, Workspace
from reports import acquisition, effect, selectors
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
        self._common(repeat, since="first day (default: the first of the month 11 months ago)")
        repeat.add_argument("--channel", choices=Order.Channel.values)
        repeat.add_argument("--account", help="a WeChat account's name")
        repeat.add_argument("--segment", help="a saved segment's name")
        acquired = subcommands.add_parser(
            "acquisition", help="New contacts per week by source, referral share, referral campaigns' K-factor.")
        self._common(acquired, since="first day, moved back to its Monday (default: the Monday 11 weeks ago)")
        acquired.add_argument("--cost", help="the paid channel whose cost per customer the saving is counted "
                                             "against, as named on the acquisition costs page (default: the cheapest)")
        effected = subcommands.add_parser(
            "campaign-effect", help="Orders of each broadcast's and moments post's audience before and after it.")
        self._common(effected, since="first day, moved back to its Monday (default: the Monday 11 weeks ago)")
        effected.add_argument("--days", type=int, choices=acquisition.DAYS_CHOICES, default=acquisition.DEFAULT_DAYS,
                              help="days before and after each send (default: 7)")

    @staticmethod
    def _common(parser, *, since: str):
        parser.add_argument("--workspace", required=True, help="the workspace's slug")
        parser.add_argument("--since", type=_day, help=since)
        parser.add_argument("--until", type=_day, help="last day (default: today)")
        parser.add_argument("--json", action="store_true", help="one JSON object instead of lines of text")

    def handle(self, *args, **options):
        workspace = Workspace.objects.filter(slug=options["workspace"]).first()
        if workspace is None:
            raise CommandError(f"No workspace {options['workspace']!r}.")
        if options["report"] == "acquisition":
            data = self._acquisition(workspace, options)
        elif options["report"] == "campaign-effect":
            data = self._effect(workspace, options)
        else:
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

    def _weeks(self, workspace, options, **extra) -> acquisition.AcquisitionFilter:
        since, until = acquisition.default_weeks(today=workspace_today(workspace))
        since, until = acquisition.week_start(options["since"] or since), options["until"] or until
        if since > until:
            raise CommandError("--since comes after --until.")
        return acquisition.AcquisitionFilter(since=since, until=until, **extra)

    def _acquisition(self, workspace, options) -> dict:
        cost_id = None
        if options["cost"]:
            found = [c for c in acquisition.paid_costs(workspace=workspace) if c.channel == options["cost"]]
            if not found:
                raise CommandError(f"No acquisition cost named {options['cost']!r} in {workspace.slug}.")
            cost_id = found[0].pk
        filters = self._weeks(workspace, options, cost_id=cost_id)
        campaigns = acquisition.referral_campaigns(workspace=workspace, filters=filters)
        cost = acquisition.chosen_cost(workspace=workspace, cost_id=cost_id)
        totals = acquisition.campaigns_total(campaigns)
        return {
            "workspace": workspace.slug, "since": filters.since.isoformat(), "until": filters.until.isoformat(),
            **acquisition.new_contacts_by_week(workspace=workspace, filters=filters).as_json(),
            "paid_cost": None if cost is None else {"channel": cost.channel,
                                                    "cost_per_customer": str(cost.cost_per_customer)},
            "campaigns": [row.as_json() for row in campaigns],
            "campaigns_total": {key: value if isinstance(value, (int, float, type(None))) else str(value)
                                for key, value in totals.items()},
        }

    def _effect(self, workspace, options) -> dict:
        filters = self._weeks(workspace, options, days=options["days"])
        found = effect.campaign_effect(workspace=workspace, filters=filters)
        return {
            "workspace": workspace.slug, "since": filters.since.isoformat(), "until": filters.until.isoformat(),
            "days": filters.days, "sends": [row.as_json() for row in found.rows],
        }

    @staticmethod
    def _named(model, workspace, name, what) -> int | None:
        if not name:
            return None
        found = model.objects.filter(workspace=workspace, name=name).values_list("pk", flat=True).first()
        if found is None:
            raise CommandError(f"No {what} named {name!r} in {workspace.slug}.")
        return found
