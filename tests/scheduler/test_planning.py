"""Planning in the database: variants by topic set, local send instants, ranges, re-planning."""

from __future__ import annotations

import datetime as dt
import threading

import pytest
from sqlalchemy import select

from briefmail.app import Briefmail
from scheduler import ledger, planning
from scheduler.editions import load_issue
from scheduler.ledger import Delivery
from scheduler.planning import NO_MATCH, Planner, variant_key
from subscribers.lists import create_list, get_list
from subscribers.models import Cadence, Subscriber, TopicChoice
from subscribers.service import subscribe, suppress
from tests.conftest import FIXTURES

#: The evening before the fixture brief (2026-07-01, UTC): European and American hours are ahead.
EVE = dt.datetime(2026, 6, 30, 22, tzinfo=dt.UTC)


def add(
    app: Briefmail,
    email: str,
    topics: list[str],
    list_slug: str = "brief",
    confirmed: bool = True,
    **options: object,
) -> None:
    with app.sessions() as session:
        subscribe(
            session,
            get_list(session, list_slug),
            email,
            taxonomy=app.taxonomy,
            topics=topics,
            confirmed=confirmed,
            **options,  # type: ignore[arg-type]
        )
        session.commit()


def ingest(app: Briefmail, name: str = "brief-mixed.txt") -> int:
    result = app.ingest(FIXTURES / name, "brief", approve=True)
    assert result.stored is not None
    return result.stored.id


def plan(app: Briefmail, issue_id: int, now: dt.datetime = EVE) -> tuple[Planner, int]:
    """Open the issue's run and plan it as of ``now``: (the planner, deliveries added)."""
    with app.sessions() as session:
        planner = Planner(load_issue(session, issue_id), now=now)
        run, _ = ledger.open_run(
            session, planner.row.list_id, planner.kind, planner.period, issue_id
        )
        session.commit()
    return planner, planner.plan(app.sessions, run.id)


def deliveries(app: Briefmail) -> dict[str, tuple[str, dt.datetime | None]]:
    """address → (variant, not_before) of every planned delivery."""
    with app.sessions() as session:
        rows = session.execute(
            select(Subscriber.email, Delivery.variant, Delivery.not_before).join(
                Subscriber, Subscriber.id == Delivery.subscriber_id
            )
        ).all()
    return {email: (variant, at) for email, variant, at in rows}


class TestVariants:
    def test_each_reader_gets_the_variant_of_their_topic_set(self, app: Briefmail) -> None:
        """The variant is the sorted topic set; no topics is `*`; a set with no story is skipped."""
        add(app, "chips@example.net", ["chips"])
        add(app, "both@example.net", ["models", "chips"])
        add(app, "all@example.net", [])
        add(app, "robots@example.net", ["robotics"])
        planner, added = plan(app, ingest(app))
        variants = {email: variant for email, (variant, _) in deliveries(app).items()}
        assert variants == {
            "chips@example.net": "chips",
            "both@example.net": "chips,models",
            "all@example.net": "*",
        }
        assert planner.skipped[NO_MATCH] == 1
        assert added == 3

    def test_the_stored_order_of_topics_does_not_make_a_new_variant(self, app: Briefmail) -> None:
        """Two readers with one topic set share one variant, whatever order the rows come in."""
        add(app, "first@example.net", ["chips", "models", "funding"])
        add(app, "second@example.net", ["funding", "chips", "models"])
        with app.sessions() as session:
            # Rewrite one reader's choices in the opposite insertion order.
            choices = session.scalars(select(TopicChoice).order_by(TopicChoice.topic.desc())).all()
            pairs = [(c.subscription_id, c.topic) for c in choices]
            for choice in choices:
                session.delete(choice)
            session.flush()
            session.add_all(TopicChoice(subscription_id=s, topic=t) for s, t in pairs)
            session.commit()
        plan(app, ingest(app))
        assert {v for v, _ in deliveries(app).values()} == {
            variant_key(["chips", "models", "funding"])
        }

    def test_who_is_left_out_is_counted_by_reason(self, app: Briefmail) -> None:
        """Unconfirmed, suppressed and weekly readers of a daily brief are counted, not planned."""
        add(app, "reader@example.net", ["chips"])
        add(app, "weekly@example.net", ["chips"], cadence=Cadence.WEEKLY)
        add(app, "gone@example.net", ["chips"])
        add(app, "pending@example.net", ["chips"], confirmed=False)
        with app.sessions() as session:
            suppress(session, "gone@example.net", "bounce")
            session.commit()
        planner, _ = plan(app, ingest(app))
        assert set(deliveries(app)) == {"reader@example.net"}
        assert dict(planner.skipped) == {
            "pending": 1,
            "suppressed": 1,
            "cadence weekly": 1,
        }


