"""`briefmail worker`: a long-lived sender that takes part in every run that is sending.

A worker claims deliveries under a lease (scheduler/claims.py), so any number of them, on any
number of machines (PostgreSQL) or beside each other on one (SQLite), share the active runs.
`send --workers N` starts its sender processes through the library (scheduler/pool.py).
"""

from __future__ import annotations

import asyncio
from typing import Annotated

import typer

from briefmail.cli.base import (
    JsonOption,
    RetryOption,
    cli,
    end_if_interrupted,
    handle_errors,
    open_app,
    out,
    print_json,
)

__all__ = ["worker"]


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
    with open_app() as app:
        summary = asyncio.run(
            app.sending.work(
                run_id, retry_for=retry_for, connections=concurrency, handle_signals=True
            )
        )
    reports = summary.reports
    if as_json:
        print_json(summary.as_json())
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
