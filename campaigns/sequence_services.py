"""Writes (and the few reads) behind the follow-up sequence pages: save a sequence with its steps, switch it on and
off, enrol a segment by hand, and the follow-up tasks its steps create.

Every function takes the workspace (or a row already fetched through it) and checks the tags and groups it is given
against that workspace, whatever the form did. Running the steps is campaigns.sequences' job (the tick).
"""

from __future__ import annotations

from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Count, QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _

from campaigns import sequences
from campaigns.models import Enrolment, FollowUpTask, Sequence, SequenceStep, StepRun
from crm.models import CustomerGroup, Member, Segment, Tag, Workspace
from crm.segments.queries import segment_contacts, segment_contacts_for_member

ENROL_BATCH = 5_000
ENROL_MAX = 50_000

SEQUENCE_FIELDS = ("name", "trigger", "trigger_tag", "trigger_group", "trigger_days", "exit_on_order", "exit_tag")
STEP_FIELDS = ("wait_days", "wait_hours", "action", "text", "tag", "task_note")


def _check_in_workspace(workspace: Workspace, *, tags=(), groups=()) -> None:
    tag_ids = {tag.pk for tag in tags if tag is not None}
    if tag_ids and Tag.objects.filter(workspace=workspace, pk__in=tag_ids).count() != len(tag_ids):
        raise ValidationError(_("That tag does not belong to this workspace."))
    group_ids = {group.pk for group in groups if group is not None}
    if group_ids and CustomerGroup.objects.filter(workspace=workspace, pk__in=group_ids).count() != len(group_ids):
        raise ValidationError(_("That customer group does not belong to this workspace."))


def _clean_step(step: dict) -> dict:
    """Only what the step's action uses is kept; a step missing what its action needs is refused."""
    action = step["action"]
    clean = {"wait_days": step.get("wait_days") or 0, "wait_hours": step.get("wait_hours") or 0, "action": action,
             "text": "", "tag": None, "task_note": ""}
    if action == SequenceStep.Action.MESSAGE:
        if not (step.get("text") or "").strip():
            raise ValidationError(_("A message step needs the text to send."))
        clean["text"] = step["text"]
    elif action == SequenceStep.Action.ADD_TAG:
        if step.get("tag") is None:
            raise ValidationError(_("An add-tag step needs the tag to add."))
        clean["tag"] = step["tag"]
    elif action == SequenceStep.Action.TASK:
        if not (step.get("task_note") or "").strip():
            raise ValidationError(_("A task step needs a note saying what to do."))
        clean["task_note"] = step["task_note"]
    else:
        raise ValidationError(_("Choose what the step does."))
    return clean


@transaction.atomic
def sequence_save(*, workspace: Workspace, sequence: Sequence | None, fields: dict, steps: list[dict]) -> Sequence:
    """Create or update a sequence and replace its steps with `steps`, in order.

    Each step is a dict of STEP_FIELDS plus "id": the pk of the existing step it updates (None for a new one);
    existing steps left out are deleted. Step rows are updated in place, so the runs already recorded keep pointing
    at them. People already in an active sequence go on from their current step number."""
    values = {name: fields.get(name) for name in SEQUENCE_FIELDS}
    values["exit_on_order"] = bool(values["exit_on_order"])
    cleaned_steps = [(step.get("id"), _clean_step(step)) for step in steps]
    _check_in_workspace(
        workspace,
        tags=[values["trigger_tag"], values["exit_tag"], *(step["tag"] for _, step in cleaned_steps)],
        groups=[values["trigger_group"]],
    )
    if sequence is None:
        sequence = Sequence.objects.create(workspace=workspace, **values)
        existing: dict[int, SequenceStep] = {}
    else:
        if sequence.workspace_id != workspace.pk:
            raise ValidationError(_("That sequence does not belong to this workspace."))
        sequence = Sequence.objects.select_for_update().get(pk=sequence.pk)
        for name, value in values.items():
            setattr(sequence, name, value)
        sequence.save(update_fields=list(values))
        existing = {step.pk: step for step in sequence.steps.all()}
    if sequence.active and not cleaned_steps:
        raise ValidationError(_("An active sequence needs at least one step: deactivate it first to remove them all."))
    kept = set()
    for position, (step_id, step_values) in enumerate(cleaned_steps):
        step = existing.get(step_id)
        if step is None:
            SequenceStep.objects.create(sequence=sequence, position=position, **step_values)
            continue
        kept.add(step.pk)
        for name, value in step_values.items():
            setattr(step, name, value)
        step.position = position
        step.save()
    SequenceStep.objects.filter(sequence=sequence).exclude(pk__in=kept).filter(pk__in=existing).delete()
    return sequence


