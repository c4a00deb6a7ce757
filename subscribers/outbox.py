"""The webhook outbox: events written in the transaction of the change they report.

A change that webhooks hear about (a reader confirmed, a run finished, ...) calls
`record_event` with its own session, so the event and the change commit together or not at
all: a crash loses no event and never announces a change that did not happen. The event is
written once, with one `WebhookDelivery` row per registered webhook that wants its kind; the
deliverer (scheduler/webhooks.py) sends those rows, signed, and retries them with backoff.

Webhooks are registered by their url (`sync_endpoints`, from ``[[webhooks]]``): a renamed
webhook keeps its history, one removed from the settings keeps it too but gets nothing new,
and one added later hears only of what happens from then on, never a flood of old events.
Recording is kept trivial (one small read, two inserts) because it runs inside sends and
consent changes: if it fails, the change fails with it.
"""

from __future__ import annotations

import datetime as dt
import enum
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, String, Text, UniqueConstraint, insert, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from subscribers.db import Base, string_enum, utcnow

__all__ = [
    "DeliveryState",
    "Endpoint",
    "WebhookAttempt",
    "WebhookDelivery",
    "WebhookEndpoint",
    "WebhookEvent",
    "record_event",
    "sync_endpoints",
]


class DeliveryState(enum.StrEnum):
    """A delivery is pending until a 2xx answers it, or failed once its retries are spent."""

    PENDING = "pending"
    DELIVERED = "delivered"
    FAILED = "failed"


class WebhookEndpoint(Base):
    """A webhook as registered from the settings, keyed by its url."""

    __tablename__ = "webhook_endpoints"

    id: Mapped[int] = mapped_column(primary_key=True)
    url: Mapped[str] = mapped_column(String(2000), unique=True)
    name: Mapped[str | None] = mapped_column(String(200))
    #: The event kinds it wants (a JSON list).
    events: Mapped[list[str]] = mapped_column(JSON)
    #: False once the settings no longer name it: its history stays, nothing new is recorded.
    active: Mapped[bool] = mapped_column(default=True)
    registered_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class WebhookEvent(Base):
    """Something that happened, once, whichever webhooks are told of it."""

    __tablename__ = "webhook_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(40))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow, index=True)


class WebhookDelivery(Base):
    """One event owed to one webhook: its state, attempts and when it is tried next."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        UniqueConstraint("event_id", "endpoint_id"),
        Index("ix_webhook_deliveries_state_next_attempt_at", "state", "next_attempt_at"),
        Index("ix_webhook_deliveries_endpoint_id_id", "endpoint_id", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("webhook_events.id", ondelete="CASCADE"))
    endpoint_id: Mapped[int] = mapped_column(ForeignKey("webhook_endpoints.id", ondelete="CASCADE"))
    state: Mapped[DeliveryState] = mapped_column(string_enum(DeliveryState))
    attempts: Mapped[int] = mapped_column(default=0)
    #: Due from this instant; a deliverer's claim moves it past its lease (a crashed
    #: deliverer's claims come back by themselves).
    next_attempt_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    #: The lease of the deliverer holding it now (scheduler.claims.Lease), if any.
    lease: Mapped[str | None] = mapped_column(String(32))
    last_status: Mapped[int | None]
    last_error: Mapped[str | None] = mapped_column(Text)
    delivered_at: Mapped[dt.datetime | None]
    updated_at: Mapped[dt.datetime | None]


class WebhookAttempt(Base):
    """One POST of a delivery: when, the HTTP status or the error, and how long it took."""

    __tablename__ = "webhook_attempts"

    id: Mapped[int] = mapped_column(primary_key=True)
    delivery_id: Mapped[int] = mapped_column(
        ForeignKey("webhook_deliveries.id", ondelete="CASCADE"), index=True
    )
    at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    status: Mapped[int | None]
    error: Mapped[str | None] = mapped_column(Text)
    duration_ms: Mapped[int] = mapped_column(default=0)


@dataclass(frozen=True, slots=True)
class Endpoint:
    """A webhook as the settings describe it (what `sync_endpoints` registers)."""

    url: str
    name: str | None
    events: tuple[str, ...]


def sync_endpoints(session: Session, endpoints: Iterable[Endpoint]) -> dict[str, int]:
    """Register the configured webhooks by url; the others stop getting events. {url: id}."""
    wanted = {endpoint.url: endpoint for endpoint in endpoints}
    rows = {row.url: row for row in session.scalars(select(WebhookEndpoint))}
    for url, row in rows.items():
        endpoint = wanted.get(url)
        if endpoint is None:
            row.active = False
            continue
        row.active, row.name, row.events = True, endpoint.name, list(endpoint.events)
    for url, endpoint in wanted.items():
        if url not in rows:
            rows[url] = WebhookEndpoint(url=url, name=endpoint.name, events=list(endpoint.events))
            session.add(rows[url])
    session.flush()
    return {url: rows[url].id for url in wanted}


def record_event(
    session: Session,
    kind: str,
    payload: Mapping[str, Any],
    *,
    endpoints: Sequence[int] | None = None,
) -> int | None:
    """Write an event for every active webhook that wants ``kind``, in the caller's transaction.

    ``endpoints`` names the webhooks instead (a test event). Returns the event's id, or None
    when no webhook wants it (nothing is written). The payload is stored as JSON (dates and
    other values as their text).
    """
    if endpoints is None:
        rows = session.execute(
            select(WebhookEndpoint.id, WebhookEndpoint.events).where(WebhookEndpoint.active)
        ).all()
        endpoints = [endpoint_id for endpoint_id, kinds in rows if kind in (kinds or ())]
    if not endpoints:
        return None
    now = utcnow()
    event_id = session.scalar(
        insert(WebhookEvent)
        .values(kind=kind, payload=json.loads(json.dumps(payload, default=str)), created_at=now)
        .returning(WebhookEvent.id)
    )
    session.execute(
        insert(WebhookDelivery),
        [
            {
                "event_id": event_id,
                "endpoint_id": endpoint_id,
                "state": DeliveryState.PENDING,
                "attempts": 0,
                "next_attempt_at": now,
            }
            for endpoint_id in endpoints
        ],
    )
    return event_id
