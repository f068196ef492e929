"""Compiling a rule into SQL: rule_to_q() gives one Q of EXISTS / scalar subqueries over Contact.

Why correlated EXISTS rather than `id IN (SELECT contact_id ...)` (measured on a million contacts, docs/performance.md
"Segments"):
- PostgreSQL turns an EXISTS under the rule's top AND into the same semi-join (anti-join for NOT) as an IN, served
  by the same indexes (contact_tag_by_tag, order_contact_placed), so IN gains nothing there. Under OR or NOT an IN
  stays a subplan, hashed only when the planner expects its rows to fit work_mem; otherwise it rescans the list
  for every contact (NOT IN over the 300,000 contacts of one popular tag ran for minutes), while an EXISTS falls
  back to an index probe per contact.
- SQLite runs an EXISTS as one index probe per contact, and walks the newest contacts for a page until it has 50;
  an IN builds each list first: twice as slow for the count at 100,000 contacts, 60 times for the first page.
How PostgreSQL joins them for a count is set in queries.COUNT_SETTINGS.
"""

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from django.db.models import Count, DecimalField, Exists, IntegerField, OuterRef, Q, Subquery, Sum, Value
from django.db.models.functions import Coalesce
from django.db.models.lookups import Exact, GreaterThanOrEqual, LessThanOrEqual
from django.utils import timezone

from crm.models import ContactTag, GroupMembership, Order, TimelineEvent, Workspace
from crm.segments.validation import expand_rule

class _Nothing:
    """Matches no contact (an empty OR group); None stands for "every contact" (an empty AND group)."""


NOTHING = _Nothing()

# The timeline events behind each kind of moments engagement (served by the timeline_contact_time index).
_ENGAGEMENT_EVENTS = {
    "liked": [TimelineEvent.Kind.MOMENT_LIKED],
    "commented": [TimelineEvent.Kind.MOMENT_COMMENTED],
    "either": [TimelineEvent.Kind.MOMENT_LIKED, TimelineEvent.Kind.MOMENT_COMMENTED],
}


@dataclass(frozen=True)
class _Context:
    tz: ZoneInfo
    now: datetime

    def start_of(self, day: str) -> datetime:
        return datetime.combine(date.fromisoformat(day), time.min, tzinfo=self.tz)

    def end_of(self, day: str) -> datetime:
        """The start of the next day: ranges are [start_of(from), end_of(to))."""
        return self.start_of(day) + timedelta(days=1)

    def days_ago(self, days: int) -> datetime:
        return self.now - timedelta(days=days)


def _tz(workspace: Workspace) -> ZoneInfo:
    try:
        return ZoneInfo(workspace.time_zone)
    except (ValueError, KeyError, OSError):
        return ZoneInfo("Asia/Shanghai")


def _orders(**filters):
    return Order.objects.filter(contact=OuterRef("pk"), **filters)


def _compare(expression, op: str, value):
    lookup = {">=": GreaterThanOrEqual, "<=": LessThanOrEqual, "=": Exact}[op]
    return Q(lookup(expression, value))


def _not(q):
    if q is None:
        return NOTHING
    if q is NOTHING:
        return None
    return ~q


def _compile(node: dict, ctx: _Context):
    """A Q over Contact, None for "every contact" or NOTHING."""
    if "children" in node:
        parts = [_compile(child, ctx) for child in node["children"]]
        if node["op"] == "and":
            if any(part is NOTHING for part in parts):
                result = NOTHING
            else:
                qs = [part for part in parts if part is not None]
                result = _combine(qs, "and") if qs else None
        else:
            if any(part is None for part in parts):
                result = None
            else:
                qs = [part for part in parts if part is not NOTHING]
                result = _combine(qs, "or") if qs else NOTHING
    else:
        result = _condition(node, ctx)
    return _not(result) if node["not"] else result


def _combine(qs, op):
    combined = qs[0]
    for q in qs[1:]:
        combined = combined & q if op == "and" else combined | q
    return combined


