"""What the rest of the code calls: a segment's contacts and its (cached) count, for a workspace or a member."""

from contextlib import contextmanager
from datetime import datetime

from django.db import connections, transaction
from django.db.models import QuerySet
from django.utils import timezone

from crm import selectors
from crm.models import Contact, Member, Workspace
from crm.segments.rules import rule_fingerprint
from crm.segments.sql import _expanded_to_q, rule_to_q
from crm.segments.validation import expand_rule


def segment_contacts(*, workspace: Workspace, rule, now: datetime | None = None) -> QuerySet[Contact]:
    """The workspace's contacts (merged duplicates left out) that the rule matches, newest friends first.

    The one function campaigns, exports and the segment pages call. Raises ValidationError for a malformed rule.
    A member limited to some accounts gets segment_contacts_for_member() instead. `now` (default: the clock) is
    what relative dates ("within 90 days") count back from.
    """
    q = rule_to_q(workspace=workspace, rule=rule, now=now)
    return _in_workspace(workspace).filter(q).order_by("-added_at", "-id")


def _in_workspace(workspace: Workspace) -> QuerySet[Contact]:
    return Contact.objects.filter(workspace=workspace, merged_into__isnull=True)


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
    return selectors.cached_for_workspace(
        workspace_id=workspace.pk, name=_count_key(expanded),
        compute=lambda: count_matching(contacts=_in_workspace(workspace), workspace=workspace, expanded=expanded),
    )


def count_matching(*, contacts: QuerySet[Contact], workspace: Workspace, expanded: dict,
                   now: datetime | None = None) -> int:
    """How many of `contacts` the expanded rule matches, counted now: what segment_count() computes on a cache miss
    (tests/bench/segments.py measures this)."""
    matching = contacts.filter(_expanded_to_q(workspace=workspace, expanded=expanded, now=now))
    with _settings_for_counting(matching.db):
        return matching.count()


def segment_count_for_member(*, member: Member, rule) -> int:
    """segment_count() as the member sees it: only their accounts' contacts when they are limited to them."""
    if member.sees_all_accounts:
        return segment_count(workspace=member.workspace, rule=rule)
    expanded = expand_rule(workspace=member.workspace, rule=rule)
    return selectors.cached_for_workspace(
        workspace_id=member.workspace_id, name=f"member{member.pk}:{_count_key(expanded)}",
        compute=lambda: count_matching(
            contacts=selectors.contacts_visible_to(member=member), workspace=member.workspace, expanded=expanded
        ),
    )


# How PostgreSQL runs a segment's COUNT (docs/performance.md, "Segments"). The count of a rule over a big
# workspace reads hundreds of thousands of contacts per condition: each condition's contacts come in id order from
# an index (contact_tag_by_tag for tags, order_contact_placed for orders, contact_ws_live for the workspace's live
# contacts, migration 0006), so merge joins combine them in one pass (a condition on several tags is sorted first).
# Left to itself the planner prefers hash joins over 300,000-entry hash tables in two parallel workers: measured on a
# million contacts, that took 1.5-2.5 times the clock time and two to three times the CPU. It also compiled the plan
# with JIT first (its estimated cost passes jit_above_cost): 176-191 ms of LLVM work. Pages (LIMIT 50) are not
# affected: they walk the newest contacts and probe each condition.
COUNT_SETTINGS = {"jit": "off", "max_parallel_workers_per_gather": "0", "enable_hashjoin": "off"}


@contextmanager
def _settings_for_counting(using: str):
    """COUNT_SETTINGS for the one query, on PostgreSQL. set_config(..., true) lasts until the end of the
    transaction, so the previous values are put back after the count when this is a savepoint in a longer one (and
    PostgreSQL puts them back itself when the count fails and the savepoint is rolled back)."""
    connection = connections[using]
    if connection.vendor != "postgresql":
        yield
        return
    names = list(COUNT_SETTINGS)
    with transaction.atomic(using=using), connection.cursor() as cursor:
        cursor.execute(
            "SELECT " + ", ".join("current_setting(%s), set_config(%s, %s, true)" for _ in names),
            [value for name in names for value in (name, name, COUNT_SETTINGS[name])],
        )
        previous = cursor.fetchone()[::2]
        yield
        cursor.execute("SELECT " + ", ".join("set_config(%s, %s, true)" for _ in names),
                       [value for name, old in zip(names, previous) for value in (name, old)])
