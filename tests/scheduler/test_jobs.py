"""The scheduler decides when: the daily job sends the newest unsent issue, once."""

from __future__ import annotations

from apscheduler.triggers.cron import CronTrigger

from mailer.testing import SmtpSink
from scheduler.app import Briefmail
from scheduler.jobs import DAILY_JOB_ID, build_scheduler, describe_jobs, send_newest_daily
from subscribers.lists import get_list
from subscribers.service import subscribe
from tests.conftest import FIXTURES


def test_daily_job_sends_the_newest_unsent_issue_once(app: Briefmail, smtp_sink: SmtpSink) -> None:
    """The job sends a fresh issue without any operator command; firing again sends nothing."""
    with app.sessions() as session:
        subscribe(
            session,
            get_list(session, "brief"),
            "a@example.net",
            taxonomy=app.taxonomy,
            confirmed=True,
        )
        session.commit()
    assert send_newest_daily(app) is None  # nothing ingested yet
    app.ingest(FIXTURES / "brief-mixed.txt", "brief")
    report = send_newest_daily(app)
    assert report is not None
    assert report.delivered == 1
    assert send_newest_daily(app) is None
    assert smtp_sink.recipients() == ["a@example.net"]


def test_scheduler_holds_the_daily_job_at_the_configured_time(app: Briefmail) -> None:
    """The daily job fires at [schedule] daily_time in [schedule] timezone, coalescing misfires."""
    scheduler = build_scheduler(app, blocking=False)
    job = scheduler.get_job(DAILY_JOB_ID)
    assert isinstance(job.trigger, CronTrigger)
    fields = {f.name: str(f) for f in job.trigger.fields}
    assert (fields["hour"], fields["minute"]) == ("7", "0")
    assert str(job.trigger.timezone) == "UTC"
    assert job.coalesce is True
    assert job.max_instances == 1
    assert [j.id for j in describe_jobs(scheduler)] == [DAILY_JOB_ID]