class TestTimes:
    def test_a_daily_brief_waits_for_each_readers_local_hour(self, app: Briefmail) -> None:
        """not_before is the reader's send hour on the issue's date in their zone, in UTC."""
        add(app, "berlin@example.net", ["chips"], timezone="Europe/Berlin", send_hour=7)
        add(app, "tokyo@example.net", ["chips"], timezone="Asia/Tokyo", send_hour=6)
        add(app, "utc@example.net", ["chips"], send_hour=18)
        plan(app, ingest(app))
        times = {email: at for email, (_, at) in deliveries(app).items()}
        assert {email: at.astimezone(dt.UTC) if at else None for email, at in times.items()} == {
            "berlin@example.net": dt.datetime(2026, 7, 1, 5, tzinfo=dt.UTC),  # CEST
            "tokyo@example.net": None,  # 2026-06-30 21:00 UTC, before EVE: at once
            "utc@example.net": dt.datetime(2026, 7, 1, 18, tzinfo=dt.UTC),
        }

    def test_a_past_hour_means_at_once(self, app: Briefmail) -> None:
        """Planned after a reader's local hour has passed, their copy goes at once."""
        add(app, "berlin@example.net", ["chips"], timezone="Europe/Berlin", send_hour=7)
        plan(app, ingest(app), now=dt.datetime(2026, 7, 2, tzinfo=dt.UTC))
        assert deliveries(app) == {"berlin@example.net": ("chips", None)}


