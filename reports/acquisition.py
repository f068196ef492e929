"""Referral and acquisition: new contacts per local week by source, the referral share, and each referral campaign's
K-factor and the acquisition cost it saved. Definitions: docs/reports.md, "Referral and acquisition".

The referrals app is optional to the reports: it is installed in this project's settings, but reports only needs it
for the campaign table, so its models and selectors are imported inside the functions that read them, behind
apps.is_installed() (the way crm keeps clear of the apps built on it, crm.attribution). Without it the weekly table
still works and the campaign table is empty. Reusing referrals.selectors.campaign_report, rather than counting the
invites and rewards again here, keeps the K-factor and the reward cost equal to what the campaign's own report shows.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import Decimal

from django.apps import apps
from django.core.cache import cache
from django.db.models import Case, CharField, Count, Q, Value, When
from django.db.models.functions import TruncWeek
from django.utils import timezone

from crm import selectors as crm_selectors
from crm.models import Contact, Workspace
from reports.orders import workspace_zone
from reports.selectors import money, ratio

# The four sources of the weekly table, in the chart's stacking order (bottom first).
REFERRAL, PAID, IMPORT, ORGANIC = "referral", "paid", "import", "organic"
BUCKETS = (REFERRAL, PAID, IMPORT, ORGANIC)
PAID_SOURCES = (Contact.Source.CHANNEL_QR, Contact.Source.ADS)
DEFAULT_WEEKS = 12
DAYS_CHOICES = (3, 7, 14)
DEFAULT_DAYS = 7
# How long a week that has ended keeps its counts (see new_contacts_by_week).
ENDED_WEEK_SECONDS = 3600


@dataclass(frozen=True)
class AcquisitionFilter:
    """Local days `since` (a Monday) to `until`, both included; `days` the effect window; `cost_id` the paid
    channel's cost (referrals.AcquisitionCost) to compare referral rewards with (None: the cheapest)."""

    since: date
    until: date
    days: int = DEFAULT_DAYS
    cost_id: int | None = None

    def key(self) -> str:
        return f"{self.since}:{self.until}:{self.days}:{self.cost_id or ''}"


def week_start(day: date) -> date:
    return day - timedelta(days=day.weekday())


def default_weeks(*, today: date) -> tuple[date, date]:
    """The last twelve local weeks, this one (Monday to today) included."""
    return week_start(today) - timedelta(weeks=DEFAULT_WEEKS - 1), today


def local_bounds(workspace: Workspace, since: date, until: date) -> tuple[datetime, datetime]:
    """The instants from `since` 00:00 to the end of `until`, local time."""
    zone = workspace_zone(workspace)
    return (datetime.combine(since, time.min, tzinfo=zone),
            datetime.combine(until + timedelta(days=1), time.min, tzinfo=zone))


# New contacts per week ---------------------------------------------------------------------------------------------


@dataclass
class WeekRow:
    week: date  # the Monday
    counts: dict = field(default_factory=dict)  # {bucket: new contacts}
    counted_at: datetime | None = None

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    @property
    def referral_share(self) -> float | None:
        return ratio(self.counts.get(REFERRAL, 0), self.total)


@dataclass
class NewContacts:
    weeks: list[WeekRow]
    counted_at: datetime

    def total(self, bucket: str | None = None) -> int:
        return sum(row.counts.get(bucket, 0) if bucket else row.total for row in self.weeks)

    @property
    def referral_share(self) -> float | None:
        return ratio(self.total(REFERRAL), self.total())

    def as_json(self) -> dict:
        return {
            "weeks": [{"week": row.week.isoformat(), **{b: row.counts.get(b, 0) for b in BUCKETS},
                       "total": row.total, "referral_share": row.referral_share} for row in self.weeks],
            "totals": {**{b: self.total(b) for b in BUCKETS}, "total": self.total()},
            "referral_share": self.referral_share,
        }


def source_bucket():
    """The weekly table's source of a contact, as SQL: a contact someone referred counts as referral whatever its
    source says (a referral code typed on a contact added as "organic"), then paid, import, and organic for the
    rest (searched, shop parcel card, group chat, added by hand)."""
    return Case(
        When(Q(source=Contact.Source.REFERRAL) | Q(referred_by__isnull=False), then=Value(REFERRAL)),
        When(source__in=PAID_SOURCES, then=Value(PAID)),
        When(source=Contact.Source.IMPORT, then=Value(IMPORT)),
        default=Value(ORGANIC), output_field=CharField(),
    )


