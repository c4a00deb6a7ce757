"""APScheduler wiring. Jobs only decide *when*; the send path guarantees *once*.

The daily job sends the default list's newest issue that has no run yet. Because a run is unique
per (list, kind, period), a job that fires twice, or two schedulers, still make one run.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import threading
from collections.abc import Callable
from dataclasses import dataclass
from types import FrameType

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.schedulers.base import BaseScheduler
from apscheduler.schedulers.blocking import BlockingScheduler
from apscheduler.triggers.cron import CronTrigger

from scheduler.app import Briefmail
from scheduler.dispatch import SendInterrupted, SendReport
from scheduler.editions import newest_unsent_issue
from subscribers.lists import get_list

__all__ = [
    "DAILY_JOB_ID",
    "JobInfo",
    "build_scheduler",
    "describe_jobs",
    "send_newest_daily",
    "serve",
]

DAILY_JOB_ID = "daily-brief"
#: How long a scheduled send keeps retrying deferred deliveries.
JOB_RETRY_SECONDS = 1800.0
log = logging.getLogger("briefmail.jobs")


@dataclass(frozen=True, slots=True)
class JobInfo:
    """A scheduled job as `briefmail serve` reports it."""

    id: str
    trigger: str


def send_newest_daily(app: Briefmail, list_slug: str | None = None) -> SendReport | None:
    """Send the list's newest unsent issue, if any; returns the report or None."""
    slug = list_slug or app.settings.newsletter.slug
    with app.sessions() as session:
        issue = newest_unsent_issue(session, get_list(session, slug))
        issue_id = issue.id if issue is not None else None
    if issue_id is None:
        log.info("daily job: no unsent issue on list %s", slug)
        return None

    try:
        # Greylisting relays want a second try minutes later; the job can wait for it.
        report = asyncio.run(app.send_issue(issue_id, retry_for=JOB_RETRY_SECONDS))
    except SendInterrupted as exc:
        log.error("daily job: %s", exc)
        return None
    log.info("daily job: issue %s, run %s: %s", issue_id, report.run_id, report.as_json())
    return report


def build_scheduler(app: Briefmail, *, blocking: bool) -> BaseScheduler:
    """A scheduler holding the daily job at [schedule] daily_time in [schedule] timezone."""
    schedule = app.settings.schedule
    clock = schedule.daily_clock
    scheduler: BaseScheduler = (BlockingScheduler if blocking else BackgroundScheduler)(
        timezone=schedule.timezone
    )
    scheduler.add_job(
        send_newest_daily,
        CronTrigger(hour=clock.hour, minute=clock.minute, timezone=schedule.timezone),
        args=[app],
        id=DAILY_JOB_ID,
        # After downtime the job runs once (not once per missed day), within an hour of its time.
        coalesce=True,
        max_instances=1,
        misfire_grace_time=3600,
        replace_existing=True,
    )
    return scheduler


def describe_jobs(scheduler: BaseScheduler) -> list[JobInfo]:
    """The scheduler's jobs and their triggers, for the operator."""
    return [JobInfo(job.id, str(job.trigger)) for job in scheduler.get_jobs()]


def serve(
    app: Briefmail,
    *,
    host: str,
    port: int,
    web: bool = True,
    jobs: bool = True,
    announce: Callable[[JobInfo], None] = lambda job: None,
) -> None:
    """Run the web app and/or the scheduler until SIGTERM or SIGINT, then stop cleanly.

    A clean stop means: the web server drains its requests, and a send started by a job runs to
    its end (every outcome recorded) before the process exits 0.
    """
    import uvicorn

    if not (web or jobs):
        raise ValueError("nothing to run: enable the web app, the scheduler, or both")
    stop = threading.Event()

    def request_stop(signum: int, frame: FrameType | None) -> None:
        # uvicorn restores this handler and re-raises the signal once it has shut down; taking
        # it here (instead of the default "terminate now") lets the scheduler finish below.
        stop.set()

    previous = {sig: signal.signal(sig, request_stop) for sig in (signal.SIGTERM, signal.SIGINT)}
    scheduler = build_scheduler(app, blocking=False) if jobs else None
    try:
        if scheduler is not None:
            for job in describe_jobs(scheduler):
                announce(job)
            scheduler.start()
        if web:
            uvicorn.run(app.web(), host=host, port=port, log_level="info")
        else:
            stop.wait()
    finally:
        if scheduler is not None:
            scheduler.shutdown(wait=True)
        for sig, handler in previous.items():
            signal.signal(sig, handler)
