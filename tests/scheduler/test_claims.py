"""Claims with leases: disjoint, lapsed ones taken over, outcomes only under the own lease."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from sqlalchemy import select, text

from briefmail.app import Briefmail
from scheduler.claims import (
    Lease,
    LeaseClaims,
    claim_leased,
    foreign_lease_ends,
    holder_is_gone,
    record_leased,
    release_leased,
    renew_lease,
)
from scheduler.ledger import Delivery, DeliveryStatus, Outcome, Run
from subscribers.db import utcnow
from tests.conftest import FIXTURES, subscribe_readers

NOW = dt.datetime(2026, 11, 29, 6, 0, tzinfo=dt.UTC)


@pytest.fixture
def run_id(app: Briefmail) -> int:
    """A planned run of the sample brief to ten every-topic daily readers."""
    subscribe_readers(app, [f"r{n}@example.net" for n in range(10)])
    stored = app.ingest(FIXTURES / "brief-mixed.txt", "brief", approve=True).stored
    assert stored is not None
    return app.dispatcher().plan(stored.id)


def utc(moment: dt.datetime | None) -> dt.datetime | None:
    """A stored instant as an aware UTC datetime (SQLite returns it without its zone)."""
    return moment if moment is None or moment.tzinfo else moment.replace(tzinfo=dt.UTC)


def statuses(app: Briefmail, run_id: int) -> list[tuple[int, str, str | None]]:
    with app.sessions() as session:
        rows = session.execute(
            select(Delivery.id, Delivery.status, Delivery.lease)
            .where(Delivery.run_id == run_id)
            .order_by(Delivery.id)
        ).all()
    return [(row[0], str(row[1]), row[2]) for row in rows]


def claim(
    app: Briefmail, run_id: int, lease: Lease, limit: int, now: dt.datetime = NOW
) -> list[int]:
    with app.sessions() as session:
        run = session.get_one(Run, run_id)
        taken, _ = claim_leased(session, run, lease, 0, limit, now)
        session.commit()
    return [c.delivery_id for c in taken]


class TestLeases:
    def test_a_claim_marks_sending_under_the_lease_in_id_order(
        self, app: Briefmail, run_id: int
    ) -> None:
        """Claimed deliveries are `sending` with the claimer's lease, the lowest ids first."""
        first = Lease.new(60)
        taken = claim(app, run_id, first, 4)
        rows = statuses(app, run_id)
        assert taken == [row[0] for row in rows[:4]]
        assert [(s, lease) for _, s, lease in rows[:4]] == [("sending", first.id)] * 4
        assert {(s, lease) for _, s, lease in rows[4:]} == {("pending", None)}

    def test_a_second_sender_gets_other_deliveries(self, app: Briefmail, run_id: int) -> None:
        """A live claim is not claimed again: two senders get disjoint deliveries."""
        one, two = Lease.new(60), Lease.new(60)
        a = claim(app, run_id, one, 6)
        b = claim(app, run_id, two, 6)
        assert len(a) == 6 and len(b) == 4
        assert not set(a) & set(b)

    def test_a_lapsed_claim_is_taken_over_and_counted(self, app: Briefmail, run_id: int) -> None:
        """After the lease time a dead sender's deliveries go to the next one, as uncertain."""
        dead, alive = Lease.new(30), Lease.new(30)
        lost = claim(app, run_id, dead, 3, NOW)
        with app.sessions() as session:
            run = session.get_one(Run, run_id)
            early, lapsed_early = claim_leased(
                session, run, alive, 0, 10, NOW + dt.timedelta(seconds=29)
            )
            session.rollback()
            late, lapsed_late = claim_leased(
                session, run, alive, 0, 10, NOW + dt.timedelta(seconds=31)
            )
            session.commit()
        assert not {c.delivery_id for c in early} & set(lost)
        assert lapsed_early == 0
        assert set(lost) <= {c.delivery_id for c in late}
        assert lapsed_late == 3

    def test_a_sender_records_only_what_it_still_holds(self, app: Briefmail, run_id: int) -> None:
        """A slow sender's outcome after its claim was taken over is not written; the new one is."""
        slow, fresh = Lease.new(10), Lease.new(10)
        (delivery_id,) = claim(app, run_id, slow, 1, NOW)
        (again,) = claim(app, run_id, fresh, 1, NOW + dt.timedelta(seconds=11))
        assert again == delivery_id
        with app.sessions() as session:
            late = Outcome(delivery_id, DeliveryStatus.FAILED, 550, "5.1.1 no such user")
            assert record_leased(session, slow, [late]) == 0
            ok = Outcome(delivery_id, DeliveryStatus.DELIVERED, 250, "ok", "<m@x>")
            assert record_leased(session, fresh, [ok]) == 1
            session.commit()
            row = session.get_one(Delivery, delivery_id)
            assert (row.status, row.last_code, row.lease) == ("delivered", 250, fresh.id)

    def test_a_turns_outcomes_are_written_together_and_only_the_held_ones_count(
        self, app: Briefmail, run_id: int
    ) -> None:
        """One record of a turn's outcomes: each row its own values, lost ones left alone.

        PostgreSQL writes a turn in one statement (arrays unnested into rows), so a NULL code
        beside a number, a long text and an outcome under a lapsed lease must not mix rows.
        """
        slow, fresh = Lease.new(10), Lease.new(10)
        first, second, third = claim(app, run_id, slow, 3, NOW)
        (taken,) = claim(app, run_id, fresh, 1, NOW + dt.timedelta(seconds=11))
        assert taken == first
        turn = [
            Outcome(first, DeliveryStatus.FAILED, 550, "lost: another sender holds it"),
            Outcome(second, DeliveryStatus.DELIVERED, 250, "ok", "<two@x>"),
            Outcome(third, DeliveryStatus.UNCERTAIN, None, "x" * 1500, reason="connection"),
        ]
        with app.sessions() as session:
            assert record_leased(session, slow, turn) == 2
            assert record_leased(session, slow, []) == 0
            session.commit()
            rows = {
                row.id: (str(row.status), row.last_code, row.last_text, row.message_id)
                for row in session.scalars(select(Delivery).where(Delivery.run_id == run_id))
            }
            reason = session.get_one(Delivery, third).last_reason
        assert rows[first] == ("sending", None, None, None)
        assert rows[second] == ("delivered", 250, "ok", "<two@x>")
        assert rows[third] == ("uncertain", None, "x" * 1000, None)
        assert reason == "connection"

    def test_release_and_renew_touch_only_the_own_lease(self, app: Briefmail, run_id: int) -> None:
        """Releasing puts one's own claims back to pending; renewing extends only one's own."""
        mine, theirs = Lease.new(60), Lease.new(60)
        held = claim(app, run_id, mine, 2, NOW)
        other = claim(app, run_id, theirs, 2, NOW)
        with app.sessions() as session:
            release_leased(session, mine, held[:1] + other[:1])
            renew_lease(session, run_id, mine, NOW + dt.timedelta(seconds=50))
            session.commit()
            rows = {
                row.id: row
                for row in session.scalars(select(Delivery).where(Delivery.run_id == run_id))
            }
        assert rows[held[0]].status == "pending" and rows[held[0]].lease is None
        assert rows[other[0]].status == "sending"
        assert utc(rows[held[1]].lease_until) == NOW + dt.timedelta(seconds=110)
        assert utc(rows[other[1]].lease_until) == NOW + dt.timedelta(seconds=60)

    def test_a_sender_knows_when_another_senders_claims_lapse(
        self, app: Briefmail, run_id: int
    ) -> None:
        """The earliest foreign lease end is reported, lapsed ones too, until taken over.

        A lapsed claim is still `sending`: a sender at the end of its pass must come back for
        it (a past end means "now"), not leave it to nobody.
        """
        mine, theirs = Lease.new(60), Lease.new(20)
        claim(app, run_id, mine, 2, NOW)
        with app.sessions() as session:
            assert foreign_lease_ends(session, run_id, mine, NOW) is None
        claim(app, run_id, theirs, 2, NOW)
        lapse, later = NOW + dt.timedelta(seconds=20), NOW + dt.timedelta(seconds=21)
        with app.sessions() as session:
            assert foreign_lease_ends(session, run_id, mine, NOW) == lapse
            assert foreign_lease_ends(session, run_id, mine, later) == lapse
        taken = claim(app, run_id, mine, 10, later)
        assert len(taken) >= 2  # the lapsed two are among them
        with app.sessions() as session:
            assert foreign_lease_ends(session, run_id, mine, later) is None


