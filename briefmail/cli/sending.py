"""Commands that send and watch: send, runs, status, schedule, serve, demo."""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from briefmail.cli.base import (
    JsonOption,
    ListOption,
    RetryOption,
    chosen_list,
    cli,
    end_if_interrupted,
    err,
    handle_errors,
    open_app,
    out,
    print_json,
    runs_cli,
    schedule_cli,
    scheduler_running,
    scheduler_state,
    split_topics,
    state,
    trigger_words,
)

if TYPE_CHECKING:
    # Only for annotations: the send path loads SQLAlchemy, mjml and cryptography, and every
    # command (`--help` too) imports this module to register its commands.
    from briefmail.app import Briefmail
    from briefmail.ops.preview import DryRun, Preview
    from briefmail.services.sending import RunChange
    from scheduler.dispatch import SendReport

# -- send and runs -----------------------------------------------------------------------------


AtOption = Annotated[
    str | None,
    typer.Option(
        "--at", help='Schedule the send for a local time, "YYYY-MM-DD HH:MM"; sent by serve.'
    ),
]
TzOption = Annotated[
    str | None,
    typer.Option("--tz", help="With --at: the time zone (default: [schedule] timezone)."),
]
UnscheduleOption = Annotated[
    bool, typer.Option("--unschedule", help="Clear the issue's scheduled send.")
]


def _workers(text: str) -> int:
    """`--workers N` or `--workers auto` (one sender process per core)."""
    from scheduler.pool import worker_count

    try:
        return worker_count(str(text))
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from None


WorkersOption = Annotated[
    int,
    typer.Option(
        "--workers",
        parser=_workers,
        metavar="N|auto",
        help="Sender processes sharing the run (auto: one per core).",
    ),
]


@cli.command()
@handle_errors
def send(
    issue_id: Annotated[int, typer.Argument(help="Issue id.")],
    retry_for: RetryOption = 0.0,
    workers: WorkersOption = 1,
    dry_run: Annotated[
        bool,
        typer.Option(
            "--dry-run", help="Show who would get which variant; send and record nothing."
        ),
    ] = False,
    test_to: Annotated[
        str | None,
        typer.Option("--test-to", help="Mail one [TEST] copy to this address; record nothing."),
    ] = None,
    topics: Annotated[
        str | None, typer.Option("--topics", help="With --test-to: the variant's topics (a,b).")
    ] = None,
    at: AtOption = None,
    tz: TzOption = None,
    unschedule: UnscheduleOption = False,
    as_json: JsonOption = False,
    list_slug: ListOption = None,
) -> None:
    """Send an issue to every matching subscriber. Repeating it sends nothing twice."""
    _check_options(topics, test_to, dry_run, at, tz, unschedule, workers)
    if at is not None or unschedule:
        _schedule(issue_id, at, tz, list_slug, as_json)
        return
    with open_app() as app:
        slug = chosen_list(app, list_slug)
        with app.sessions() as session:
            from scheduler.editions import load_issue
            from subscribers.lists import get_list

            load_issue(session, issue_id, get_list(session, slug))
        if dry_run:
            _print_dry_run(app.sending.dry_run(issue_id, slug), as_json)
            return
        if test_to is not None:
            copy = asyncio.run(app.sending.test_copy(issue_id, slug, test_to, split_topics(topics)))
            _print_test_copy(copy, as_json)
            return
        with _progress(app, issue_id, show=not as_json and err.is_terminal):
            report = asyncio.run(
                app.sending.send(
                    issue_id, workers=workers, retry_for=retry_for, handle_signals=True
                )
            )
    if as_json:
        print_json(report.as_json())
    else:
        _print_report(report)
    end_if_interrupted(report, f"briefmail send {issue_id}")


def _check_options(
    topics: str | None,
    test_to: str | None,
    dry_run: bool,
    at: str | None,
    tz: str | None,
    unschedule: bool,
    workers: int,
) -> None:
    """Refuse options that do not go together (exit 2, naming them)."""
    if topics is not None and test_to is None:
        raise typer.BadParameter("--topics goes with --test-to")
    if dry_run and test_to is not None:
        raise typer.BadParameter("--dry-run and --test-to are two different things; pick one")
    if tz is not None and at is None:
        raise typer.BadParameter("--tz goes with --at")
    if (at is not None or unschedule) and (dry_run or test_to is not None or workers != 1):
        raise typer.BadParameter("--at and --unschedule schedule; they send nothing now")


