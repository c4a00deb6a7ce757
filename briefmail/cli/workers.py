"""Sender processes: `briefmail worker`, and the N of them `briefmail send --workers N` starts.

On PostgreSQL a worker claims deliveries under a lease (scheduler/claims.py), so any number of
them, on any number of machines, share the active runs. On SQLite `send --workers N` splits
the run into N shares instead, one `runs resume RUN --share K/N` each; a `briefmail worker`
there sends a whole run, and passes over a run another process is already sending.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from collections import Counter
from typing import Annotated

import typer

from briefmail.app import Briefmail
from briefmail.cli.base import (
    JsonOption,
    RetryOption,
    cli,
    end_if_interrupted,
    err,
    handle_errors,
    open_app,
    out,
    print_json,
    state,
)
from scheduler import ledger
from scheduler.dispatch import SendInterrupted, SendReport
from scheduler.shares import ShareBusy

__all__ = ["run_workers", "work"]

#: What a worker reports that the ledger cannot tell afterwards.
_OWN_FIGURES = ("sent_now", "uncertain", "lost", "variants_rendered")


def work(
    app: Briefmail, run_id: int | None, retry_for: float, connections: int | None
) -> list[SendReport]:
    """Send the given run, or every run that is sending, one after another; their reports."""
    with app.sessions() as session:
        if run_id is not None:
            runs = [ledger.get_run(session, run_id)]
        else:
            runs = [r for r in ledger.list_runs(session) if r.status == ledger.RunStatus.SENDING]
        chosen = sorted(r.id for r in runs if r.status == ledger.RunStatus.SENDING)
    reports = []
    for chosen_id in chosen:
        try:
            report = asyncio.run(
                app.resume_run(chosen_id, retry_for, connections=connections, handle_signals=True)
            )
        except ShareBusy as busy:
            # SQLite: another process is sending this run; it finishes it.
            err.print(f"run {chosen_id}: {busy}", markup=False)
            continue
        reports.append(report)
        if report.interrupted:
            break  # stopped by a signal, or the run paused itself: the other runs wait too
    return reports


@cli.command("worker")
@handle_errors
def worker(
    run_id: Annotated[
        int | None, typer.Option("--run", help="Send only this run (default: every sending run).")
    ] = None,
    concurrency: Annotated[
        int | None,
        typer.Option(
            "--concurrency", min=1, max=64, help="SMTP connections (default: [smtp] connections)."
        ),
    ] = None,
    retry_for: RetryOption = 0.0,
    as_json: JsonOption = False,
) -> None:
    """Send what active runs owe, sharing them with any other workers; exit when none is left."""
    started = time.perf_counter()
    with open_app() as app:
        reports = work(app, run_id, retry_for, concurrency)
    figures = Counter[str]()
    for report in reports:
        figures.update({key: getattr(report, key) for key in _OWN_FIGURES})
    summary = {
        "runs": [report.run_id for report in reports],
        **{key: figures[key] for key in _OWN_FIGURES},
        "seconds": round(time.perf_counter() - started, 3),
    }
    if as_json:
        print_json(summary)
    elif not reports:
        out.print("no run is sending: nothing to do", markup=False)
    for report in reports if not as_json else ():
        out.print(
            f"run {report.run_id}: sent {report.sent_now} (delivered {report.delivered}, "
            f"deferred {report.deferred}, failed {report.failed}, pending {report.pending})"
            + (f"; uncertain {report.uncertain}" if report.uncertain else "")
            + (f"; lost to another worker {report.lost}" if report.lost else ""),
            markup=False,
        )
    if reports and reports[-1].interrupted:
        end_if_interrupted(reports[-1], f"briefmail worker --run {reports[-1].run_id}")


def _command(*args: str) -> list[str]:
    config = ["--config", str(state["config"])] if state["config"] else []
    return [sys.executable, "-c", "from briefmail.cli import main; main()", *config, *args]


def run_workers(app: Briefmail, run_id: int, retry_for: float, workers: int) -> SendReport:
    """Send a planned run in N processes, wait for all, and add up what they report.

    PostgreSQL: N `worker --run RUN` processes claim from the whole run. SQLite: N
    `runs resume RUN --share K/N` processes, each with its own share.
    """
    retry = ["--retry-for", str(retry_for), "--json"]
    if app.engine.dialect.name == "sqlite":
        commands = [
            _command("runs", "resume", str(run_id), "--share", f"{k}/{workers}", *retry)
            for k in range(1, workers + 1)
        ]
    else:
        commands = [_command("worker", "--run", str(run_id), *retry)] * workers
    children = [
        subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for command in commands
    ]
    problems = []
    sent = Counter[str]()
    for number, child in enumerate(children, start=1):
        stdout, stderr = child.communicate()
        if child.returncode != 0:
            problems.append(f"worker {number}/{workers}: {stderr.strip() or child.returncode}")
            continue
        figures = json.loads(stdout)
        sent.update({key: int(figures.get(key, 0)) for key in _OWN_FIGURES})
    if problems:
        raise SendInterrupted(run_id, "; ".join(problems))
    # The ledger has the run's counts; what each worker sent, rendered and found uncertain
    # only the workers know.
    report = app.dispatcher().report(run_id)
    for key in _OWN_FIGURES:
        setattr(report, key, sent[key])
    return report