def _condition(node: dict, ctx: _Context):
    name = node["field"]
    if name == "tags":
        if node["match"] == "all":
            return _combine([Q(Exists(ContactTag.objects.filter(content_object=OuterRef("pk"), tag_id=pk)))
                             for pk in node["tags"]], "and")
        return Q(Exists(ContactTag.objects.filter(content_object=OuterRef("pk"), tag_id__in=node["tags"])))
    if name == "tag_group":
        return Q(Exists(ContactTag.objects.filter(content_object=OuterRef("pk"), tag__group_id=node["group"])))
    if name == "customer_group":
        return Q(Exists(GroupMembership.objects.filter(contact=OuterRef("pk"), group_id__in=node["groups"])))
    if name == "account":
        return Q(owner_account_id__in=node["accounts"])
    if name == "stage":
        return Q(stage__in=node["values"])
    if name == "source":
        return Q(source__in=node["values"])
    if name == "added_at":
        if "within_days" in node:
            return Q(added_at__gte=ctx.days_ago(node["within_days"]))
        if "older_than_days" in node:
            return Q(added_at__lt=ctx.days_ago(node["older_than_days"]))
        q = Q()
        if "from" in node:
            q &= Q(added_at__gte=ctx.start_of(node["from"]))
        if "to" in node:
            q &= Q(added_at__lt=ctx.end_of(node["to"]))
        return q
    if name == "referred_by":
        if node["contact"] is None:
            return Q(referred_by__isnull=False)
        return Q(referred_by_id=node["contact"])
    if name == "order_count":
        return _order_count(node, ctx)
    if name == "total_spent":
        amount = Decimal(node["amount"])
        if node["op"] == ">=" and amount <= 0:
            return None
        spent = Subquery(
            _orders().order_by().values("contact").annotate(total=Sum("amount")).values("total"),
            output_field=DecimalField(max_digits=14, decimal_places=2),
        )
        total = Coalesce(spent, Value(Decimal("0.00")), output_field=DecimalField(max_digits=14, decimal_places=2))
        return _compare(total, node["op"], Value(amount, output_field=DecimalField(max_digits=14, decimal_places=2)))
    if name == "last_order":
        if node.get("never"):
            return ~Q(Exists(_orders()))
        if "within_days" in node:
            return Q(Exists(_orders(placed_at__gte=ctx.days_ago(node["within_days"]))))
        return Q(Exists(_orders())) & ~Q(Exists(_orders(placed_at__gte=ctx.days_ago(node["older_than_days"]))))
    if name == "first_order":
        in_range = {}
        if "from" in node:
            in_range["placed_at__gte"] = ctx.start_of(node["from"])
        if "to" in node:
            in_range["placed_at__lt"] = ctx.end_of(node["to"])
        q = Q(Exists(_orders(**in_range)))
        if "from" in node:
            q &= ~Q(Exists(_orders(placed_at__lt=ctx.start_of(node["from"]))))
        return q
    if name == "order_channel":
        return Q(Exists(_orders(channel__in=node["channels"])))
    if name == "in_segment":
        return _compile(node["rule"], ctx)
    if name == "moment_engagement":
        return Q(Exists(TimelineEvent.objects.filter(
            contact=OuterRef("pk"), kind__in=_ENGAGEMENT_EVENTS[node["kind"]],
            occurred_at__gte=ctx.days_ago(node["within_days"]),
        )))
    raise ValueError(f"unknown condition {name!r}")  # validate_rule() lets none through


def _order_count(node: dict, ctx: _Context):
    filters = {}
    if "from" in node:
        filters["placed_at__gte"] = ctx.start_of(node["from"])
    if "to" in node:
        filters["placed_at__lt"] = ctx.end_of(node["to"])
    if "channels" in node:
        filters["channel__in"] = node["channels"]
    op, value = node["op"], node["value"]
    # The common cases are EXISTS, which PostgreSQL plans as a (anti) semi-join on order_contact_placed.
    if op == ">=" and value == 0:
        return None
    if op == ">=" and value == 1:
        return Q(Exists(_orders(**filters)))
    if op in ("=", "<=") and value == 0:
        return ~Q(Exists(_orders(**filters)))
    counted = Subquery(
        _orders(**filters).order_by().values("contact").annotate(n=Count("pk")).values("n"), output_field=IntegerField()
    )
    return _compare(Coalesce(counted, Value(0), output_field=IntegerField()), op, Value(value))


def rule_to_q(*, workspace: Workspace, rule, now: datetime | None = None) -> Q:
    """One Q over Contact for the rule (see crm.segments' docstring). Raises ValidationError for a malformed rule."""
    expanded = expand_rule(workspace=workspace, rule=rule)
    return _expanded_to_q(workspace=workspace, expanded=expanded, now=now)


def condition_q(*, workspace: Workspace, node: dict, now: datetime):
    """One condition of an expanded rule (a leaf, its own "not" left aside) as a Q over Contact, None for "every
    contact" or NOTHING: what crm.segments.bitmaps asks for the conditions it has no quicker query for."""
    return _condition(node, _Context(tz=_tz(workspace), now=now))


def _expanded_to_q(*, workspace, expanded, now=None) -> Q:
    q = _compile(expanded["root"], _Context(tz=_tz(workspace), now=now or timezone.now()))
    if q is None:
        return Q()
    if q is NOTHING:
        return Q(pk__in=[])
    return q
