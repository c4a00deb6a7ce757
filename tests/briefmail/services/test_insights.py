"""The console's figures (briefmail.services.insights), computed from real rows."""

from __future__ import annotations

import asyncio
import datetime as dt

from briefmail.app import Briefmail
from briefmail.services.insights import Insights
from subscribers.lists import get_list
from subscribers.service import unsubscribe
from tests.conftest import FIXTURES, subscribe_readers

#: 2026-06-26 10:00 UTC: 12:00 in Berlin, 18:00 in Shanghai, 03:00 in Los Angeles.
NOW = dt.datetime(2026, 6, 26, 10, 0, tzinfo=dt.UTC)


def test_next_sends_by_time_zone(app: Briefmail) -> None:
    """Each zone's next local send hour, soonest first, with how many readers it reaches."""
    subscribe_readers(app, ["b1@example.net", "b2@example.net"], timezone="Europe/Berlin")
    subscribe_readers(app, ["s@example.net"], timezone="Asia/Shanghai", send_hour=21)
    subscribe_readers(app, ["l@example.net"], timezone="America/Los_Angeles")
    sends = Insights(app).next_sends(now=NOW)
    assert [(s.zone, s.readers, s.local.strftime("%d %H:%M")) for s in sends] == [
        ("Asia/Shanghai", 1, "26 21:00"),
        ("America/Los_Angeles", 1, "26 07:00"),
        ("Europe/Berlin", 2, "27 07:00"),
    ]
    assert all(s.what == f"Daily brief at {s.local.hour:02d}:00 local" for s in sends)


def test_a_scheduled_issue_is_a_next_send(app: Briefmail) -> None:
    """An approved issue scheduled for a time is listed at that instant."""
    stored = app.ingest(FIXTURES / "brief-mixed.txt", "brief", approve=True).stored
    assert stored is not None
    later = (dt.datetime.now(dt.UTC) + dt.timedelta(days=2)).strftime("%Y-%m-%d 08:30")
    scheduled = app.sending.schedule_send(stored.id, later, "Europe/Berlin")
    (send,) = Insights(app).next_sends()
    assert send.issue_id == stored.id and send.at == scheduled.at
    assert send.what.startswith(f"Issue {stored.id}: ")


def test_growth_counts_joins_and_leaves_per_day(app: Briefmail) -> None:
    """Confirmed readers today, who joined and who left, and the count walked back per day."""
    subscribe_readers(app, [f"r{n}@example.net" for n in range(5)])
    with app.sessions() as session:
        newsletter = get_list(session, "brief")
        unsubscribe(session, newsletter, "r0@example.net")
        unsubscribe(session, newsletter, "r1@example.net")
        session.commit()
    growth = Insights(app).growth(30)
    assert len(growth.days) == 30
    today = growth.days[-1]
    assert (today.joined, today.left, today.active) == (5, 2, 3)
    assert growth.days[-2].active == 0  # yesterday there was nobody
    assert (growth.joined, growth.left) == (5, 2)
    assert Insights(app).growth(90).days[0].day == today.day - dt.timedelta(days=89)


def test_readers_per_topic_count_those_who_chose_none_everywhere(app: Briefmail) -> None:
    """A reader who chose topics counts in those; one who chose none counts in every topic."""
    subscribe_readers(app, ["chips@example.net"], topics=["chips"])
    subscribe_readers(app, ["both@example.net"], topics=["chips", "policy"])
    subscribe_readers(app, ["all@example.net"])
    counts = {t.topic: t.readers for t in Insights(app).readers_per_topic()}
    assert counts["chips"] == 3
    assert counts["policy"] == 2
    assert min(counts.values()) == 1  # every other topic: only the reader of everything


def test_progress_and_the_last_runs(app: Briefmail) -> None:
    """A planned run is 0% with its readers pending; sent, it is 100% with a rate."""
    subscribe_readers(app, [f"r{n}@example.net" for n in range(4)])
    stored = app.ingest(FIXTURES / "brief-mixed.txt", "brief", approve=True).stored
    assert stored is not None
    insights = Insights(app)
    run_id = app.sending.plan(stored.id)
    planned = insights.progress(run_id)
    assert (planned.total, planned.finished, planned.percent, planned.open) == (4, 0, 0, 4)
    asyncio.run(app.send_issue(stored.id))
    sent = insights.progress(run_id)
    assert (sent.finished, sent.percent, sent.open, sent.status) == (4, 100, 0, "done")
    assert sent.per_second == round(4 / 60, 2)
    (glance,) = insights.last_runs()
    assert glance.id == run_id and glance.counts["delivered"] == 4 and glance.total == 4
    assert insights.last_runs(before_id=run_id) == []


def test_lists_at_a_glance(app: Briefmail) -> None:
    """Each list's subscriptions by status, its newest issue and its archive address."""
    subscribe_readers(app, ["a@example.net"])
    stored = app.ingest(FIXTURES / "brief-mixed.txt", "brief").stored
    assert stored is not None
    (brief,) = Insights(app).lists()
    assert brief.counts["confirmed"] == 1 and brief.counts["pending"] == 0
    assert (brief.latest_id, brief.latest_status) == (stored.id, "draft")
    assert brief.archive_url == "https://news.example.org/archive"
