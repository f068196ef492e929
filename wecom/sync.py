"""The WeCom sync: corp tags, then staff and their customers, then customer group chats (WeCom → Siyu; the way back
is wecom/sync_push.py).

    sync_workspace(workspace_id=1)           # the full sync (the beat task every few hours, the "Sync now" button)
    sync_for_event(event_id=7)               # the small sync a callback asks for: one customer, one chat, the tags

Each kind keeps a SyncState row. A run claims it with a lease (a conditional update), so two workers never run the
same kind of one workspace at once, and saves its cursor in the transaction that applies each page: a run cut off
(WeCom unreachable, a worker killed) leaves the state RUNNING or FAILED with its cursor, and the next run continues
from that page with the same run number. Pages applied twice change nothing (wecom/sync_contacts.py), so a page
applied just before a crash is harmless. A finished run marks what it did not see: customers lost, chats dismissed,
tags gone.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from crm.models import Workspace
from wecom.client import WeComError, WeComUnavailable, client_for
from wecom.models import CallbackEvent, WeComCredentials
from wecom.sync_contacts import (
    USERS_PER_CALL, contacts_vanish, follows_apply, follows_from_batch, follows_from_detail, staff_pull,
)
from wecom.sync_groups import chat_apply, chat_detail, chat_gone, chats_vanish
from wecom.sync_models import SyncState
from wecom.sync_tags import SyncContext, from_wecom, tags_ensure_known, tags_pull

logger = logging.getLogger(__name__)

LEASE = timedelta(minutes=15)  # longer than a page takes; a run renews it at every page
# A task stops after the page that passes this budget and queues its continuation, well inside Celery's time
# limit (CELERY_TASK_SOFT_TIME_LIMIT, 600 s by default): a first sync of 100,000 customers takes several tasks.
DEFAULT_BUDGET_SECONDS = 480
CUSTOMERS_PER_PAGE = 100  # batch/get_by_user's limit
CHATS_PER_PAGE = 100  # groupchat/list allows 1,000; each chat costs a groupchat/get, so pages stay short
Kind = SyncState.Kind
Status = SyncState.Status


class OutOfTime(Exception):
    """The run's budget is spent: its state keeps the cursor and a new task continues."""


def context_for(workspace: Workspace) -> SyncContext | None:
    credentials = WeComCredentials.objects.filter(workspace=workspace).first()
    if credentials is None or not credentials.secret:
        return None
    budget = getattr(settings, "WECOM_SYNC_BUDGET_SECONDS", DEFAULT_BUDGET_SECONDS)
    return SyncContext(workspace=workspace, client=client_for(credentials), deadline=time.monotonic() + budget)


def _check_time(ctx: SyncContext) -> None:
    if time.monotonic() >= ctx.deadline:
        raise OutOfTime


# The state of a run -----------------------------------------------------------------------------------------------


def _state(workspace: Workspace, kind: str) -> SyncState:
    try:
        with transaction.atomic():
            return SyncState.objects.get_or_create(workspace=workspace, kind=kind)[0]
    except IntegrityError:  # made meanwhile by another worker
        return SyncState.objects.get(workspace=workspace, kind=kind)


def _claim(workspace: Workspace, kind: str) -> SyncState | None:
    """The kind's state, leased to this run; None while another run holds it."""
    state, now = _state(workspace, kind), timezone.now()
    free = Q(lease_until__isnull=True) | Q(lease_until__lt=now)
    if not SyncState.objects.filter(free, pk=state.pk).update(lease_until=now + LEASE):
        return None
    state.refresh_from_db()
    if state.status == Status.DONE or state.status == Status.IDLE or not state.cursor:
        # A new run; one cut off keeps its number, cursor and counts and continues.
        state.run += 1
        state.cursor, state.counts, state.last_error, state.started_at = {}, {}, "", now
    state.status = Status.RUNNING
    state.save(update_fields=["run", "cursor", "counts", "last_error", "started_at", "status"])
    return state


def _advance(state: SyncState, *, cursor: dict, counts: dict) -> None:
    """Save the page's cursor and counts; called inside the page's transaction."""
    state.cursor = cursor
    state.counts = dict(state.counts)
    for key, value in counts.items():
        state.counts[key] = state.counts.get(key, 0) + value
    state.lease_until = timezone.now() + LEASE
    state.save(update_fields=["cursor", "counts", "lease_until"])


def _finish(state: SyncState, *, error: str = "") -> None:
    state.status = Status.FAILED if error else Status.DONE
    state.last_error = error[:2000]
    if not error:  # finished_at stays the last run that finished: the page shows it beside a stopped run's error
        state.finished_at, state.cursor = timezone.now(), {}
    state.lease_until = None
    state.save(update_fields=["status", "last_error", "finished_at", "cursor", "lease_until"])


# The kinds --------------------------------------------------------------------------------------------------------


