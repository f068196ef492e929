"""Who brought a new contact: the referral code a seller types when adding them, or picks from the recent scans of
a referral landing page. crm never imports the apps built on it, so the referrals app registers its attribution
here (in its AppConfig.ready); without one, the contact form has no referral code field.

    attribution = current()
    attribution.attribute(contact=contact, code="K7M2QX9A", actor=user)   # ValidationError when the code is no good
    attribution.recent_codes(workspace=workspace)                          # [(code, "王姐 · 10:32"), ...]
"""

from __future__ import annotations

from typing import Protocol

from crm.models import Contact, Workspace


class Attribution(Protocol):
    def attribute(self, *, contact: Contact, code: str, actor) -> None:
        """Record that the owner of `code` brought `contact`; ValidationError (a sentence) when the code is unknown
        or its campaign is not running."""

    def recent_codes(self, *, workspace: Workspace) -> list[tuple[str, str]]:
        """The codes of the latest landing-page scans, each with a label, newest first."""


_CURRENT: list[Attribution] = []


def register_attribution(attribution: Attribution) -> None:
    _CURRENT[:] = [attribution]


def current() -> Attribution | None:
    return _CURRENT[0] if _CURRENT else None
