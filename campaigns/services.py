"""Broadcasts (群发): compose, start, pause, resume, cancel, and the exactly-once send.

The send, step by step:
1. broadcast_send() starts a broadcast now (or, inside quiet hours or before its time, leaves it SCHEDULED for
   the tick). Starting turns the audience into Delivery rows with one INSERT ... SELECT: each QUEUED, or SKIPPED
   with its reason (opted out, frequency caps, no WeChat account). Chunk tasks are queued after the commit.
2. deliveries_send_chunk() (one Celery task per CHUNK_SIZE deliveries, ids only) claims its QUEUED rows with one
   conditional UPDATE, renders each text, hands the messages to the channel of their account and records the
   outcome. A row whose claim outlived its lease (settings.BROADCAST_CLAIM_LEASE_SECONDS: its worker died) may be
   claimed again: channels key messages by ref, so handing one over a second time sends nothing twice.
3. broadcasts_tick() (beat) starts scheduled broadcasts that are due, queues again the chunks of a broadcast that
   stopped moving (a lost task), and marks finished a broadcast whose every delivery has a final state.
"""

from __future__ import annotations

import calendar
import uuid
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.db.models import Case, CharField, Count, F, IntegerField, OuterRef, Q, QuerySet, Subquery, Value, When
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.translation import gettext as _

from campaigns.models import REF_PREFIX, Broadcast, Delivery, MessagingSettings, delivery_ref
from campaigns.texts import personalise
from crm import segments, wechat
from crm.models import Contact, WeChatAccount, Workspace

# Deliveries per chunk task. Each chunk costs a few commits (a WAL flush each, ~6 ms here) and a task's round
# trip whatever its size; 5,000 keep that under 5 % of the send while a chunk still takes well under a second.
CHUNK_SIZE = 5000
# A sending broadcast none of whose chunks moved for this long gets its remaining chunks queued again.
REDISPATCH_AFTER = timedelta(minutes=5)
HEARTBEAT_EVERY = timedelta(seconds=30)  # how often a chunk moves dispatched_at forward
MAX_ATTEMPTS = 5
# A start that writes this many deliveries refreshes the table's planner statistics (see _insert_deliveries).
ANALYZE_AFTER_INSERTING = 10_000
# Deliveries that count towards a contact's frequency caps.
COUNTED = (Delivery.Status.QUEUED, Delivery.Status.CLAIMED, Delivery.Status.PENDING, Delivery.Status.SENT)
UNFINISHED = (Delivery.Status.QUEUED, Delivery.Status.CLAIMED)


class SendLater(Exception):
    """A channel could not take the messages now; the chunk's rows are queued again. Retry the task later."""


# Settings and time -------------------------------------------------------------------------------------------------


def messaging_settings(*, workspace: Workspace) -> MessagingSettings:
    found = MessagingSettings.objects.filter(workspace=workspace).first()
    return found or MessagingSettings(workspace=workspace)


def in_quiet_hours(*, workspace: Workspace, at: datetime, rules: MessagingSettings | None = None) -> bool:
    rules = rules or messaging_settings(workspace=workspace)
    start, end = rules.quiet_start, rules.quiet_end
    now = timezone.localtime(at, ZoneInfo(workspace.time_zone)).time()
    if start == end:
        return False
    if start < end:
        return start <= now < end
    return now >= start or now < end  # over midnight, 22:00–08:00


def quiet_hours_end(*, workspace: Workspace, at: datetime) -> datetime:
    """When the quiet hours around `at` end (`at` itself outside them)."""
    rules = messaging_settings(workspace=workspace)
    if not in_quiet_hours(workspace=workspace, at=at, rules=rules):
        return at
    zone = ZoneInfo(workspace.time_zone)
    local = timezone.localtime(at, zone)
    end = datetime.combine(local.date(), rules.quiet_end, tzinfo=zone)
    return end if end > local else end + timedelta(days=1)


def _day_and_month_start(*, workspace: Workspace, at: datetime) -> tuple[datetime, datetime, int]:
    zone = ZoneInfo(workspace.time_zone)
    local = timezone.localtime(at, zone).date()
    day = datetime.combine(local, time(0), tzinfo=zone)
    month = datetime.combine(local.replace(day=1), time(0), tzinfo=zone)
    return day, month, calendar.monthrange(local.year, local.month)[1]


