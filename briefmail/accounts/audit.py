"""The audit log: who did what, to what, when, from where, and the state before and after.

`write` adds an entry inside the caller's transaction, so an action and its entry commit (or roll
back) together; `AuditLog.record` is the same for a caller without a session. Entries are read
newest first, a page at a time, with the last id seen as the cursor (stable while new entries
arrive, unlike an offset).
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from briefmail.accounts.models import AuditEntry
from subscribers.db import as_utc

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from briefmail.app import Briefmail

__all__ = ["MAX_PAGE", "AuditLog", "AuditView", "write"]

#: The most entries one read returns, whatever `limit` asks for.
MAX_PAGE = 500


@dataclass(frozen=True, slots=True)
class AuditView:
    """One audit entry as the faces show it (before/after decoded from their JSON)."""

    id: int
    at: dt.datetime
    actor: str
    action: str
    target: str | None
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    ip: str | None

    @classmethod
    def of(cls, entry: AuditEntry) -> AuditView:
        """The plain view of a stored entry."""
        return cls(
            entry.id,
            as_utc(entry.at),
            entry.actor,
            entry.action,
            entry.target,
            json.loads(entry.before) if entry.before is not None else None,
            json.loads(entry.after) if entry.after is not None else None,
            entry.ip,
        )

    def as_json(self) -> dict[str, Any]:
        """The entry as a JSON object (the instant in ISO 8601)."""
        return {
            "id": self.id,
            "at": self.at.isoformat(),
            "actor": self.actor,
            "action": self.action,
            "target": self.target,
            "before": self.before,
            "after": self.after,
            "ip": self.ip,
        }


def _encoded(state: dict[str, Any] | None) -> str | None:
    """A state as stable JSON text (sorted keys: equal states read the same in the log)."""
    if state is None:
        return None
    return json.dumps(state, ensure_ascii=False, sort_keys=True, default=str)


def write(
    session: Session,
    actor: str,
    action: str,
    target: str | None = None,
    *,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
    ip: str | None = None,
) -> AuditEntry:
    """Add one entry in the caller's transaction (flushed, not committed)."""
    entry = AuditEntry(
        actor=actor[:400],
        action=action[:100],
        target=target[:400] if target is not None else None,
        before=_encoded(before),
        after=_encoded(after),
        ip=ip[:64] if ip is not None else None,
    )
    session.add(entry)
    session.flush()
    return entry


class AuditLog:
    """Every operator action, recorded and read back (`app.audit`)."""

    def __init__(self, app: Briefmail) -> None:
        self._app = app

    def record(
        self,
        actor: str,
        action: str,
        target: str | None = None,
        *,
        before: dict[str, Any] | None = None,
        after: dict[str, Any] | None = None,
        ip: str | None = None,
    ) -> AuditView:
        """Record one action in its own transaction; the stored entry comes back."""
        with self._app.sessions() as session:
            entry = write(session, actor, action, target, before=before, after=after, ip=ip)
            session.commit()
            return AuditView.of(entry)

    def entries(
        self,
        *,
        limit: int = 50,
        before_id: int | None = None,
        actor: str | None = None,
        action: str | None = None,
    ) -> list[AuditView]:
        """Entries newest first: at most ``limit``, older than ``before_id``, of one actor/action.

        ``action`` matches a whole action ("operator.add") or, ending in a dot or given without
        one, its family ("operator." and "operator" both match "operator.add").
        """
        query = select(AuditEntry).order_by(AuditEntry.id.desc())
        query = query.limit(max(1, min(limit, MAX_PAGE)))
        if before_id is not None:
            query = query.where(AuditEntry.id < before_id)
        if actor:
            query = query.where(AuditEntry.actor == actor)
        if action:
            family = action.rstrip(".")
            query = query.where(
                (AuditEntry.action == family)
                | AuditEntry.action.startswith(family + ".", autoescape=True)
            )
        with self._app.sessions() as session:
            return [AuditView.of(entry) for entry in session.scalars(query)]
