"""Commands about what mail servers send back: bounces and complaints, read or applied."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from briefmail.cli.base import (
    JsonOption,
    bounces_cli,
    err,
    handle_errors,
    open_app,
    out,
    print_json,
)

PathsArgument = Annotated[
    list[Path],
    typer.Argument(help="Maildirs, mbox files, .eml files or folders of them."),
]


def _report_errors(errors: list[str]) -> None:
    """Name each path that could not be read on stderr; exit 2 once the rest is printed."""
    for error in errors:
        err.print(f"Error: {error}", markup=False, soft_wrap=True)
    if errors:
        raise typer.Exit(2)


@bounces_cli.command("parse")
@handle_errors
def bounces_parse(paths: PathsArgument, as_json: JsonOption = False) -> None:
    """Show what each report says about each recipient, and its delivery; apply nothing."""
    with open_app() as app:
        parsed = app.feedback.parse_bounces(*paths)
    if as_json:
        print_json([report.as_json() for report in parsed.reports])
        _report_errors(parsed.errors)
        return
    for report in parsed.reports:
        shape = report.as_json()
        out.print(f"{shape['source']}: {shape['report_id'] or 'not a bounce report'}", markup=False)
        for one in shape["recipients"]:
            delivery = f"delivery {one['delivery_id']}" if one["delivery_id"] else "no delivery"
            fields = [one["address"] or "(no address)", one["reason"], one["status"] or "-"]
            out.print(
                f"  {'  '.join(fields)}  {delivery}: {one['diagnostic'] or '(no diagnostic)'}",
                markup=False,
            )
    _report_errors(parsed.errors)


@bounces_cli.command("process")
@handle_errors
def bounces_process(paths: PathsArgument, as_json: JsonOption = False) -> None:
    """Apply bounces and complaints: gone and complaints suppress, full/temporary/expired count."""
    with open_app() as app:
        summary = app.feedback.process_bounces(*paths)
    if as_json:
        print_json(summary.as_json())
        _report_errors(summary.errors)
        return
    for one in summary.suppressed:
        evidence = " ".join(part for part in (one.status, one.diagnostic) if part)
        out.print(
            f"suppressed {one.email}: {one.why} — {evidence or '(no diagnostic)'} "
            f"(report {one.report_id})",
            markup=False,
        )
    counts = ", ".join(f"{reason} {n}" for reason, n in sorted(summary.events.items()) if n)
    out.print(
        f"reports {summary.reports}, events: {counts or 'none'}; "
        f"suppressed {len(summary.suppressed)}, already seen {summary.already_seen}, "
        f"unmatched {summary.unmatched}",
        markup=False,
    )
    _report_errors(summary.errors)
