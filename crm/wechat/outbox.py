"""The outbox channel: every message is written to OutboxMessage and counts as sent. For development, demos,
tests and benchmarks: it behaves like a real channel (batches, idempotent by ref) without reaching anyone."""

import json
from collections.abc import Sequence

import psycopg
from django.db import connection
from django.utils import timezone

from crm.models import OutboxMessage
from crm.wechat.base import Message, Outcome, Result, register_channel


class OutboxChannel:
    name = "outbox"
    max_batch = 10_000

    def send(self, messages: Sequence[Message]) -> list[Result]:
        if connection.vendor == "postgresql":
            _insert_postgresql(messages)
        else:
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


def _insert_postgresql(messages: Sequence[Message]) -> None:
    """One INSERT of the whole batch from eight arrays (unnest), skipping refs written already (a hand-over after a
    crash). bulk_create builds a model instance and prepares eight values per message in Python first: for a
    batch of thousands, most of the channel's time. The images and link, the same objects in every message of a
    broadcast's chunk, are serialised once each."""
    if not messages:
        return
    serialised: dict[int, tuple[object, str]] = {}  # id(value) → (value, its JSON)

    def as_json(value) -> str | None:
        if value is None:
            return None  # SQL NULL, as the JSONField stores it
        known = serialised.get(id(value))
        if known is None:
            known = serialised[id(value)] = (value, json.dumps(list(value) if isinstance(value, tuple) else value))
        return known[1]

    columns = (
        [m.workspace_id for m in messages], [m.account_id for m in messages], [m.contact_id for m in messages],
        [m.ref for m in messages], [m.text for m in messages], [as_json(m.images) for m in messages],
        [as_json(m.link) for m in messages],
    )
    table = OutboxMessage._meta.db_table
    connection.ensure_connection()
    # A cursor binding its parameters on the server, in binary (%b): Django's cursors bind on the client, quoting
    # every element of the seven arrays into the SQL text, which took longer than the rest of the batch's Python.
    with psycopg.Cursor(connection.connection) as cursor:
        cursor.execute(
            f"""INSERT INTO {table} (workspace_id, account_id, contact_id, ref, text, images, link, created_at)
                SELECT workspace_id, account_id, contact_id, ref, text, images::jsonb, link::jsonb, %b
                FROM unnest(%b::bigint[], %b::bigint[], %b::bigint[], %b::text[], %b::text[], %b::text[], %b::text[])
                    AS m (workspace_id, account_id, contact_id, ref, text, images, link)
                ON CONFLICT DO NOTHING""",
            [timezone.now(), *columns],
            prepare=False,  # no server-side prepared statement: safe behind a transaction-pooling pgbouncer
        )


register_channel(OutboxChannel())