def sequence_activate(*, sequence: Sequence) -> bool:
    """Switch the sequence on (its triggers enrol contacts from now on). False if it was on already."""
    if not SequenceStep.objects.filter(sequence=sequence).exists():
        raise ValidationError(_("Add at least one step before activating the sequence."))
    return Sequence.objects.filter(pk=sequence.pk, active=False).update(active=True) == 1


def sequence_deactivate(*, sequence: Sequence) -> int:
    """Switch the sequence off: nobody new enters and everyone in it leaves. Returns how many left."""
    return sequences.sequence_stop(sequence=sequence)


class TooManyContacts(ValidationError):
    pass


def sequence_enrol_segment(*, sequence: Sequence, segment: Segment, member: Member) -> int:
    """Enrol the contacts of a saved segment (those the member may see) now, in batches. Returns how many entered;
    those already in the sequence, opted out or merged are left where they are."""
    if segment.workspace_id != sequence.workspace_id:
        raise ValidationError(_("That segment does not belong to this workspace."))
    if not sequence.active:
        raise ValidationError(_("Activate the sequence first: an inactive sequence runs no steps."))
    if not SequenceStep.objects.filter(sequence=sequence).exists():
        raise ValidationError(_("Add at least one step before enrolling contacts."))
    if member.sees_all_accounts:
        contacts = segment_contacts(workspace=sequence.workspace, rule=segment.rule)
    else:
        contacts = segment_contacts_for_member(member=member, rule=segment.rule)
    ids = list(contacts.order_by("pk").values_list("pk", flat=True)[: ENROL_MAX + 1])
    if len(ids) > ENROL_MAX:
        raise TooManyContacts(
            _("This segment has more than %(max)s contacts: narrow it down, or let the sequence's trigger enrol them.")
            % {"max": f"{ENROL_MAX:,}"}
        )
    entered = 0
    for start in range(0, len(ids), ENROL_BATCH):
        entered += sequences.enrol(sequence=sequence, contact_ids=ids[start : start + ENROL_BATCH])
    return entered


# Reads for the pages -----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SequenceCounts:
    active: int = 0
    completed: int = 0
    exited: int = 0


def sequences_counts(*, workspace: Workspace, sequence_ids: list[int]) -> dict[int, SequenceCounts]:
    """Enrolments now in, completed and stopped, per sequence: one grouped query."""
    rows = (
        Enrolment.objects.filter(workspace=workspace, sequence_id__in=sequence_ids)
        .order_by()
        .values_list("sequence_id", "status")
        .annotate(n=Count("id"))
    )
    raw: dict[int, dict[str, int]] = {}
    for sequence_id, status, n in rows:
        raw.setdefault(sequence_id, {})[status] = n
    return {
        pk: SequenceCounts(
            active=raw.get(pk, {}).get(Enrolment.Status.ACTIVE, 0),
            completed=raw.get(pk, {}).get(Enrolment.Status.COMPLETED, 0),
            exited=raw.get(pk, {}).get(Enrolment.Status.EXITED, 0),
        )
        for pk in sequence_ids
    }


def sequence_waiting_by_step(*, sequence: Sequence) -> dict[int, int]:
    """How many active enrolments wait at each step index."""
    rows = (
        Enrolment.objects.filter(sequence=sequence, status=Enrolment.Status.ACTIVE)
        .order_by()
        .values_list("step_index")
        .annotate(n=Count("id"))
    )
    return dict(rows)


def sequence_runs(*, sequence: Sequence, member: Member) -> QuerySet[StepRun]:
    """The sequence's step runs, newest first; a member limited to some accounts sees their own customers' only."""
    runs = StepRun.objects.filter(enrolment__sequence=sequence).select_related("step", "enrolment__contact")
    if not member.sees_all_accounts:
        runs = runs.filter(enrolment__contact__owner_account__in=member.assigned_accounts.values("id"))
    return runs.order_by("-created_at", "-id")


def tasks_visible(*, member: Member) -> QuerySet[FollowUpTask]:
    """The workspace's follow-up tasks, or for a member limited to some accounts their customers' only."""
    tasks = FollowUpTask.objects.filter(workspace_id=member.workspace_id)
    if not member.sees_all_accounts:
        tasks = tasks.filter(contact__owner_account__in=member.assigned_accounts.values("id"))
    return tasks


def tasks_open(*, member: Member) -> QuerySet[FollowUpTask]:
    """The open follow-up tasks the member may see, the most overdue first."""
    return (
        tasks_visible(member=member).filter(done_at__isnull=True).select_related("contact").order_by("due_on", "id")
    )


def task_done(*, task: FollowUpTask, member: Member) -> bool:
    """Mark the task done, once: False if someone marked it already."""
    done = FollowUpTask.objects.filter(
        pk=task.pk, workspace_id=member.workspace_id, done_at__isnull=True
    ).update(done_at=timezone.now(), done_by=member.user)
    return done == 1