def _tags_run(ctx: SyncContext, state: SyncState) -> None:
    counts = tags_pull(ctx)  # one call: the whole library
    _advance(state, cursor={}, counts=counts)


def _contacts_run(ctx: SyncContext, state: SyncState) -> None:
    cursor = state.cursor
    if not cursor:
        userids, created = staff_pull(ctx)
        cursor = {"users": userids, "batch": 0, "cursor": ""}
        _advance(state, cursor=cursor, counts={"staff": len(userids), "accounts_created": created})
    users = cursor["users"]
    while cursor["batch"] * USERS_PER_CALL < len(users):
        start = cursor["batch"] * USERS_PER_CALL
        answer = ctx.client.call("externalcontact/batch/get_by_user", body={
            "userid_list": users[start:start + USERS_PER_CALL], "cursor": cursor["cursor"],
            "limit": CUSTOMERS_PER_PAGE,
        })
        follows = follows_from_batch(answer)
        tags_ensure_known(ctx, {tag_id for follow in follows for tag_id in follow.tag_ids})
        next_cursor = answer.get("next_cursor") or ""
        cursor = {"users": users, "batch": cursor["batch"] + (0 if next_cursor else 1), "cursor": next_cursor}
        with transaction.atomic():
            counts = follows_apply(ctx, follows, run=state.run)
            _advance(state, cursor=cursor, counts={"customers": len(follows), **counts})
        if cursor["batch"] * USERS_PER_CALL < len(users):
            _check_time(ctx)
    vanished = contacts_vanish(ctx, userids=users, run=state.run, since=state.started_at)
    _advance(state, cursor=cursor, counts={"vanished": vanished})


def _groups_run(ctx: SyncContext, state: SyncState) -> None:
    cursor = None if state.cursor.get("done") else state.cursor or {"cursor": ""}
    while cursor is not None:
        answer = ctx.client.call("externalcontact/groupchat/list", body={
            "status_filter": 0, "cursor": cursor["cursor"], "limit": CHATS_PER_PAGE,
        })
        chats = [_chat_or_none(ctx, item.get("chat_id")) for item in answer.get("group_chat_list") or []]
        chats = [chat for chat in chats if chat]
        next_cursor = answer.get("next_cursor") or ""
        with transaction.atomic():
            page = {"chats": 0, "created": 0, "joined": 0, "left": 0}
            for chat in chats:
                counts = chat_apply(ctx, chat, run=state.run)
                page = {key: page[key] + counts.get(key, 0) for key in page} | {"chats": page["chats"] + 1}
            _advance(state, cursor={"cursor": next_cursor, "done": not next_cursor}, counts=page)
        cursor = {"cursor": next_cursor} if next_cursor else None
        if cursor is not None:
            _check_time(ctx)
    _advance(state, cursor=state.cursor, counts={"dismissed": chats_vanish(ctx, run=state.run)})


def _chat_or_none(ctx: SyncContext, chat_id: str | None) -> dict | None:
    """A chat WeCom will not show (dismissed since the list was read, say) is skipped, not the whole run."""
    if not chat_id:
        return None
    try:
        return chat_detail(ctx, chat_id)
    except WeComError as error:
        logger.info("WeCom chat %s of workspace %s skipped: %s", chat_id, ctx.workspace.pk, error)
        return None


RUNNERS = {Kind.TAGS: _tags_run, Kind.CONTACTS: _contacts_run, Kind.GROUPS: _groups_run}


def sync_kind(ctx: SyncContext, kind: str) -> SyncState | None:
    """Run (or continue) one kind; None when another run holds it. WeCom's refusals end the run FAILED, with
    the error shown on the settings page and the cursor kept for the next run."""
    state = _claim(ctx.workspace, kind)
    if state is None:
        return None
    try:
        with from_wecom():
            RUNNERS[kind](ctx, state)
    except OutOfTime:
        SyncState.objects.filter(pk=state.pk).update(lease_until=None)  # RUNNING, cursor kept: continued next
        state.lease_until = None
        return state
    except (WeComError, WeComUnavailable) as error:
        logger.warning("WeCom %s sync of workspace %s stopped: %s", kind, ctx.workspace.pk, error)
        _finish(state, error=str(error))
        return state
    except Exception as error:
        _finish(state, error=f"{type(error).__name__}: {error}")
        raise
    _finish(state)
    return state


