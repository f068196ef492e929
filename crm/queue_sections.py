"""Other kinds of work in the send-today queue (今日待发) besides messages, such as the moments posts to publish by
hand. crm never imports the apps built on it, so they register a provider here (in their AppConfig.ready) and the
queue page asks every provider for its counts and its cards."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Protocol

from crm.models import Member, WeChatAccount
from crm.selectors import SendTodayCount


@dataclass(frozen=True)
class QueueSection:
    """Cards drawn by `template` (its context is `section.context`), shown above the account's messages."""

    template: str
    context: dict = field(default_factory=dict)


class QueueSectionProvider(Protocol):
    def counts(self, *, member: Member, today: date) -> dict[int, SendTodayCount]:
        """What waits in each account the member sees (accounts with nothing are left out)."""

    def section(self, *, member: Member, account: WeChatAccount, today: date) -> QueueSection | None:
        """The account's cards, or None when it has none."""


_PROVIDERS: list[QueueSectionProvider] = []


def register_queue_section(provider: QueueSectionProvider) -> None:
    if provider not in _PROVIDERS:
        _PROVIDERS.append(provider)


def extra_counts(*, member: Member, today: date) -> dict[int, SendTodayCount]:
    """Every provider's counts, added up per account."""
    totals: dict[int, SendTodayCount] = {}
    for provider in _PROVIDERS:
        for account_id, count in provider.counts(member=member, today=today).items():
            known = totals.get(account_id, SendTodayCount(pending=0, overdue=0))
            totals[account_id] = SendTodayCount(
                pending=known.pending + count.pending, overdue=known.overdue + count.overdue
            )
    return totals


def sections_for(*, member: Member, account: WeChatAccount, today: date) -> list[QueueSection]:
    sections = (provider.section(member=member, account=account, today=today) for provider in _PROVIDERS)
    return [section for section in sections if section is not None]
