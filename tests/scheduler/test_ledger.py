"""The ledger: one run per (list, kind, period), one delivery per subscriber, final outcomes."""

from __future__ import annotations

import ast
import datetime as dt
import re
from pathlib import Path

import pytest
from sqlalchemy.orm import Session, sessionmaker

from mailer.content import Issue, Story
from scheduler import ledger
from scheduler.editions import store_issue
from scheduler.ledger import DeliveryStatus, Outcome, RunConflict
from subscribers.lists import create_list
from subscribers.models import (
    Cadence,
    Subscriber,
    Subscription,
    SubscriptionStatus,
    address_hash,
)


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
        lease, now = "a-lease", dt.datetime.now(dt.UTC)
        with sessions() as session:
            run, _ = ledger.open_run(session, list_id, "daily", "2026-07-01", issue_id)
            claim = ledger.claim(session, run, lease, now, 0, 10, now)
            assert claim == ([], 0)  # no delivery planned yet
            session.add(
                Subscription(
                    subscriber_id=people[0],
                    list_id=list_id,
                    status=SubscriptionStatus.CONFIRMED,
                    cadence=Cadence.DAILY,
                )
            )
            session.add(
                ledger.Delivery(
                    run_id=run.id, subscriber_id=people[0], variant="*", status="pending"
                )
            )
            session.flush()
            (claimed,), _ = ledger.claim(session, run, lease, now, 0, 10, now)
            later = Outcome(claimed.delivery_id, DeliveryStatus.DEFERRED, 451, "later")
            assert ledger.record(session, lease, [later]) == 1
            (again,), _ = ledger.claim(session, run, lease, now, 0, 10, now)
            assert again.delivery_id == claimed.delivery_id
            done = Outcome(claimed.delivery_id, DeliveryStatus.DELIVERED, 250, "ok", "<m@x>")
            assert ledger.record(session, lease, [done]) == 1
            no = Outcome(claimed.delivery_id, DeliveryStatus.FAILED, 550, "no")
            assert ledger.record(session, lease, [no]) == 0
            assert ledger.claim(session, run, lease, now, 0, 10, now) == ([], 0)
            delivery = session.query(ledger.Delivery).one()
            session.refresh(delivery)
            assert (delivery.status, delivery.attempts, delivery.message_id) == (
                DeliveryStatus.DELIVERED,
                2,
                "<m@x>",
            )
            assert ledger.finish_run(session, run)
            assert run.status == ledger.RunStatus.DONE
            assert run.finished_at is not None
            pending = Outcome(claimed.delivery_id, DeliveryStatus.PENDING, None, None)
            with pytest.raises(ValueError, match="cannot be pending"):
                ledger.record(session, lease, [pending])


class TestTransitions:
    def test_final_statuses_have_no_way_out_and_done_is_everything_not_open(self) -> None:
        """Final: delivered, failed, cancelled (never deferred); done = not open, one definition."""
        assert set(ledger.FINAL) == {"delivered", "failed", "cancelled"}
        assert DeliveryStatus.DEFERRED in ledger.OPEN
        assert set(ledger.DONE) == set(DeliveryStatus) - set(ledger.OPEN)
        counts = {"pending": 2, "deferred": 1, "sending": 1, "uncertain": 1, "delivered": 3}
        assert ledger.count_done(counts) == 4

    def test_a_move_the_table_refuses_cannot_be_written(self) -> None:
        """A statement moving deliveries along a transition the table lacks fails to build."""
        with pytest.raises(AssertionError, match="cannot go from delivered to pending"):
            ledger._moving(DeliveryStatus.PENDING, DeliveryStatus.DELIVERED)


ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("briefmail", "scheduler", "subscribers", "mailer")
#: What writing to the deliveries table looks like in source: an ORM update or insert of
#: Delivery, a Core statement on its table, or SQL naming the table.
WRITES = re.compile(
    r"(update|insert)\(\s*(Delivery\b|_DELIVERIES\b)"
    r"|Delivery\.__table__"
    r"|(UPDATE|INSERT\s+INTO)\s+deliveries\b"
    r"|Table\(\s*[\"']deliveries[\"']",
    re.IGNORECASE,
)


def aliases(tree: ast.AST, *names: str) -> set[str]:
    """``names`` and whatever a module imports them as (`from x import update as u`)."""
    found = set(names)
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            found |= {a.asname for a in node.names if a.name in names and a.asname}
    return found


def called(node: ast.Call) -> str:
    """The last name of what a call calls: `update` for both update(...) and sa.update(...)."""
    func = node.func
    return func.id if isinstance(func, ast.Name) else getattr(func, "attr", "")


def delivery_writes(source: str) -> list[int]:
    """Line numbers of ``source`` that write to the deliveries table (or name it to do so)."""
    tree = ast.parse(source)
    names = aliases(tree, "Delivery", "_DELIVERIES")
    writers = aliases(tree, "update", "insert")
    lines = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        target = node.args[0] if node.args else None
        target_name = (
            target.id
            if isinstance(target, ast.Name)
            else target.attr
            if isinstance(target, ast.Attribute)
            else None
        )
        # update(Delivery) / insert(Delivery), whatever the import called it; and a Delivery
        # row added through the session, which is an INSERT too.
        if (called(node) in writers and target_name in names) or called(node) in names:
            lines.append(node.lineno)
    for number, line in enumerate(source.splitlines(), start=1):
        if WRITES.search(line) and not line.lstrip().startswith("#"):
            lines.append(number)
    return sorted(set(lines))


def test_only_the_ledger_writes_to_the_deliveries_table() -> None:
    """Only scheduler/ledger.py (and runs.py, which declares the table) writes deliveries.

    Every status and lease change goes through the ledger's statements.
    """
    allowed = {ROOT / "scheduler" / "ledger.py", ROOT / "scheduler" / "runs.py"}
    found = [
        f"{path.relative_to(ROOT)}:{line}"
        for package in PACKAGES
        for path in sorted((ROOT / package).rglob("*.py"))
        if path not in allowed
        for line in delivery_writes(path.read_text(encoding="utf-8"))
    ]
    assert not found, "deliveries written outside scheduler/ledger.py:\n" + "\n".join(found)


@pytest.mark.parametrize(
    "source",
    [
        "session.execute(update(Delivery).values(status='sent'))",
        "session.execute(insert(Delivery.__table__))",
        "session.execute(text('UPDATE deliveries SET status = 1'))",
        "session.add(Delivery(run_id=1))",
        "session.add(ledger.Delivery(run_id=1))",
        "from scheduler.ledger import Delivery as D\nsession.execute(sa.update(D))",
        "from sqlalchemy import update as u\nsession.execute(u(Delivery))",
        "table = Table('deliveries', metadata)",
    ],
)
def test_the_scan_sees_each_way_of_writing(source: str) -> None:
    """Each way of writing to the table is caught, so the check above can fail."""
    assert delivery_writes(source) == [source.count("\n") + 1]
