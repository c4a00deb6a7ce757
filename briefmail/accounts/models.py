"""The accounts' tables: operators, API tokens, the audit log and the API's idempotency keys.

Defined in the application shell, not below it: only the faces (console, API, CLI) know who an
operator is; the library operations receive a plain actor name ("console:ada@example.org").
"""

from __future__ import annotations

import datetime as dt
import enum

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from subscribers.db import Base, string_enum, utcnow

__all__ = ["ApiToken", "AuditEntry", "IdempotencyKey", "Operator", "Role", "Scope"]


class Role(enum.StrEnum):
    """What an operator may do: viewers read, editors edit and approve, owners send and erase."""

    VIEWER = "viewer"
    EDITOR = "editor"
    OWNER = "owner"


class Scope(enum.StrEnum):
    """What an API token may do: read, write (create, edit, approve) or send (and erase)."""

    READ = "read"
    WRITE = "write"
    SEND = "send"


class Operator(Base):
    """A person who signs in to the console."""

    __tablename__ = "operators"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(320), unique=True)
    role: Mapped[Role] = mapped_column(string_enum(Role))
    #: argon2id, in its PHC string form (parameters and salt included).
    password_hash: Mapped[str] = mapped_column(Text)
    #: Raised by a password change or removal: every session signed with an older one ends.
    session_epoch: Mapped[int] = mapped_column(default=1)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    last_login_at: Mapped[dt.datetime | None]


class ApiToken(Base):
    """A bearer token of the API: only its SHA-256 is kept; the token is shown once."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    #: The token's first characters, so an operator can tell tokens apart in a listing.
    prefix: Mapped[str] = mapped_column(String(16))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    scope: Mapped[Scope] = mapped_column(string_enum(Scope))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    created_by: Mapped[str] = mapped_column(String(320))
    last_used_at: Mapped[dt.datetime | None]
    revoked_at: Mapped[dt.datetime | None]


class AuditEntry(Base):
    """One operator action: who, when, what, and the state before and after (JSON)."""

    __tablename__ = "audit_entries"
    __table_args__ = (Index("ix_audit_entries_at", "at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    #: "console:ada@example.org", "api:token-name", "cli:alice".
    actor: Mapped[str] = mapped_column(String(400))
    #: A dotted verb: "issue.approve", "subscriber.erase", "operator.add", "login.failed".
    action: Mapped[str] = mapped_column(String(100))
    #: What it acted on: "issue:12", "subscriber:reader@example.org", "run:7".
    target: Mapped[str | None] = mapped_column(String(400))
    before: Mapped[str | None] = mapped_column(Text)
    after: Mapped[str | None] = mapped_column(Text)
    #: The client's address, for actions that came over the web.
    ip: Mapped[str | None] = mapped_column(String(64))


class IdempotencyKey(Base):
    """An API POST's Idempotency-Key and its first answer, replayed to a retry of it."""

    __tablename__ = "idempotency_keys"
    __table_args__ = (UniqueConstraint("token_id", "key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    token_id: Mapped[int] = mapped_column(ForeignKey("api_tokens.id", ondelete="CASCADE"))
    key: Mapped[str] = mapped_column(String(200))
    #: "POST /api/v1/issues": a key reused for another route is refused.
    route: Mapped[str] = mapped_column(String(300))
    #: SHA-256 of the request body: a key reused with another body is refused.
    request_hash: Mapped[str] = mapped_column(String(64))
    status_code: Mapped[int | None]
    response: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