def new_contacts_by_week(*, workspace: Workspace, filters: AcquisitionFilter, today: date | None = None
                         ) -> NewContacts:
    """The weeks of the range. A whole week of the range that has ended is counted once and kept for
    ENDED_WEEK_SECONDS (the cache key has no book version: contacts added today never land in it, so only an
    import with old dates, a merge or a change of source could still change it); the weeks still running, or cut
    by the range, are counted once per version of the customer book. A busy book changes every minute, and then
    only this week is counted again, not the twelve."""
    today = today or timezone.localtime(timezone.now(), workspace_zone(workspace)).date()
    cut = filters.since
    if cut.weekday() == 0:
        while cut + timedelta(days=7) <= min(today, filters.until + timedelta(days=1)):
            cut += timedelta(days=7)
    weeks = _ended_weeks(workspace, filters.since, cut) if cut > filters.since else []
    if cut <= filters.until:
        weeks += crm_selectors.cached_for_workspace(
            workspace_id=workspace.pk, name=f"reports:acquisition:weeks:{cut}:{filters.until}",
            compute=lambda: _new_contacts_by_week(workspace=workspace, since=cut, until=filters.until).weeks,
        )
    return NewContacts(weeks=weeks, counted_at=min((row.counted_at for row in weeks), default=timezone.now()))


