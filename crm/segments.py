"""Segments: saved audiences, a rule tree of conditions joined by AND / OR with NOT on any node.

The rule format (stored in Segment.rule as JSON, version 1)::

    {"version": 1, "root": <group>}

    group:      {"op": "and" | "or", "not": false, "children": [<node>, ...]}
    condition:  {"field": <name>, "not": false, ...parameters}

The root is always a group. "not" negates any node (it defaults to false). An empty AND group matches every
contact and an empty OR group matches no one (the neutral elements of AND and OR); negated, they swap.

Conditions and their parameters (dates are "YYYY-MM-DD" in the workspace's time zone, both ends inclusive):

    tags            "match": "any" | "all", "tags": [tag id, ...]        holds any / all of the tags
    tag_group       "group": tag group id                                holds any tag of the group
    customer_group  "groups": [customer group id, ...]                   member of any of the groups
    account         "accounts": [WeChat account id, ...]                 a friend of any of the accounts
    stage           "values": [Contact.Stage, ...]
    source          "values": [Contact.Source, ...]
    added_at        "from" and / or "to" (dates), or "within_days": N, or "older_than_days": N
    referred_by     "contact": null (has any referrer) or a contact id (referred by that contact)
    order_count     "op": ">=" | "<=" | "=", "value": N, optional "from" / "to" (dates) and "channels": [...]
                    counting only the orders placed in that range / on those channels
    total_spent     "op": ">=" | "<=" | "=", "amount": "199.00" (the sum of all orders, 0 without any)
    last_order      "within_days": N, or "older_than_days": N (has ordered, but not within N days),
                    or "never": true (has never ordered)
    first_order     "from" and / or "to" (dates): the first order was placed in that range
    order_channel   "channels": [Order.Channel, ...]                     has ordered on any of the channels
    in_segment      "segment": segment id                                matches that saved segment's rule

"Has not" is the same condition with "not": true (tags none of = tags any of, negated).

validate_rule() checks a rule against a workspace and returns it normalised; rule_to_q() compiles it into one Q of
EXISTS / scalar subqueries over Contact (no ids are loaded into Python); segment_contacts() is the one function the
rest of the code calls to get a segment's contacts.
"""

import hashlib
import json
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import Decimal, InvalidOperation
from zoneinfo import ZoneInfo

from django.core.exceptions import ValidationError
from django.db.models import Count, DecimalField, Exists, IntegerField, OuterRef, Q, QuerySet, Subquery, Sum, Value
from django.db.models.functions import Coalesce
from django.db.models.lookups import Exact, GreaterThanOrEqual, LessThanOrEqual
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from crm import selectors
from crm.models import (
    Contact,
    ContactTag,
    CustomerGroup,
    GroupMembership,
    Member,
    Order,
    Segment,
    Tag,
    TagGroup,
    WeChatAccount,
    Workspace,
)

RULE_VERSION = 1
MAX_TREE_DEPTH = 6  # groups nested in groups
MAX_NODES = 100
MAX_LIST_LENGTH = 500
MAX_SEGMENT_NESTING = 5  # "in segment" within "in segment"...
MAX_DAYS = 36_500
MAX_COUNT = 1_000_000
MAX_AMOUNT = Decimal("9999999999.99")

OPS = ("and", "or")
COMPARISONS = (">=", "<=", "=")

FIELD_LABELS = {
    "tags": gettext_lazy("Tags"),
    "tag_group": gettext_lazy("Tag group"),
    "customer_group": gettext_lazy("Customer group"),
    "account": gettext_lazy("WeChat account"),
    "stage": gettext_lazy("Lifecycle stage"),
    "source": gettext_lazy("Source"),
    "added_at": gettext_lazy("Added"),
    "referred_by": gettext_lazy("Referred by"),
    "order_count": gettext_lazy("Number of orders"),
    "total_spent": gettext_lazy("Total spent"),
    "last_order": gettext_lazy("Last order"),
    "first_order": gettext_lazy("First order"),
    "order_channel": gettext_lazy("Ordered on channel"),
    "in_segment": gettext_lazy("In segment"),
}
FIELDS = tuple(FIELD_LABELS)

