"""The channel interface, the registry of channels and the listeners of late results."""

from __future__ import annotations

import enum
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from crm.models import WeChatAccount


class Outcome(enum.StrEnum):
    SENT = "sent"
    PENDING = "pending"  # the outcome is reported later, through report_results()
    FAILED = "failed"
    SKIPPED = "skipped"  # reported later: the staff member chose not to send it


@dataclass(frozen=True)
class Message:
    """One message to one contact, from one account. `images` are storage names of prepared images."""

    ref: str
    workspace_id: int
    account_id: int
    contact_id: int
    text: str = ""
    images: tuple[str, ...] = ()
    link: dict | None = None


@dataclass(frozen=True)
class Result:
    ref: str
    outcome: Outcome
    error: str = ""


class ChannelUnavailable(Exception):
    """The channel cannot take messages now (network, rate limit): nothing was sent, try again later."""


class Channel(Protocol):
    name: str
    max_batch: int  # how many messages one send() takes (WeCom: one API call for up to 10,000 customers)

    def send(self, messages: Sequence[Message]) -> list[Result]: ...


_CHANNELS: dict[str, Channel] = {}
_LISTENERS: list[Callable[[list[Result]], None]] = []


def register_channel(channel: Channel) -> Channel:
    _CHANNELS[channel.name] = channel
    return channel


def channel_for(account: WeChatAccount) -> Channel:
    try:
        return _CHANNELS[account.channel]
    except KeyError:
        raise ChannelUnavailable(f"No channel “{account.channel}” is available.") from None


def on_results(listener: Callable[[list[Result]], None]) -> None:
    """Call `listener` with every batch of outcomes reported after the send (once per listener)."""
    if listener not in _LISTENERS:
        _LISTENERS.append(listener)


def report_results(results: list[Result]) -> None:
    for listener in _LISTENERS:
        listener(results)


def failures_by_error(results: Sequence[Result], *, max_length: int = 500) -> dict[str, list[str]]:
    """The refs of the failed results grouped by their reason (cut to the column's length): one write per reason."""
    failed: dict[str, list[str]] = {}
    for result in results:
        if result.outcome == Outcome.FAILED:
            failed.setdefault(result.error[:max_length], []).append(result.ref)
    return failed