class TestRanges:
    def test_many_small_ranges_plan_what_one_range_does(
        self, app: Briefmail, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """Ranges of 3 ids over another list's interleaved readers plan each reader once.

        On PostgreSQL two ranges are planned at once, on two connections.
        """
        monkeypatch.setattr(planning, "PLAN_RANGE", 3)
        with app.sessions() as session:
            other = create_list(session, "other", "Other", "Other <other@news.example.org>")
            session.commit()
        topics = [["chips"], ["models"], [], ["robotics"], ["funding", "chips"]]
        for n in range(23):
            add(app, f"r{n}@example.net", topics[n % len(topics)])
            add(app, f"o{n}@example.net", ["chips"], list_slug=other.slug)
        planner, added = plan(app, ingest(app))
        planned = deliveries(app)
        assert len(planned) == 23 - 4  # every fifth reader chose only robotics
        assert not any(email.startswith("o") for email in planned)
        assert planner.skipped[NO_MATCH] == 4
        assert added == len(planned)

    def test_planning_again_adds_only_newcomers(self, app: Briefmail) -> None:
        """A second plan of the same run inserts readers who joined since, and nobody twice."""
        add(app, "early@example.net", ["chips"])
        issue_id = ingest(app)
        run_id = app.dispatcher().plan(issue_id)
        add(app, "late@example.net", ["models"])
        assert app.dispatcher().plan(issue_id) == run_id
        assert set(deliveries(app)) == {"early@example.net", "late@example.net"}
        assert app.dispatcher().report(run_id).planned == 2

    def test_a_crash_between_ranges_keeps_the_committed_ones(
        self, app: Briefmail, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """Planning that dies mid-way keeps whole ranges only; planning again completes it."""
        monkeypatch.setattr(planning, "PLAN_RANGE", 4)
        for n in range(10):
            add(app, f"r{n}@example.net", ["chips"])
        issue_id = ingest(app)
        stage = Planner.stage
        calls = 0

        def failing_stage(self: Planner, session: object, ids: tuple[int, int]) -> None:
            nonlocal calls
            calls += 1
            if calls == 2:
                raise RuntimeError("power cut")
            stage(self, session, ids)  # type: ignore[arg-type]

        monkeypatch.setattr(Planner, "stage", failing_stage)
        with pytest.raises(RuntimeError, match="power cut"):
            app.dispatcher().plan(issue_id)
        planned = deliveries(app)
        ranges = [{f"r{n}@example.net" for n in range(k, min(k + 4, 10))} for k in (0, 4, 8)]
        # Whole ranges or nothing of each (on PostgreSQL a range beside the failed one may end).
        assert all(r <= planned.keys() or not r & planned.keys() for r in ranges)
        assert 0 < len(planned) < 10
        monkeypatch.setattr(Planner, "stage", stage)
        run_id = app.dispatcher().plan(issue_id)
        assert len(deliveries(app)) == 10
        assert app.dispatcher().report(run_id).planned == 10

    def test_a_write_by_someone_else_mid_range_does_not_fail_planning(
        self, app: Briefmail, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """A subscriber added while a range is being planned: planning still succeeds.

        On SQLite a transaction that read and then writes is refused at once (not after the
        busy timeout) when another connection committed in between; planning must take the
        write lock first and let the other writer wait its turn.
        """
        add(app, "early@example.net", ["chips"])
        issue_id = ingest(app)
        stage = Planner.stage
        errors: list[BaseException] = []

        def join_meanwhile() -> None:
            try:
                add(app, "meanwhile@example.net", ["chips"])
            except BaseException as error:  # reported by the assertion below
                errors.append(error)

        writer = threading.Thread(target=join_meanwhile)

        def staging_then_someone_writes(
            self: Planner, session: object, ids: tuple[int, int]
        ) -> None:
            stage(self, session, ids)  # type: ignore[arg-type]
            if not writer.is_alive() and not writer.ident:
                writer.start()
                writer.join(0.5)  # it commits now, or waits for planning's lock

        monkeypatch.setattr(Planner, "stage", staging_then_someone_writes)
        run_id = app.dispatcher().plan(issue_id)
        writer.join()
        assert errors == []
        assert app.dispatcher().report(run_id).planned >= 1
        assert "early@example.net" in deliveries(app)


class TestCensus:
    def test_a_dry_run_counts_what_planning_writes(self, app: Briefmail) -> None:
        """The census's readers by variant and by instant equal the planned deliveries."""
        add(app, "a@example.net", ["chips"], timezone="Europe/Berlin")
        add(app, "b@example.net", ["chips"], send_hour=9)
        add(app, "c@example.net", [])
        add(app, "d@example.net", ["robotics"])
        issue_id = ingest(app)
        with app.sessions() as session:
            census = Planner(load_issue(session, issue_id), now=EVE).census(session)
            session.rollback()
        assert deliveries(app) == {}  # the census wrote nothing
        plan(app, issue_id)
        planned = deliveries(app).values()
        by_variant: dict[str, int] = {}
        by_time: dict[dt.datetime | None, int] = {}
        for variant, at in planned:
            by_variant[variant] = by_variant.get(variant, 0) + 1
            key = at.astimezone(dt.UTC) if at else None
            by_time[key] = by_time.get(key, 0) + 1
        assert dict(census.by_variant) == by_variant == {"chips": 2, "*": 1}
        assert {k.astimezone(dt.UTC) if k else None: n for k, n in census.by_time.items()} == (
            by_time
        )