# The parameters each condition may carry (besides "field" and "not").
PARAMS = {
    "tags": {"match", "tags"},
    "tag_group": {"group"},
    "customer_group": {"groups"},
    "account": {"accounts"},
    "stage": {"values"},
    "source": {"values"},
    "added_at": {"from", "to", "within_days", "older_than_days"},
    "referred_by": {"contact"},
    "order_count": {"op", "value", "from", "to", "channels"},
    "total_spent": {"op", "amount"},
    "last_order": {"within_days", "older_than_days", "never"},
    "first_order": {"from", "to"},
    "order_channel": {"channels"},
    "in_segment": {"segment"},
}


def empty_rule() -> dict:
    """The rule of a new segment: an empty AND group, which matches every contact."""
    return {"version": RULE_VERSION, "root": new_group()}


def new_group(op: str = "and") -> dict:
    return {"op": op, "not": False, "children": []}


def new_condition(field_name: str) -> dict:
    """A condition as the builder first shows it (lists still to be filled in)."""
    defaults = {
        "tags": {"match": "any", "tags": []},
        "tag_group": {"group": None},
        "customer_group": {"groups": []},
        "account": {"accounts": []},
        "stage": {"values": []},
        "source": {"values": []},
        "added_at": {"within_days": 30},
        "referred_by": {"contact": None},
        "order_count": {"op": ">=", "value": 1},
        "total_spent": {"op": ">=", "amount": "0"},
        "last_order": {"within_days": 90},
        "first_order": {"from": None, "to": None},
        "order_channel": {"channels": []},
        "in_segment": {"segment": None},
    }
    return {"field": field_name, "not": False, **defaults.get(field_name, {})}


def rule_fingerprint(rule) -> str:
    return hashlib.sha1(json.dumps(rule, sort_keys=True, ensure_ascii=True, default=str).encode()).hexdigest()


# Checking the shape of a rule ----------------------------------------------------------------------------------------


def _error(message, *, path: str, code: str, **params) -> ValidationError:
    """A rule error; params["path"] says which node ("r" the root, "r_0_2" its first child's third child)."""
    return ValidationError(message, code=code, params={"path": path, **params})


@dataclass
class _Refs:
    """The ids a rule names, by kind, each with the path of a node that names it (for the error)."""

    tags: dict = field(default_factory=dict)
    tag_groups: dict = field(default_factory=dict)
    customer_groups: dict = field(default_factory=dict)
    accounts: dict = field(default_factory=dict)
    contacts: dict = field(default_factory=dict)
    segments: dict = field(default_factory=dict)


