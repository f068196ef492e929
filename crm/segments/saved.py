"""Saved segments: create, change and delete them, each rule checked against its workspace."""

from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _

from crm.models import Segment, Workspace
from crm.segments.builder import segments_containing
from crm.segments.rules import RULE_VERSION
from crm.segments.validation import validate_rule
from crm.services import name_must_be_free


def _check_segment_name(*, workspace_id: int, name: str, exclude_pk: int | None = None) -> None:
    others = Segment.objects.filter(workspace_id=workspace_id, name=name)
    if exclude_pk:
        others = others.exclude(pk=exclude_pk)
    if others.exists():
        raise ValidationError(_("A segment named “%(name)s” exists already."), params={"name": name})


def segment_create(*, workspace: Workspace, name: str, rule, description: str = "", actor=None):
    """A saved segment; the rule is validated against the workspace (crm.segments.validate_rule)."""
    rule = validate_rule(workspace=workspace, rule=rule)
    _check_segment_name(workspace_id=workspace.pk, name=name)
    with name_must_be_free(_("A segment named “%(name)s” exists already."), name):
        return Segment.objects.create(
            workspace=workspace, name=name, description=description, rule=rule, rule_version=RULE_VERSION,
            created_by=actor,
        )


def segment_update(*, segment, name: str, rule, description: str = ""):
    rule = validate_rule(workspace=segment.workspace, rule=rule, segment=segment)
    _check_segment_name(workspace_id=segment.workspace_id, name=name, exclude_pk=segment.pk)
    segment.name, segment.description, segment.rule, segment.rule_version = name, description, rule, RULE_VERSION
    with name_must_be_free(_("A segment named “%(name)s” exists already."), name):
        segment.save(update_fields=["name", "description", "rule", "rule_version", "updated_at"])
    return segment


def segment_delete(*, segment) -> None:
    """Delete a segment no other segment uses ("in segment"): deleting it would silently change those."""
    users = segments_containing(segment=segment)
    if users:
        raise ValidationError(
            _("Segment “%(name)s” is used by: %(users)s. Remove it from those first."),
            params={"name": segment.name, "users": "、".join(other.name for other in users)},
        )
    segment.delete()
