"""Signed, purpose-bound action tokens for the links in every message.

A token names one or more subscriptions of one subscriber, a purpose, and that subscriber's
current token key. A token made for "preferences" is refused as an "unsubscribe" token; a token
whose key no longer matches (the subscriber was erased, the key rotated) is refused by the caller
that checks it against the database. Unsubscribe and preferences links must keep working for
months, so they do not expire by default; confirmation links do.

Form (CSRF) tokens name the page they belong to and, for the public subscribe form, the random
value of the visitor's short-lived form cookie: a token copied out of one browser is refused in
another.

The format is itsdangerous' ``URLSafeTimedSerializer`` (salt ``briefmail.PURPOSE``, HMAC-SHA1
with the "django-concat" key, compact JSON, zlib when it shortens, a big-endian timestamp), made
and read here with hashlib and hmac directly: every message makes two tokens, and itsdangerous
builds a signer and derives its key on every call. The tokens are byte for byte the ones
itsdangerous makes, so every link already sent keeps working (tests/subscribers/test_tokens.py
reads each kind the other way round).
"""

from __future__ import annotations

import base64
import binascii
import enum
import hashlib
import hmac
import json
import time
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

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


class _Refused(Exception):
    """A token's signature, timestamp or payload is not what we make."""


class _Expired(_Refused):
    """A valid token older than the age allowed (or dated in the future)."""


def _b64(data: bytes) -> bytes:
    return base64.urlsafe_b64encode(data).rstrip(b"=")


def _unb64(data: bytes) -> bytes:
    try:
        return base64.urlsafe_b64decode(data + b"=" * (-len(data) % 4))
    except (binascii.Error, ValueError) as exc:
        raise _Refused("not base64") from exc


#: Payloads up to this size are first deflated with a small window and hash (see `_deflated`).
_SMALL = 128


def _deflated(payload: bytes) -> bytes | None:
    """``zlib.compress(payload)`` when it is shorter than the payload by two bytes, else None.

    zlib.compress sets up ~256 KB of state per call (~60 µs, most of a token's cost), only to
    find that a 40-byte payload does not shrink. Up to `_SMALL` bytes, the same level with a
    512-byte window and a 2 KB hash finds exactly the same matches (the input is shorter than
    the longest hash chain followed and the farthest match allowed) and picks the same block
    type, so it produces the same deflate stream, at ~5 µs; only when that stream is short
    enough is the real one made.
    """
    if len(payload) <= _SMALL:
        probe = zlib.compressobj(6, zlib.DEFLATED, 9, 4)
        if len(probe.compress(payload)) + len(probe.flush()) >= len(payload) - 1:
            return None
    compressed = zlib.compress(payload)
    return compressed if len(compressed) < len(payload) - 1 else None


class _TimedFormat:
    """itsdangerous' URLSafeTimedSerializer for one salt, the same bytes without its layers."""

    __slots__ = ("_mac",)

    def __init__(self, secret: bytes, salt: str) -> None:
        # itsdangerous' default key derivation ("django-concat") and digest (SHA-1).
        key = hashlib.sha1(salt.encode() + b"signer" + secret).digest()
        self._mac = hmac.new(key, digestmod=hashlib.sha1)

    def _digest(self, value: bytes) -> bytes:
        mac = self._mac.copy()
        mac.update(value)
        return mac.digest()

    def dumps(self, obj: object, now: float | None = None) -> str:
        """``obj`` as compact JSON (zlib'd when shorter), timestamped and signed."""
        payload = json.dumps(obj, separators=(",", ":")).encode()
        compressed = _deflated(payload)
        body = _b64(payload) if compressed is None else b"." + _b64(compressed)
        stamp = int(time.time() if now is None else now).to_bytes(8, "big").lstrip(b"\0")
        value = body + b"." + _b64(stamp)
        return (value + b"." + _b64(self._digest(value))).decode("ascii")

    def loads(self, token: str, max_age: int | None = None) -> Any:
        """The object of a token we signed; _Expired past ``max_age`` s, _Refused otherwise."""
        try:
            raw = token.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise _Refused("not UTF-8") from exc
        value, dot, signature = raw.rpartition(b".")
        if not dot or not hmac.compare_digest(_unb64(signature), self._digest(value)):
            raise _Refused("bad signature")
        body, dot, stamp = value.rpartition(b".")
        when = _unb64(stamp)
        if not dot or len(when) > 8:
            raise _Refused("malformed timestamp")
        if max_age is not None:
            age = int(time.time()) - int.from_bytes(when, "big")
            if age > max_age or age < 0:
                raise _Expired(f"signature age {age} s")
        try:
            if body.startswith(b"."):
                return json.loads(zlib.decompress(_unb64(body[1:])))
            return json.loads(_unb64(body))
        except (zlib.error, ValueError) as exc:
            raise _Refused("bad payload") from exc


class TokenSigner:
    """Makes and reads tokens with one secret key."""

    def __init__(self, secret: str) -> None:
        if len(secret) < 16:
            raise ValueError("the secret key must be at least 16 characters")
        self._secret = secret.encode()
        # One format per purpose, its key derived once: tokens are made for every message sent.
        self._formats = {
            purpose: _TimedFormat(self._secret, f"briefmail.{purpose.value}") for purpose in Purpose
        }

    def make(self, purpose: Purpose, subscription_ids: int | Sequence[int], key: str) -> str:
        """A URL-safe token for the subscription(s), bound to ``purpose`` and ``key``."""
        ids = [subscription_ids] if isinstance(subscription_ids, int) else list(subscription_ids)
        return self._formats[purpose].dumps([ids, key])

    def read(self, purpose: Purpose, token: str, max_age: int | None = None) -> TokenClaims:
        """The claims of a valid token; InvalidToken otherwise."""
        try:
            value = self._formats[purpose].loads(token, max_age=max_age)
        except _Expired as exc:
            raise InvalidToken("this link has expired") from exc
        except _Refused as exc:
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
        return self._formats[Purpose.CSRF].dumps([scope, binding])

    def check_csrf(
        self, token: str, scope: str, binding: str = "", max_age: int = 4 * 3600
    ) -> None:
        """Raise InvalidToken unless ``token`` was made for ``scope`` and ``binding`` lately."""
        try:
            value = self._formats[Purpose.CSRF].loads(token, max_age=max_age)
        except _Refused as exc:
            raise InvalidToken("the form has expired; please reload the page") from exc
        if not isinstance(value, list) or len(value) != 2 or value[0] != scope:
            raise InvalidToken("the form does not belong to this page")
        # compare_digest: the binding is the visitor's cookie, a secret of theirs.
        if not isinstance(value[1], str) or not hmac.compare_digest(value[1], binding):
            raise InvalidToken("the form was opened in another browser; please reload the page")