class _Shape:
    """Walks a rule, normalising it and collecting every error rather than stopping at the first."""

    def __init__(self):
        self.errors: list[ValidationError] = []
        self.refs = _Refs()
        self.nodes = 0

    def fail(self, message, *, path, code, **params):
        self.errors.append(_error(message, path=path, code=code, **params))

    def rule(self, rule) -> dict | None:
        if isinstance(rule, (str, bytes)):
            try:
                rule = json.loads(rule)
            except ValueError:
                self.fail(_("The rule is not valid JSON."), path="", code="json")
                return None
        if not isinstance(rule, dict) or "root" not in rule:
            self.fail(_("A rule is an object with a version and a root group."), path="", code="malformed")
            return None
        unknown = set(rule) - {"version", "root"}
        if unknown:
            self.fail(_("Unknown key in the rule: %(keys)s."), path="", code="unknown_key", keys=_keys(unknown))
        if rule.get("version") != RULE_VERSION:
            self.fail(_("Unsupported rule version %(version)s (expected %(expected)s)."), path="", code="version",
                      version=rule.get("version"), expected=RULE_VERSION)
        root = rule["root"]
        if not (isinstance(root, dict) and "op" in root):
            self.fail(_("The rule's root must be a group (AND / OR)."), path="r", code="root")
            return None
        root = self.node(root, path="r", depth=1)
        return {"version": RULE_VERSION, "root": root}

    def node(self, node, *, path: str, depth: int):
        self.nodes += 1
        if self.nodes == MAX_NODES + 1:
            self.fail(_("A rule has at most %(n)s conditions and groups."), path=path, code="too_many", n=MAX_NODES)
        if not isinstance(node, dict):
            self.fail(_("This part of the rule is neither a group nor a condition."), path=path, code="malformed")
            return None
        negated = node.get("not", False)
        if not isinstance(negated, bool):
            self.fail(_("“not” must be true or false."), path=path, code="not")
            negated = False
        if "field" in node:
            return self.condition(node, path=path, negated=negated)
        if "op" in node or "children" in node:
            return self.group(node, path=path, depth=depth, negated=negated)
        self.fail(_("A node is either a group (with “op”) or a condition (with “field”)."), path=path, code="malformed")
        return None

    def group(self, node, *, path, depth, negated):
        op = node.get("op")
        if op not in OPS:
            self.fail(_("Unknown group operator “%(op)s”: use “and” or “or”."), path=path, code="op", op=op)
        unknown = set(node) - {"op", "not", "children"}
        if unknown:
            self.fail(_("Unknown key in a group: %(keys)s."), path=path, code="unknown_key", keys=_keys(unknown))
        children = node.get("children", [])
        if not isinstance(children, list):
            self.fail(_("A group's children must be a list."), path=path, code="malformed")
            children = []
        if depth >= MAX_TREE_DEPTH and children:
            self.fail(_("Groups nest at most %(n)s deep."), path=path, code="depth", n=MAX_TREE_DEPTH)
            children = []
        return {
            "op": op,
            "not": negated,
            "children": [self.node(child, path=f"{path}_{i}", depth=depth + 1) for i, child in enumerate(children)],
        }

    # Parameters -----------------------------------------------------------------------------------------------------

    def ids(self, value, *, path, name, refs: dict | None, allow_empty=False) -> list[int]:
        if not isinstance(value, list):
            self.fail(_("“%(name)s” must be a list of ids."), path=path, code="not_a_list", name=name)
            return []
        ids = []
        for item in value:
            number = _as_int(item)
            if number is None or number < 1:
                self.fail(_("“%(value)s” is not an id."), path=path, code="not_an_id", value=item)
                continue
            ids.append(number)
        ids = sorted(set(ids))
        if not ids and not allow_empty:
            self.fail(_("Choose at least one."), path=path, code="empty")
        if len(ids) > MAX_LIST_LENGTH:
            self.fail(_("Choose at most %(n)s."), path=path, code="too_long", n=MAX_LIST_LENGTH)
        if refs is not None:
            for pk in ids:
                refs.setdefault(pk, path)
        return ids

    def one_id(self, value, *, path, refs: dict, required=True) -> int | None:
        """An id; None is allowed when not required ("" never is: a box left empty)."""
        if value is None and not required:
            return None
        if value is None or value == "":
            self.fail(_("Choose one."), path=path, code="empty")
            return None
        number = _as_int(value)
        if number is None or number < 1:
            self.fail(_("“%(value)s” is not an id."), path=path, code="not_an_id", value=value)
            return None
        refs.setdefault(number, path)
        return number

    def choices(self, value, *, path, allowed) -> list[str]:
        if not isinstance(value, list):
            self.fail(_("Values must be a list."), path=path, code="not_a_list")
            return []
        values = sorted({str(v) for v in value})
        for v in values:
            if v not in allowed:
                self.fail(_("Unknown value “%(value)s”."), path=path, code="unknown_value", value=v)
        if not values:
            self.fail(_("Choose at least one."), path=path, code="empty")
        return [v for v in values if v in allowed]

    def days(self, value, *, path) -> int | None:
        number = _as_int(value)
        if number is None or not 0 <= number <= MAX_DAYS:
            self.fail(_("Enter a number of days between 0 and %(max)s."), path=path, code="days", max=MAX_DAYS)
            return None
        return number

    def day(self, value, *, path) -> str | None:
        if value is None or value == "":
            return None
        try:
            return date.fromisoformat(str(value)).isoformat()
        except ValueError:
            self.fail(_("“%(value)s” is not a date (YYYY-MM-DD)."), path=path, code="date", value=value)
            return None

    def date_range(self, node, *, path, required=True) -> dict:
        start, end = self.day(node.get("from"), path=path), self.day(node.get("to"), path=path)
        if start and end and start > end:
            self.fail(_("The start date is after the end date."), path=path, code="date_order")
        if required and not (start or end) and not any(self.errors_at(path)):
            self.fail(_("Enter a start date, an end date or both."), path=path, code="empty")
        return {key: value for key, value in (("from", start), ("to", end)) if value}

    def errors_at(self, path):
        return [e for e in self.errors if e.params.get("path") == path]

    def comparison(self, node, *, path) -> str:
        op = node.get("op")
        if op not in COMPARISONS:
            self.fail(_("Unknown comparison “%(op)s”: use >=, <= or =."), path=path, code="op", op=op)
            return ">="
        return op

    def one_of(self, node, keys, *, path) -> str | None:
        given = [key for key in keys if key in node]
        if len(given) != 1:
            self.fail(_("Give exactly one of: %(keys)s."), path=path, code="one_of", keys=", ".join(keys))
            return None
        return given[0]

    def condition(self, node, *, path, negated):
        name = node.get("field")
        if name not in PARAMS:
            self.fail(_("Unknown condition “%(field)s”."), path=path, code="unknown_field", field=name)
            return None
        unknown = set(node) - PARAMS[name] - {"field", "not"}
        if unknown:
            self.fail(_("Unknown key in a “%(field)s” condition: %(keys)s."), path=path, code="unknown_key",
                      field=name, keys=_keys(unknown))
        out = {"field": name, "not": negated}
        refs = self.refs
        if name == "tags":
            match = node.get("match", "any")
            if match not in ("any", "all"):
                self.fail(_("Tags match “any” or “all”, not “%(match)s”."), path=path, code="match", match=match)
            out.update(match=match, tags=self.ids(node.get("tags"), path=path, name="tags", refs=refs.tags))
        elif name == "tag_group":
            out["group"] = self.one_id(node.get("group"), path=path, refs=refs.tag_groups)
        elif name == "customer_group":
            out["groups"] = self.ids(node.get("groups"), path=path, name="groups", refs=refs.customer_groups)
        elif name == "account":
            out["accounts"] = self.ids(node.get("accounts"), path=path, name="accounts", refs=refs.accounts)
        elif name == "stage":
            out["values"] = self.choices(node.get("values"), path=path, allowed=Contact.Stage.values)
        elif name == "source":
            out["values"] = self.choices(node.get("values"), path=path, allowed=Contact.Source.values)
        elif name == "added_at":
            if "within_days" in node or "older_than_days" in node:
                key = self.one_of(node, ("within_days", "older_than_days"), path=path)
                if key and (node.get("from") or node.get("to")):
                    self.fail(_("Give dates or a number of days, not both."), path=path, code="one_of")
                if key:
                    out[key] = self.days(node.get(key), path=path)
            else:
                out.update(self.date_range(node, path=path))
        elif name == "referred_by":
            out["contact"] = self.one_id(node.get("contact"), path=path, refs=refs.contacts, required=False)
        elif name == "order_count":
            out["op"] = self.comparison(node, path=path)
            value = _as_int(node.get("value"))
            if value is None or not 0 <= value <= MAX_COUNT:
                self.fail(_("Enter a number of orders (0 or more)."), path=path, code="value")
            out["value"] = value or 0
            out.update(self.date_range(node, path=path, required=False))
            if node.get("channels"):
                out["channels"] = self.choices(node.get("channels"), path=path, allowed=Order.Channel.values)
        elif name == "total_spent":
            out["op"] = self.comparison(node, path=path)
            try:
                amount = Decimal(str(node.get("amount"))).quantize(Decimal("0.01"))
                if not (amount.is_finite() and 0 <= amount <= MAX_AMOUNT):
                    raise InvalidOperation
            except (InvalidOperation, ValueError):
                self.fail(_("Enter an amount such as 199.00."), path=path, code="amount")
                amount = Decimal("0.00")
            out["amount"] = str(amount)
        elif name == "last_order":
            key = self.one_of(node, ("within_days", "older_than_days", "never"), path=path)
            if key == "never":
                if node.get("never") is not True:
                    self.fail(_("“never” must be true."), path=path, code="never")
                out["never"] = True
            elif key:
                out[key] = self.days(node.get(key), path=path)
        elif name == "first_order":
            out.update(self.date_range(node, path=path))
        elif name == "order_channel":
            out["channels"] = self.choices(node.get("channels"), path=path, allowed=Order.Channel.values)
        elif name == "in_segment":
            out["segment"] = self.one_id(node.get("segment"), path=path, refs=refs.segments)
        return out


