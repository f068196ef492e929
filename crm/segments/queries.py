"""What the rest of the code calls: a segment's contacts and its (cached) count, for a workspace or a member."""

from datetime import datetime

from django.db.models import QuerySet
from django.utils import timezone

from crm import selectors
from crm.models import Contact, Member, Workspace
from crm.segments import bitmaps
from crm.segments.rules import rule_fingerprint
from crm.segments.sql import rule_to_q
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
        compute=lambda: bitmaps.count(workspace=workspace, expanded=expanded),
    )


def segment_count_for_member(*, member: Member, rule) -> int:
    """segment_count() as the member sees it: only their accounts' contacts when they are limited to them."""
    if member.sees_all_accounts:
        return segment_count(workspace=member.workspace, rule=rule)
    expanded = expand_rule(workspace=member.workspace, rule=rule)
    scope = selectors.member_scope(member)
    return selectors.cached_for_workspace(
        workspace_id=member.workspace_id, name=f"{scope}:{_count_key(expanded)}",
        compute=lambda: bitmaps.count(
            workspace=member.workspace, expanded=expanded, scope=(scope, selectors.contacts_visible_to(member=member))
        ),
    )
