"""The ledger: one run per (list, kind, period), one delivery per subscriber, final outcomes."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy.orm import Session, sessionmaker

from mailer.content import Issue, Story
from scheduler import ledger
from scheduler.editions import store_issue
from scheduler.ledger import DeliveryStatus, RunConflict
from subscribers.lists import create_list
from subscribers.models import Subscriber, address_hash


@pytest.fixture
def setup(sessions: sessionmaker[Session]) -> tuple[int, int, int, list[int]]:
    """A list, two issues of the same day, and three subscribers."""
    with sessions() as session:
        newsletter = create_list(session, "brief", "Brief", "b@example.org")
        stories = (Story(1, "t", "s", topics=("chips",)),)
        first, _ = store_issue(session, newsletter, Issue("A", dt.date(2026, 7, 1), stories))
        second, _ = store_issue(session, newsletter, Issue("B", dt.date(2026, 7, 2), stories))
        people = [
            Subscriber(email=f"r{n}@example.net", email_hash=address_hash(f"r{n}@example.net"))
            for n in range(3)
        ]
        session.add_all(people)
        session.commit()
        return newsletter.id, first.id, second.id, [p.id for p in people]


class TestRuns:
    def test_open_run_is_idempotent(
        self, sessions: sessionmaker[Session], setup: tuple[int, int, int, list[int]]
    ) -> None:
        """Opening the same (list, kind, period) twice returns the same run."""
        list_id, issue_id, _, _ = setup
        with sessions() as session:
            run, created = ledger.open_run(session, list_id, "daily", "2026-07-01", issue_id)
            again, created_again = ledger.open_run(
                session, list_id, "daily", "2026-07-01", issue_id
            )
            session.commit()
        assert (created, created_again) == (True, False)
        assert run.id == again.id

    def test_a_period_belongs_to_one_issue(
        self, sessions: sessionmaker[Session], setup: tuple[int, int, int, list[int]]
    ) -> None:
        """A second issue for a period that already has a run is refused."""
        list_id, first, second, _ = setup
        with sessions() as session:
            ledger.open_run(session, list_id, "daily", "2026-07-01", first)
            with pytest.raises(RunConflict, match=f"belongs to issue {first}, not issue {second}"):
                ledger.open_run(session, list_id, "daily", "2026-07-01", second)


class TestDeliveries:
    def test_outcomes_are_final(
        self, sessions: sessionmaker[Session], setup: tuple[int, int, int, list[int]]
    ) -> None:
        """A delivered delivery cannot be moved again; a deferred one can."""
        list_id, issue_id, _, people = setup
        with sessions() as session:
            run, _ = ledger.open_run(session, list_id, "daily", "2026-07-01", issue_id)
            session.add(
                ledger.Delivery(
                    run_id=run.id, subscriber_id=people[0], variant="*", status="pending"
                )
            )
            session.flush()
            claim = ledger.claim_batch(session, run, 0, 10)
            assert claim == []  # nobody is subscribed to the list, so nothing is claimable
            delivery = session.query(ledger.Delivery).one()
            assert ledger.record_outcome(
                session, delivery.id, DeliveryStatus.DEFERRED, code=451, text="later"
            )
            assert ledger.record_outcome(
                session,
                delivery.id,
                DeliveryStatus.DELIVERED,
                code=250,
                text="ok",
                message_id="<m@x>",
            )
            assert not ledger.record_outcome(
                session, delivery.id, DeliveryStatus.FAILED, code=550, text="no"
            )
            session.refresh(delivery)
            assert (delivery.status, delivery.attempts, delivery.message_id) == (
                DeliveryStatus.DELIVERED,
                2,
                "<m@x>",
            )
            assert ledger.finish_run(session, run)
            assert run.status == ledger.RunStatus.DONE
            assert run.finished_at is not None
            with pytest.raises(ValueError, match="cannot be pending"):
                ledger.record_outcome(
                    session, delivery.id, DeliveryStatus.PENDING, code=None, text=None
                )