def _keys(keys) -> str:
    return ", ".join(sorted(map(str, keys)))


def _as_int(value) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    return None


def _shape(rule) -> _Shape:
    shape = _Shape()
    shape.normalised = shape.rule(rule)
    return shape


def _in_segment_ids(node) -> set[int]:
    """The segments a (stored, possibly malformed) rule node names, at any depth."""
    found = set()
    stack = [node]
    while stack:
        current = stack.pop()
        if isinstance(current, dict):
            if current.get("field") == "in_segment" and _as_int(current.get("segment")):
                found.add(_as_int(current.get("segment")))
            stack.extend(v for v in current.values() if isinstance(v, (dict, list)))
        elif isinstance(current, list):
            stack.extend(current)
    return found


def validate_rule(*, workspace: Workspace, rule, segment: Segment | None = None) -> dict:
    """The rule, normalised, or a ValidationError listing every problem (each error's params["path"] names the node).

    Checks the tree's shape, every field, operator and parameter, that every tag, tag group, customer group,
    account, contact and segment it names belongs to the workspace, and that "in segment" conditions nest at most
    MAX_SEGMENT_NESTING deep without a cycle (`segment` is the segment being edited, which the rule may not reach).
    """
    shape = _shape(rule)
    refs = shape.refs
    checks = (
        (refs.tags, Tag, _("Unknown tag #%(id)s (not one of this workspace's tags).")),
        (refs.tag_groups, TagGroup, _("Unknown tag group #%(id)s.")),
        (refs.customer_groups, CustomerGroup, _("Unknown customer group #%(id)s.")),
        (refs.accounts, WeChatAccount, _("Unknown WeChat account #%(id)s.")),
        (refs.contacts, Contact, _("Unknown contact #%(id)s.")),
    )
    for wanted, model, message in checks:
        if wanted:
            found = set(model.objects.filter(workspace=workspace, pk__in=list(wanted)).values_list("pk", flat=True))
            for pk in sorted(set(wanted) - found):
                shape.fail(message, path=wanted[pk], code="unknown_id", id=pk)
    if refs.segments:
        _check_nesting(workspace=workspace, wanted=refs.segments, segment=segment, shape=shape)
    if shape.errors:
        raise ValidationError(shape.errors)
    return shape.normalised


