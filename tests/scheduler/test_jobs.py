"""The scheduler decides when: each reader's local send hour, fresh issues only, once.

The clock is moved with time-machine; the SMTP server, the database and the send path are real.
"""

from __future__ import annotations

import datetime as dt
import logging
from pathlib import Path

import pytest
import time_machine
from apscheduler.triggers.interval import IntervalTrigger

from briefmail.app import Briefmail
from mailer.testing import SmtpSink
from scheduler import ledger
from scheduler.jobs import (
    DIGEST_JOB_ID,
    SEND_JOB_ID,
    SOURCES_JOB_ID,
    TickReport,
    build_scheduler,
    describe_jobs,
    poll_sources,
    send_weekly_digest,
    tick,
)
from subscribers.lists import get_list
from subscribers.service import subscribe
from tests.conftest import FIXTURES

UTC = dt.UTC
READERS = {
    "sh@example.net": "Asia/Shanghai",
    "be@example.net": "Europe/Berlin",
    "la@example.net": "America/Los_Angeles",
}


def add_readers(app: Briefmail, readers: dict[str, str]) -> None:
    with app.sessions() as session:
        newsletter = get_list(session, "brief")
        for address, zone in readers.items():
            subscribe(
                session,
                newsletter,
                address,
                taxonomy=app.taxonomy,
                timezone=zone,
                send_hour=7,
                confirmed=True,
            )
        session.commit()


def brief_for(day: dt.date, folder: Path) -> Path:
    """The sample brief, dated ``day``."""
    text = (FIXTURES / "brief-mixed.txt").read_text(encoding="utf-8")
    text = text.replace("2026-07-01", day.isoformat())
    text = text.replace("July 1, 2026", f"{day:%B} {day.day}, {day.year}")
    path = folder / f"brief-{day}.txt"
    path.write_text(text, encoding="utf-8")
    return path


def test_each_reader_gets_the_brief_at_seven_local_across_a_dst_change(
    app: Briefmail, smtp_sink: SmtpSink, tmp_path: Path
) -> None:
    """Shanghai, Berlin and Los Angeles readers each get it at their own 07:00, DST included.

    Berlin moves to summer time on 2026-03-29: its 07:00 is 06:00 UTC on the 28th and 05:00
    UTC on the 29th. The job ticks every 30 minutes for two days; each brief is ingested the
    evening before its date.
    """
    add_readers(app, READERS)
    received: dict[str, list[dt.datetime]] = {address: [] for address in READERS}
    start = dt.datetime(2026, 3, 27, 20, 0, tzinfo=UTC)
    with time_machine.travel(start, tick=False) as clock:
        app.ingest(brief_for(dt.date(2026, 3, 28), tmp_path), "brief", approve=True)
        now = start
        while now <= dt.datetime(2026, 3, 29, 20, 0, tzinfo=UTC):
            clock.move_to(now)
            if now == dt.datetime(2026, 3, 28, 20, 0, tzinfo=UTC):
                app.ingest(brief_for(dt.date(2026, 3, 29), tmp_path), "brief", approve=True)
            before = len(smtp_sink.messages)
            tick(app.sending)
            for message in smtp_sink.messages[before:]:
                received[message.rcpt_to[0]].append(now)
            now += dt.timedelta(minutes=30)
    assert received == {
        "sh@example.net": [
            dt.datetime(2026, 3, 27, 23, 0, tzinfo=UTC),
            dt.datetime(2026, 3, 28, 23, 0, tzinfo=UTC),
        ],
        "be@example.net": [
            dt.datetime(2026, 3, 28, 6, 0, tzinfo=UTC),
            dt.datetime(2026, 3, 29, 5, 0, tzinfo=UTC),
        ],
        "la@example.net": [
            dt.datetime(2026, 3, 28, 14, 0, tzinfo=UTC),
            dt.datetime(2026, 3, 29, 14, 0, tzinfo=UTC),
        ],
    }