# The audience --------------------------------------------------------------------------------------------------------


def audience_rule(audience: dict) -> dict:
    """The audience as a segment rule: anyone in any chosen segment, tag, customer group or account, minus anyone
    in an excluded segment or tag. The segment selector is the one way contacts are chosen."""
    include = [{"field": "in_segment", "segment": pk} for pk in audience.get("segments", [])]
    if audience.get("tags"):
        include.append({"field": "tags", "match": "any", "tags": audience["tags"]})
    if audience.get("groups"):
        include.append({"field": "customer_group", "groups": audience["groups"]})
    if audience.get("accounts"):
        include.append({"field": "account", "accounts": audience["accounts"]})
    exclude = [{"field": "in_segment", "segment": pk} for pk in audience.get("exclude_segments", [])]
    if audience.get("exclude_tags"):
        exclude.append({"field": "tags", "match": "any", "tags": audience["exclude_tags"]})
    children = [{"op": "or", "children": include}]
    if exclude:
        children.append({"op": "or", "not": True, "children": exclude})
    return {"version": segments.RULE_VERSION, "root": {"op": "and", "children": children}}


def _with_verdicts(broadcast: Broadcast, at: datetime) -> QuerySet[Contact]:
    """The audience, each contact annotated with `verdict`: "" to send, or the reason to skip them."""
    workspace = broadcast.workspace
    rules = messaging_settings(workspace=workspace)
    day, month, days_in_month = _day_and_month_start(workspace=workspace, at=at)
    others = Delivery.objects.filter(contact=OuterRef("pk"), status__in=COUNTED).exclude(broadcast=broadcast)

    def sent_since(start):
        counted = others.filter(created_at__gte=start).order_by().values("contact").annotate(n=Count("id")).values("n")
        return Coalesce(Subquery(counted, output_field=IntegerField()), 0)

    contacts = segments.segment_contacts(workspace=workspace, rule=audience_rule(broadcast.audience)).order_by()
    return contacts.annotate(sent_today=sent_since(day), sent_this_month=sent_since(month)).annotate(
        verdict=Case(
            When(opted_out_at__isnull=False, then=Value(Delivery.SkipReason.OPTED_OUT.value)),
            When(owner_account__isnull=True, then=Value(Delivery.SkipReason.NO_ACCOUNT.value)),
            When(sent_today__gte=rules.daily_cap, then=Value(Delivery.SkipReason.DAILY_CAP.value)),
            When(sent_this_month__gte=rules.monthly_cap or days_in_month,
                 then=Value(Delivery.SkipReason.MONTHLY_CAP.value)),
            default=Value(""),
            output_field=CharField(),
        )
    )


@dataclass(frozen=True)
class AudiencePreview:
    total: int  # everyone the audience names
    to_send: int
    excluded: dict[str, int]  # Delivery.SkipReason → how many it leaves out


def broadcast_preview(*, broadcast: Broadcast, at: datetime | None = None) -> AudiencePreview:
    """How many the broadcast would reach now, and how many each rule leaves out (the send preview)."""
    rows = _with_verdicts(broadcast, at or timezone.now()).values("verdict").annotate(n=Count("id")).order_by()
    counts = {row["verdict"]: row["n"] for row in rows}
    to_send = counts.pop("", 0)
    return AudiencePreview(total=to_send + sum(counts.values()), to_send=to_send, excluded=counts)


# Lifecycle -------------------------------------------------------------------------------------------------------------


def broadcast_check(*, broadcast: Broadcast) -> None:
    """A ValidationError saying what keeps the broadcast from being sent."""
    if not (broadcast.text.strip() or broadcast.link or broadcast.images.exists()):
        raise ValidationError(_("Write a message, add an image or a link first."))
    if not any(broadcast.audience.get(key) for key in ("segments", "tags", "groups", "accounts")):
        raise ValidationError(_("Choose who receives it: a segment, tags, customer groups or accounts."))
    segments.validate_rule(workspace=broadcast.workspace, rule=audience_rule(broadcast.audience))


