"""Sending: the operations every face calls to send runs, watch them and steer them.

One send operation for everything that sends — `briefmail send`, `runs resume`, `worker`, the
scheduler's jobs and (later) the console: `Sending.send` wires the library's send path
(`scheduler.dispatch.Dispatcher.send`: plan → sender processes or this one → the ledger's
figures) to this application's transport, signals and sender processes. Each operation takes
plain arguments and returns a plain result with ``as_json``.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import functools
import time
from collections.abc import Sequence
from contextlib import nullcontext
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from apscheduler.schedulers.base import BaseScheduler
    from sqlalchemy.orm import Session, sessionmaker

    from briefmail.app import Briefmail
    from briefmail.ops.metrics import Figures
    from briefmail.ops.preview import DryRun, Preview
    from briefmail.ops.report import RunReport, RunSummary
    from briefmail.settings import Settings
    from scheduler.dispatch import Dispatcher, SendReport
    from scheduler.feedback import BounceSummary
    from scheduler.jobs import JobInfo, Schedule
    from scheduler.runs import RunStatus

__all__ = ["RunChange", "Scheduled", "Sending", "Status", "WorkSummary", "open_sender"]


def open_sender(settings: Settings) -> Briefmail:
    """A sender process's application: the pool's opener (picklable with its settings)."""
    from briefmail.app import Briefmail

    return Briefmail(settings)


@dataclass(frozen=True, slots=True)
class RunChange:
    """A run's status after an operator's pause, resume or cancel, with its counts."""

    run_id: int
    status: str
    counts: dict[str, int]

    def as_json(self) -> dict[str, object]:
        """The run, its new status and its deliveries by status."""
        return {"run_id": self.run_id, "status": self.status, "counts": self.counts}


@dataclass
class WorkSummary:
    """What a `briefmail worker` sent: one report per run it took part in."""

    reports: list[SendReport] = field(default_factory=list)
    seconds: float = 0.0

    def as_json(self) -> dict[str, object]:
        """The `worker --json` shape: the runs, and what only this worker knows."""
        from scheduler.outcomes import OWN_FIGURES

        figures = {key: sum(int(getattr(r, key)) for r in self.reports) for key in OWN_FIGURES}
        runs: list[object] = [report.run_id for report in self.reports]
        return {"runs": runs, **figures, "seconds": round(self.seconds, 3)}


@dataclass(frozen=True, slots=True)
class Scheduled:
    """A scheduled send: the issue, and the instant it goes out (UTC) as chosen in ``zone``."""

    issue_id: int
    title: str
    at: dt.datetime
    zone: str

    @property
    def local(self) -> dt.datetime:
        """The instant in the zone it was chosen in."""
        import zoneinfo

        return self.at.astimezone(zoneinfo.ZoneInfo(self.zone))

    def as_json(self) -> dict[str, object]:
        """The shape `send --at --json` prints."""
        return {
            "issue_id": self.issue_id,
            "send_at": self.at.isoformat(),
            "local": self.local.isoformat(),
            "timezone": self.zone,
        }


@dataclass(frozen=True, slots=True)
class Status:
    """Where sending stands: the ledger's figures, the scheduler's jobs, configuration warnings."""

    figures: Figures
    jobs: list[JobInfo]
    warnings: list[str]

    def as_json(self) -> dict[str, object]:
        """The `status --json` shape."""
        jobs: list[object] = [job.as_json() for job in self.jobs]
        return self.figures.as_json() | {"jobs": jobs, "warnings": list(self.warnings)}


class Sending:
    """Send, plan, test, pause/resume/cancel and watch runs; also what the jobs call."""

    def __init__(self, app: Briefmail) -> None:
        self.app = app

    def dispatcher(self) -> Dispatcher:
        """The send path, able to start sender processes of this application."""
        dispatcher = self.app.dispatcher()
        dispatcher.opener = functools.partial(open_sender, self.app.settings)
        return dispatcher

    async def send(
        self,
        issue_id: int | None = None,
        *,
        run_id: int | None = None,
        workers: int = 1,
        retry_for: float = 0.0,
        connections: int | None = None,
        resend_unknown: bool = False,
        handle_signals: bool = False,
    ) -> SendReport:
        """Plan an issue's run (or take a planned run) and send it, here or in N processes.

        With ``handle_signals`` (a command in a terminal), Ctrl-C or SIGTERM stops the send
        cleanly: what is in flight is answered and recorded, and the report says it stopped.
        """
        from scheduler.pool import stop_on_signals

        dispatcher = self.dispatcher()
        transport = self.app.transport(connections) if workers == 1 else None
        try:
            with stop_on_signals(dispatcher) if handle_signals else nullcontext():
                return await dispatcher.send(
                    issue_id,
                    transport,
                    run_id=run_id,
                    workers=workers,
                    retry_for=retry_for,
                    resend_unknown=resend_unknown,
                )
        finally:
            if transport is not None:
                await transport.close()

    async def resume(
        self, run_id: int, *, retry_for: float = 0.0, handle_signals: bool = False
    ) -> SendReport:
        """An operator's resume: unpause the run, send its uncertain deliveries again, send."""
        from scheduler import ledger

        with self.app.sessions() as session:
            run = ledger.get_run(session, run_id)
            if run.status == ledger.RunStatus.PAUSED:
                ledger.set_run_status(session, run, ledger.RunStatus.SENDING)
                session.commit()
        return await self.send(
            run_id=run_id, retry_for=retry_for, resend_unknown=True, handle_signals=handle_signals
        )

    async def work(
        self,
        run_id: int | None = None,
        *,
        retry_for: float = 0.0,
        connections: int | None = None,
        handle_signals: bool = False,
    ) -> WorkSummary:
        """A worker's send: the given run, or every run that is sending, one after another."""
        from scheduler import ledger

        started = time.perf_counter()
        with self.app.sessions() as session:
            if run_id is not None:
                runs = [ledger.get_run(session, run_id)]
            else:
                runs = [
                    r for r in ledger.list_runs(session) if r.status == ledger.RunStatus.SENDING
                ]
            chosen = sorted(r.id for r in runs if r.status == ledger.RunStatus.SENDING)
        summary = WorkSummary()
        for chosen_id in chosen:
            report = await self.send(
                run_id=chosen_id,
                retry_for=retry_for,
                connections=connections,
                handle_signals=handle_signals,
            )
            summary.reports.append(report)
            if report.interrupted:
                break  # stopped by a signal, or the run paused itself: the other runs wait too
        summary.seconds = time.perf_counter() - started
        return summary

    def plan(self, issue_id: int) -> int:
        """Create (or extend) an issue's run without sending; the run's id."""
        return self.app.dispatcher().plan(issue_id)

    def dry_run(self, issue_id: int, list_slug: str) -> DryRun:
        """Who a send of the issue would reach now, by variant; nothing written."""
        from briefmail.ops.preview import dry_run

        return dry_run(self.app, issue_id, list_slug)

    async def test_copy(
        self, issue_id: int, list_slug: str, to: str, topics: Sequence[str] = ()
    ) -> Preview:
        """Mail one [TEST] copy of a variant to ``to``; nothing recorded."""
        from briefmail.ops.preview import send_test_copy

        return await send_test_copy(self.app, issue_id, list_slug, to, topics)

    def schedule_send(
        self, issue_id: int, at: str, zone: str | None = None, list_slug: str | None = None
    ) -> Scheduled:
        """Schedule an approved issue's send for a local time ("2026-06-27 07:00") in ``zone``."""
        from scheduler.editions import load_issue
        from scheduler.scheduling import parse_send_time, schedule_send
        from subscribers.db import utcnow
        from subscribers.lists import get_list

        zone = zone or self.app.settings.schedule.timezone
        instant = parse_send_time(at, zone)
        with self.app.sessions() as session:
            row = load_issue(session, issue_id, get_list(session, self._slug(list_slug)))
            schedule_send(session, row, instant, self.app.actor, utcnow())
            session.commit()
            return Scheduled(issue_id, row.title, instant, zone)

    def unschedule_send(self, issue_id: int, list_slug: str | None = None) -> bool:
        """Clear an issue's scheduled send; False when it had none."""
        from scheduler.editions import load_issue
        from scheduler.scheduling import unschedule
        from subscribers.lists import get_list

        with self.app.sessions() as session:
            row = load_issue(session, issue_id, get_list(session, self._slug(list_slug)))
            cleared = unschedule(session, row, self.app.actor)
            session.commit()
            return cleared

    def _slug(self, list_slug: str | None) -> str:
        return list_slug or self.app.settings.newsletter.slug

    def pause(self, run_id: int) -> RunChange:
        """Pause a run: its senders stop after the messages in flight."""
        from scheduler.runs import RunStatus

        return self._change(run_id, RunStatus.PAUSED)

    def cancel(self, run_id: int) -> RunChange:
        """Cancel a run: nothing more of it is sent (its waiting deliveries are cancelled)."""
        from scheduler.runs import RunStatus

        return self._change(run_id, RunStatus.CANCELLED)

    def _change(self, run_id: int, status: RunStatus) -> RunChange:
        from scheduler import ledger
        from scheduler.editions import reopen_after_cancel

        with self.app.sessions() as session:
            run = ledger.get_run(session, run_id)
            ledger.set_run_status(session, run, status)
            if status == ledger.RunStatus.CANCELLED:
                # The issue may be sent again by a new run (skipping whoever this one reached).
                reopen_after_cancel(session, run.issue_id, self.app.actor)
            session.commit()
            return RunChange(run_id, str(status), ledger.count_by_status(session, run_id))

    def report(self, run_id: int) -> SendReport:
        """Where a run stands, from the ledger."""
        return self.app.dispatcher().report(run_id)

    def counts(self, run_id: int) -> dict[str, int]:
        """A run's deliveries by status (a progress bar reads it twice a second)."""
        from scheduler import ledger

        with self.app.sessions() as session:
            return ledger.count_by_status(session, run_id)

    def run_of(self, issue_id: int) -> int | None:
        """The id of an issue's newest run (after a cancelled one, its successor); None before."""
        from sqlalchemy import select

        from scheduler.runs import Run

        with self.app.sessions() as session:
            return session.scalar(
                select(Run.id).where(Run.issue_id == issue_id).order_by(Run.id.desc()).limit(1)
            )

    def runs(self) -> list[RunSummary]:
        """Every run, newest first, with its deliveries by status."""
        from briefmail.ops.report import summarize
        from scheduler import ledger

        with self.app.sessions() as session:
            return [summarize(session, run) for run in ledger.list_runs(session)]

    def show(self, run_id: int) -> RunReport:
        """One run: counts by status, variant and reply, failures, outcomes per minute."""
        from briefmail.ops.report import build_report

        with self.app.sessions() as session:
            return build_report(session, run_id)

    def status(self) -> Status:
        """Unfinished runs, rate, queue, suppressions, the scheduler's jobs and warnings."""
        from briefmail.ops.metrics import collect
        from scheduler.jobs import describe_jobs

        with self.app.sessions() as session:
            figures = collect(session)
        jobs = describe_jobs(self.scheduler())
        return Status(figures, jobs, self.app.warnings())

    def scheduler(self, *, blocking: bool = False) -> BaseScheduler:
        """The scheduler `serve` runs: [schedule]'s jobs, and webhook delivery if configured.

        `status`, `schedule list` and `serve` all ask here, so what they list is what runs.
        """
        from scheduler.jobs import build_scheduler

        deliver = self.app.webhooks.deliver_job if self.app.settings.webhooks else None
        return build_scheduler(self, blocking=blocking, deliver_webhooks=deliver)

    # -- what the scheduler's jobs call (scheduler.jobs.JobApp) ---------------------------------

    @property
    def schedule(self) -> Schedule:
        """When the jobs fire: [schedule], the list they send, the bounce mailbox's pace."""
        from scheduler.jobs import Schedule

        settings = self.app.settings
        cfg = settings.schedule
        return Schedule(
            list_slug=settings.newsletter.slug,
            tick_seconds=cfg.tick_seconds,
            timezone=cfg.timezone,
            weekly_day=cfg.weekly_day,
            weekly_time=cfg.weekly_time,
            max_age_hours=cfg.max_age_hours,
            bounce_minutes=settings.bounces.poll_minutes if settings.bounces.mailbox else None,
            where=settings.database_url(),
            sources=bool(settings.sources),
        )

    @property
    def sessions(self) -> sessionmaker[Session]:
        """The application's database sessions."""
        return self.app.sessions

    @property
    def faults(self) -> tuple[type[Exception], ...]:
        """A bad setting (a key file gone, say) is a fault a job cannot fix by itself."""
        from briefmail.settings import SettingsError

        return (SettingsError,)

    def send_run(self, run_id: int) -> SendReport:
        """Send what a run owes now, in this process (the send job)."""
        return asyncio.run(self.send(run_id=run_id))

    def assemble_digest(self, week: str) -> int:
        """Build (or find) the list's digest of ``week``; the issue's id."""
        from scheduler.digests import build_digest
        from subscribers.lists import get_list

        with self.app.sessions() as session:
            newsletter = get_list(session, self.app.settings.newsletter.slug)
            row, _ = build_digest(session, newsletter, week, self.app.taxonomy)
            session.commit()
            return row.id

    def poll_bounces(self) -> BounceSummary | None:
        """Apply what arrived in the bounce mailbox; None when none is configured."""
        mailbox = self.app.settings.bounces.mailbox
        if mailbox is None:
            return None
        return self.app.process_bounces(self.app.settings.resolve(mailbox))

    def poll_sources(self) -> int:
        """Poll the sources that are due (the sources job); issues stored or updated."""
        from scheduler.sources import log_report

        reports = self.app.sources.poll(due_only=True)
        for report in reports:
            log_report(report)
        return sum(report.count("stored") + report.count("updated") for report in reports)
