"""Follow-up sequences (SOP): who enters, and the tick that runs due steps.

Entering: the customer book emits events (crm.events) after each commit; the listeners here enrol the contacts of
every active sequence whose trigger matches (contact added, tag added, order placed, group joined) and stop the
enrolments whose exit condition just happened (ordered, tag added, opted out). "No order for N days" has no event:
the tick looks for such contacts at most once an hour per sequence.

Running: an enrolment keeps its next step's time in the database (`next_run_at`). sequences_tick() takes due
enrolments a batch at a time, locked with SELECT ... FOR UPDATE SKIP LOCKED (on PostgreSQL; SQLite has one writer
anyway), runs their step and moves them on, all in the batch's transaction. A step runs once per enrolment
(StepRun is unique per enrolment and step; a message's channel ref is derived from the pair), so a tick that dies
half-way, or two ticks at once, repeat nothing.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from django.db import connection, transaction
from django.db.models import Exists, Max, OuterRef, Q
from django.utils import timezone

from campaigns.models import (
    SEQUENCE_REF_PREFIX,
    Enrolment,
    FollowUpTask,
    Sequence,
    SequenceStep,
    StepRun,
    step_ref,
)
from campaigns.texts import personalise
from crm import events, wechat
from crm.models import Contact, Order, Tag, WeChatAccount, Workspace

TICK_BATCH = 1000
NO_ORDER_SCAN_EVERY = timedelta(hours=1)


# Entering and leaving ------------------------------------------------------------------------------------------------


def enrol(*, sequence: Sequence, contact_ids: list[int], at: datetime | None = None) -> int:
    """Put the contacts into the sequence (those already in it stay where they are). Returns how many entered."""
    steps = list(sequence.steps.all())
    if not steps or not contact_ids:
        return 0
    now = at or timezone.now()
    eligible = Contact.objects.filter(
        pk__any_of=contact_ids, workspace_id=sequence.workspace_id, merged_into__isnull=True, opted_out_at__isnull=True
    ).exclude(Exists(Enrolment.objects.filter(sequence=sequence, contact=OuterRef("pk"), status=Enrolment.Status.ACTIVE)))
    created = Enrolment.objects.bulk_create(
        [
            Enrolment(workspace_id=sequence.workspace_id, sequence=sequence, contact_id=contact_id,
                      next_run_at=now + steps[0].wait, enrolled_at=now)
            for contact_id in eligible.values_list("pk", flat=True)
        ],
        batch_size=2000,
        ignore_conflicts=True,  # enrolled meanwhile by another event
    )
    return len(created)


def _exit(enrolments, reason: str) -> int:
    return enrolments.filter(status=Enrolment.Status.ACTIVE).update(
        status=Enrolment.Status.EXITED, exit_reason=reason, next_run_at=None, finished_at=timezone.now()
    )


def sequence_stop(*, sequence: Sequence) -> int:
    """Deactivate a sequence: nobody new enters and everyone in it leaves."""
    Sequence.objects.filter(pk=sequence.pk).update(active=False)
    return _exit(sequence.enrolments.all(), Enrolment.ExitReason.SEQUENCE_STOPPED)


def _active(workspace_id: int, trigger: str, **match) -> list[Sequence]:
    return list(Sequence.objects.filter(workspace_id=workspace_id, active=True, trigger=trigger, **match))


def on_contact_added(*, workspace_id: int, contact_ids: list[int]) -> None:
    for sequence in _active(workspace_id, Sequence.Trigger.CONTACT_ADDED):
        enrol(sequence=sequence, contact_ids=contact_ids)


def on_tags_added(*, workspace_id: int, items: list[dict]) -> None:
    """Batched (crm.events): an import batch adds dozens of tags; most start and stop no sequence, so ask once."""
    tag_ids = {item["tag_id"] for item in items}
    relevant = set()
    for trigger_tag_id, exit_tag_id in Sequence.objects.filter(
        Q(trigger_tag_id__in=tag_ids, active=True) | Q(exit_tag_id__in=tag_ids), workspace_id=workspace_id
    ).values_list("trigger_tag_id", "exit_tag_id"):
        relevant.update({trigger_tag_id, exit_tag_id})
    for item in items:
        if item["tag_id"] in relevant:
            _tag_added(workspace_id=workspace_id, contact_ids=item["contact_ids"], tag_id=item["tag_id"])


def _tag_added(*, workspace_id: int, contact_ids: list[int], tag_id: int) -> None:
    leaving = Enrolment.objects.filter(
        workspace_id=workspace_id, contact_id__in=contact_ids, sequence__exit_tag_id=tag_id
    )
    _exit(leaving, Enrolment.ExitReason.TAG_ADDED)
    for sequence in _active(workspace_id, Sequence.Trigger.TAG_ADDED, trigger_tag_id=tag_id):
        enrol(sequence=sequence, contact_ids=contact_ids)


def on_order_placed(*, workspace_id: int, contact_ids: list[int], order_id: int) -> None:
    leaving = Enrolment.objects.filter(workspace_id=workspace_id, contact_id__in=contact_ids, sequence__exit_on_order=True)
    _exit(leaving, Enrolment.ExitReason.ORDERED)
    for sequence in _active(workspace_id, Sequence.Trigger.ORDER_PLACED):
        enrol(sequence=sequence, contact_ids=contact_ids)


def on_group_joined(*, workspace_id: int, contact_ids: list[int], group_id: int) -> None:
    for sequence in _active(workspace_id, Sequence.Trigger.GROUP_JOINED, trigger_group_id=group_id):
        enrol(sequence=sequence, contact_ids=contact_ids)


def on_opted_out(*, workspace_id: int, contact_ids: list[int]) -> None:
    _exit(Enrolment.objects.filter(workspace_id=workspace_id, contact_id__in=contact_ids), Enrolment.ExitReason.OPTED_OUT)


def listen() -> None:
    """Called once at start-up (CampaignsConfig.ready)."""
    events.on(events.CONTACT_ADDED, on_contact_added)
    events.on(events.TAG_ADDED, on_tags_added, batched=True)
    events.on(events.ORDER_PLACED, on_order_placed)
    events.on(events.GROUP_JOINED, on_group_joined)
    events.on(events.OPTED_OUT, on_opted_out)


def enrol_lapsed_customers(*, sequence: Sequence, at: datetime | None = None) -> int:
    """"No order for N days": contacts whose last order is N or more days old and who have not been enrolled since
    that order (one reminder per lapse, not one a day)."""
    now = at or timezone.now()
    last_order = Order.objects.filter(contact=OuterRef("pk")).order_by().values("contact").annotate(last=Max("placed_at"))
    enrolled_since = Enrolment.objects.filter(
        sequence=sequence, contact=OuterRef("pk"), enrolled_at__gte=OuterRef("last_order_at")
    )
    lapsed = (
        Contact.objects.filter(workspace_id=sequence.workspace_id, merged_into__isnull=True, opted_out_at__isnull=True)
        .annotate(last_order_at=last_order.values("last"))
        .filter(last_order_at__lte=now - timedelta(days=sequence.trigger_days or 0))
        .exclude(Exists(enrolled_since))
    )
    Sequence.objects.filter(pk=sequence.pk).update(scanned_at=now)
    return enrol(sequence=sequence, contact_ids=list(lapsed.values_list("pk", flat=True)), at=now)


# The tick --------------------------------------------------------------------------------------------------------------


def sequences_tick(*, at: datetime | None = None, batch: int = TICK_BATCH) -> int:
    """Run every step that is due, a batch at a time; returns how many steps ran."""
    now = at or timezone.now()
    _scan_lapsed(now)
    ran = 0
    while True:
        done = _run_batch(now, batch)
        ran += done
        if done < batch:
            return ran


def _scan_lapsed(now: datetime) -> None:
    stale = Q(scanned_at__isnull=True) | Q(scanned_at__lt=now - NO_ORDER_SCAN_EVERY)
    for sequence in Sequence.objects.filter(stale, active=True, trigger=Sequence.Trigger.NO_ORDER_FOR):
        enrol_lapsed_customers(sequence=sequence, at=now)


@transaction.atomic
def _run_batch(now: datetime, size: int) -> int:
    due = list(
        Enrolment.objects.select_for_update(skip_locked=True, of=("self",))
        .filter(status=Enrolment.Status.ACTIVE, next_run_at__lte=now)
        .order_by("next_run_at")
        .select_related("contact")
        .only("workspace_id", "sequence_id", "step_index", "contact__remark_name", "contact__nickname",
              "contact__owner_account_id", "contact__opted_out_at", "contact__workspace_id")[:size]
    )
    if not due:
        return 0
    steps = _steps_of({e.sequence_id for e in due})
    still_in = _apply_exits(due, now)
    by_action: dict[str, list[tuple[Enrolment, SequenceStep]]] = defaultdict(list)
    for enrolment in still_in:
        remaining = steps[enrolment.sequence_id][enrolment.step_index :]
        if remaining:  # else the steps were deleted under it: _advance completes it
            by_action[remaining[0].action].append((enrolment, remaining[0]))
    _send_messages(by_action[SequenceStep.Action.MESSAGE], now)
    _add_tags(by_action[SequenceStep.Action.ADD_TAG])
    _create_tasks(by_action[SequenceStep.Action.TASK], now)
    _advance(still_in, steps, now)
    return len(due)


def _steps_of(sequence_ids: set[int]) -> dict[int, list[SequenceStep]]:
    steps: dict[int, list[SequenceStep]] = defaultdict(list)
    for step in SequenceStep.objects.filter(sequence_id__in=sequence_ids).select_related("sequence", "tag"):
        steps[step.sequence_id].append(step)
    return steps


def _apply_exits(due: list[Enrolment], now: datetime) -> list[Enrolment]:
    """Leave out (and stop) enrolments whose contact opted out or whose sequence stopped, checked at run time:
    the events stop most of them earlier, this catches any the events missed."""
    stopped = set(Sequence.objects.filter(pk__in={e.sequence_id for e in due}, active=False).values_list("pk", flat=True))
    leaving = {
        e.pk: Enrolment.ExitReason.OPTED_OUT if e.contact.opted_out_at else Enrolment.ExitReason.SEQUENCE_STOPPED
        for e in due
        if e.contact.opted_out_at or e.sequence_id in stopped
    }
    for reason in set(leaving.values()):
        _exit(Enrolment.objects.filter(pk__any_of=[pk for pk, r in leaving.items() if r == reason]), reason)
    return [e for e in due if e.pk not in leaving]


def _new_runs(pairs: list[tuple[Enrolment, SequenceStep]], status: str) -> list[tuple[Enrolment, SequenceStep]]:
    """Record the runs; the pairs that ran already (the unique step_run_once) are left out, so no step runs twice."""
    if not pairs:
        return []
    if connection.vendor == "postgresql":
        inserted = _insert_runs_postgresql(pairs, status)
    else:
        already = set(StepRun.objects.filter(enrolment_id__any_of=[e.pk for e, _ in pairs])
                      .values_list("enrolment_id", "step_id"))
        StepRun.objects.bulk_create([StepRun(enrolment=e, step=s, status=status) for e, s in pairs
                                     if (e.pk, s.pk) not in already], ignore_conflicts=True)
        inserted = {(e.pk, s.pk) for e, s in pairs} - already
    return [(e, s) for e, s in pairs if (e.pk, s.pk) in inserted]


def _insert_runs_postgresql(pairs: list[tuple[Enrolment, SequenceStep]], status: str) -> set[tuple[int, int]]:
    """One INSERT of the batch's runs from two arrays, returning the pairs it wrote: what a query for the runs that
    exist and a bulk_create did, in a fifth of the time (model instances and a placeholder per value)."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"""INSERT INTO {StepRun._meta.db_table} (enrolment_id, step_id, status, error, created_at)
                SELECT enrolment_id, step_id, %s, '', %s FROM unnest(%s::bigint[], %s::bigint[])
                    AS run (enrolment_id, step_id)
                ON CONFLICT DO NOTHING RETURNING enrolment_id, step_id""",
            [status, timezone.now(), [e.pk for e, _ in pairs], [s.pk for _, s in pairs]],
        )
        return set(cursor.fetchall())


def _send_messages(pairs: list[tuple[Enrolment, SequenceStep]], now: datetime) -> None:
    if not pairs:
        return
    by_account: dict[int, list[wechat.Message]] = defaultdict(list)
    no_account = []
    for enrolment, step in _new_runs(pairs, StepRun.Status.DONE):
        contact = enrolment.contact
        if contact.owner_account_id is None:
            no_account.append(enrolment.pk)
            continue
        by_account[contact.owner_account_id].append(wechat.Message(
            ref=step_ref(enrolment.pk, step.pk), workspace_id=enrolment.workspace_id,
            account_id=contact.owner_account_id, contact_id=contact.pk,
            text=personalise(step.text, remark_name=contact.remark_name, nickname=contact.nickname),
        ))
    StepRun.objects.filter(enrolment_id__any_of=no_account).update(status=StepRun.Status.SKIPPED, error="no account")
    for account in WeChatAccount.objects.filter(pk__in=by_account):
        messages = by_account[account.pk]
        try:
            channel = wechat.channel_for(account)
            results = []
            for start in range(0, len(messages), channel.max_batch):
                results += channel.send(messages[start : start + channel.max_batch])
        except wechat.ChannelUnavailable as error:
            # A sequence step is not retried: the customer gets the next step on time rather than this one late.
            results = [wechat.Result(ref=m.ref, outcome=wechat.Outcome.FAILED, error=str(error)) for m in messages]
        _record_runs(results)


def _run_keys(refs) -> list[tuple[int, int]]:
    keys = []
    for ref in refs:
        if ref.startswith(SEQUENCE_REF_PREFIX):
            enrolment_id, step_id = ref[len(SEQUENCE_REF_PREFIX):].split(":")
            keys.append((int(enrolment_id), int(step_id)))
    return keys


def _record_runs(results: list[wechat.Result]) -> None:
    """Runs are recorded DONE; a message left with the staff (manual channel) is PENDING, a failed one FAILED."""
    pending = _run_keys(r.ref for r in results if r.outcome == wechat.Outcome.PENDING)
    for step_id, enrolment_ids in _by_step(pending).items():
        StepRun.objects.filter(step_id=step_id, enrolment_id__any_of=enrolment_ids).update(
            status=StepRun.Status.PENDING
        )
    for result in results:
        if result.outcome == wechat.Outcome.FAILED:
            ((enrolment_id, step_id),) = _run_keys([result.ref])
            StepRun.objects.filter(enrolment_id=enrolment_id, step_id=step_id).update(
                status=StepRun.Status.FAILED, error=result.error[:500]
            )


def _by_step(keys: list[tuple[int, int]]) -> dict[int, list[int]]:
    enrolments: dict[int, list[int]] = defaultdict(list)
    for enrolment_id, step_id in keys:
        enrolments[step_id].append(enrolment_id)
    return enrolments


def runs_report(results: list[wechat.Result]) -> None:
    """Outcomes reported after the send: a send-today card marked sent or skipped, or WeCom's final result of a
    mass send (sent, or failed with its reason)."""
    for outcome, status in ((wechat.Outcome.SENT, StepRun.Status.DONE), (wechat.Outcome.SKIPPED, StepRun.Status.SKIPPED)):
        keys = _run_keys(r.ref for r in results if r.outcome == outcome)
        for step_id, enrolment_ids in _by_step(keys).items():
            StepRun.objects.filter(step_id=step_id, enrolment_id__in=enrolment_ids, status=StepRun.Status.PENDING).update(
                status=status
            )
    for error, refs in wechat.failures_by_error(results).items():
        for step_id, enrolment_ids in _by_step(_run_keys(refs)).items():
            StepRun.objects.filter(step_id=step_id, enrolment_id__in=enrolment_ids, status=StepRun.Status.PENDING).update(
                status=StepRun.Status.FAILED, error=error
            )


def _add_tags(pairs: list[tuple[Enrolment, SequenceStep]]) -> None:
    from crm import services as crm_services

    by_tag: dict[Tag, list[int]] = defaultdict(list)
    for enrolment, step in _new_runs(pairs, StepRun.Status.DONE):
        if step.tag is not None:
            by_tag[step.tag].append(enrolment.contact_id)
    for tag, contact_ids in by_tag.items():
        crm_services.contacts_tag(workspace=tag.workspace, contact_ids=contact_ids, add=[tag], actor=None)


def _create_tasks(pairs: list[tuple[Enrolment, SequenceStep]], now: datetime) -> None:
    fresh = _new_runs(pairs, StepRun.Status.DONE)
    zones = dict(Workspace.objects.filter(pk__in={e.workspace_id for e, _ in fresh}).values_list("pk", "time_zone"))
    FollowUpTask.objects.bulk_create([
        FollowUpTask(
            workspace_id=e.workspace_id, contact_id=e.contact_id, enrolment=e, note=s.task_note or s.sequence.name,
            due_on=timezone.localdate(now, ZoneInfo(zones[e.workspace_id])),
        )
        for e, s in fresh
    ])


def _advance(enrolments: list[Enrolment], steps: dict[int, list[SequenceStep]], now: datetime) -> None:
    """Move each enrolment to its next step, or complete it after the last: one UPDATE per sequence and step,
    since every enrolment on the same step moves the same way."""
    groups: dict[tuple[int, int], list[int]] = defaultdict(list)
    for enrolment in enrolments:
        groups[(enrolment.sequence_id, enrolment.step_index)].append(enrolment.pk)
    for (sequence_id, index), ids in groups.items():
        following = steps[sequence_id][index + 1 :]
        rows = Enrolment.objects.filter(pk__any_of=ids)
        if following:
            rows.update(step_index=index + 1, next_run_at=now + following[0].wait)
        else:
            rows.update(step_index=index + 1, status=Enrolment.Status.COMPLETED, next_run_at=None, finished_at=now)
