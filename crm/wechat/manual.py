"""The manual channel: personal WeChat has no API, so a message becomes a card in the send-today queue
(今日待发) of its account, due today in the workspace's time zone. The staff member copies the text, sends it from
the phone and marks it sent or skipped (manual_send_mark), which reports the outcome."""

from collections.abc import Sequence
from zoneinfo import ZoneInfo

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from crm.models import ManualSend, Workspace
from crm.wechat.base import Message, Outcome, Result, register_channel, report_results


class ManualChannel:
    name = "manual"
    max_batch = 5_000

    def send(self, messages: Sequence[Message]) -> list[Result]:
        zones = dict(Workspace.objects.filter(pk__in={m.workspace_id for m in messages}).values_list("pk", "time_zone"))
        now = timezone.now()
        ManualSend.objects.bulk_create(
            [
                ManualSend(
                    workspace_id=m.workspace_id, account_id=m.account_id, contact_id=m.contact_id, ref=m.ref,
                    text=m.text, images=list(m.images), link=m.link,
                    due_on=timezone.localdate(now, ZoneInfo(zones[m.workspace_id])),
                )
                for m in messages
            ],
            batch_size=2000,
            ignore_conflicts=True,  # handed over again after a crash: the card is there already
        )
        return [Result(ref=m.ref, outcome=Outcome.PENDING) for m in messages]


register_channel(ManualChannel())


@transaction.atomic
def manual_send_mark(*, send: ManualSend, status: str, actor) -> bool:
    """A staff member sent a card of the send-today queue by hand, or skipped it. Only a pending card changes
    (a double click, or two staff on one card, count once); the outcome goes to whoever sent the message, in
    the same transaction."""
    if status not in {ManualSend.Status.SENT, ManualSend.Status.SKIPPED}:
        raise ValidationError(_("A card is either sent or skipped."))
    changed = ManualSend.objects.filter(pk=send.pk, status=ManualSend.Status.PENDING).update(
        status=status, done_by=actor, done_at=timezone.now()
    )
    if not changed:
        return False
    outcome = Outcome.SENT if status == ManualSend.Status.SENT else Outcome.SKIPPED
    report_results([Result(ref=send.ref, outcome=outcome)])
    return True
