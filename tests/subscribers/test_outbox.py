"""The webhook outbox: events written in the change's transaction, per webhook that wants them."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from mailer.topics import Taxonomy
from subscribers.models import ConsentSource, NewsletterList
from subscribers.outbox import (
    DeliveryState,
    Endpoint,
    WebhookDelivery,
    WebhookEndpoint,
    WebhookEvent,
    record_event,
    sync_endpoints,
)
from subscribers.service import Context, confirm, erase, subscribe, unsubscribe

ALL = ("subscriber.confirmed", "subscriber.unsubscribed", "subscriber.suppressed")


def _owed(session: Session) -> list[tuple[str, str]]:
    """(event kind, webhook url) of every delivery row, in order."""
    rows = session.execute(
        select(WebhookEvent.kind, WebhookEndpoint.url)
        .join(WebhookDelivery, WebhookDelivery.event_id == WebhookEvent.id)
        .join(WebhookEndpoint, WebhookEndpoint.id == WebhookDelivery.endpoint_id)
        .order_by(WebhookDelivery.id)
    ).all()
    return [(kind, url) for kind, url in rows]


def _payloads(session: Session, kind: str) -> list[dict[str, object]]:
    return list(session.scalars(select(WebhookEvent.payload).where(WebhookEvent.kind == kind)))


def test_nothing_is_written_when_no_webhook_wants_the_kind(
    sessions: sessionmaker[Session],
) -> None:
    """With no webhook (or none wanting the kind) an event costs one read and writes no row."""
    with sessions() as session:
        assert record_event(session, "run.started", {"run_id": 1}) is None
        sync_endpoints(session, [Endpoint("https://a.example/hook", None, ("run.finished",))])
        assert record_event(session, "run.started", {"run_id": 1}) is None
        session.commit()
        assert session.scalar(select(func.count()).select_from(WebhookEvent)) == 0


def test_one_event_and_a_delivery_per_webhook_that_wants_it(
    sessions: sessionmaker[Session],
) -> None:
    """An event is stored once, with one pending delivery for each webhook wanting its kind."""
    with sessions() as session:
        sync_endpoints(
            session,
            [
                Endpoint("https://a.example/hook", "a", ("run.started", "run.finished")),
                Endpoint("https://b.example/hook", "b", ("run.finished",)),
            ],
        )
        event_id = record_event(session, "run.finished", {"run_id": 7, "at": object()})
        record_event(session, "run.started", {"run_id": 8})
        session.commit()
        assert event_id is not None
        assert _owed(session) == [
            ("run.finished", "https://a.example/hook"),
            ("run.finished", "https://b.example/hook"),
            ("run.started", "https://a.example/hook"),
        ]
        states = set(session.scalars(select(WebhookDelivery.state)))
        assert states == {DeliveryState.PENDING}
        payload = session.get(WebhookEvent, event_id)
        assert payload is not None and payload.payload["run_id"] == 7
        assert isinstance(payload.payload["at"], str)  # stored as its text, never refused


def test_a_rolled_back_change_leaves_no_event(sessions: sessionmaker[Session]) -> None:
    """The event lives in the caller's transaction: rolled back with it, nothing is announced."""
    with sessions() as session:
        sync_endpoints(session, [Endpoint("https://a.example/hook", None, ("run.paused",))])
        session.commit()
        record_event(session, "run.paused", {"run_id": 1})
        session.rollback()
        assert session.scalar(select(func.count()).select_from(WebhookEvent)) == 0
        assert session.scalar(select(func.count()).select_from(WebhookDelivery)) == 0


def test_webhooks_are_kept_by_url_and_a_new_one_gets_no_old_events(
    sessions: sessionmaker[Session],
) -> None:
    """Renamed: the same row; removed: nothing new; added later: only what follows."""
    with sessions() as session:
        first = sync_endpoints(
            session, [Endpoint("https://a.example/hook", "old", ("run.paused",))]
        )
        record_event(session, "run.paused", {"run_id": 1})
        again = sync_endpoints(
            session,
            [
                Endpoint("https://a.example/hook", "renamed", ("run.paused",)),
                Endpoint("https://late.example/hook", None, ("run.paused",)),
            ],
        )
        assert again["https://a.example/hook"] == first["https://a.example/hook"]
        record_event(session, "run.paused", {"run_id": 2})
        sync_endpoints(session, [Endpoint("https://late.example/hook", None, ("run.paused",))])
        record_event(session, "run.paused", {"run_id": 3})
        session.commit()
        assert _owed(session) == [
            ("run.paused", "https://a.example/hook"),
            ("run.paused", "https://a.example/hook"),
            ("run.paused", "https://late.example/hook"),
            ("run.paused", "https://late.example/hook"),
        ]
        renamed = session.scalar(
            select(WebhookEndpoint).where(WebhookEndpoint.url == "https://a.example/hook")
        )
        assert renamed is not None and (renamed.name, renamed.active) == ("renamed", False)


def test_consent_changes_are_announced(
    sessions: sessionmaker[Session], newsletter: NewsletterList, taxonomy: Taxonomy
) -> None:
    """Confirm, unsubscribe and erasure each write an event; an erased address is never repeated."""
    with sessions() as session:
        sync_endpoints(session, [Endpoint("https://a.example/hook", None, ALL)])
        subscription = subscribe(session, newsletter, "ada@example.net", taxonomy=taxonomy)
        assert _owed(session) == []  # a pending sign-up is not news yet
        assert confirm(session, subscription, Context(source=ConsentSource.WEB))
        unsubscribe(session, newsletter, "ada@example.net")
        unsubscribe(session, newsletter, "ada@example.net")  # already out: no second event
        erase(session, "ada@example.net")
        session.commit()
        assert [kind for kind, _ in _owed(session)] == list(ALL)
        confirmed = _payloads(session, "subscriber.confirmed")[0]
        assert (confirmed["email"], confirmed["list"]) == ("ada@example.net", "brief")
        suppressed = _payloads(session, "subscriber.suppressed")[0]
        assert suppressed["email"] is None and suppressed["reason"] == "erased"
        assert "ada@example.net" not in str(_payloads(session, "subscriber.suppressed"))


def test_an_operator_confirmed_subscription_is_announced(
    sessions: sessionmaker[Session], newsletter: NewsletterList, taxonomy: Taxonomy
) -> None:
    """`subscribers add --confirmed` (the operator holds the consent) is a confirmation too."""
    with sessions() as session:
        sync_endpoints(session, [Endpoint("https://a.example/hook", None, ALL)])
        subscribe(session, newsletter, "bo@example.net", taxonomy=taxonomy, confirmed=True)
        session.commit()
        assert _owed(session) == [("subscriber.confirmed", "https://a.example/hook")]
