"""APScheduler wiring. Jobs only decide *when*; the send path guarantees *once*.

One job, every ``[schedule] tick_seconds`` (a minute): it plans the list's newest daily issue as
soon as one is ingested (each delivery waiting for its reader's local send hour, see
`scheduler.timing`), then sends every delivery of an open run whose time has come. Nothing in
the job remembers what it did: the ledger does. A job that fires twice, two `briefmail serve`
processes on one database, a restart in the middle or a clock jump all end in one run per
(list, kind, period) — the run is unique — and one copy per reader: planning skips readers
already planned, and senders claim each delivery under a lease, so two never send one.

The jobs know nothing of the application: they call the operations of a `JobApp` (briefmail's
`Sending` service passes itself in) and read their timing from its `Schedule`.

After downtime the job runs once (coalesced), and only sends issues that are still fresh: an
issue ingested more than ``[schedule] max_age_hours`` ago is left alone, and the log says so.

A job that meets a fault it cannot fix itself (the database locked, read-only or unreachable, a
bad key file) logs it once, in one line, and tries again after 1, 2, 4 … ticks (at most 15
minutes) instead of failing every tick with a traceback; it says so when it works again.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol, TypeVar

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.schedulers.base import BaseScheduler
from apscheduler.schedulers.blocking import BlockingScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.date import DateTrigger
from apscheduler.triggers.interval import IntervalTrigger
from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session, sessionmaker

from mailer.bounces import BounceError
from scheduler.digests import DigestError, week_label
from scheduler.dispatch import SendInterrupted, SendReport
from scheduler.editions import StoredIssue, newest_unsent_issue
from scheduler.feedback import BounceSummary
from scheduler.ledger import ACTIVE, Run
from scheduler.scheduling import due_scheduled
from scheduler.timing import freshness
from subscribers.db import DatabaseUnavailable, utcnow
from subscribers.lists import get_list

__all__ = [
    "BOUNCES_JOB_ID",
    "DIGEST_JOB_ID",
    "DIGEST_RETRY_JOB_ID",
    "JOB_FAULTS",
    "SEND_JOB_ID",
    "SOURCES_JOB_ID",
    "WEBHOOKS_JOB_ID",
    "WEBHOOKS_SECONDS",
    "Backoff",
    "JobApp",
    "JobInfo",
    "Schedule",
    "TickReport",
    "build_scheduler",
    "describe_jobs",
    "poll_bounces",
    "poll_sources",
    "send_weekly_digest",
    "tick",
]

SEND_JOB_ID = "send-due"
DIGEST_JOB_ID = "weekly-digest"
BOUNCES_JOB_ID = "bounce-mailbox"
SOURCES_JOB_ID = "sources"
WEBHOOKS_JOB_ID = "webhooks"
#: How often the webhooks job delivers what is due in the outbox.
WEBHOOKS_SECONDS = 15.0
DIGEST_RETRY_JOB_ID = "weekly-digest-retry"
log = logging.getLogger("briefmail.jobs")
#: Faults a job cannot fix by itself: logged once, then retried after a growing pause. The
#: application adds its own (a bad setting) through `JobApp.faults`.
JOB_FAULTS: tuple[type[Exception], ...] = (DatabaseUnavailable, OSError)
R = TypeVar("R")
#: What this process already told the operator it is not sending (and why).
_REPORTED: set[tuple[str, str, str]] = set()


@dataclass(frozen=True, slots=True)
class Schedule:
    """When the jobs fire and what they send (the application's `[schedule]` and list)."""

    list_slug: str
    tick_seconds: float
    timezone: str
    #: The weekly digest's day (a cron day_of_week) and time ("HH:MM").
    weekly_day: str
    weekly_time: str
    #: Issues older than this are not sent by the job.
    max_age_hours: float
    #: How often the bounce mailbox is read; None when there is none.
    bounce_minutes: float | None = None
    #: Which database this is (what the process already said is remembered per database).
    where: str = ""
    #: Whether [[sources]] are configured (the sources job then checks every tick which are due).
    sources: bool = False


class JobApp(Protocol):
    """The operations the jobs call on the application."""

    @property
    def schedule(self) -> Schedule:
        """When the jobs fire."""
        ...

    @property
    def sessions(self) -> sessionmaker[Session]:
        """Database sessions (the jobs read which issues and runs are open)."""
        ...

    @property
    def faults(self) -> tuple[type[Exception], ...]:
        """The application's own faults a job cannot fix by itself (a bad setting)."""
        ...

    def plan(self, issue_id: int) -> int:
        """Plan an issue's run; its id."""
        ...

    def send_run(self, run_id: int) -> SendReport:
        """Send what a run owes now (SendInterrupted when it cannot)."""
        ...

    def assemble_digest(self, week: str) -> int:
        """Build (or find) the week's digest issue; its id (DigestError: nothing to digest)."""
        ...

    def poll_bounces(self) -> BounceSummary | None:
        """Apply what arrived in the bounce mailbox (None: there is none; BounceError)."""
        ...

    def poll_sources(self) -> int:
        """Poll the sources that are due; how many issues they stored or updated."""
        ...


@dataclass(frozen=True, slots=True)
class JobInfo:
    """A scheduled job as `briefmail serve` and `briefmail schedule list` report it."""

    id: str
    trigger: str
    next_run: dt.datetime | None = None

    def as_json(self) -> dict[str, str | None]:
        """The shape `schedule list --json` and `status --json` print."""
        return {
            "id": self.id,
            "trigger": self.trigger,
            "next_run": self.next_run.isoformat() if self.next_run else None,
        }


@dataclass
class TickReport:
    """What one run of the send job did."""

    planned: list[int] = field(default_factory=list)
    delivered: int = 0
    #: Runs (or issues) left alone, with the reason.
    skipped: dict[str, str] = field(default_factory=dict)


@dataclass
class Backoff:
    """One job's faults: each logged once, the job retried after 1, 2, 4 … ``base`` seconds.

    ``clock`` is monotonic seconds; a test passes its own to step through the pauses.
    """

    job: str
    base: float
    cap: float = 15 * 60.0
    clock: Callable[[], float] = time.monotonic
    #: What counts as a fault here (JOB_FAULTS and the application's own).
    faults: tuple[type[Exception], ...] = JOB_FAULTS
    failures: int = 0
    retry_at: float = 0.0
    #: The fault last logged (None: the job works).
    fault: str | None = None

    def resting(self) -> bool:
        """Whether the job should skip this firing (it failed, and its pause has not ended)."""
        # Half a base of slack: an interval job fires a few milliseconds either side of it.
        return self.fault is not None and self.clock() < self.retry_at - self.base / 2

    def delay(self) -> float:
        """The pause after the failures so far: base, doubled per failure, at most cap."""
        return min(self.cap, self.base * 2.0 ** max(self.failures - 1, 0))

    def attempt(self, job: Callable[[], R]) -> R | None:
        """Run ``job`` unless resting; a fault is logged once and starts (or grows) the pause."""
        if self.resting():
            return None
        try:
            result = job()
        except self.faults as exc:
            self.failed(exc)
            return None
        if self.fault is not None:
            log.warning("%s job: working again after %d failed attempts", self.job, self.failures)
        self.failures, self.retry_at, self.fault = 0, 0.0, None
        return result

    def failed(self, exc: Exception) -> None:
        """Record a fault: log it if it is new, and pause the job for longer."""
        message = " ".join(str(exc).split())  # one line, whatever the library wrote
        self.failures += 1
        self.retry_at = self.clock() + self.delay()
        if message != self.fault:
            log.error(
                "%s job: %s; retrying in %g s, then less often until it works",
                self.job,
                message,
                self.delay(),
            )
        self.fault = message


def tick(app: JobApp, list_slug: str | None = None) -> TickReport:
    """Plan a newly ingested daily issue, then send every due delivery of the list's open runs."""
    schedule = app.schedule
    now = utcnow()
    max_age = dt.timedelta(hours=schedule.max_age_hours)
    report = TickReport()
    with app.sessions() as session:
        newsletter = get_list(session, list_slug or schedule.list_slug)
        for scheduled in due_scheduled(session, now):
            # Stale after downtime like any issue, counted from the time it was due.
            _plan_if_fresh(report, scheduled.id, scheduled.send_at, now, max_age)
        issue = newest_unsent_issue(session, newsletter)
        if issue is not None:
            _plan_if_fresh(report, issue.id, issue.created_at, now, max_age)
        # The list's open runs, and those of scheduled issues on any list.
        open_runs = session.execute(
            select(Run.id, func.coalesce(StoredIssue.send_at, StoredIssue.created_at))
            .join(StoredIssue, StoredIssue.id == Run.issue_id)
            .where(
                or_(Run.list_id == newsletter.id, StoredIssue.send_at.is_not(None)),
                Run.status.in_(ACTIVE),
            )
            .order_by(Run.id)
        ).all()
    runs = [app.plan(issue_id) for issue_id in report.planned]
    for run_id, created_at in open_runs:
        fresh = freshness(created_at, now, max_age)
        if not fresh.fresh:
            report.skipped[f"run {run_id}"] = fresh.reason
        elif run_id not in runs:
            runs.append(run_id)
    for run_id in runs:
        try:
            sent = app.send_run(run_id)
        except SendInterrupted as exc:
            report.skipped[f"run {run_id}"] = str(exc)
            continue
        if sent.interrupted and sent.stopped:
            report.skipped[f"run {run_id}"] = sent.stopped  # it paused itself: say why
        report.delivered += sent.sent_now
    _say_once(schedule, report)
    return report


def _plan_if_fresh(
    report: TickReport,
    issue_id: int,
    since: dt.datetime | None,
    now: dt.datetime,
    max_age: dt.timedelta,
) -> None:
    """Plan the issue in this tick, unless it is older than max_age (then say why not)."""
    fresh = freshness(since or now, now, max_age)
    if fresh.fresh:
        report.planned.append(issue_id)
    else:
        report.skipped[f"issue {issue_id}"] = fresh.reason


def _say_once(schedule: Schedule, report: TickReport) -> None:
    """Log what a tick did; what it did not send, once per process, not every minute."""
    for what, why in report.skipped.items():
        key = (schedule.where, what, why)  # a stale issue stays stale
        if key not in _REPORTED:
            _REPORTED.add(key)
            log.warning("send job: %s not sent: %s", what, why)
    if report.planned or report.delivered:
        log.info("send job: planned %s, sent %d", report.planned, report.delivered)


def send_weekly_digest(app: JobApp) -> int | None:
    """Assemble last week's digest and plan it for weekly readers; the send job sends it.

    Building the same week's digest again changes nothing, and its run is unique per week,
    so a second firing (or a second scheduler) plans nobody twice. Returns the run id, or
    None when last week had no daily issue.
    """
    week = week_label(utcnow().date() - dt.timedelta(days=7))
    try:
        issue_id = app.assemble_digest(week)
    except DigestError as exc:
        log.warning("weekly digest %s: %s", week, exc)
        return None
    run_id = app.plan(issue_id)
    log.info("weekly digest %s: issue %s, run %s planned", week, issue_id, run_id)
    tick(app)
    return run_id


def poll_bounces(app: JobApp) -> None:
    """Apply what arrived in the bounce mailbox (processing a report twice changes nothing)."""
    try:
        summary = app.poll_bounces()
    except BounceError as exc:
        log.error("bounce mailbox: %s", exc)
        return
    if summary is not None and summary.reports > summary.already_seen:
        log.info("bounce mailbox: %s", summary.as_json())


def poll_sources(app: JobApp) -> None:
    """Poll the sources whose poll_minutes have passed (each logs what it stored or skipped)."""
    stored = app.poll_sources()
    if stored:
        log.info("sources job: %d issues stored or updated", stored)


def build_scheduler(
    app: JobApp, *, blocking: bool, deliver_webhooks: Callable[[], object] | None = None
) -> BaseScheduler:
    """The send job (every tick_seconds), the weekly digest, the bounce mailbox and sources.

    ``deliver_webhooks`` (given when [[webhooks]] are configured) runs every 15 seconds: one
    delivery round of the webhook outbox.
    """
    schedule = app.schedule
    scheduler: BaseScheduler = (BlockingScheduler if blocking else BackgroundScheduler)(
        timezone=schedule.timezone
    )
    faults = (*JOB_FAULTS, *app.faults)
    sending = Backoff(SEND_JOB_ID, schedule.tick_seconds, faults=faults)
    scheduler.add_job(
        sending.attempt,
        IntervalTrigger(seconds=schedule.tick_seconds, timezone=schedule.timezone),
        args=[lambda: tick(app)],
        id=SEND_JOB_ID,
        # After downtime the job runs once, not once per missed minute; freshness decides
        # whether what it finds is still worth sending.
        coalesce=True,
        max_instances=1,
        misfire_grace_time=None,
        replace_existing=True,
        next_run_time=dt.datetime.now(dt.UTC),
    )
    _add_digest_job(scheduler, app, Backoff(DIGEST_JOB_ID, schedule.tick_seconds, faults=faults))
    if schedule.bounce_minutes is not None:
        polling = Backoff(BOUNCES_JOB_ID, schedule.bounce_minutes * 60.0, faults=faults)
        scheduler.add_job(
            polling.attempt,
            IntervalTrigger(minutes=schedule.bounce_minutes),
            args=[lambda: poll_bounces(app)],
            id=BOUNCES_JOB_ID,
            coalesce=True,
            max_instances=1,
            replace_existing=True,
        )
    if schedule.sources:
        # Every tick, each source is polled only when its own poll_minutes have passed.
        _add_every(
            scheduler, SOURCES_JOB_ID, schedule.tick_seconds, lambda: poll_sources(app), faults
        )
    if deliver_webhooks is not None:
        _add_every(scheduler, WEBHOOKS_JOB_ID, WEBHOOKS_SECONDS, deliver_webhooks, faults)
    return scheduler


def _add_every(
    scheduler: BaseScheduler,
    job_id: str,
    seconds: float,
    job: Callable[[], object],
    faults: tuple[type[Exception], ...],
) -> None:
    """An interval job that starts at once and backs off from faults it cannot fix."""
    backoff = Backoff(job_id, seconds, faults=faults)
    scheduler.add_job(
        backoff.attempt,
        IntervalTrigger(seconds=seconds, timezone=scheduler.timezone),
        args=[job],
        id=job_id,
        coalesce=True,
        max_instances=1,
        replace_existing=True,
        next_run_time=dt.datetime.now(dt.UTC),
    )


def _add_digest_job(scheduler: BaseScheduler, app: JobApp, digesting: Backoff) -> None:
    """The weekly digest job at [schedule] weekly_day and weekly_time."""
    schedule = app.schedule
    clock = dt.time.fromisoformat(schedule.weekly_time)

    def weekly_digest() -> None:
        # Fired once a week: a fault must not lose the week, so a retry is scheduled.
        digesting.retry_at = 0.0
        digesting.attempt(lambda: send_weekly_digest(app))
        if digesting.fault is not None:
            scheduler.add_job(
                weekly_digest,
                DateTrigger(dt.datetime.now(dt.UTC) + dt.timedelta(seconds=digesting.delay())),
                id=DIGEST_RETRY_JOB_ID,
                replace_existing=True,
            )

    scheduler.add_job(
        weekly_digest,
        CronTrigger(
            day_of_week=schedule.weekly_day,
            hour=clock.hour,
            minute=clock.minute,
            timezone=schedule.timezone,
        ),
        id=DIGEST_JOB_ID,
        coalesce=True,
        max_instances=1,
        # Down at the hour: still sent if the scheduler is back within the day.
        misfire_grace_time=12 * 3600,
        replace_existing=True,
    )


def describe_jobs(scheduler: BaseScheduler) -> list[JobInfo]:
    """The scheduler's jobs, their triggers and next fire times, for the operator."""
    now = dt.datetime.now(dt.UTC)
    return [
        # A scheduler not started yet has no next_run_time on its jobs: ask the trigger.
        JobInfo(
            job.id,
            str(job.trigger),
            getattr(job, "next_run_time", None) or job.trigger.get_next_fire_time(None, now),
        )
        for job in scheduler.get_jobs()
    ]
