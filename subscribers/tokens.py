"""Signed, purpose-bound action tokens for the links in every message (itsdangerous).

A token names a subscription and one purpose; a token made for "preferences" is refused as an
"unsubscribe" token. Unsubscribe and preferences links must keep working for months, so they do
not expire by default; confirmation tokens do.
"""

from __future__ import annotations

import enum

from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

__all__ = ["InvalidToken", "Purpose", "TokenSigner"]


class Purpose(enum.StrEnum):
    """What a token allows; each purpose signs with its own salt."""

    CONFIRM = "confirm"
    PREFERENCES = "preferences"
    UNSUBSCRIBE = "unsubscribe"


class InvalidToken(ValueError):
    """A token was forged, altered, made for another purpose, or has expired."""


class TokenSigner:
    """Makes and reads tokens with one secret key."""

    def __init__(self, secret: str) -> None:
        if len(secret) < 16:
            raise ValueError("the secret key must be at least 16 characters")
        self._secret = secret

    def _serializer(self, purpose: Purpose) -> URLSafeTimedSerializer:
        return URLSafeTimedSerializer(self._secret, salt=f"briefmail.{purpose.value}")

    def make(self, purpose: Purpose, subscription_id: int) -> str:
        """A URL-safe token for ``subscription_id`` and ``purpose``."""
        return str(self._serializer(purpose).dumps(subscription_id))

    def read(self, purpose: Purpose, token: str, max_age: int | None = None) -> int:
        """The subscription id in a valid token; InvalidToken otherwise."""
        try:
            value = self._serializer(purpose).loads(token, max_age=max_age)
        except SignatureExpired as exc:
            raise InvalidToken("this link has expired") from exc
        except BadSignature as exc:
            raise InvalidToken("this link is not valid") from exc
        if not isinstance(value, int):
            raise InvalidToken("this link is not valid")
        return value
