"""The builder's edits: one action at a time on a rule's node, addressed by its path ("r", "r_0", "r_0_2")."""

import json

from crm.models import Segment
from crm.segments.rules import FIELDS, OPS, new_condition, new_group
from crm.segments.validation import _in_segment_ids

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