def test_after_thirty_hours_down_the_stale_issue_is_not_sent(
    app: Briefmail, smtp_sink: SmtpSink, tmp_path: Path
) -> None:
    """An issue ingested 30 h before the scheduler comes back is left alone, and it says why."""
    add_readers(app, {"utc@example.net": "UTC"})
    ingested = dt.datetime(2026, 3, 27, 20, 0, tzinfo=UTC)
    with time_machine.travel(ingested, tick=False) as clock:
        stored = app.ingest(brief_for(dt.date(2026, 3, 28), tmp_path), "brief", approve=True).stored
        assert stored is not None
        clock.move_to(ingested + dt.timedelta(hours=30))
        report = tick(app.sending)
    assert smtp_sink.messages == []
    assert report.planned == []
    assert "more than schedule.max_age_hours (20 h)" in report.skipped[f"issue {stored.id}"]


def test_a_planned_run_goes_stale_too(app: Briefmail, smtp_sink: SmtpSink, tmp_path: Path) -> None:
    """Readers still waiting for their hour when the scheduler stopped don't get old news."""
    add_readers(app, {"la@example.net": "America/Los_Angeles", "utc@example.net": "UTC"})
    ingested = dt.datetime(2026, 3, 27, 20, 0, tzinfo=UTC)
    with time_machine.travel(ingested, tick=False) as clock:
        app.ingest(brief_for(dt.date(2026, 3, 28), tmp_path), "brief", approve=True)
        clock.move_to(dt.datetime(2026, 3, 28, 7, 0, tzinfo=UTC))
        tick(app.sending)  # the UTC reader's 07:00
        clock.move_to(ingested + dt.timedelta(hours=30))  # down through LA's 07:00
        report = tick(app.sending)
    assert smtp_sink.recipients() == ["utc@example.net"]
    assert list(report.skipped) == ["run 1"]


def test_a_restarted_scheduler_or_a_second_one_sends_nothing_twice(
    app: Briefmail, smtp_sink: SmtpSink, tmp_path: Path
) -> None:
    """The job fired again, or by a second process on the same database, finds nothing to do."""
    add_readers(app, {f"r{n}@example.net": "UTC" for n in range(20)})
    with time_machine.travel(dt.datetime(2026, 3, 28, 8, 0, tzinfo=UTC), tick=False):
        app.ingest(brief_for(dt.date(2026, 3, 28), tmp_path), "brief", approve=True)
        assert tick(app.sending).delivered == 20
        assert tick(app.sending).delivered == 0
        second = Briefmail(app.settings)  # a restarted (or second) scheduler
        try:
            assert tick(second.sending).delivered == 0
        finally:
            second.close()
    assert sorted(smtp_sink.recipients()) == sorted(f"r{n}@example.net" for n in range(20))


def test_the_scheduler_holds_one_coalescing_send_job(app: Briefmail) -> None:
    """One send job every tick_seconds, one at a time, misfires coalesced, next time listed."""
    scheduler = build_scheduler(app.sending, blocking=False)
    job = scheduler.get_job(SEND_JOB_ID)
    assert isinstance(job.trigger, IntervalTrigger)
    assert job.trigger.interval == dt.timedelta(seconds=60)
    assert (job.coalesce, job.max_instances) == (True, 1)
    listed = describe_jobs(scheduler)
    assert [job.id for job in listed] == [SEND_JOB_ID, DIGEST_JOB_ID]
    assert all(job.next_run is not None and job.next_run.tzinfo for job in listed)


