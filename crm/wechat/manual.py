"""The manual channel: personal WeChat has no API, so a message becomes a card in the send-today queue
(今日待发) of its account, due today in the workspace's time zone. The staff member copies the text, sends it from
the phone and marks it sent or skipped (services.manual_send_mark), which reports the outcome."""

from collections.abc import Sequence
from zoneinfo import ZoneInfo

from django.utils import timezone

from crm.models import ManualSend, Workspace
from crm.wechat.base import Message, Outcome, Result, register_channel


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