def _schedule(
    issue_id: int, at: str | None, tz: str | None, list_slug: str | None, as_json: bool
) -> None:
    """Schedule (or clear) the issue's send and say when it goes out."""
    with open_app() as app:
        if at is None:
            cleared = app.sending.unschedule_send(issue_id, list_slug)
            if as_json:
                print_json({"issue_id": issue_id, "send_at": None, "cleared": cleared})
            else:
                what = "no longer scheduled" if cleared else "was not scheduled"
                out.print(f"issue {issue_id} {what}", markup=False)
            return
        scheduled = app.sending.schedule_send(issue_id, at, tz, list_slug)
    if as_json:
        print_json(scheduled.as_json())
        return
    out.print(
        f"issue {issue_id} scheduled for {scheduled.local:%Y-%m-%d %H:%M} {scheduled.zone} "
        f"({scheduled.at:%Y-%m-%d %H:%M} UTC); `briefmail serve` sends it then",
        markup=False,
    )


def _print_test_copy(copy: Preview, as_json: bool) -> None:
    """Where the [TEST] copy went, as JSON or one line."""
    if as_json:
        what = {"to": copy.message.rcpt_to, "topics": list(copy.topics), "stories": copy.stories}
        print_json({**what, "message_id": copy.message.message_id})
        return
    out.print(
        f"sent a [TEST] copy ({copy.label}, {copy.stories} stories) to "
        f"{copy.message.rcpt_to}; nothing recorded",
        markup=False,
    )


def _print_dry_run(plan: DryRun, as_json: bool) -> None:
    """A dry run as JSON, or as a table of variants with the skip reasons under it."""
    if as_json:
        print_json(plan.as_json())
        return
    table = Table("variant (topics)", "subscribers", "stories")
    for topics, n, stories in plan.variants:
        table.add_row(", ".join(topics) or "every topic", str(n), str(stories))
    out.print(table)
    out.print(f"eligible {plan.eligible}; nothing sent, nothing recorded", markup=False)
    for reason, n in plan.skipped.items():
        out.print(f"  skipped ({reason}): {n}", markup=False)
    for at, n in plan.schedule:
        when = f"{at:%Y-%m-%d %H:%M} UTC" if at else "at once"
        out.print(f"  {when}: {n} (their local send hour)" if at else f"  {when}: {n}")