def _check_nesting(*, workspace, wanted: dict, segment: Segment | None, shape: _Shape) -> None:
    stored = Segment.objects.filter(workspace=workspace).values_list("pk", "rule")
    graph = {pk: _in_segment_ids(rule) for pk, rule in stored}
    names = dict(Segment.objects.filter(workspace=workspace).values_list("pk", "name"))
    own = segment.pk if segment and segment.pk else None
    for pk, path in sorted(wanted.items()):
        if pk not in graph:
            shape.fail(_("Unknown segment #%(id)s."), path=path, code="unknown_id", id=pk)
            continue
        # Depth-first from the named segment: reaching the edited segment (or any segment twice on one path) is a
        # cycle; going deeper than the limit is refused too.
        problem = None
        stack = [(pk, (pk,))]
        while stack and not problem:
            current, trail = stack.pop()
            if current == own:
                problem = "cycle"
            elif len(trail) > MAX_SEGMENT_NESTING:
                problem = "depth"
            for child in graph.get(current, ()):
                if child in trail:
                    problem = problem or "cycle"  # a cycle among the stored segments themselves
                else:
                    stack.append((child, trail + (child,)))
        if problem == "cycle":
            shape.fail(_("Segment “%(name)s” contains this segment: a segment cannot contain itself."), path=path,
                       code="cycle", name=names.get(pk, pk))
        elif problem == "depth":
            shape.fail(_("Segments nest at most %(n)s deep."), path=path, code="depth", n=MAX_SEGMENT_NESTING)


