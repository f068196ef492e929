"""The rule format's constants, the parameters each condition takes, and the builder's blank nodes (see crm.segments)."""

import hashlib
import json
from decimal import Decimal

from django.utils.translation import gettext_lazy

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
    "moment_engagement": gettext_lazy("Moments engagement"),
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
    # "kind": "liked" | "commented" | "either", "within_days": N: liked / commented on a moments post within N days
    # (the moments app records each as a timeline event).
    "moment_engagement": {"kind", "within_days"},
}
ENGAGEMENT_KINDS = ("liked", "commented", "either")


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
        "moment_engagement": {"kind": "either", "within_days": 30},
    }
    return {"field": field_name, "not": False, **defaults.get(field_name, {})}


def rule_fingerprint(rule) -> str:
    return hashlib.sha1(json.dumps(rule, sort_keys=True, ensure_ascii=True, default=str).encode()).hexdigest()
