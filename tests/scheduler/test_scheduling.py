"""Scheduled sends: the editor's chosen instant is kept, and the send job sends at it, once."""

from __future__ import annotations

import datetime as dt

import pytest
import time_machine

from briefmail.app import Briefmail
from mailer.testing import SmtpSink
from scheduler.editions import IssueStateError, IssueStatus, StoredIssue, history
from scheduler.jobs import tick
from scheduler.scheduling import ScheduleError, due_scheduled, parse_send_time
from tests.conftest import FIXTURES, subscribe_readers

UTC = dt.UTC
NOW = dt.datetime(2026, 6, 26, 12, 0, tzinfo=UTC)


class TestParseSendTime:
    """A local time in a zone becomes one UTC instant, or a refusal that says why."""

    def test_a_local_time_in_a_zone_is_its_utc_instant(self) -> None:
        """07:00 in Berlin in summer is 05:00 UTC; in Shanghai, 23:00 UTC the day before."""
        assert parse_send_time("2026-06-27 07:00", "Europe/Berlin") == dt.datetime(
            2026, 6, 27, 5, 0, tzinfo=UTC
        )
        assert parse_send_time("2026-06-27T07:00", "Asia/Shanghai") == dt.datetime(
            2026, 6, 26, 23, 0, tzinfo=UTC
        )

    def test_an_explicit_offset_wins_over_the_zone(self) -> None:
        """An ISO time with its own offset is read as written."""
        assert parse_send_time("2026-06-27T07:00:00+02:00", "UTC") == dt.datetime(
            2026, 6, 27, 5, 0, tzinfo=UTC
        )

    def test_a_time_inside_a_dst_gap_is_refused(self) -> None:
        """02:30 on the night Berlin skips from 02:00 to 03:00 does not exist."""
        with pytest.raises(ScheduleError, match="does not exist in Europe/Berlin"):
            parse_send_time("2026-03-29 02:30", "Europe/Berlin")

    def test_a_repeated_hour_is_the_first_of_the_two(self) -> None:
        """02:30 on the night Berlin goes back happens twice: the first (summer time) is meant."""
        assert parse_send_time("2026-10-25 02:30", "Europe/Berlin") == dt.datetime(
            2026, 10, 25, 0, 30, tzinfo=UTC
        )

    @pytest.mark.parametrize("text", ["tomorrow 7am", "2026-13-01 07:00", "07:00", ""])
    def test_an_unreadable_time_names_the_format(self, text: str) -> None:
        """What is not YYYY-MM-DD HH:MM is refused with an example."""
        with pytest.raises(ScheduleError, match=r"write it as YYYY-MM-DD HH:MM"):
            parse_send_time(text, "UTC")

    def test_an_unknown_zone_is_refused(self) -> None:
        """A zone that is no IANA name is refused, naming it."""
        from subscribers.rules import InvalidTimezone

        with pytest.raises(InvalidTimezone, match="Mars/Olympus"):
            parse_send_time("2026-06-27 07:00", "Mars/Olympus")


def ingest_bulletin(app: Briefmail, *, approve: bool = True) -> int:
    """The sample bulletin, stored on the default list; its id."""
    result = app.ingest(FIXTURES / "bulletin-sample.txt", "brief", approve=approve)
    assert result.issue_id is not None
    return result.issue_id


class TestScheduleSend:
    """Only an approved issue is scheduled, for a future instant, and it is recorded."""

    def test_scheduling_is_stored_and_in_the_history(self, app: Briefmail) -> None:
        """The instant is kept on the issue and the history says who scheduled it for when."""
        issue_id = ingest_bulletin(app)
        with time_machine.travel(NOW, tick=False):
            scheduled = app.sending.schedule_send(issue_id, "2026-06-27 07:00", "Europe/Berlin")
        assert scheduled.at == dt.datetime(2026, 6, 27, 5, 0, tzinfo=UTC)
        assert scheduled.local.hour == 7
        with app.sessions() as session:
            changes = [(c.action, c.field, c.after, c.actor) for c in history(session, issue_id)]
        assert ("schedule", "send_at", "2026-06-27T05:00:00+00:00", app.actor) in changes

    def test_a_draft_cannot_be_scheduled(self, app: Briefmail) -> None:
        """A draft is refused with the command that approves it."""
        issue_id = ingest_bulletin(app, approve=False)
        with pytest.raises(IssueStateError, match=f"briefmail issues approve {issue_id}"):
            app.sending.schedule_send(issue_id, "2030-01-01 07:00", "UTC")

    def test_a_time_in_the_past_or_too_far_ahead_is_refused(self, app: Briefmail) -> None:
        """Yesterday says how to send now; next decade asks whether the year is right."""
        issue_id = ingest_bulletin(app)
        with time_machine.travel(NOW, tick=False):
            with pytest.raises(
                ScheduleError, match=f"in the past; to send now: briefmail send {issue_id}"
            ):
                app.sending.schedule_send(issue_id, "2026-06-25 07:00", "UTC")
            with pytest.raises(ScheduleError, match="more than a year away"):
                app.sending.schedule_send(issue_id, "2036-06-25 07:00", "UTC")

    def test_withdrawing_clears_the_schedule_and_unschedule_says_so(self, app: Briefmail) -> None:
        """A schedule belongs to its approval: withdraw clears it; unschedule reports none left."""
        issue_id = ingest_bulletin(app)
        with time_machine.travel(NOW, tick=False):
            app.sending.schedule_send(issue_id, "2026-06-27 07:00", "UTC")
            assert app.sending.unschedule_send(issue_id) is True
            assert app.sending.unschedule_send(issue_id) is False
            app.sending.schedule_send(issue_id, "2026-06-27 07:00", "UTC")
        app.content.withdraw(issue_id)
        with app.sessions() as session:
            row = session.get(StoredIssue, issue_id)
            assert row is not None and row.send_at is None