def sync_workspace(*, workspace_id: int) -> list[SyncState]:
    """The full sync, tags first (contacts name them), then customers, then chats (their members are customers).
    A kind that ran out of time is left RUNNING and the kinds after it wait for the continuing task."""
    workspace = Workspace.objects.filter(pk=workspace_id).first()
    ctx = context_for(workspace) if workspace else None
    if ctx is None:
        return []
    started = timezone.now()
    states = []
    for kind in (Kind.TAGS, Kind.CONTACTS, Kind.GROUPS):
        state = sync_kind(ctx, kind)
        states.append(state)
        if state is not None and state.status == Status.RUNNING:
            break
    if len(states) == 3 and all(state is not None and state.status == Status.DONE for state in states):
        # The events left waiting before this run began are settled by it.
        CallbackEvent.objects.filter(
            workspace=workspace, status=CallbackEvent.Status.AWAITING_SYNC, received_at__lt=started
        ).update(status=CallbackEvent.Status.DONE)
    return [state for state in states if state is not None]


def unfinished(states: list[SyncState]) -> bool:
    """A kind stopped for time and goes on in a new task (not one stopped by WeCom: the beat retries those)."""
    return any(state.status == Status.RUNNING for state in states)


def workspaces_due() -> list[int]:
    """Every workspace with credentials: the beat task syncs them all (a sync that changes nothing is cheap)."""
    return list(WeComCredentials.objects.order_by("workspace_id").values_list("workspace_id", flat=True))


# Small syncs for callbacks ----------------------------------------------------------------------------------------


def _customer_sync(ctx: SyncContext, event: CallbackEvent) -> None:
    external_userid = event.payload.get("ExternalUserID") or ""
    answer = ctx.client.call("externalcontact/get", params={"external_userid": external_userid})
    userid = event.payload.get("UserID") or ""
    follows = [f for f in follows_from_detail(answer) if not userid or f.userid == userid]
    tags_ensure_known(ctx, {tag_id for follow in follows for tag_id in follow.tag_ids})
    with transaction.atomic():
        follows_apply(ctx, follows, run=None)


def _chat_sync(ctx: SyncContext, event: CallbackEvent) -> None:
    chat_id = event.payload.get("ChatId") or ""
    if event.change_type == "dismiss":
        chat_gone(ctx, chat_id)
        return
    chat = chat_detail(ctx, chat_id)
    with transaction.atomic():
        chat_apply(ctx, chat, run=None)


def _event_sync(ctx: SyncContext, event: CallbackEvent) -> None:
    if event.event == "change_external_chat":
        _chat_sync(ctx, event)
    elif event.event == "change_external_tag":
        tags_pull(ctx)
    else:
        _customer_sync(ctx, event)


def sync_for_event(*, event_id: int) -> None:
    """The small sync a callback asked for; the event is DONE after it. When WeCom cannot answer, the event stays
    waiting (with the error) and the next full sync settles it."""
    event = CallbackEvent.objects.select_related("workspace").filter(
        pk=event_id, status=CallbackEvent.Status.AWAITING_SYNC
    ).first()
    ctx = context_for(event.workspace) if event else None
    if ctx is None:
        return
    try:
        with from_wecom():
            _event_sync(ctx, event)
    except (WeComError, WeComUnavailable) as error:
        logger.warning("WeCom sync for callback event %s failed: %s", event_id, error)
        CallbackEvent.objects.filter(pk=event_id).update(error=str(error)[:2000])
        return
    CallbackEvent.objects.filter(pk=event_id, status=CallbackEvent.Status.AWAITING_SYNC).update(
        status=CallbackEvent.Status.DONE, error=""
    )


# The settings page ------------------------------------------------------------------------------------------------


def sync_queue(*, workspace: Workspace) -> None:
    """The "Sync now" button: the full sync, queued after the commit."""
    from wecom.tasks import sync_workspace as sync_task  # the tasks module imports this one

    workspace_id = workspace.pk
    transaction.on_commit(lambda: sync_task.delay(workspace_id))


@dataclass(frozen=True)
class SyncRow:
    kind: str
    status: str
    running: bool
    finished_at: datetime | None
    error: str
    counts: list[tuple[str, int]]


COUNT_LABELS = {
    "staff": _("staff"), "accounts_created": _("accounts added"), "customers": _("customers"), "created": _("new"),
    "updated": _("updated"), "vanished": _("lost"), "groups": _("tag groups"), "tags": _("tags"),
    "chats": _("group chats"), "joined": _("joined"), "left": _("left"), "dismissed": _("dismissed"),
}


def sync_rows(*, workspace: Workspace) -> list[SyncRow]:
    """Each kind's last run, for the settings page."""
    states = {state.kind: state for state in SyncState.objects.filter(workspace=workspace)}
    rows = []
    for kind in (Kind.TAGS, Kind.CONTACTS, Kind.GROUPS):
        state = states.get(kind) or SyncState(workspace=workspace, kind=kind)
        rows.append(SyncRow(
            kind=state.get_kind_display(), status=state.get_status_display(), running=state.status == Status.RUNNING,
            finished_at=state.finished_at, error=state.last_error,
            counts=[(COUNT_LABELS.get(key, key), value) for key, value in state.counts.items()],
        ))
    return rows
