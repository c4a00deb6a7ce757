"""Commands for subscribers: add, list, show, remove, import, export, erase, export-data."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from briefmail.cli.base import (
    JsonOption,
    ListOption,
    err,
    handle_errors,
    open_app,
    out,
    print_json,
    split_topics,
    subscribers_cli,
)

# -- subscribers -------------------------------------------------------------------------------


@subscribers_cli.command("add")
@handle_errors
def subscribers_add(
    email: Annotated[str, typer.Argument(help="E-mail address.")],
    topics: Annotated[
        str | None,
        typer.Option("--topics", help="Comma-separated topic ids (default: every topic)."),
    ] = None,
    # A string the library's rule parses: importing the Cadence enum would load the rules module
    # (an address validator) for every command, `--help` too.
    cadence: Annotated[str, typer.Option("--cadence", help="daily or weekly.")] = "daily",
    timezone: Annotated[str, typer.Option("--timezone", help="IANA time zone.")] = "UTC",
    confirmed: Annotated[
        bool, typer.Option("--confirmed", help="Skip double opt-in (you hold their consent).")
    ] = False,
    list_slug: ListOption = None,
) -> None:
    """Subscribe an address to a list (pending until confirmed, unless --confirmed)."""
    with open_app() as app:
        subscription = app.people.subscribe(
            email,
            list_slug,
            topics=split_topics(topics),
            cadence=cadence,
            timezone=timezone,
            confirmed=confirmed,
        )
    chosen = ", ".join(subscription.topics) or "every topic"
    out.print(
        f"{subscription.email}: {subscription.status} · {subscription.cadence} · {chosen}",
        markup=False,
    )


@subscribers_cli.command("list")
@handle_errors
def subscribers_list(as_json: JsonOption = False, list_slug: ListOption = None) -> None:
    """Show the list's subscribers with status, cadence and topics."""
    from rich.table import Table

    with open_app() as app:
        rows = app.people.subscribers(list_slug)
    if as_json:
        print_json([row.as_json() for row in rows])
        return
    table = Table("email", "status", "cadence", "timezone", "topics")
    for r in rows:
        table.add_row(
            r.email, r.status, r.cadence, r.timezone, ", ".join(r.topics) or "(every topic)"
        )
    out.print(table)


@subscribers_cli.command("show")
@handle_errors
def subscribers_show(
    email: Annotated[str, typer.Argument(help="E-mail address.")], as_json: JsonOption = False
) -> None:
    """Show a person: subscriptions, consent, last deliveries, any suppression and its evidence."""
    from rich.table import Table

    with open_app() as app:
        profile = app.people.profile(email)
    if as_json:
        print_json(profile)
        return
    out.print(
        f"{profile['email']} · {profile['timezone']} · since {profile['created_at']}", markup=False
    )
    suppression = profile["suppression"]
    if suppression is None:
        out.print("not suppressed", markup=False)
    else:
        evidence = suppression["diagnostic"] or "(no diagnostic)"
        report = f" (report {suppression['report_id']})" if suppression["report_id"] else ""
        since, reason = suppression["since"], suppression["reason"]
        out.print(f"suppressed since {since}: {reason} — {evidence}{report}", markup=False)
    subscriptions = Table("list", "status", "cadence", "topics", "updated")
    for s in profile["subscriptions"]:
        subscriptions.add_row(
            s["list"],
            s["status"],
            s["cadence"],
            ", ".join(s["topics"]) or "(every topic)",
            s["updated_at"],
        )
    out.print(subscriptions)
    events = Table("at", "action", "source", "detail")
    for e in profile["consent_events"]:
        events.add_row(e["at"], e["action"], e["source"], e["detail"] or "")
    out.print(events)
    deliveries = Table("delivery", "run", "status", "reason", "last reply", "bounces")
    for d in profile["deliveries"]:
        bounces = "; ".join(f"{b['reason']} {b['status'] or ''}".strip() for b in d["bounces"])
        deliveries.add_row(
            str(d["delivery_id"]),
            d["run"],
            d["status"],
            d["last_reason"] or "",
            d["last_text"] or "",
            bounces,
        )
    out.print(deliveries)


@subscribers_cli.command("remove")
@handle_errors
def subscribers_remove(
    email: Annotated[str, typer.Argument(help="E-mail address.")], list_slug: ListOption = None
) -> None:
    """Unsubscribe an address from a list (the consent history is kept)."""
    with open_app() as app:
        subscription = app.people.unsubscribe(email, list_slug)
    out.print(f"{subscription.email}: unsubscribed", markup=False)


@subscribers_cli.command("import")
@handle_errors
def subscribers_import(
    path: Annotated[Path, typer.Argument(help="CSV file with a header row; `email` is required.")],
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Check every row, change nothing.")
    ] = False,
    list_slug: ListOption = None,
) -> None:
    """Import subscribers from CSV: every row or none; bad rows are named with their line."""
    from rich.progress import Progress

    with open_app() as app, Progress(console=err, transient=True) as bar:
        task = bar.add_task("importing", total=None)
        imported = app.people.import_csv(
            path,
            list_slug,
            dry_run=dry_run,
            progress=lambda done, total: bar.update(task, completed=done, total=total),
        )
    report = imported.report
    verb = "would import" if dry_run else "imported"
    out.print(
        f"{path}: {verb} {report.rows} rows: {report.created} new, {report.updated} updated, "
        f"{report.unchanged} unchanged, {report.skipped_suppressed} suppressed (skipped)",
        markup=False,
    )


@subscribers_cli.command("export")
@handle_errors
def subscribers_export(
    path: Annotated[Path, typer.Argument(help="CSV file to write.")], list_slug: ListOption = None
) -> None:
    """Export the list's subscribers as CSV (it imports back unchanged)."""
    with open_app() as app:
        exported = app.people.export_csv(path, list_slug)
    out.print(f"Wrote {exported.rows} subscribers to {path}", markup=False)


@subscribers_cli.command("erase")
@handle_errors
def subscribers_erase(
    email: Annotated[str, typer.Argument(help="E-mail address.")],
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask for confirmation.")] = False,
) -> None:
    """Erase everything about a person (GDPR Art. 17); only a suppression hash remains."""
    if not yes:
        typer.confirm(f"Erase every record of {email}? This cannot be undone", abort=True)
    with open_app() as app:
        erased = app.people.erase(email)
    state = "erased" if erased.found else "was not known; it is now suppressed"
    out.print(f"{email}: {state}", markup=False)


@subscribers_cli.command("export-data")
@handle_errors
def subscribers_export_data(email: Annotated[str, typer.Argument(help="E-mail address.")]) -> None:
    """Print everything held about one person as JSON (GDPR Art. 15/20)."""
    with open_app() as app:
        data = app.people.export_data(email)
    print_json(data)