def expand_rule(*, workspace: Workspace, rule, _trail: tuple = ()) -> dict:
    """The rule normalised, with each "in segment" condition carrying its segment's expanded root under "rule".

    Raises ValidationError for a malformed rule, an unknown segment, or a cycle. This is what is compiled and what
    the cached count is keyed by, so that editing a nested segment changes the key of every segment using it.
    Ownership of tag / group / account / contact ids is not checked again here: an id of another workspace simply
    matches no contact of this one (validate_rule() refuses them when a rule is saved).
    """
    shape = _shape(rule)
    if shape.errors:
        raise ValidationError(shape.errors)
    normalised = shape.normalised
    if shape.refs.segments:
        if len(_trail) >= MAX_SEGMENT_NESTING * 2:
            raise _error(_("Segments nest too deep."), path="", code="depth")
        stored = dict(
            Segment.objects.filter(workspace=workspace, pk__in=list(shape.refs.segments)).values_list("pk", "rule")
        )

        def expand(node):
            if node is None:
                return None
            if "children" in node:
                return {**node, "children": [expand(child) for child in node["children"]]}
            if node["field"] != "in_segment":
                return node
            pk = node["segment"]
            if pk not in stored:
                raise _error(_("Unknown segment #%(id)s."), path="", code="unknown_id", id=pk)
            if pk in _trail:
                raise _error(_("Segment #%(id)s contains itself."), path="", code="cycle", id=pk)
            inner = expand_rule(workspace=workspace, rule=stored[pk], _trail=_trail + (pk,))
            return {**node, "rule": inner["root"]}

        normalised = {**normalised, "root": expand(normalised["root"])}
    return normalised


# Compiling a rule into SQL -----------------------------------------------------------------------------------------


class _Nothing:
    """Matches no contact (an empty OR group); None stands for "every contact" (an empty AND group)."""


NOTHING = _Nothing()


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
    """One Q over Contact for the rule (see the module's docstring). Raises ValidationError for a malformed rule."""
    expanded = expand_rule(workspace=workspace, rule=rule)
    return _expanded_to_q(workspace=workspace, expanded=expanded, now=now)


def _expanded_to_q(*, workspace, expanded, now=None) -> Q:
    q = _compile(expanded["root"], _Context(tz=_tz(workspace), now=now or timezone.now()))
    if q is None:
        return Q()
    if q is NOTHING:
        return Q(pk__in=[])
    return q


# What the rest of the code calls -------------------------------------------------------------------------------------


def segment_contacts(*, workspace: Workspace, rule) -> QuerySet[Contact]:
    """The workspace's contacts (merged duplicates left out) that the rule matches, newest friends first.

    The one function campaigns, exports and the segment pages call. Raises ValidationError for a malformed rule.
    A member limited to some accounts gets segment_contacts_for_member() instead.
    """
    q = rule_to_q(workspace=workspace, rule=rule)
    return Contact.objects.filter(workspace=workspace, merged_into__isnull=True).filter(q).order_by("-added_at", "-id")


