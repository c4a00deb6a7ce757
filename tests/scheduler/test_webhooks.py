"""Webhook deliveries: signed POSTs to a real receiver, backoff, leases, isolation, pruning."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import random
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from scheduler.claims import Lease, _machine
from scheduler.webhooks import (
    DELAYS,
    Target,
    claim_due,
    deliver_due,
    next_delay,
    prune,
    sign,
    verify,
)
from subscribers.db import as_utc, utcnow
from subscribers.outbox import (
    DeliveryState,
    Endpoint,
    WebhookAttempt,
    WebhookDelivery,
    WebhookEvent,
    record_event,
    sync_endpoints,
)

SECRET = b"whsec-test-secret"


@dataclass
class Received:
    """One POST as the receiver saw it."""

    path: str
    headers: dict[str, str]
    body: bytes
    signed: bool

    @property
    def event(self) -> dict[str, Any]:
        """The JSON body."""
        return dict(json.loads(self.body))


@dataclass
class Receiver:
    """A real HTTP server on loopback that checks every signature it receives.

    /ok answers 204, /fail 500, /slow 200 after ``slow_seconds``; anything else 404.
    """

    secret: bytes = SECRET
    slow_seconds: float = 2.0
    received: list[Received] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    base: str = ""

    def url(self, path: str) -> str:
        """The address of one of its paths."""
        return f"{self.base}{path}"

    def at(self, path: str) -> list[Received]:
        """What arrived at ``path``."""
        with self.lock:
            return [r for r in self.received if r.path == path]

    def wait_for(self, count: int, path: str = "/ok", timeout: float = 20.0) -> list[Received]:
        """Poll until ``count`` POSTs reached ``path`` (fails after ``timeout``)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = self.at(path)
            if len(found) >= count:
                return found
            time.sleep(0.05)
        raise AssertionError(f"{len(self.at(path))} of {count} POSTs reached {path}")


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """A signature-checking webhook receiver served on a free loopback port."""
    state = Receiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            signed = verify(state.secret, body, self.headers.get("Briefmail-Signature", ""))
            with state.lock:
                state.received.append(Received(self.path, dict(self.headers), body, signed))
            if self.path == "/slow":
                time.sleep(state.slow_seconds)
            code = {"/ok": 204, "/fail": 500, "/slow": 200}.get(self.path, 404)
            self.send_response(code if signed else 401)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            """Quiet."""

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    state.base = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield state
    server.shutdown()
    server.server_close()


def _register(sessions: sessionmaker[Session], receiver: Receiver, *paths: str) -> list[Target]:
    """Webhooks at ``paths`` of the receiver, wanting every run event; their targets."""
    kinds = ("run.started", "run.paused", "run.finished")
    with sessions() as session:
        sync_endpoints(session, [Endpoint(receiver.url(p), p, kinds) for p in paths])
        session.commit()
    return [Target(receiver.url(p), p, SECRET, timeout=0.5) for p in paths]


def _events(sessions: sessionmaker[Session], count: int, kind: str = "run.finished") -> None:
    with sessions() as session:
        for number in range(count):
            record_event(session, kind, {"run_id": number + 1})
        session.commit()


def _deliveries(sessions: sessionmaker[Session]) -> list[WebhookDelivery]:
    with sessions() as session:
        return list(session.scalars(select(WebhookDelivery).order_by(WebhookDelivery.id)))


class TestSigning:
    def test_a_signature_verifies_only_its_body_and_recent_time(self) -> None:
        """Stripe's scheme: HMAC-SHA256 of "t.body"; another body, secret or an old t fails."""
        now = int(time.time())
        header = sign(SECRET, b'{"a":1}', now)
        assert header.startswith(f"t={now},v1=") and len(header.rpartition("v1=")[2]) == 64
        assert verify(SECRET, b'{"a":1}', header)
        assert not verify(SECRET, b'{"a":2}', header)
        assert not verify(b"another secret", b'{"a":1}', header)
        assert not verify(SECRET, b'{"a":1}', sign(SECRET, b'{"a":1}', now - 3600))
        assert not verify(SECRET, b'{"a":1}', "v1=deadbeef")

    def test_backoff_grows_with_jitter_and_ends(self) -> None:
        """30 s, 2 min, 10 min, ... each within ±20 %; after the last delay, None (give up)."""
        rng = random.Random(7)
        for attempts, base in enumerate(DELAYS, start=1):
            delay = next_delay(attempts, rng)
            assert delay is not None and base * 0.8 <= delay <= base * 1.2
        assert next_delay(len(DELAYS) + 1, rng) is None
        assert sum(DELAYS) / 3600 < 24


def test_a_delivery_is_signed_and_recorded(
    sessions: sessionmaker[Session], receiver: Receiver
) -> None:
    """A 2xx delivers: the receiver checks the signature, gets the event's JSON and headers."""
    targets = _register(sessions, receiver, "/ok")
    _events(sessions, 2)
    report = asyncio.run(deliver_due(sessions, targets))
    assert report.as_json() == {"delivered": 2, "retrying": 0, "failed": 0, "released": 0}
    got = receiver.at("/ok")
    assert [r.signed for r in got] == [True, True]
    rows = _deliveries(sessions)
    assert [r.headers["Briefmail-Delivery"] for r in got] == [str(r.id) for r in rows]
    assert {r.headers["Briefmail-Event"] for r in got} == {"run.finished"}
    body = got[0].event
    assert set(body) == {"id", "type", "created_at", "data"}
    assert (body["type"], body["data"]) == ("run.finished", {"run_id": 1})
    assert dt.datetime.fromisoformat(body["created_at"]).tzinfo is not None
    assert [r.state for r in rows] == [DeliveryState.DELIVERED] * 2
    with sessions() as session:
        attempts = list(session.scalars(select(WebhookAttempt)))
    assert [(a.status, a.error) for a in attempts] == [(204, None), (204, None)]
    assert asyncio.run(deliver_due(sessions, targets)).as_json()["delivered"] == 0


