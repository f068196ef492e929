"""Checking the shape of a rule: validate_rule() for saving, expand_rule() for compiling (see crm.segments)."""

import json
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal, InvalidOperation

from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _

from crm.models import Contact, CustomerGroup, Order, Segment, Tag, TagGroup, WeChatAccount, Workspace
from crm.segments.rules import (
    COMPARISONS,
    ENGAGEMENT_KINDS,
    MAX_AMOUNT,
    MAX_COUNT,
    MAX_DAYS,
    MAX_LIST_LENGTH,
    MAX_NODES,
    MAX_SEGMENT_NESTING,
    MAX_TREE_DEPTH,
    OPS,
    PARAMS,
    RULE_VERSION,
)

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
        elif name == "moment_engagement":
            kind = node.get("kind", "either")
            if kind not in ENGAGEMENT_KINDS:
                self.fail(_("Engagement is “liked”, “commented” or “either”, not “%(kind)s”."), path=path,
                          code="kind", kind=kind)
            out.update(kind=kind, within_days=self.days(node.get("within_days"), path=path))
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