def broadcast_send(*, broadcast: Broadcast, at: datetime | None = None) -> Broadcast:
    """Send the broadcast at `at` (now when None): it starts at once if that time has come and is outside the
    quiet hours, else it waits, SCHEDULED, for the tick."""
    broadcast_check(broadcast=broadcast)
    now = timezone.now()
    changed = Broadcast.objects.filter(pk=broadcast.pk, status__in=[Broadcast.Status.DRAFT, Broadcast.Status.SCHEDULED])
    if not changed.update(status=Broadcast.Status.SCHEDULED, scheduled_at=at or now):
        raise ValidationError(_("This broadcast has been sent already."))
    broadcast.refresh_from_db()
    if broadcast.scheduled_at <= now and not in_quiet_hours(workspace=broadcast.workspace, at=now):
        broadcast_start(broadcast=broadcast)
        broadcast.refresh_from_db()
    return broadcast


def broadcast_unschedule(*, broadcast: Broadcast) -> bool:
    """Back to a draft, before it started."""
    return bool(
        Broadcast.objects.filter(pk=broadcast.pk, status=Broadcast.Status.SCHEDULED).update(
            status=Broadcast.Status.DRAFT, scheduled_at=None
        )
    )


@transaction.atomic
def broadcast_start(*, broadcast: Broadcast, at: datetime | None = None) -> int:
    """SCHEDULED → SENDING: write one Delivery per recipient and queue the chunks. Returns how many are queued;
    0 if another process started it first."""
    now = at or timezone.now()
    started = Broadcast.objects.filter(pk=broadcast.pk, status=Broadcast.Status.SCHEDULED).update(
        status=Broadcast.Status.SENDING, started_at=now, dispatched_at=now
    )
    if not started:
        return 0
    _insert_deliveries(broadcast, now)
    transaction.on_commit(lambda: broadcast_dispatch(broadcast_id=broadcast.pk))
    return Delivery.objects.filter(broadcast=broadcast, status=Delivery.Status.QUEUED).count()


def _insert_deliveries(broadcast: Broadcast, now: datetime) -> None:
    """One INSERT ... SELECT over the audience: no contact passes through Python.

    The verdict is computed once per contact, in a MATERIALIZED common table expression: written straight into the
    INSERT it is referenced three times (verdict, status, finished_at) and PostgreSQL would evaluate it, with its
    two frequency-cap subqueries, three times per contact. PostgreSQL's JIT is off for the statement: for 100,000
    contacts it spent about 3.5 s compiling a plan that runs in about one."""
    verdicts = _with_verdicts(broadcast, now).values_list("pk", "owner_account_id", "verdict")
    select, params = verdicts.query.sql_with_params()
    postgresql = connection.vendor == "postgresql"
    at = connection.ops.adapt_datetimefield_value(now)
    columns = "workspace_id, broadcast_id, contact_id, account_id, status, skip_reason, error, attempts, claim, " \
              "created_at, finished_at"
    # WHERE true: SQLite needs a WHERE before ON CONFLICT in an INSERT ... SELECT (a parsing ambiguity).
    statement = f"""
        WITH audience (contact_id, account_id, verdict) AS {"MATERIALIZED " if postgresql else ""}({select})
        INSERT INTO {Delivery._meta.db_table} ({columns})
        SELECT %s, %s, contact_id, account_id, CASE WHEN verdict = '' THEN %s ELSE %s END, verdict, '', 0, '', %s,
               CASE WHEN verdict = '' THEN NULL ELSE %s END
        FROM audience WHERE true
        ON CONFLICT DO NOTHING"""
    with connection.cursor() as cursor:
        if postgresql and connection.in_atomic_block:
            cursor.execute("SET LOCAL jit = off")
        cursor.execute(statement, (*params, broadcast.workspace_id, broadcast.pk, Delivery.Status.QUEUED.value,
                                   Delivery.Status.SKIPPED.value, at, at))
        if postgresql and cursor.rowcount >= ANALYZE_AFTER_INSERTING:
            # Fresh statistics before the chunks run. Without them the planner takes the new broadcast for an
            # empty one and reads each chunk by its broadcast alone, filtering all the broadcast's rows:
            # 50 chunks × 100,000 index entries for 100,000 recipients, 500 × 1,000,000 for a million.
            # (Autovacuum analyzes a table once a tenth of it changed: for a big table, maybe never in time.)
            # ANALYZE reads a sample of 30,000 rows, and until the commit it only waits for, or holds up, another
            # ANALYZE or VACUUM of the table; a database role that does not own the table gets a warning, no error.
            cursor.execute(f"ANALYZE {Delivery._meta.db_table}")