class TestDeadHolders:
    def test_a_lease_names_its_process_and_fits_the_column(self) -> None:
        """A lease id carries this process's pid and machine tag, in at most 32 characters."""
        import os

        lease = Lease.new(60)
        assert len(lease.id) <= 32
        assert int(lease.id.split(".")[0], 16) == os.getpid()
        assert not holder_is_gone(lease.id)  # this process is alive
        assert not holder_is_gone("0123456789abcdef0123456789abcdef")  # an old lease: by time

    def test_a_dead_senders_claims_are_taken_over_at_once(
        self, app: Briefmail, run_id: int
    ) -> None:
        """A dead local sender's claims are taken over at once, and counted uncertain.

        Deliveries `sending` under the lease of a process of this machine that has exited are
        taken over at the next claim, long before the lease's time is up.
        """
        import subprocess
        import sys

        child = subprocess.run(
            [sys.executable, "-c", "import os; print(os.getpid())"],
            capture_output=True,
            text=True,
            check=True,
        )
        mine = Lease.new(3600)
        dead = Lease(f"{int(child.stdout):x}.{mine.id.split('.')[1]}.{'0' * 16}", 3600)
        assert holder_is_gone(dead.id)
        held = claim(app, run_id, dead, 3, utcnow())
        with app.sessions() as session:
            claims = LeaseClaims(session.get_one(Run, run_id), mine)
            taken = claims.take(session, 10, utcnow())
            session.commit()
        assert set(held) <= {c.delivery_id for c in taken}
        assert claims.uncertain == 3


