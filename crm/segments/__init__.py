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
rest of the code calls to get a segment's contacts; segment_create() / _update() / _delete() write saved segments.
"""

from crm.segments.builder import rule_edit, segments_containing
from crm.segments.queries import (
    segment_contacts,
    segment_contacts_for_member,
    segment_count,
    segment_count_for_member,
)
from crm.segments.rules import (
    FIELD_LABELS,
    FIELDS,
    MAX_SEGMENT_NESTING,
    RULE_VERSION,
    empty_rule,
    new_condition,
)
from crm.segments.saved import segment_create, segment_delete, segment_update
from crm.segments.sql import rule_to_q
from crm.segments.validation import validate_rule

__all__ = [
    "FIELD_LABELS",
    "FIELDS",
    "MAX_SEGMENT_NESTING",
    "RULE_VERSION",
    "empty_rule",
    "new_condition",
    "rule_edit",
    "rule_to_q",
    "segment_create",
    "segment_delete",
    "segment_update",
    "segment_contacts",
    "segment_contacts_for_member",
    "segment_count",
    "segment_count_for_member",
    "segments_containing",
    "validate_rule",
]