def test_an_auto_approving_folder_source_feeds_the_send_job(
    app: Briefmail, smtp_sink: SmtpSink, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The sources job stores a brief dropped in the folder; the next tick sends it to readers."""
    import os

    from briefmail.settings import SourceSettings

    inbox = tmp_path / "inbox"
    inbox.mkdir()
    day = dt.date(2026, 3, 28)
    brief = brief_for(day, inbox)
    os.utime(brief, (0, 0))  # long settled
    settings = app.settings.model_copy(
        update={
            "sources": [
                SourceSettings(list="brief", folder=inbox, approve="auto", name="drop-folder")
            ]
        }
    )
    configured = Briefmail(settings)
    try:
        scheduler = build_scheduler(configured.sending, blocking=False)
        assert scheduler.get_job(SOURCES_JOB_ID) is not None
        assert build_scheduler(app.sending, blocking=False).get_job(SOURCES_JOB_ID) is None
        add_readers(configured, {"sh@example.net": "Asia/Shanghai"})
        with time_machine.travel(dt.datetime(2026, 3, 27, 23, 30, tzinfo=UTC), tick=False):
            with caplog.at_level(logging.INFO, logger="briefmail"):
                poll_sources(configured.sending)
                poll_sources(configured.sending)  # not due again: nothing more
            report = tick(configured.sending)
    finally:
        configured.close()
    assert "source drop-folder: stored issue 1" in caplog.text
    assert caplog.text.count("stored issue") == 1
    assert report.planned == [1] and report.delivered == 1
    assert smtp_sink.recipients() == ["sh@example.net"]


def test_the_weekly_digest_goes_to_weekly_readers_once(
    app: Briefmail, smtp_sink: SmtpSink, tmp_path: Path
) -> None:
    """Monday's job digests last week's briefs for weekly readers; firing again sends nothing."""
    from subscribers.models import Cadence

    with app.sessions() as session:
        for address, cadence in (
            ("w@example.net", Cadence.WEEKLY),
            ("d@example.net", Cadence.DAILY),
        ):
            subscribe(
                session,
                get_list(session, "brief"),
                address,
                taxonomy=app.taxonomy,
                cadence=cadence,
                confirmed=True,
            )
        session.commit()
    with time_machine.travel(dt.datetime(2026, 3, 18, 6, 0, tzinfo=UTC), tick=False) as clock:
        app.ingest(brief_for(dt.date(2026, 3, 18), tmp_path), "brief", approve=True)
        clock.move_to(dt.datetime(2026, 3, 23, 8, 0, tzinfo=UTC))  # Monday of the next week
        first = send_weekly_digest(app.sending)
        again = send_weekly_digest(app.sending)
    assert first is not None and again == first
    [message] = smtp_sink.messages
    assert message.rcpt_to == ("w@example.net",)
    with app.sessions() as session:
        run = ledger.get_run(session, first)
        assert (run.kind, run.period) == ("weekly", "2026-W12")
    scheduler = build_scheduler(app.sending, blocking=False)
    trigger = scheduler.get_job(DIGEST_JOB_ID).trigger
    fields = {f.name: str(f) for f in trigger.fields}
    assert (fields["day_of_week"], fields["hour"], fields["minute"]) == ("mon", "8", "0")


def test_two_serve_processes_on_one_database_send_each_reader_once(
    app: Briefmail, smtp_sink: SmtpSink, tmp_path: Path, database_url: str
) -> None:
    """Two `briefmail serve` schedulers firing the same job: one run, every reader once."""
    import os
    import signal
    import subprocess
    import sys
    import time

    from scheduler.ledger import list_runs

    add_readers(app, {f"r{n:02d}@example.net": "UTC" for n in range(60)})
    # Dated in the past: due at once.
    app.ingest(FIXTURES / "brief-mixed.txt", "brief", approve=True)
    (tmp_path / "briefmail.toml").write_text(
        f'[database]\nurl = "{database_url}"\n'
        f'[smtp]\nhost = "{smtp_sink.host}"\nport = {smtp_sink.port}\n'
        "[schedule]\ntick_seconds = 5\n",
        encoding="utf-8",
    )
    env = {**os.environ, "BRIEFMAIL_SECRET_KEY": app.settings.secret()}
    servers = [
        subprocess.Popen(
            [sys.executable, "-c", "from briefmail.cli import main; main()", "serve", "--no-web"],
            cwd=tmp_path,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    try:
        deadline = time.monotonic() + 90
        while smtp_sink.count() < 60 and time.monotonic() < deadline:
            if any(s.poll() is not None for s in servers):
                break  # a server exited early: its standard error says why, below
            time.sleep(0.2)
        time.sleep(6)  # another tick of both: nothing more may go out
    finally:
        for server in servers:
            server.send_signal(signal.SIGTERM)
        errors = [server.communicate(timeout=60)[1] for server in servers]
    assert smtp_sink.count() == 60, "\n".join(errors)
    assert [server.returncode for server in servers] == [0, 0], errors
    assert sorted(smtp_sink.recipients()) == [f"r{n:02d}@example.net" for n in range(60)]
    with app.sessions() as session:
        assert [(run.id, run.status) for run in list_runs(session)] == [(1, "done")]


def unreachable_app(app: Briefmail) -> Briefmail:
    """The test app's settings with its database moved to a closed PostgreSQL port."""
    from briefmail.settings import DatabaseSettings
    from mailer.testing import free_port

    url = f"postgresql+psycopg://briefmail:hunter2@127.0.0.1:{free_port()}/briefmail"
    return Briefmail(app.settings.model_copy(update={"database": DatabaseSettings(url=url)}))


class TestFaults:
    def test_a_fault_is_logged_once_and_retried_with_a_growing_pause(
        self, app: Briefmail, caplog: pytest.LogCaptureFixture
    ) -> None:
        """An unreachable database is logged once, retried after 1, 2, 4 ticks, then recovers."""
        from scheduler.jobs import Backoff

        now = [0.0]
        backoff = Backoff(SEND_JOB_ID, base=60, clock=lambda: now[0])
        broken = unreachable_app(app)
        job = [lambda: tick(broken.sending)]
        attempts: list[float] = []

        def send() -> TickReport:
            attempts.append(now[0])
            return job[0]()

        caplog.set_level(logging.INFO, logger="briefmail.jobs")
        try:
            for minute in range(8):  # a tick a minute, the database down throughout
                now[0] = minute * 60.0
                assert backoff.attempt(send) is None
        finally:
            broken.close()
        assert attempts == [0.0, 60.0, 180.0, 420.0]  # retried after 1, 2, then 4 ticks
        errors = [r for r in caplog.records if r.levelno == logging.ERROR]
        assert len(errors) == 1
        [message] = [r.getMessage() for r in errors]
        assert "unavailable: connection failed" in message and "hunter2" not in message
        assert "\n" not in message
        job[0] = lambda: tick(app.sending)  # the database is back
        now[0] = 420.0 + 8 * 60
        assert isinstance(backoff.attempt(send), TickReport)
        assert "working again after 4 failed attempts" in caplog.records[-1].getMessage()
        assert (backoff.fault, backoff.failures) == (None, 0)

    def test_the_pause_stops_growing_at_its_cap(self) -> None:
        """A long outage is retried at most every cap seconds (15 minutes by default)."""
        from scheduler.jobs import Backoff

        backoff = Backoff(SEND_JOB_ID, base=60)
        delays = []
        for _ in range(8):
            backoff.failures += 1
            delays.append(backoff.delay())
        assert delays == [60, 120, 240, 480, 900, 900, 900, 900]

    def test_serve_logs_an_unreachable_database_once_without_a_traceback(
        self, tmp_path: Path
    ) -> None:
        """`briefmail serve` on an unreachable database logs one line, not a traceback a tick."""
        import os
        import signal
        import subprocess
        import sys
        import time

        from mailer.testing import free_port

        url = f"postgresql+psycopg://briefmail:hunter2@127.0.0.1:{free_port()}/briefmail"
        (tmp_path / "briefmail.toml").write_text("[schedule]\ntick_seconds = 5\n", encoding="utf-8")
        server = subprocess.Popen(
            [sys.executable, "-c", "from briefmail.cli import main; main()", "serve", "--no-web"],
            cwd=tmp_path,
            env={**os.environ, "BRIEFMAIL_SECRET_KEY": "k" * 32, "BRIEFMAIL_DATABASE__URL": url},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            time.sleep(13)  # ticks at 0, 5 and 10 s: two attempts, one rest
            assert server.poll() is None, "serve exited"
        finally:
            server.send_signal(signal.SIGTERM)
            _, stderr = server.communicate(timeout=60)
        assert server.returncode == 0, stderr
        assert "Traceback" not in stderr and "hunter2" not in stderr
        faults = [line for line in stderr.splitlines() if "unavailable" in line]
        assert len(faults) == 1, stderr
        assert '"level": "error"' in faults[0] and "Connection refused" in faults[0]
