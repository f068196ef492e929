"""Writes the reports make: an RFM group saved as a segment and the lifecycle settings (the rollups' refresh is
reports.rollups, the stage pass reports.lifecycle, the reorder follow-up reports.reorder)."""

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from crm import segments
from crm import services as crm_services
from crm.models import Segment, Tag, Workspace
from reports import rfm
from reports.models import LifecycleSettings, RollupState

TAG_PREFIX = "RFM"


def _group_rule(tag: Tag) -> dict:
    return {"version": 1, "root": {"op": "and", "not": False, "children": [
        {"field": "tags", "not": False, "match": "any", "tags": [tag.pk]},
    ]}}


@transaction.atomic
def rfm_group_save_as_segment(*, workspace: Workspace, group: str, actor) -> tuple[Segment, Tag]:
    """A segment of the group's customers as the latest rollups score them.

    The segment rules have no condition for an RFM score (nor for leaving refunded orders out), so the group is
    kept as a tag dated today, "RFM Champions 2026-11-23", and the segment selects that tag. The caller queues
    rfm_group_tag() to tag the contacts (a group can hold hundreds of thousands).
    """
    if group not in rfm.GROUPS:
        raise ValidationError(_("Unknown RFM group."))
    state = RollupState.objects.filter(workspace=workspace).first()
    if state is None:
        raise ValidationError(_("The reports have not been computed yet: refresh them first."))
    label = str(rfm.GROUPS[group][0])
    name = f"{TAG_PREFIX} {label} {timezone.localdate(state.refreshed_at):%Y-%m-%d}"
    tag = crm_services.tag_get_or_create(workspace=workspace, name=name)
    segment = segments.segment_create(
        workspace=workspace, name=name, rule=_group_rule(tag), actor=actor,
        description=_("RFM group “%(group)s” as scored on %(date)s.") % {
            "group": label, "date": f"{timezone.localtime(state.refreshed_at):%Y-%m-%d %H:%M}",
        },
    )
    return segment, tag


def rfm_group_tag(*, workspace: Workspace, tag: Tag, group: str, actor=None) -> int:
    """Tag the group's contacts (batches, each its own transaction; a second run adds nothing)."""
    state = RollupState.objects.filter(workspace=workspace).first()
    if state is None or group not in rfm.GROUPS:
        return 0
    contact_ids = rfm.rfm_group_contact_ids(workspace=workspace, cuts=state.rfm_cuts, group=group)
    change = crm_services.contacts_tag(
        workspace=workspace, contact_ids=contact_ids.iterator(chunk_size=2000), add=[tag], actor=actor
    )
    return change.added


def lifecycle_settings_save(*, workspace: Workspace, values: dict) -> LifecycleSettings:
    """Store the workspace's thresholds (checked by LifecycleSettingsForm); the caller queues a stage pass."""
    settings, _created = LifecycleSettings.objects.update_or_create(workspace=workspace, defaults=values)
    return settings