def test_a_failure_backs_off_and_holds_back_the_rest(
    sessions: sessionmaker[Session], receiver: Receiver
) -> None:
    """A 500 is retried ~30 s later; the webhook's other events wait, not counted as tries."""
    targets = _register(sessions, receiver, "/fail")
    _events(sessions, 3)
    before = utcnow()
    report = asyncio.run(deliver_due(sessions, targets))
    assert report.as_json() == {"delivered": 0, "retrying": 1, "failed": 0, "released": 2}
    assert len(receiver.at("/fail")) == 1
    first, *rest = _deliveries(sessions)
    assert (first.state, first.attempts, first.last_status) == (DeliveryState.PENDING, 1, 500)
    assert first.last_error is not None and first.last_error.startswith("HTTP 500")
    wait = (as_utc(first.next_attempt_at) - before).total_seconds()
    assert 0.8 * DELAYS[0] <= wait <= 1.2 * DELAYS[0] + 5
    assert [(r.attempts, r.lease) for r in rest] == [(0, None), (0, None)]
    asyncio.run(deliver_due(sessions, targets))  # the next round tries the next one only
    assert len(receiver.at("/fail")) == 2


def test_one_bad_webhook_does_not_hold_up_the_others(
    sessions: sessionmaker[Session], receiver: Receiver
) -> None:
    """A failing and a slow (timing-out) webhook cost one try each; the good one gets all.

    The round ends at the slow one's 0.5 s timeout, long before its answer would come: the
    bound is half the answer's delay, not a tight figure a busy machine could miss.
    """
    receiver.slow_seconds = 6.0
    targets = _register(sessions, receiver, "/fail", "/slow", "/ok")
    _events(sessions, 5)
    started = time.monotonic()
    report = asyncio.run(deliver_due(sessions, targets))
    assert time.monotonic() - started < receiver.slow_seconds / 2  # never waited for /slow
    assert len(receiver.at("/ok")) == 5
    assert (len(receiver.at("/fail")), len(receiver.at("/slow"))) == (1, 1)
    assert (report.delivered, report.retrying, report.released) == (5, 2, 8)
    slow = [d for d in _deliveries(sessions) if d.last_error and "no answer" in d.last_error]
    assert len(slow) == 1 and slow[0].last_status is None


def test_a_delivery_is_given_up_after_its_last_retry(
    sessions: sessionmaker[Session], receiver: Receiver
) -> None:
    """After the eighth failed attempt (about 22 hours on) the delivery is failed for good."""
    targets = _register(sessions, receiver, "/fail")
    _events(sessions, 1)
    for _ in range(len(DELAYS) + 1):
        with sessions() as session:
            session.execute(update(WebhookDelivery).values(next_attempt_at=utcnow()))
            session.commit()
        asyncio.run(deliver_due(sessions, targets))
    (row,) = _deliveries(sessions)
    assert (row.state, row.attempts) == (DeliveryState.FAILED, len(DELAYS) + 1)
    assert asyncio.run(deliver_due(sessions, targets)).as_json()["retrying"] == 0
    assert len(receiver.at("/fail")) == len(DELAYS) + 1


def test_claims_of_a_dead_deliverer_are_sent_again_with_the_same_delivery_id(
    sessions: sessionmaker[Session], receiver: Receiver
) -> None:
    """A deliverer that died holding claims (its pid is gone) frees them at once; no loss."""
    targets = _register(sessions, receiver, "/ok")
    _events(sessions, 2)
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    lease = Lease(f"{dead.pid:x}.{_machine()}.0123456789abcdef", seconds=3600)
    with sessions() as session:
        claimed = claim_due(session, receiver.url("/ok"), lease, utcnow())
        session.commit()
    assert len(claimed) == 2
    asyncio.run(deliver_due(sessions, targets))
    got = receiver.at("/ok")
    assert sorted(r.headers["Briefmail-Delivery"] for r in got) == sorted(
        str(c.delivery_id) for c in claimed
    )
    assert {d.state for d in _deliveries(sessions)} == {DeliveryState.DELIVERED}


def test_a_live_deliverers_claims_are_not_taken(
    sessions: sessionmaker[Session], receiver: Receiver
) -> None:
    """Claims under a live lease are left alone until it lapses (two deliverers never meet)."""
    targets = _register(sessions, receiver, "/ok")
    _events(sessions, 1)
    with sessions() as session:
        assert claim_due(session, receiver.url("/ok"), Lease.new(3600), utcnow())
        session.commit()
    assert asyncio.run(deliver_due(sessions, targets)).as_json()["delivered"] == 0
    assert receiver.at("/ok") == []


def test_finished_deliveries_are_pruned_after_thirty_days(
    sessions: sessionmaker[Session], receiver: Receiver
) -> None:
    """Delivered rows older than 30 days go with their events; pending ones always stay."""
    targets = _register(sessions, receiver, "/ok")
    _events(sessions, 2)
    asyncio.run(deliver_due(sessions, targets))
    _events(sessions, 1)  # still owed
    with sessions() as session:
        assert prune(session, utcnow()) == 0
        assert prune(session, utcnow() + dt.timedelta(days=31)) == 2
        session.commit()
        left = list(session.scalars(select(WebhookEvent.payload)))
        assert left == [{"run_id": 1}]  # the pending one (numbered from 1 again)
        assert list(session.scalars(select(WebhookAttempt))) == []