@contextmanager
def _progress(app: Briefmail, issue_id: int, show: bool) -> Iterator[None]:
    """A live bar (sent, deferred, failed, rate, ETA) of an issue's run, read from the ledger."""
    if not show:
        yield
        return
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
    )

    columns = (
        TextColumn("run {task.fields[run]}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("delivered {task.fields[delivered]} · deferred {task.fields[deferred]}"),
        TextColumn("· failed {task.fields[failed]} · {task.fields[rate]}/s"),
        TimeRemainingColumn(),
    )
    from scheduler import ledger

    stop = threading.Event()
    with Progress(*columns, console=err, transient=True) as bar:
        task = bar.add_task("send", total=None, run="…", delivered=0, deferred=0, failed=0, rate=0)

        def watch() -> None:
            started, first = time.monotonic(), None
            while not stop.wait(0.5):
                run_id = app.sending.run_of(issue_id)
                if run_id is None:
                    continue  # still planning
                counts = app.sending.counts(run_id)
                done = ledger.count_done(counts)
                first = done if first is None else first
                rate = (done - first) / max(time.monotonic() - started, 1e-9)
                bar.update(
                    task,
                    run=run_id,
                    total=sum(counts.values()),
                    completed=done,
                    delivered=counts["delivered"],
                    deferred=counts["deferred"],
                    failed=counts["failed"],
                    rate=f"{rate:.0f}",
                )

        watcher = threading.Thread(target=watch, daemon=True)
        watcher.start()
        try:
            yield
        finally:
            stop.set()
            watcher.join()


@runs_cli.command("pause")
@handle_errors
def runs_pause(run_id: Annotated[int, typer.Argument(help="Run id.")]) -> None:
    """Pause a run: its senders stop after the messages in flight; `runs resume` goes on."""
    with open_app() as app:
        _print_change(app.sending.pause(run_id))


@runs_cli.command("cancel")
@handle_errors
def runs_cancel(run_id: Annotated[int, typer.Argument(help="Run id.")]) -> None:
    """Cancel a run: nothing more of it is sent (its open deliveries are cancelled)."""
    with open_app() as app:
        _print_change(app.sending.cancel(run_id))


def _print_change(change: RunChange) -> None:
    done = ", ".join(f"{k} {v}" for k, v in change.counts.items() if v)
    out.print(f"run {change.run_id} is {change.status} ({done or 'no deliveries'})", markup=False)


@runs_cli.command("resume")
@handle_errors
def runs_resume(
    run_id: Annotated[int, typer.Argument(help="Run id.")],
    retry_for: RetryOption = 0.0,
    as_json: JsonOption = False,
) -> None:
    """Send what a run still owes (after a crash, a pause, or deferrals); nothing twice."""
    with open_app() as app:
        report = asyncio.run(app.sending.resume(run_id, retry_for=retry_for, handle_signals=True))
    if as_json:
        print_json({**report.as_json(), "sent_now": report.sent_now})
    else:
        _print_report(report)
    end_if_interrupted(report, f"briefmail runs resume {run_id}")


@runs_cli.command("list")
@handle_errors
def runs_list(as_json: JsonOption = False) -> None:
    """Show runs, newest first, with delivery counts by status."""
    with open_app() as app:
        runs = app.sending.runs()
    if as_json:
        print_json([r.as_json() for r in runs])
        return
    table = Table("run", "kind", "period", "issue", "status", "counts")
    for r in runs:
        counts = ", ".join(f"{k} {v}" for k, v in r.counts.items() if v)
        table.add_row(str(r.id), r.kind, r.period, str(r.issue_id), r.status, counts)
    out.print(table)


@runs_cli.command("show")
@handle_errors
def runs_show(
    run_id: Annotated[int, typer.Argument(help="Run id.")],
    as_json: JsonOption = False,
    html_file: Annotated[
        Path | None,
        typer.Option("--html", help="Also write a self-contained report page with a chart."),
    ] = None,
) -> None:
    """Show one run: counts by status, variant and SMTP reply, failures, outcomes per minute."""
    from briefmail.ops.report import render_html

    with open_app() as app:
        report = app.sending.show(run_id)
    if html_file is not None:
        html_file.write_text(render_html(report), encoding="utf-8")
        err.print(f"wrote {html_file}", markup=False)
    if as_json:
        print_json(report.as_json())
        return
    run = report.summary
    out.print(f"Run {run.id}: {run.kind} {run.period} · issue {run.issue_id} · {run.status}")
    if run.pause_reason:
        out.print(f"  paused itself: {run.pause_reason}", markup=False)
    for status, n in run.counts.items():
        out.print(f"  {status}: {n}")
    for reason, n in run.skipped.items():
        out.print(f"  skipped ({reason}): {n}", markup=False)
    replies = ", ".join(f"{code} {n}" for code, n in report.by_reply.items())
    out.print(f"  SMTP replies: {replies or 'none yet'}", markup=False)
    if report.by_reason:
        reasons = ", ".join(f"{why} {n}" for why, n in report.by_reason.items())
        out.print(f"  refusals by whose fault: {reasons}", markup=False)
    if report.per_minute:
        peak = max(n for _, n in report.per_minute)
        out.print(f"  peak {peak} outcomes in a minute, over {len(report.per_minute)} minutes")
    for code, text, n in report.problems[:5]:
        out.print(f"  {n} × {code or ''} {text}", markup=False)


@cli.command()
@handle_errors
def status(as_json: JsonOption = False) -> None:
    """Where sending stands: unfinished runs, rate, queue, suppressions, the scheduler's job."""
    with open_app() as app:
        now = app.sending.status()
        triggers = {
            job.id: trigger_words(job.trigger) for job in app.sending.scheduler().get_jobs()
        }
        running, scheduler = scheduler_state(app)
    figures, jobs, warnings = now.figures, now.jobs, now.warnings
    if as_json:
        data = now.as_json()
        for job in data["jobs"]:  # type: ignore[attr-defined]
            job["when"] = triggers.get(job["id"], job["trigger"])
        print_json(data | {"scheduler": {"running": running, "state": scheduler}})
        return
    for warning in warnings:
        err.print(f"warning: {warning}", markup=False)
    out.print(f"scheduler: {scheduler}", markup=False)
    for job in jobs:
        when = triggers.get(job.id, job.trigger)
        upcoming = f"; next {job.next_run:%Y-%m-%d %H:%M %Z}" if job.next_run else ""
        out.print(f"job {job.id}: {when}{upcoming}", markup=False)
    table = Table("run", "kind", "period", "status", "done", "open")
    for run in figures.unfinished:
        total = sum(run.counts.values())
        table.add_row(
            str(run.id),
            run.kind,
            run.period,
            run.status,
            f"{run.done}/{total}",
            str(total - run.done),
        )
    if figures.unfinished:
        out.print(table)
    else:
        out.print("no unfinished runs")
    for run in figures.unfinished:
        if run.pause_reason:
            out.print(f"run {run.id} paused itself: {run.pause_reason}", markup=False)
    out.print(
        f"send rate {figures.rate:.1f}/s over the last minute; queue {figures.queue}", markup=False
    )
    reasons = ", ".join(f"{k} {v}" for k, v in figures.suppressions.items()) or "none"
    out.print(f"suppressed addresses: {reasons}", markup=False)


# -- schedule ----------------------------------------------------------------------------------


@schedule_cli.command("list")
@handle_errors
def schedule_list(as_json: JsonOption = False) -> None:
    """The scheduler's jobs (from [schedule]) and when each fires next."""
    from scheduler.jobs import describe_jobs

    with open_app() as app:
        jobs = describe_jobs(app.sending.scheduler())
    rows = [job.as_json() for job in jobs]
    if as_json:
        print_json(rows)
        return
    table = Table("job", "trigger", "next run")
    for row in rows:
        table.add_row(str(row["id"]), str(row["trigger"]), str(row["next_run"] or "-"))
    out.print(table)


# -- serve and demo ----------------------------------------------------------------------------


@cli.command()
@handle_errors
def serve(
    host: Annotated[str, typer.Option("--host", help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", help="Port to listen on.")] = 8000,
    no_web: Annotated[bool, typer.Option("--no-web", help="Run only the scheduler.")] = False,
    no_scheduler: Annotated[
        bool, typer.Option("--no-scheduler", help="Run only the web app.")
    ] = False,
) -> None:
    """Run the web app and the scheduler (each reader's brief at their local send hour)."""
    from briefmail.ops.logs import configure_logging
    from briefmail.ops.serve import serve as run

    configure_logging(logging.DEBUG if state["debug"] else logging.INFO)

    if no_web and no_scheduler:
        raise typer.BadParameter("--no-web and --no-scheduler together leave nothing to run")
    with open_app() as app, scheduler_running(app) if not no_scheduler else nullcontext():
        run(
            app,
            host=host,
            port=port,
            web=not no_web,
            jobs=not no_scheduler,
            announce=lambda job: err.print(f"job {job.id}: {job.trigger}", markup=False),
        )


@cli.command()
@handle_errors
def demo(
    subscribers: Annotated[
        int, typer.Option("--subscribers", "-n", help="How many subscribers.", min=1)
    ] = 50,
    out_dir: Annotated[
        Path, typer.Option("--out", help="Where to write the captured messages.")
    ] = Path("demo-out"),
) -> None:
    """Send the sample issue to N made-up subscribers through an embedded SMTP server."""
    from briefmail.ops.demo import run_demo

    result = run_demo(out_dir, subscribers)
    report = result.report
    out.print(f"[bold]{result.issue_title}[/bold] · {result.stories_in_issue} stories")
    _print_report(report, subscribers=result.subscribers)
    out.print(f"Wrote {len(result.rows)} messages (.eml and .html) and index.html to {out_dir}/")


def _print_report(report: SendReport, subscribers: int | None = None) -> None:
    """A send's figures as a two-column table that fits any terminal width."""
    table = Table("", "", show_header=False, box=None, padding=(0, 2))
    if subscribers is not None:
        table.add_row("subscribers", str(subscribers))
    table.add_row("run", str(report.run_id))
    table.add_row("planned", str(report.planned))
    table.add_row("delivered", str(report.delivered))
    table.add_row("deferred", str(report.deferred))
    table.add_row("failed", str(report.failed))
    if report.waiting:
        table.add_row("waiting", f"{report.waiting} (for their local send hour)")
    skipped = sum(report.skipped.values())
    reasons = ", ".join(f"{k} {v}" for k, v in report.skipped.items())
    table.add_row("skipped", f"{skipped} ({reasons})" if reasons else str(skipped))
    table.add_row("variants rendered", str(report.variants_rendered))
    if report.stopped:
        table.add_row("stopped", report.stopped)
    if report.uncertain:
        table.add_row("uncertain", f"{report.uncertain} (in flight when a sender died; sent again)")
    if report.resent_unknown:
        table.add_row(
            "sent again", f"{report.resent_unknown} whose outcome was unknown (may be duplicates)"
        )
    if report.outcome_unknown:
        table.add_row(
            "outcome unknown",
            f"{report.outcome_unknown} (no final reply after their data; "
            f"`briefmail runs resume {report.run_id}` sends them again)",
        )
    table.add_row("seconds", f"{report.seconds:.2f}")
    out.print(table)
