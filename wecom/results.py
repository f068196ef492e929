"""Mass-send results: what became of each customer of a MassSend, fetched from WeCom and reported once.

A mass send (add_msg_template) waits for its sender to confirm it in the WeCom app. The beat polls every SUBMITTED
row (mass_sends_poll): externalcontact/get_groupmsg_task says whether the sender confirmed, then
externalcontact/get_groupmsg_send_result gives each customer's status:

    0  not sent yet            stays PENDING, asked again next time
    1  sent                    SENT
    2  not the sender's friend FAILED
    3  already got a mass send FAILED (WeCom's limit of one a day per customer)

Each final status is written to MassSend.results and reported through crm.wechat.report_results() in one
transaction, and only statuses not in MassSend.results yet are reported: fetched twice, a result counts once (the
deliveries only move from PENDING anyway). WeCom keeps a mass send open for three days; after that the customers
still open are FAILED and the row EXPIRED, and it is not asked again.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from crm.wechat import Outcome, Result, report_results
from wecom.client import WeComClient, WeComError, WeComUnavailable, client_for
from wecom.models import MassSend, WeComCredentials

logger = logging.getLogger(__name__)

RESULT_WINDOW = timedelta(days=3)
POLL_EVERY = timedelta(minutes=5)
POLL_BATCH = 200

SENT, NOT_A_FRIEND, DAILY_LIMIT = 1, 2, 3
TASK_SENT = 2  # get_groupmsg_task: 0 not sent, 2 sent
REASONS = {
    NOT_A_FRIEND: "The customer is not the staff member's WeCom friend.",
    DAILY_LIMIT: "The customer already got a mass send from WeCom today.",
}
NOT_CONFIRMED = "The staff member did not send it from WeCom within three days."


def mass_sends_poll(*, now: datetime | None = None) -> int:
    """What the beat runs: the submitted mass sends not asked about lately; how many were asked about."""
    now = now or timezone.now()
    due = (
        MassSend.objects.filter(status=MassSend.Status.SUBMITTED)
        .filter(Q(checked_at__isnull=True) | Q(checked_at__lt=now - POLL_EVERY))
        .order_by(F("checked_at").asc(nulls_first=True), "id").values_list("pk", flat=True)[:POLL_BATCH]
    )
    return sum(mass_send_results_fetch(mass_send_id=pk, now=now) for pk in list(due))


def mass_send_results_fetch(*, mass_send_id: int, now: datetime | None = None) -> bool:
    """Ask WeCom about one mass send and report the results that became final; False when another run has it."""
    now = now or timezone.now()
    mass_send = MassSend.objects.filter(pk=mass_send_id, status=MassSend.Status.SUBMITTED).first()
    if mass_send is None:
        return False
    # Claimed with a conditional update on when it was last asked about: of two runs, one asks.
    if not MassSend.objects.filter(pk=mass_send.pk, status=MassSend.Status.SUBMITTED,
                                   checked_at=mass_send.checked_at).update(checked_at=now):
        return False
    statuses: dict[str, int] = {}
    confirmed = mass_send.confirmed_at is not None
    credentials = WeComCredentials.objects.filter(workspace_id=mass_send.workspace_id).first()
    if credentials is not None and mass_send.msgid:
        client = client_for(credentials)
        try:
            confirmed = confirmed or _sender_confirmed(client, mass_send)
            if confirmed:
                statuses = _send_results(client, mass_send)
        except WeComUnavailable as error:
            logger.info("WeCom mass send %s: results later (%s)", mass_send.pk, error)
        except WeComError as error:
            logger.warning("WeCom mass send %s: %s", mass_send.pk, error)
            MassSend.objects.filter(pk=mass_send.pk).update(error=str(error)[:2000])
    _record(mass_send, statuses, confirmed=confirmed, now=now)
    return True


def _sender_confirmed(client: WeComClient, mass_send: MassSend) -> bool:
    return any(
        task.get("userid") == mass_send.sender and int(task.get("status", 0)) == TASK_SENT
        for task in client.pages("externalcontact/get_groupmsg_task", {"msgid": mass_send.msgid}, "task_list")
    )


def _send_results(client: WeComClient, mass_send: MassSend) -> dict[str, int]:
    body = {"msgid": mass_send.msgid, "userid": mass_send.sender}
    return {
        row["external_userid"]: int(row.get("status", 0))
        for row in client.pages("externalcontact/get_groupmsg_send_result", body, "send_list")
        if row.get("external_userid")
    }


@transaction.atomic
def _record(mass_send: MassSend, statuses: dict[str, int], *, confirmed: bool, now: datetime) -> None:
    # Locked, and read again: what another run recorded meanwhile is not reported twice.
    mass_send = MassSend.objects.select_for_update().get(pk=mass_send.pk)
    if mass_send.status != MassSend.Status.SUBMITTED:
        return
    known = dict(mass_send.results)
    refused = set(mass_send.failed)  # FAILED when the call was made (fail_list)
    results = []
    for userid, status in statuses.items():
        ref = mass_send.recipients.get(userid)
        if ref is None or userid in known or userid in refused or status not in (SENT, NOT_A_FRIEND, DAILY_LIMIT):
            continue
        known[userid] = status
        results.append(Result(ref, Outcome.SENT) if status == SENT else Result(ref, Outcome.FAILED, REASONS[status]))
    open_ = [userid for userid in mass_send.recipients if userid not in known and userid not in refused]
    status = mass_send.status
    if not open_:
        status = MassSend.Status.FINISHED
    elif now - mass_send.created_at > RESULT_WINDOW:
        for userid in open_:
            known[userid] = 0
            results.append(Result(mass_send.recipients[userid], Outcome.FAILED, NOT_CONFIRMED))
        status = MassSend.Status.EXPIRED
    MassSend.objects.filter(pk=mass_send.pk).update(
        results=known, status=status,
        confirmed_at=mass_send.confirmed_at or (now if confirmed else None),
    )
    if results:
        report_results(results)