@pytest.mark.postgresql_only
class TestSkipLocked:
    def test_concurrent_claims_skip_rows_being_claimed_instead_of_waiting(
        self, app: Briefmail, run_id: int
    ) -> None:
        """While one sender's claim is uncommitted, another claims the next rows at once."""
        one, two = Lease.new(60), Lease.new(60)
        with app.sessions() as first, app.sessions() as second:
            second.execute(select(1))  # its own connection, open before the first claims
            run_a = first.get_one(Run, run_id)
            a, _ = claim_leased(first, run_a, one, 0, 5, utcnow())  # row locks held, not committed
            run_b = second.get_one(Run, run_id)
            second.execute(text("SET LOCAL lock_timeout = '2s'"))
            b, _ = claim_leased(second, run_b, two, 0, 5, utcnow())
            second.commit()
            first.commit()
        assert len(a) == 5 and len(b) == 5
        assert not {c.delivery_id for c in a} & {c.delivery_id for c in b}


class TestSqlitePick:
    @pytest.mark.sqlite_only  # PostgreSQL claims in one statement: its pass deselects this
    def test_sqlites_pick_walks_the_primary_key_from_the_last_claim(
        self, app: Briefmail, run_id: int
    ) -> None:
        """SQLite finds the next claimable rows by id from the last claim, not by sorting the run.

        Its plan for the pick must search the integer primary key (rowid > ?) and build no
        temporary B-tree: the plan through UNIQUE(run_id, subscriber_id) read and sorted every
        delivery of the run for each claim, so a send slowed down with the size of its run.
        """
        steps = self._claim_plan(app, run_id, "SELECT")
        assert "SEARCH deliveries USING INTEGER PRIMARY KEY (rowid>?)" in steps, steps
        assert "TEMP B-TREE" not in steps, steps

    @pytest.mark.sqlite_only  # PostgreSQL claims in one statement: its pass deselects this
    def test_sqlites_mark_of_several_rows_looks_them_up_by_primary_key(
        self, app: Briefmail, run_id: int
    ) -> None:
        """Marking three picked rows `sending` finds them by id, not by scanning the run.

        With more than one id SQLite preferred UNIQUE(run_id, subscriber_id) and read every
        delivery of the run for each turn's mark (1.3 ms at 10k readers).
        """
        steps = self._claim_plan(app, run_id, "UPDATE")
        assert "SEARCH deliveries USING INTEGER PRIMARY KEY (rowid=?)" in steps, steps
        assert "INDEX" not in steps, steps

    @staticmethod
    def _claim_plan(app: Briefmail, run_id: int, verb: str) -> str:
        """SQLite's plan steps for the ``verb`` statement a three-row claim runs on deliveries."""
        assert app.engine.dialect.name == "sqlite"
        seen: list[tuple[str, Any]] = []

        def keep(
            _conn: object, _cursor: object, statement: str, params: object, *_: object
        ) -> None:
            if statement.lstrip().startswith(verb) and "deliveries" in statement.split("WHERE")[0]:
                seen.append((statement, params))

        from sqlalchemy import event

        event.listen(app.engine, "before_cursor_execute", keep)
        try:
            assert len(claim(app, run_id, Lease.new(60), 3)) == 3
        finally:
            event.remove(app.engine, "before_cursor_execute", keep)
        [(statement, params)] = seen
        with app.engine.connect() as connection:
            plan = connection.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}", params).all()
        return " / ".join(str(row[-1]) for row in plan)
