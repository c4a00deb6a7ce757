"""Signed, purpose-bound action tokens for the links in every message (itsdangerous).

A token names one or more subscriptions of one subscriber, a purpose, and that subscriber's
current token key. A token made for "preferences" is refused as an "unsubscribe" token; a token
whose key no longer matches (the subscriber was erased, the key rotated) is refused by the caller
that checks it against the database. Unsubscribe and preferences links must keep working for
months, so they do not expire by default; confirmation links do.

Form (CSRF) tokens name the page they belong to and, for the public subscribe form, the random
value of the visitor's short-lived form cookie: a token copied out of one browser is refused in
another.
"""

from __future__ import annotations

import enum
import hashlib
import hmac
from collections.abc import Sequence
from dataclasses import dataclass

from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

__all__ = ["CONFIRM_MAX_AGE", "InvalidToken", "Purpose", "TokenClaims", "TokenSigner"]

#: How long a confirmation link works (seconds): a week.
CONFIRM_MAX_AGE = 7 * 24 * 3600


class Purpose(enum.StrEnum):
    """What a token allows; each purpose signs with its own salt."""

    CONFIRM = "confirm"
    PREFERENCES = "preferences"
    UNSUBSCRIBE = "unsubscribe"
    CSRF = "csrf"


class InvalidToken(ValueError):
    """A token was forged, altered, made for another purpose, or has expired."""


@dataclass(frozen=True, slots=True)
class TokenClaims:
    """What a valid token says: which subscriptions, and the key it was signed with."""

    subscription_ids: tuple[int, ...]
    key: str


class TokenSigner:
    """Makes and reads tokens with one secret key."""

    def __init__(self, secret: str) -> None:
        if len(secret) < 16:
            raise ValueError("the secret key must be at least 16 characters")
        self._secret = secret.encode()
        # One serializer per purpose, built once: tokens are made for every message sent.
        self._serializers = {
            purpose: URLSafeTimedSerializer(secret, salt=f"briefmail.{purpose.value}")
            for purpose in Purpose
        }

    def make(self, purpose: Purpose, subscription_ids: int | Sequence[int], key: str) -> str:
        """A URL-safe token for the subscription(s), bound to ``purpose`` and ``key``."""
        ids = [subscription_ids] if isinstance(subscription_ids, int) else list(subscription_ids)
        return str(self._serializers[purpose].dumps([ids, key]))

    def read(self, purpose: Purpose, token: str, max_age: int | None = None) -> TokenClaims:
        """The claims of a valid token; InvalidToken otherwise."""
        try:
            value = self._serializers[purpose].loads(token, max_age=max_age)
        except SignatureExpired as exc:
            raise InvalidToken("this link has expired") from exc
        except BadSignature as exc:
            raise InvalidToken("this link is not valid") from exc
        match value:
            case [list(ids), str(key)] if ids and all(type(i) is int for i in ids):
                return TokenClaims(tuple(ids), key)
        raise InvalidToken("this link is not valid")

    def make_bounce_token(self, delivery_id: int) -> str:
        """The VERP token of a delivery: its id and a short MAC, so bounces cannot be forged.

        Kept short and plain (digits, a dot, hex) because it is the local part of the envelope
        sender (`bounces+TOKEN@domain`), which some servers lowercase or truncate.
        """
        return f"{delivery_id}.{self._bounce_mac(delivery_id)}"

    def read_bounce_token(self, token: str) -> int | None:
        """The delivery id a VERP token names, or None if it was not made with our key."""
        ident, _, mac = token.strip().lower().partition(".")
        if not ident.isdigit() or len(ident) > 18:
            return None
        delivery_id = int(ident)
        return delivery_id if hmac.compare_digest(mac, self._bounce_mac(delivery_id)) else None

    def _bounce_mac(self, delivery_id: int) -> str:
        message = f"briefmail.bounce:{delivery_id}".encode()
        return hmac.new(self._secret, message, hashlib.sha256).hexdigest()[:12]

    def make_csrf(self, scope: str, binding: str = "") -> str:
        """A form token for one page (``scope``), bound to the visitor's form cookie if given."""
        return str(self._serializers[Purpose.CSRF].dumps([scope, binding]))

    def check_csrf(
        self, token: str, scope: str, binding: str = "", max_age: int = 4 * 3600
    ) -> None:
        """Raise InvalidToken unless ``token`` was made for ``scope`` and ``binding`` lately."""
        try:
            value = self._serializers[Purpose.CSRF].loads(token, max_age=max_age)
        except (BadSignature, SignatureExpired) as exc:
            raise InvalidToken("the form has expired; please reload the page") from exc
        if not isinstance(value, list) or len(value) != 2 or value[0] != scope:
            raise InvalidToken("the form does not belong to this page")
        # compare_digest: the binding is the visitor's cookie, a secret of theirs.
        if not isinstance(value[1], str) or not hmac.compare_digest(value[1], binding):
            raise InvalidToken("the form was opened in another browser; please reload the page")
