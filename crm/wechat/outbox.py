"""The outbox channel: every message is written to OutboxMessage and counts as sent. For development, demos,
tests and benchmarks: it behaves like a real channel (batches, idempotent by ref) without reaching anyone."""

from collections.abc import Sequence

from crm.models import OutboxMessage
from crm.wechat.base import Message, Outcome, Result, register_channel


class OutboxChannel:
    name = "outbox"
    max_batch = 10_000

    def send(self, messages: Sequence[Message]) -> list[Result]:
        OutboxMessage.objects.bulk_create(
            [
                OutboxMessage(
                    workspace_id=m.workspace_id, account_id=m.account_id, contact_id=m.contact_id, ref=m.ref,
                    text=m.text, images=list(m.images), link=m.link,
                )
                for m in messages
            ],
            batch_size=2000,
            ignore_conflicts=True,  # handed over again after a crash: already there
        )
        return [Result(ref=m.ref, outcome=Outcome.SENT) for m in messages]


register_channel(OutboxChannel())
