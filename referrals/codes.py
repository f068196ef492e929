"""Participants' personal codes: short enough to read out or type ("K7M2QX9A"), from an alphabet without the
characters people confuse (0/O, 1/I), random so that nobody guesses another participant's page."""

import secrets

ALPHABET = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"
LENGTH = 8  # 32^8, about a trillion: collisions are retried, guesses hopeless


def new_code() -> str:
    return "".join(secrets.choice(ALPHABET) for _ in range(LENGTH))


def normalise(code: str) -> str:
    """A code as typed ("k7m2 qx9a") in its stored form."""
    return "".join((code or "").split()).upper()


def looks_like_code(code: str) -> bool:
    return len(code) == LENGTH and all(character in ALPHABET for character in code)
