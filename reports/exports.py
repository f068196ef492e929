"""Every table of the reports as rows for CSV / Excel (crm.exports writes the files and its neutralise() keeps a
cell that starts like a formula as text)."""

from django.utils import timezone
from django.utils.translation import gettext as _

from crm.exports import neutralise
from reports.acquisition import BUCKETS
from reports.effect import BROADCAST
from reports.selectors import COHORT_MONTHS_SHOWN

TABLES = ("summary", "distribution", "months", "cohorts", "rfm")


def _rows(rows):
    return [[neutralise(cell) if isinstance(cell, str) else cell for cell in row] for row in rows]


def _percent(share) -> str:
    return "" if share is None else f"{share * 100:.1f}%"


def summary_table(report) -> tuple[list, list]:
    header = [_("Figure"), _("Value")]
    rows = [
        [_("Customers"), report.customers],
        [_("Repeat customers"), report.repeat_customers],
        [_("Repeat rate"), _percent(report.repeat_rate)],
        [_("Orders"), report.orders],
        [_("Revenue"), report.revenue],
        [_("Share of revenue from repeat customers"), _percent(report.repeat_revenue_share)],
        [_("Median days from first to second order"), report.median_days_to_second_order],
        [_("Average first order"), report.average_first_order],
        [_("Average repeat order"), report.average_repeat_order],
    ]
    return header, _rows(rows)


def distribution_table(report) -> tuple[list, list]:
    rows = [[label, count] for label, count in distribution_bars(report)]
    return [_("Orders per customer"), _("Customers")], _rows(rows)


def distribution_bars(report) -> list[tuple[str, int]]:
    last = max(report.orders_per_customer, default=0)
    return [(f"{n}+" if n == last else str(n), count) for n, count in sorted(report.orders_per_customer.items())]


def months_table(points) -> tuple[list, list]:
    rows = [[f"{point.month:%Y-%m}", point.orders, point.revenue] for point in points]
    return [_("Month"), _("Orders"), _("Revenue")], _rows(rows)


def cohorts_table(cohorts) -> tuple[list, list]:
    header = [_("First order month"), _("Customers")]
    header += [_("Month %(n)s") % {"n": n} for n in range(1, COHORT_MONTHS_SHOWN + 1)]
    header += [_("Cumulative revenue")]
    rows = [
        [f"{row.cohort:%Y-%m}", row.customers, *[_percent(share) for share in row.retention], row.total_revenue]
        for row in cohorts
    ]
    return header, _rows(rows)


def rfm_table(groups) -> tuple[list, list]:
    header = [_("Group"), _("Customers"), _("Orders"), _("Revenue"), _("Average revenue"),
              _("Average monetary score")]
    rows = [
        [group.label, group.customers, group.orders, group.revenue, group.average_revenue,
         group.average_monetary_score]
        for group in groups
    ]
    return header, _rows(rows)



# The acquisition page's tables (reports.acquisition, reports.effect) -------------------------------------------------

ACQUISITION_TABLES = ("weeks", "referral-campaigns", "effect")


def bucket_labels() -> dict:
    return {"referral": _("Referral"), "paid": _("Channel QR / ads"), "import": _("Import"), "organic": _("Organic")}


def weeks_table(new_contacts) -> tuple[list, list]:
    labels = bucket_labels()
    header = [_("Week (from Monday)"), *[labels[bucket] for bucket in BUCKETS], _("New contacts"),
              _("Referral share")]
    rows = [
        [f"{row.week:%Y-%m-%d}", *[row.counts.get(bucket, 0) for bucket in BUCKETS], row.total,
         _percent(row.referral_share)]
        for row in new_contacts.weeks
    ]
    rows.append([_("Total"), *[new_contacts.total(bucket) for bucket in BUCKETS], new_contacts.total(),
                 _percent(new_contacts.referral_share)])
    return header, _rows(rows)


def referral_campaigns_table(campaigns) -> tuple[list, list]:
    header = [_("Campaign"), _("Starts"), _("Ends"), _("Participants"), _("Invites"), _("Qualified"), _("K-factor"),
              _("Reward cost"), _("Paid cost per customer"), _("Acquisition cost saved")]
    rows = [
        [row.name, f"{row.starts_at:%Y-%m-%d}", f"{row.ends_at:%Y-%m-%d}", row.participants, row.invites,
         row.qualified, row.k_factor, row.reward_cost, row.paid_cost, row.saved]
        for row in campaigns
    ]
    return header, _rows(rows)


def effect_table(effect, *, time_zone) -> tuple[list, list]:
    header = [_("Kind"), _("Name"), _("Sent at"), _("Days"), _("Audience size"),
              _("Orders before"), _("Orders after"), _("Orders difference"),
              _("Revenue before"), _("Revenue after"), _("Revenue difference"),
              _("Ordering customers before"), _("Ordering customers after"), _("Window complete")]
    rows = [
        [_("Broadcast") if row.kind == BROADCAST else _("Moments"), row.name,
         f"{timezone.localtime(row.sent_at, time_zone):%Y-%m-%d %H:%M}", row.days, row.audience,
         row.before.orders, row.after.orders, row.orders_difference,
         row.before.revenue, row.after.revenue, row.revenue_difference,
         row.before.customers, row.after.customers, _("Yes") if row.complete else _("No")]
        for row in effect.rows
    ]
    return header, _rows(rows)