def segment_contacts_for_member(*, member: Member, rule) -> QuerySet[Contact]:
    """segment_contacts() narrowed to the contacts the member may see (selectors.contacts_visible_to)."""
    q = rule_to_q(workspace=member.workspace, rule=rule)
    return selectors.contacts_visible_to(member=member).filter(q).order_by("-added_at", "-id")


def _count_key(expanded: dict) -> str:
    # Relative dates ("within 90 days") move with the clock: the day is part of the key, and the cache's
    # CONTACT_COUNT_CACHE_SECONDS bounds the drift within a day.
    return f"segment-count:{timezone.localdate().isoformat()}:{rule_fingerprint(expanded)}"


def segment_count(*, workspace: Workspace, rule) -> int:
    """How many contacts the rule matches, cached under the workspace's book version and the rule's hash."""
    expanded = expand_rule(workspace=workspace, rule=rule)

    def compute():
        q = _expanded_to_q(workspace=workspace, expanded=expanded)
        return Contact.objects.filter(workspace=workspace, merged_into__isnull=True).filter(q).count()

    return selectors.cached_for_workspace(workspace_id=workspace.pk, name=_count_key(expanded), compute=compute)


def segment_count_for_member(*, member: Member, rule) -> int:
    """segment_count() as the member sees it: only their accounts' contacts when they are limited to them."""
    if member.sees_all_accounts:
        return segment_count(workspace=member.workspace, rule=rule)
    expanded = expand_rule(workspace=member.workspace, rule=rule)

    def compute():
        q = _expanded_to_q(workspace=member.workspace, expanded=expanded)
        return selectors.contacts_visible_to(member=member).filter(q).count()

    return selectors.cached_for_workspace(
        workspace_id=member.workspace_id, name=f"member{member.pk}:{_count_key(expanded)}", compute=compute
    )


# The builder's edits -------------------------------------------------------------------------------------------------


def node_at(rule: dict, path: str):
    """The node at a builder path ("r", "r_0", "r_0_2"), or None when there is none."""
    parts = path.split("_")
    if not rule or not isinstance(rule, dict) or parts[0] != "r":
        return None
    node = rule.get("root")
    for part in parts[1:]:
        if not (isinstance(node, dict) and isinstance(node.get("children"), list) and part.isdigit()):
            return None
        index = int(part)
        if index >= len(node["children"]):
            return None
        node = node["children"][index]
    return node


def rule_edit(rule: dict, *, action: str, path: str, field_name: str = "") -> dict:
    """The rule after one builder action on the node at `path`: add_condition / add_group (to a group),
    toggle_not, set_op ("and" / "or" in field_name), or remove (any node but the root). Works on a copy; an action
    on a path that is not there changes nothing (the page was stale)."""
    rule = json.loads(json.dumps(rule))
    node = node_at(rule, path)
    if not isinstance(node, dict):
        return rule
    is_group = isinstance(node.get("children"), list)
    if action == "add_condition" and is_group:
        node["children"].append(new_condition(field_name if field_name in FIELDS else "tags"))
    elif action == "add_group" and is_group:
        node["children"].append(new_group("or" if node.get("op") == "and" else "and"))
    elif action == "toggle_not":
        node["not"] = not (node.get("not") is True)
    elif action == "set_op" and is_group and field_name in OPS:
        node["op"] = field_name
    elif action == "remove" and path != "r":
        parent_path, _sep, index = path.rpartition("_")
        parent = node_at(rule, parent_path)
        if isinstance(parent, dict) and isinstance(parent.get("children"), list):
            del parent["children"][int(index)]
    return rule


def segments_containing(*, segment: Segment) -> list[Segment]:
    """The other segments of the workspace whose rule names this one in an "in segment" condition."""
    candidates = Segment.objects.filter(workspace_id=segment.workspace_id).exclude(pk=segment.pk)
    return [other for other in candidates if segment.pk in _in_segment_ids(other.rule)]