class TestTheSendJob:
    """The job sends a scheduled issue at its time, not before, and only once."""

    def test_a_scheduled_bulletin_goes_out_at_its_time_once(
        self, app: Briefmail, smtp_sink: SmtpSink
    ) -> None:
        """Ticks before the instant send nothing; the first at or after it sends every reader."""
        subscribe_readers(app, ["a@example.net", "b@example.net"])
        issue_id = ingest_bulletin(app)
        with time_machine.travel(NOW, tick=False) as clock:
            app.sending.schedule_send(issue_id, "2026-06-27 07:00", "Europe/Berlin")
            clock.move_to(dt.datetime(2026, 6, 27, 4, 59, tzinfo=UTC))
            before = tick(app.sending)
            assert before.planned == [] and smtp_sink.messages == []
            clock.move_to(dt.datetime(2026, 6, 27, 5, 0, tzinfo=UTC))
            at = tick(app.sending)
            clock.move_to(dt.datetime(2026, 6, 27, 5, 1, tzinfo=UTC))
            again = tick(app.sending)
        assert at.planned == [issue_id] and at.delivered == 2
        assert again.planned == [] and again.delivered == 0
        assert sorted(smtp_sink.recipients()) == ["a@example.net", "b@example.net"]
        with app.sessions() as session:
            row = session.get(StoredIssue, issue_id)
            assert row is not None and row.status == IssueStatus.SENT
            assert due_scheduled(session, NOW + dt.timedelta(days=2)) == []

    def test_a_scheduled_brief_is_not_sent_early_as_the_newest_brief(
        self, app: Briefmail, smtp_sink: SmtpSink
    ) -> None:
        """The job's usual pick of the newest brief leaves a scheduled brief for its time."""
        subscribe_readers(app, ["a@example.net"], timezone="UTC", send_hour=7)
        result = app.ingest(FIXTURES / "brief-mixed.txt", "brief", approve=True)
        assert result.issue_id is not None
        with time_machine.travel(dt.datetime(2026, 7, 1, 6, 0, tzinfo=UTC), tick=False) as clock:
            app.sending.schedule_send(result.issue_id, "2026-07-01 09:00", "UTC")
            clock.move_to(dt.datetime(2026, 7, 1, 7, 30, tzinfo=UTC))
            assert tick(app.sending).planned == []
            clock.move_to(dt.datetime(2026, 7, 1, 9, 0, tzinfo=UTC))
            assert tick(app.sending).planned == [result.issue_id]
        assert smtp_sink.recipients() == ["a@example.net"]

    def test_a_schedule_missed_by_more_than_max_age_is_not_sent(
        self, app: Briefmail, smtp_sink: SmtpSink
    ) -> None:
        """After downtime longer than max_age_hours, the job says why and sends nothing."""
        subscribe_readers(app, ["a@example.net"])
        issue_id = ingest_bulletin(app)
        with time_machine.travel(NOW, tick=False) as clock:
            app.sending.schedule_send(issue_id, "2026-06-27 07:00", "UTC")
            clock.move_to(dt.datetime(2026, 6, 29, 7, 0, tzinfo=UTC))
            report = tick(app.sending)
        assert report.planned == []
        assert "more than schedule.max_age_hours" in report.skipped[f"issue {issue_id}"]
        assert smtp_sink.messages == []