def broadcast_dispatch(*, broadcast_id: int) -> int:
    """Queue a chunk task for every CHUNK_SIZE deliveries still to send. Returns how many chunks."""
    from campaigns import tasks  # tasks import services

    # The chunks' first and last ids from the database (numbered in id order, grouped by CHUNK_SIZE), not every id
    # through Python: for a million recipients that was a million ints fetched before the first task was queued.
    with connection.cursor() as cursor:
        cursor.execute(
            f"""SELECT MIN(id), MAX(id) FROM (
                    SELECT id, ROW_NUMBER() OVER (ORDER BY id) - 1 AS position FROM {Delivery._meta.db_table}
                    WHERE broadcast_id = %s AND status IN (%s, %s)
                ) AS numbered
                GROUP BY position / %s ORDER BY 1""",
            [broadcast_id, *UNFINISHED, CHUNK_SIZE],
        )
        chunks = cursor.fetchall()
    Broadcast.objects.filter(pk=broadcast_id).update(dispatched_at=timezone.now())
    for first_id, last_id in chunks:
        tasks.deliveries_send_chunk.delay(broadcast_id, first_id, last_id)
    return len(chunks)


def broadcast_pause(*, broadcast: Broadcast) -> bool:
    """Stop after the chunks in flight; nothing queued is claimed while paused."""
    return bool(
        Broadcast.objects.filter(pk=broadcast.pk, status=Broadcast.Status.SENDING).update(status=Broadcast.Status.PAUSED)
    )


def broadcast_resume(*, broadcast: Broadcast) -> bool:
    """Carry on from where it stopped: only deliveries never handed over are sent."""
    resumed = Broadcast.objects.filter(pk=broadcast.pk, status=Broadcast.Status.PAUSED).update(
        status=Broadcast.Status.SENDING
    )
    if resumed:
        transaction.on_commit(lambda: broadcast_dispatch(broadcast_id=broadcast.pk))
    return bool(resumed)


@transaction.atomic
def broadcast_cancel(*, broadcast: Broadcast) -> bool:
    """Stop for good: whatever was not handed over yet is skipped ("cancelled")."""
    active = [Broadcast.Status.DRAFT, Broadcast.Status.SCHEDULED, Broadcast.Status.SENDING, Broadcast.Status.PAUSED]
    now = timezone.now()
    if not Broadcast.objects.filter(pk=broadcast.pk, status__in=active).update(
        status=Broadcast.Status.CANCELLED, finished_at=now
    ):
        return False
    Delivery.objects.filter(broadcast=broadcast, status=Delivery.Status.QUEUED).update(
        status=Delivery.Status.SKIPPED, skip_reason=Delivery.SkipReason.CANCELLED, finished_at=now
    )
    return True


def broadcast_finish_if_done(*, broadcast_id: int) -> bool:
    """SENDING → FINISHED once no delivery is queued or in flight."""
    if Delivery.objects.filter(broadcast_id=broadcast_id, status__in=UNFINISHED).exists():
        return False
    return bool(
        Broadcast.objects.filter(pk=broadcast_id, status=Broadcast.Status.SENDING).update(
            status=Broadcast.Status.FINISHED, finished_at=timezone.now()
        )
    )


# The send ------------------------------------------------------------------------------------------------------------


