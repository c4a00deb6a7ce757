"""Webhooks: the configured [[webhooks]] registered, their due events delivered, inspected.

The events themselves are written by the changes they report (subscribers.outbox), in the
same transaction; this service registers the configured webhooks so those writes know who
wants what, runs delivery rounds (scheduler.webhooks: signed POSTs, backoff, every attempt
kept), prunes what is older than 30 days, and lists recent deliveries for the console and
`briefmail webhooks list`. A webhook's secret is read from the environment variable its
``secret_env`` names; a variable that is not set is an error naming the webhook.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import os
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from briefmail.settings import SettingsError
from scheduler.webhooks import DeliverReport, Target, backlog, deliver_due, prune
from subscribers.db import as_utc, utcnow
from subscribers.outbox import (
    DeliveryState,
    Endpoint,
    WebhookAttempt,
    WebhookDelivery,
    WebhookEndpoint,
    WebhookEvent,
    record_event,
    sync_endpoints,
)

if TYPE_CHECKING:
    from briefmail.app import Briefmail
    from briefmail.settings import WebhookSettings

__all__ = ["AttemptView", "DeliveryView", "UnknownWebhook", "WebhookInfo", "WebhooksService"]

log = logging.getLogger("briefmail.webhooks")
#: The kind of the event `webhooks test` sends (it is not one a webhook subscribes to).
TEST_EVENT = "webhook.test"


class UnknownWebhook(LookupError):
    """No configured webhook has this name or url."""


@dataclass(frozen=True, slots=True)
class WebhookInfo:
    """A configured webhook and how many of its deliveries are in each state."""

    name: str
    url: str
    events: tuple[str, ...]
    secret_env: str
    counts: dict[str, int]
    #: Whether its secret_env holds a secret (without one its events wait).
    secret_set: bool = True

    def as_json(self) -> dict[str, object]:
        """The shape `webhooks list --json` prints (the secret never appears)."""
        return {
            "name": self.name,
            "url": self.url,
            "events": list(self.events),
            "secret_env": self.secret_env,
            "pending": self.counts.get("pending", 0),
            "delivered": self.counts.get("delivered", 0),
            "failed": self.counts.get("failed", 0),
        }


@dataclass(frozen=True, slots=True)
class AttemptView:
    """One POST of a delivery."""

    at: dt.datetime
    status: int | None
    error: str | None
    duration_ms: int


@dataclass(frozen=True, slots=True)
class DeliveryView:
    """One event owed to one webhook, with its latest attempts (newest first)."""

    id: int
    webhook: str
    url: str
    event_id: int
    kind: str
    created_at: dt.datetime
    state: str
    attempts: int
    last_status: int | None
    last_error: str | None
    #: When it is tried again (None unless it is still pending).
    next_attempt_at: dt.datetime | None
    delivered_at: dt.datetime | None
    history: tuple[AttemptView, ...] = ()

    def as_json(self) -> dict[str, Any]:
        """The shape `webhooks list --json` prints for a recent delivery."""
        return {
            "id": self.id,
            "webhook": self.webhook,
            "event_id": self.event_id,
            "type": self.kind,
            "created_at": self.created_at.isoformat(),
            "state": self.state,
            "attempts": self.attempts,
            "last_status": self.last_status,
            "last_error": self.last_error,
            "next_attempt_at": _iso(self.next_attempt_at),
            "delivered_at": _iso(self.delivered_at),
        }


class WebhooksService:
    """Register, deliver, test and inspect the configured webhooks."""

    def __init__(self, app: Briefmail) -> None:
        self.app = app
        self._ids: dict[str, int] | None = None

    @property
    def configured(self) -> list[WebhookSettings]:
        """The [[webhooks]] of the settings."""
        return list(self.app.settings.webhooks)

    def targets(self, *, strict: bool = True) -> list[Target]:
        """Each configured webhook with its secret; SettingsError names one without (strict).

        Not strict: a webhook whose secret is missing is left out (and logged), so one bad
        webhook never stops the others from being delivered.
        """
        targets = []
        for index, cfg in enumerate(self.configured):
            secret = os.environ.get(cfg.secret_env, "")
            if not secret:
                problem = (
                    f"webhooks[{index}] ({cfg.label}): the environment variable "
                    f"{cfg.secret_env} that holds its secret is not set"
                )
                if strict:
                    raise SettingsError(problem)
                log.error("%s; its events wait", problem)
                continue
            targets.append(Target(cfg.url, cfg.name, secret.encode(), cfg.timeout_seconds))
        return targets

    def check(self) -> None:
        """Refuse to start with a webhook whose secret is missing; register the webhooks."""
        self.targets()
        self.sync(force=True)

    def sync(self, *, force: bool = False) -> dict[str, int]:
        """Register the configured webhooks (once per process unless ``force``); {url: id}."""
        if self._ids is None or force:
            endpoints = [Endpoint(c.url, c.name, tuple(c.events)) for c in self.configured]
            with self.app.sessions() as session:
                self._ids = sync_endpoints(session, endpoints)
                session.commit()
        return self._ids

    def listing(self, *, strict: bool = True) -> list[WebhookInfo]:
        """Every configured webhook with its deliveries' counts (SettingsError: no secret).

        Not strict (the console): a webhook without its secret is listed, marked so.
        """
        ready = {target.url for target in self.targets(strict=strict)}
        self.sync()
        with self.app.sessions() as session:
            counts = backlog(session)
        return [
            WebhookInfo(
                cfg.label,
                cfg.url,
                tuple(cfg.events),
                cfg.secret_env,
                counts.get(cfg.url, {}),
                secret_set=cfg.url in ready,
            )
            for cfg in self.configured
        ]

    async def deliver_async(self) -> DeliverReport:
        """One delivery round over every webhook with its secret; old deliveries pruned."""
        self.sync()
        report = await deliver_due(self.app.sessions, self.targets(strict=False))
        with self.app.sessions() as session:
            prune(session, utcnow())
            session.commit()
        return report

    def deliver(self) -> DeliverReport:
        """One delivery round, from synchronous code (the CLI, the scheduler's job)."""
        return asyncio.run(self.deliver_async())

    def deliver_job(self) -> int:
        """The scheduler's webhooks job: one round; how many deliveries were attempted."""
        report = self.deliver()
        attempted = report.delivered + report.retrying + report.failed
        if report.retrying or report.failed:
            log.warning("webhooks: %s", report.as_json())
        elif attempted:
            log.info("webhooks: %d delivered", report.delivered)
        return attempted

    def find(self, name: str) -> WebhookSettings:
        """The configured webhook called ``name`` (or at that url); UnknownWebhook if none."""
        for cfg in self.configured:
            if name in (cfg.name, cfg.url):
                return cfg
        known = ", ".join(cfg.label for cfg in self.configured) or "none is configured"
        raise UnknownWebhook(f"no webhook named {name!r} (known: {known})")

    def send_test(self, name: str, *, actor: str | None = None) -> DeliveryView:
        """Record a test event for one webhook and deliver it at once; its delivery as it ended."""
        cfg = self.find(name)
        target = next(t for t in self.targets() if t.url == cfg.url)
        endpoint_id = self.sync(force=True)[cfg.url]
        payload = {"message": "a test event from briefmail", "by": actor or self.app.actor}
        with self.app.sessions() as session:
            event_id = record_event(session, TEST_EVENT, payload, endpoints=[endpoint_id])
            session.commit()
        asyncio.run(deliver_due(self.app.sessions, [target]))
        found = [d for d in self.recent(limit=20, webhook=name) if d.event_id == event_id]
        return found[0]

    def recent(self, limit: int = 50, *, webhook: str | None = None) -> list[DeliveryView]:
        """The newest deliveries (of one webhook, by name or url), each with its last attempts."""
        from sqlalchemy import select

        labels = {cfg.url: cfg.label for cfg in self.configured}
        d, e, w = WebhookDelivery, WebhookEvent, WebhookEndpoint
        query = (
            select(d, e.kind, e.created_at, w.url, w.name)
            .join(e, e.id == d.event_id)
            .join(w, w.id == d.endpoint_id)
            .order_by(d.id.desc())
            .limit(limit)
        )
        if webhook is not None:
            query = query.where(w.url == self.find(webhook).url)
        with self.app.sessions() as session:
            rows = session.execute(query).all()
            history = _attempts(session, [row[0].id for row in rows])
            return [
                _view(row[0], row[1], row[2], row[3], labels.get(row[3], row[4] or row[3]), history)
                for row in rows
            ]


def _attempts(session: Any, delivery_ids: list[int], per: int = 5) -> dict[int, list[AttemptView]]:
    """The last ``per`` attempts of each delivery, newest first."""
    from sqlalchemy import select

    found: dict[int, list[AttemptView]] = {}
    if not delivery_ids:
        return found
    rows = session.scalars(
        select(WebhookAttempt)
        .where(WebhookAttempt.delivery_id.in_(delivery_ids))
        .order_by(WebhookAttempt.id.desc())
    )
    for row in rows:
        kept = found.setdefault(row.delivery_id, [])
        if len(kept) < per:
            kept.append(AttemptView(as_utc(row.at), row.status, row.error, row.duration_ms))
    return found


def _view(
    row: WebhookDelivery,
    kind: str,
    created_at: dt.datetime,
    url: str,
    label: str,
    history: dict[int, list[AttemptView]],
) -> DeliveryView:
    pending = row.state == DeliveryState.PENDING
    return DeliveryView(
        id=row.id,
        webhook=label,
        url=url,
        event_id=row.event_id,
        kind=kind,
        created_at=as_utc(created_at),
        state=str(row.state),
        attempts=row.attempts,
        last_status=row.last_status,
        last_error=row.last_error,
        next_attempt_at=as_utc(row.next_attempt_at) if pending else None,
        delivered_at=as_utc(row.delivered_at) if row.delivered_at else None,
        history=tuple(history.get(row.id, ())),
    )


def _iso(value: dt.datetime | None) -> str | None:
    return value.isoformat() if value else None
