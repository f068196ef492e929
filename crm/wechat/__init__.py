"""The WeChat gateway: every outgoing message goes through the channel of the account that sends it.

    channel = channel_for(account)
    results = channel.send([Message(ref="delivery:42", account_id=..., contact_id=..., text="...")])

A channel takes a batch of messages of one account (at most `channel.max_batch`) and says, per message, what
became of it (`Result`): SENT, PENDING (someone else reports the outcome later: a staff member working the
send-today queue, or WeCom's asynchronous results) or FAILED. A channel that cannot be reached at all raises
ChannelUnavailable, and the sender retries later. Every channel keys messages by `ref`, the sender's own id, so
handing the same message over twice sends it once.

Outcomes that arrive later are passed to report_results(), which calls the listeners registered with
on_results() (the campaigns app registers one; crm never imports campaigns).

Channels: `manual` (personal WeChat has no API: the send-today queue), `outbox` (a table, for development,
demos and tests); `wecom` comes with the WeCom integration.
"""

from crm.wechat.base import (
    Channel,
    ChannelUnavailable,
    Message,
    Outcome,
    Result,
    channel_for,
    failures_by_error,
    on_results,
    report_results,
)
from crm.wechat import outbox  # noqa: F401  (registers its channel)
from crm.wechat.manual import manual_send_mark  # the manual channel registers itself on import too

__all__ = [
    "Channel",
    "ChannelUnavailable",
    "Message",
    "Outcome",
    "Result",
    "channel_for",
    "failures_by_error",
    "manual_send_mark",
    "on_results",
    "report_results",
]
