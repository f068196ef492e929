"""Credentials encrypted at rest: a Fernet key derived from SECRET_KEY (HKDF), so a copy of the database alone does
not give away a seller's WeCom app secret. Rotating SECRET_KEY means entering the credentials again."""

from __future__ import annotations

import base64

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings

HKDF_INFO = b"siyu-crm wecom credentials v1"
MASK = "••••"


def _fernet() -> Fernet:
    key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=HKDF_INFO).derive(settings.SECRET_KEY.encode())
    return Fernet(base64.urlsafe_b64encode(key))


def seal(plain: str) -> str:
    return _fernet().encrypt(plain.encode()).decode() if plain else ""


def unseal(sealed: str) -> str:
    """The plain value, or "" when it was sealed under another SECRET_KEY (it must be entered again)."""
    if not sealed:
        return ""
    try:
        return _fernet().decrypt(sealed.encode()).decode()
    except InvalidToken:
        return ""


def masked(plain: str) -> str:
    """What a page may show of a secret: its last four characters."""
    return f"{MASK}{plain[-4:]}" if len(plain) > 8 else (MASK if plain else "")
