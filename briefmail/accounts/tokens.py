"""API tokens: bearer secrets for /api/v1, created once, verified by hash, revoked for good.

A token is ``bm_`` and 32 random bytes (URL-safe base64). Only its SHA-256 is stored, so the
database never holds a usable token; the first characters are kept to tell tokens apart. A
token is found by the hash of what was presented (an indexed equality on a value the caller
cannot steer byte by byte), so verifying leaks nothing through timing about stored tokens.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from briefmail.accounts import audit
from briefmail.accounts.models import ApiToken, Scope
from briefmail.accounts.operators import AccountError
from subscribers.db import as_utc, utcnow

if TYPE_CHECKING:
    from briefmail.app import Briefmail

__all__ = ["PREFIX", "InvalidTokenName", "TokenView", "Tokens", "UnknownToken", "parse_scope"]

PREFIX = "bm_"
#: Characters of the token kept for listings: "bm_" and six of the random part.
_SHOWN = len(PREFIX) + 6
#: last_used_at is written at most this often per token, not once per request.
_USE_RESOLUTION = dt.timedelta(minutes=1)
_RANK = {Scope.READ: 0, Scope.WRITE: 1, Scope.SEND: 2}


class UnknownToken(AccountError, LookupError):
    """No API token has this id."""

    field = "id"


class InvalidTokenName(AccountError):
    """A token name that is empty, too long, or holds control characters."""

    field = "name"


class _ScopeError(AccountError):
    field = "scope"


def parse_scope(value: str | Scope) -> Scope:
    """A scope from its name ("read", "write", "send"); a clear error naming the field."""
    try:
        return Scope(str(value).strip().lower())
    except ValueError:
        known = ", ".join(scope.value for scope in Scope)
        raise _ScopeError(f"scope: {value!r} is not a scope (one of: {known})") from None


def _hash(raw: str) -> str:
    return hashlib.sha256(raw.encode("utf-8", "surrogatepass")).hexdigest()


@dataclass(frozen=True, slots=True)
class TokenView:
    """A stored API token as the faces see it (never the token or its hash)."""

    id: int
    name: str
    prefix: str
    scope: Scope
    created_at: dt.datetime
    created_by: str
    last_used_at: dt.datetime | None
    revoked_at: dt.datetime | None

    @property
    def actor(self) -> str:
        """The name this token's actions carry in histories and the audit log."""
        return f"api:{self.name}"

    @property
    def active(self) -> bool:
        """Whether the token still verifies (it has not been revoked)."""
        return self.revoked_at is None

    def may(self, scope: Scope) -> bool:
        """Whether this token holds ``scope`` or a wider one (send ⊇ write ⊇ read)."""
        return _RANK[self.scope] >= _RANK[scope]

    @classmethod
    def of(cls, token: ApiToken) -> TokenView:
        """The plain view of a stored token."""
        return cls(
            token.id,
            token.name,
            token.prefix,
            Scope(token.scope),
            as_utc(token.created_at),
            token.created_by,
            as_utc(token.last_used_at) if token.last_used_at else None,
            as_utc(token.revoked_at) if token.revoked_at else None,
        )

    def as_json(self) -> dict[str, Any]:
        """The `briefmail tokens list --json` shape of one token."""

        def instant(value: dt.datetime | None) -> str | None:
            return value.isoformat() if value else None

        return {
            "id": self.id,
            "name": self.name,
            "prefix": self.prefix,
            "scope": self.scope.value,
            "created_at": instant(self.created_at),
            "created_by": self.created_by,
            "last_used_at": instant(self.last_used_at),
            "revoked_at": instant(self.revoked_at),
        }


class Tokens:
    """The API's bearer tokens: created (shown once), verified, listed, revoked (`app.tokens`)."""

    def __init__(self, app: Briefmail) -> None:
        self._app = app

    def create(
        self, name: str, scope: Scope | str, created_by: str | None = None, *, ip: str | None = None
    ) -> tuple[str, TokenView]:
        """A new token: (the raw token, to show once; its stored view). Audited as token.create."""
        name, scope = _check_name(name), parse_scope(scope)
        actor = created_by or self._app.actor
        raw = PREFIX + secrets.token_urlsafe(32)
        with self._app.sessions() as session:
            token = ApiToken(
                name=name,
                prefix=raw[:_SHOWN],
                token_hash=_hash(raw),
                scope=scope,
                created_by=actor[:320],
            )
            session.add(token)
            session.flush()
            view = TokenView.of(token)
            audit.write(
                session,
                actor,
                "token.create",
                f"token:{token.id}",
                after={"name": name, "scope": scope.value, "prefix": view.prefix},
                ip=ip,
            )
            session.commit()
        return raw, view

    def verify(self, raw: str | None) -> TokenView | None:
        """The live token ``raw`` is, or None (unknown, malformed or revoked)."""
        if not raw or not raw.startswith(PREFIX) or len(raw) > 200:
            return None
        with self._app.sessions() as session:
            token = session.scalar(select(ApiToken).where(ApiToken.token_hash == _hash(raw)))
            if token is None or token.revoked_at is not None:
                return None
            now = utcnow()
            if token.last_used_at is None or now - as_utc(token.last_used_at) >= _USE_RESOLUTION:
                token.last_used_at = now
                session.flush()
                view = TokenView.of(token)
                session.commit()
                return view
            return TokenView.of(token)

    def revoke(
        self, token_id: int, *, actor: str | None = None, ip: str | None = None
    ) -> TokenView:
        """Revoke a token for good (revoking it again changes nothing); UnknownToken if none."""
        with self._app.sessions() as session:
            token = session.get(ApiToken, token_id)
            if token is None:
                raise UnknownToken(f"id: no API token has id {token_id}")
            if token.revoked_at is None:
                token.revoked_at = utcnow()
                audit.write(
                    session,
                    actor or self._app.actor,
                    "token.revoke",
                    f"token:{token.id}",
                    before={"name": token.name, "scope": Scope(token.scope).value},
                    ip=ip,
                )
            session.flush()
            view = TokenView.of(token)
            session.commit()
        return view

    def get(self, token_id: int) -> TokenView:
        """The token with this id; UnknownToken if none."""
        with self._app.sessions() as session:
            token = session.get(ApiToken, token_id)
            if token is None:
                raise UnknownToken(f"id: no API token has id {token_id}")
            return TokenView.of(token)

    def list(self) -> list[TokenView]:
        """Every token, revoked ones included, newest first."""
        with self._app.sessions() as session:
            tokens = session.scalars(select(ApiToken).order_by(ApiToken.id.desc()))
            return [TokenView.of(token) for token in tokens]


def _check_name(name: str) -> str:
    """A token's name, stripped; InvalidTokenName when empty or longer than 200 characters."""
    name = name.strip()
    if not name:
        raise InvalidTokenName("name: a token needs a name (what uses it, e.g. 'cms')")
    if len(name) > 200:
        raise InvalidTokenName(f"name: at most 200 characters (this one has {len(name)})")
    if not name.isprintable():  # it becomes the actor "api:NAME" in every log line
        raise InvalidTokenName("name: no line breaks or control characters, please")
    return name
