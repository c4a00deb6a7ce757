"""Commands about sources: the feeds and folders issues arrive from by themselves."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from briefmail.cli.base import (
    JsonOption,
    err,
    handle_errors,
    open_app,
    out,
    print_json,
    sources_cli,
)

if TYPE_CHECKING:
    from scheduler.sources import PollReport

SourceOption = Annotated[
    str | None, typer.Option("--source", "-s", help="Only the source with this name.")
]


@sources_cli.command("list")
@handle_errors
def sources_list(as_json: JsonOption = False) -> None:
    """Show the configured sources: list, approval, last poll, entries seen, errors."""
    from rich.table import Table

    with open_app() as app:
        infos = app.sources.listing()
    if as_json:
        print_json([info.as_json() for info in infos])
        return
    if not infos:
        out.print("No sources configured (add [[sources]] tables to briefmail.toml).", markup=False)
        return
    table = Table("name", "list", "approve", "every", "last poll", "entries", "state")
    for info in infos:
        spec = info.spec
        table.add_row(
            spec.label,
            spec.list_slug,
            "auto" if spec.approve else "editor",
            f"{spec.poll_minutes:g} min",
            info.polled_at.strftime("%Y-%m-%d %H:%M") if info.polled_at else "never",
            str(info.entries),
            f"error: {info.error}" if info.error else "ok",
        )
    out.print(table)


@sources_cli.command("check")
@handle_errors
def sources_check(source: SourceOption = None, as_json: JsonOption = False) -> None:
    """Fetch and read each source without storing anything: what a poll would ingest."""
    with open_app() as app:
        reports = app.sources.check(source)
    _print(reports, as_json)


@sources_cli.command("poll")
@handle_errors
def sources_poll(
    source: SourceOption = None,
    due: Annotated[
        bool, typer.Option("--due", help="Only the sources whose poll_minutes have passed.")
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """Poll each source now and ingest what is new (drafts unless the source auto-approves)."""
    with open_app() as app:
        reports = app.sources.poll(source, due_only=due)
    _print(reports, as_json)


def _print(reports: list[PollReport], as_json: bool) -> None:
    """Each source's outcome, one line per entry; exit 1 when a source could not be read."""
    if as_json:
        print_json([report.as_json() for report in reports])
    else:
        for report in reports:
            _print_one(report)
    if any(report.status == "error" for report in reports):
        raise typer.Exit(1)


def _print_one(report: PollReport) -> None:
    """One source's outcome in plain lines (titles are the publisher's text, not markup)."""
    if report.status == "error":
        err.print(f"Error: source {report.source}: {report.error}", markup=False)
        return
    seen = f", {report.seen} seen before" if report.seen else ""
    out.print(f"{report.source}: {report.status}{seen}", markup=False)
    for entry in report.entries:
        issue = f" → issue {entry.issue_id}" if entry.issue_id is not None else ""
        why = f" ({entry.reason})" if entry.reason else ""
        out.print(f"  {entry.action}: {entry.title}{issue}{why}", markup=False)