def deliveries_send_chunk(*, broadcast_id: int, first_id: int, last_id: int) -> int:
    """Send the broadcast's deliveries with ids first_id..last_id that are still queued. Safe to run twice, or on
    two workers at once: a row is claimed by one run only. Returns how many this run handed over.
    Raises SendLater when a channel is unavailable (its rows are queued again)."""
    broadcast = Broadcast.objects.select_related("workspace").filter(pk=broadcast_id).first()
    if broadcast is None or broadcast.status != Broadcast.Status.SENDING:
        return 0
    claim, now = uuid.uuid4().hex, timezone.now()
    # A claimed row whose worker recorded no outcome within the lease is taken to be lost with its worker.
    lease_start = now - timedelta(seconds=settings.BROADCAST_CLAIM_LEASE_SECONDS)
    claimable = Q(status=Delivery.Status.QUEUED) | Q(status=Delivery.Status.CLAIMED, claimed_at__lt=lease_start)
    chunk = Delivery.objects.filter(broadcast_id=broadcast_id, id__range=(first_id, last_id))
    claimed = chunk.filter(claimable).update(
        status=Delivery.Status.CLAIMED, claim=claim, claimed_at=now, attempts=F("attempts") + 1
    )
    if not claimed:
        broadcast_finish_if_done(broadcast_id=broadcast_id)
        return 0
    # The heartbeat the tick watches (REDISPATCH_AFTER), written at most every HEARTBEAT_EVERY: a write, and a
    # commit, per chunk on the one row every worker of the broadcast would update.
    stale = Q(dispatched_at=None) | Q(dispatched_at__lt=now - HEARTBEAT_EVERY)
    Broadcast.objects.filter(stale, pk=broadcast_id).update(dispatched_at=now)
    try:
        return _send_claimed(broadcast, claim, chunk)
    finally:
        # Only a chunk with nothing unfinished after it can be the last. Asking that first, along the primary key
        # from last_id on (ORDER BY id: the next chunk's first row answers it), spares most chunks the full
        # question, which reads past every row the earlier chunks finished and so cost more with each chunk.
        later = Delivery.objects.filter(broadcast_id=broadcast_id, status__in=UNFINISHED, id__gt=last_id)
        if later.order_by("id").values_list("id", flat=True).first() is None:
            broadcast_finish_if_done(broadcast_id=broadcast_id)


def _send_claimed(broadcast: Broadcast, claim: str, chunk: QuerySet[Delivery]) -> int:
    """Render and hand over the rows of `chunk` this run claimed. Looked up within the chunk (the broadcast and the
    id range: an index range scan), not by the claim alone, which no index serves."""
    rows = (
        chunk.filter(claim=claim, status=Delivery.Status.CLAIMED)
        .order_by("id")
        .values_list("id", "account_id", "contact_id", "contact__remark_name", "contact__nickname",
                     "contact__opted_out_at", "attempts")
    )
    images = tuple(image.image.name for image in broadcast.images.all())
    by_account: dict[int, list[wechat.Message]] = defaultdict(list)
    opted_out, attempts = [], {}
    for delivery_id, account_id, contact_id, remark_name, nickname, opted_out_at, tries in rows:
        if opted_out_at is not None:  # opted out after the broadcast started
            opted_out.append(delivery_id)
            continue
        attempts[delivery_id] = tries
        by_account[account_id].append(wechat.Message(
            ref=delivery_ref(delivery_id), workspace_id=broadcast.workspace_id, account_id=account_id,
            contact_id=contact_id, text=personalise(broadcast.text, remark_name=remark_name, nickname=nickname),
            images=images, link=broadcast.link,
        ))
    _record_skipped(opted_out, claim, Delivery.SkipReason.OPTED_OUT)
    accounts = WeChatAccount.objects.in_bulk(by_account.keys())
    handed_over, unavailable = 0, None
    for account_id, messages in by_account.items():
        if account_id not in accounts:  # deleted since the start (Delivery.account has no database constraint)
            _record_skipped(_ids(m.ref for m in messages), claim, Delivery.SkipReason.NO_ACCOUNT)
            continue
        try:
            handed_over += _send_through(accounts[account_id], messages, claim)
        except wechat.ChannelUnavailable as error:
            _release(messages, claim, attempts, error)
            unavailable = error
    if unavailable is not None:
        raise SendLater(str(unavailable))
    return handed_over


def _send_through(account: WeChatAccount, messages: list[wechat.Message], claim: str) -> int:
    channel = wechat.channel_for(account)
    for start in range(0, len(messages), channel.max_batch):
        _record(channel.send(messages[start : start + channel.max_batch]), claim=claim)
    return len(messages)


def _ids(refs: Iterable[str]) -> list[int]:
    return [int(ref[len(REF_PREFIX):]) for ref in refs if ref.startswith(REF_PREFIX)]