def _ended_weeks(workspace: Workspace, since: date, cut: date) -> list[WeekRow]:
    """The weeks from `since` to `cut` (Mondays), from the cache; those missing counted in one query."""
    mondays = [since + timedelta(weeks=n) for n in range((cut - since).days // 7)]
    keys = {monday: f"crm:{workspace.pk}:reports:acquisition:week:{monday}" for monday in mondays}
    found = cache.get_many(list(keys.values()))
    missing = [monday for monday in mondays if keys[monday] not in found]
    if missing:
        counted = _new_contacts_by_week(workspace=workspace, since=missing[0],
                                        until=missing[-1] + timedelta(days=6)).weeks
        fresh = {keys[row.week]: row for row in counted if row.week in keys}
        cache.set_many(fresh, ENDED_WEEK_SECONDS)
        found.update(fresh)
    return [found[keys[monday]] for monday in mondays]


def _new_contacts_by_week(*, workspace: Workspace, since: date, until: date) -> NewContacts:
    # One GROUP BY over the range of the contact_ws_added index (workspace, added_at): the rows of the range are
    # read, never the whole book. At 1,000,000 contacts, twelve weeks of a fast-growing book (160,000 new
    # contacts) take 0.2 s on PostgreSQL (0.6 s read from disk), a year (456,000) 0.4 s (1.0 s): under a second,
    # so no rollup table; the weeks are cached instead (new_contacts_by_week).
    start, end = local_bounds(workspace, since, until)
    zone = workspace_zone(workspace)
    now = timezone.now()
    rows = (
        Contact.objects.filter(workspace=workspace, added_at__gte=start, added_at__lt=end, merged_into__isnull=True)
        .order_by()
        .annotate(week=TruncWeek("added_at", tzinfo=zone), bucket=source_bucket())
        .values("week", "bucket").annotate(n=Count("pk"))
    )
    weeks = {}
    monday = week_start(since)
    while monday <= until:
        weeks[monday] = WeekRow(week=monday, counts={bucket: 0 for bucket in BUCKETS}, counted_at=now)
        monday += timedelta(weeks=1)
    for row in rows:
        week = _local_date(row["week"], zone)
        weeks.setdefault(week, WeekRow(week=week, counts={bucket: 0 for bucket in BUCKETS}, counted_at=now))
        weeks[week].counts[row["bucket"]] += row["n"]
    return NewContacts(weeks=[weeks[week] for week in sorted(weeks)], counted_at=now)


def _local_date(value, zone) -> date:
    if isinstance(value, str):  # SQLite without a converter
        value = datetime.fromisoformat(value)
    if isinstance(value, datetime):
        return timezone.localtime(value, zone).date() if timezone.is_aware(value) else value.date()
    return value


# Referral campaigns ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PaidCost:
    pk: int
    channel: str
    cost_per_customer: Decimal


def referrals_installed() -> bool:
    return apps.is_installed("referrals")


def paid_costs(*, workspace: Workspace) -> list[PaidCost]:
    """The paid channels' costs per new customer the seller entered on the referral pages, cheapest first."""
    if not referrals_installed():
        return []
    from referrals.models import AcquisitionCost

    rows = AcquisitionCost.objects.filter(workspace=workspace).order_by("cost_per_customer", "channel", "id")
    return [PaidCost(pk=row.pk, channel=row.channel, cost_per_customer=row.cost_per_customer) for row in rows]


def chosen_cost(*, workspace: Workspace, cost_id: int | None) -> PaidCost | None:
    """The cost the saving is counted against: the one chosen, else the cheapest (the saving is then at least
    that much)."""
    costs = paid_costs(workspace=workspace)
    return next((cost for cost in costs if cost.pk == cost_id), costs[0] if costs else None)


@dataclass(frozen=True)
class CampaignRow:
    pk: int
    name: str
    starts_at: datetime
    ends_at: datetime
    participants: int
    invites: int  # friends brought, refused ones left out (the campaign report's "new contacts")
    qualified: int
    reward_cost: Decimal  # rewards granted or delivered; clawed back ones cost nothing
    paid_cost: Decimal | None  # per new customer, through the chosen paid channel

    @property
    def k_factor(self) -> float | None:
        return ratio(self.qualified, self.participants)

    @property
    def saved(self) -> Decimal | None:
        if self.paid_cost is None:
            return None
        return (self.qualified * self.paid_cost - self.reward_cost).quantize(Decimal("0.01"))

    def as_json(self) -> dict:
        return {
            "campaign": self.name, "starts_at": self.starts_at.isoformat(), "ends_at": self.ends_at.isoformat(),
            "participants": self.participants, "invites": self.invites, "qualified": self.qualified,
            "k_factor": self.k_factor, "reward_cost": str(self.reward_cost),
            "paid_cost": None if self.paid_cost is None else str(self.paid_cost),
            "saved": None if self.saved is None else str(self.saved),
        }


def referral_campaigns(*, workspace: Workspace, filters: AcquisitionFilter) -> list[CampaignRow]:
    """The referral campaigns that ran on a day of the range, newest first, each with its whole-campaign numbers."""
    if not referrals_installed():
        return []
    from referrals.models import Campaign
    from referrals.selectors import campaign_report

    def compute():
        start, end = local_bounds(workspace, filters.since, filters.until)
        cost = chosen_cost(workspace=workspace, cost_id=filters.cost_id)
        campaigns = Campaign.objects.filter(workspace=workspace, starts_at__lt=end, ends_at__gt=start)
        rows = []
        for campaign in campaigns.order_by("-starts_at", "-id"):
            report = campaign_report(campaign=campaign)
            rows.append(CampaignRow(
                pk=campaign.pk, name=campaign.name, starts_at=campaign.starts_at, ends_at=campaign.ends_at,
                participants=report.participants, invites=report.new_contacts, qualified=report.qualified,
                reward_cost=money(report.reward_cost), paid_cost=cost.cost_per_customer if cost else None,
            ))
        return rows

    # Invites qualify and rewards are granted without a change to the book: the cache's time limit
    # (CONTACT_COUNT_CACHE_SECONDS) is what brings those in.
    return crm_selectors.cached_for_workspace(
        workspace_id=workspace.pk, name=f"reports:acquisition:campaigns:{filters.key()}", compute=compute
    )


def campaigns_total(rows: list[CampaignRow]) -> dict:
    """The campaigns added up: K over every participant, the saving over every campaign."""
    participants = sum(row.participants for row in rows)
    qualified = sum(row.qualified for row in rows)
    savings = [row.saved for row in rows if row.saved is not None]
    return {
        "participants": participants, "invites": sum(row.invites for row in rows), "qualified": qualified,
        "k_factor": ratio(qualified, participants),
        "reward_cost": sum((row.reward_cost for row in rows), Decimal("0.00")),
        "saved": sum(savings, Decimal("0.00")) if savings else None,
    }