def _record(results: list[wechat.Result], *, claim: str) -> None:
    """Write each result onto its delivery, if this run still holds the row."""
    now = timezone.now()
    by_outcome: dict[tuple, list[str]] = defaultdict(list)
    for result in results:
        by_outcome[(result.outcome, result.error[:500])].append(result.ref)
    for (outcome, error), refs in by_outcome.items():
        held = Delivery.objects.filter(pk__any_of=_ids(refs), claim=claim, status=Delivery.Status.CLAIMED)
        if outcome == wechat.Outcome.SENT:
            held.update(status=Delivery.Status.SENT, finished_at=now)
        elif outcome == wechat.Outcome.PENDING:
            held.update(status=Delivery.Status.PENDING)
        else:
            held.update(status=Delivery.Status.FAILED, error=error, finished_at=now)


def _record_skipped(delivery_ids: list[int], claim: str, reason: str) -> None:
    if delivery_ids:
        Delivery.objects.filter(pk__any_of=delivery_ids, claim=claim).update(
            status=Delivery.Status.SKIPPED, skip_reason=reason, finished_at=timezone.now()
        )


def _release(messages: list[wechat.Message], claim: str, attempts: dict[int, int], error: Exception) -> None:
    """Give the rows back to the queue for a later try, or fail those that had MAX_ATTEMPTS already."""
    ids = _ids(m.ref for m in messages)
    exhausted = [pk for pk in ids if attempts.get(pk, 0) >= MAX_ATTEMPTS]
    held = Delivery.objects.filter(claim=claim, status=Delivery.Status.CLAIMED)
    held.filter(pk__any_of=exhausted).update(status=Delivery.Status.FAILED, error=str(error)[:500], finished_at=timezone.now())
    held.filter(pk__any_of=ids).exclude(pk__any_of=exhausted).update(status=Delivery.Status.QUEUED, claim="", error=str(error)[:500])


def deliveries_report(results: list[wechat.Result]) -> None:
    """Outcomes that arrived after the send (crm.wechat.report_results): a card of the send-today queue marked
    sent or skipped by the staff member, or WeCom's final result of a mass send (sent, or failed with its reason)."""
    now = timezone.now()
    for outcome, status, reason in (
        (wechat.Outcome.SENT, Delivery.Status.SENT, ""),
        (wechat.Outcome.SKIPPED, Delivery.Status.SKIPPED, Delivery.SkipReason.BY_STAFF),
    ):
        ids = _ids(r.ref for r in results if r.outcome == outcome)
        if ids:
            Delivery.objects.filter(pk__any_of=ids, status=Delivery.Status.PENDING).update(
                status=status, skip_reason=reason, finished_at=now
            )
    for error, failed in wechat.failures_by_error(results).items():
        Delivery.objects.filter(pk__any_of=_ids(failed), status=Delivery.Status.PENDING).update(
            status=Delivery.Status.FAILED, error=error, finished_at=now
        )


# The tick --------------------------------------------------------------------------------------------------------------


def broadcasts_tick(*, at: datetime | None = None) -> None:
    """What the beat does every few seconds: start what is due, revive what stalled, finish what is done."""
    now = at or timezone.now()
    due = Broadcast.objects.filter(status=Broadcast.Status.SCHEDULED, scheduled_at__lte=now).select_related("workspace")
    for broadcast in due:
        if not in_quiet_hours(workspace=broadcast.workspace, at=now):
            broadcast_start(broadcast=broadcast, at=now)
    for broadcast_id, dispatched_at in Broadcast.objects.filter(status=Broadcast.Status.SENDING).values_list(
        "id", "dispatched_at"
    ):
        if broadcast_finish_if_done(broadcast_id=broadcast_id):
            continue
        if dispatched_at is None or dispatched_at < now - REDISPATCH_AFTER:
            broadcast_dispatch(broadcast_id=broadcast_id)


# Progress --------------------------------------------------------------------------------------------------------------


def broadcast_progress(*, broadcast: Broadcast) -> dict:
    """Deliveries by status and, for the skipped, by reason; one grouped query."""
    rows = Delivery.objects.filter(broadcast=broadcast).values("status", "skip_reason").annotate(n=Count("id")).order_by()
    by_status: dict[str, int] = defaultdict(int)
    skipped: dict[str, int] = defaultdict(int)
    for row in rows:
        by_status[row["status"]] += row["n"]
        if row["status"] == Delivery.Status.SKIPPED:
            skipped[row["skip_reason"]] += row["n"]
    return {"by_status": dict(by_status), "skipped": dict(skipped), "total": sum(by_status.values())}
