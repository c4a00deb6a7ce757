"""Commands for subscribers: add, list, show, remove, import, export, erase, export-data."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from briefmail.cli.base import (
    JsonOption,
    ListOption,
    chosen_list,
    err,
    handle_errors,
    open_app,
    out,
    print_json,
    split_topics,
    subscribers_cli,
)
from subscribers.lists import get_list
from subscribers.models import Cadence
from subscribers.service import (
    erase,
    export_person,
    list_subscriptions,
    subscribe,
    unsubscribe,
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
    cadence: Annotated[Cadence, typer.Option("--cadence", help="daily or weekly.")] = Cadence.DAILY,
    timezone: Annotated[str, typer.Option("--timezone", help="IANA time zone.")] = "UTC",
    confirmed: Annotated[
        bool, typer.Option("--confirmed", help="Skip double opt-in (you hold their consent).")
    ] = False,
    list_slug: ListOption = None,
) -> None:
    """Subscribe an address to a list (pending until confirmed, unless --confirmed)."""
    with open_app() as app, app.sessions() as session:
        subscription = subscribe(
            session,
            get_list(session, chosen_list(app, list_slug)),
            email,
            taxonomy=app.taxonomy,
            topics=split_topics(topics),
            cadence=cadence,
            timezone=timezone,
            confirmed=confirmed,
            smtputf8=app.settings.smtp.smtputf8,
        )
        session.commit()
        chosen = ", ".join(subscription.topics) or "every topic"
        out.print(
            f"{subscription.subscriber.email}: {subscription.status} · "
            f"{subscription.cadence} · {chosen}",
            markup=False,
        )


@subscribers_cli.command("list")
@handle_errors
def subscribers_list(as_json: JsonOption = False, list_slug: ListOption = None) -> None:
    """Show the list's subscribers with status, cadence and topics."""
    with open_app() as app, app.sessions() as session:
        rows = [
            {
                "email": s.subscriber.email,
                "status": str(s.status),
                "cadence": str(s.cadence),
                "timezone": s.subscriber.timezone,
                "topics": list(s.topics),
            }
            for s in list_subscriptions(session, get_list(session, chosen_list(app, list_slug)))
        ]
    if as_json:
        print_json(rows)
        return
    table = Table("email", "status", "cadence", "timezone", "topics")
    for r in rows:
        table.add_row(
            str(r["email"]),
            str(r["status"]),
            str(r["cadence"]),
            str(r["timezone"]),
            ", ".join(r["topics"]) or "(every topic)",
        )
    out.print(table)


@subscribers_cli.command("show")
@handle_errors
def subscribers_show(
    email: Annotated[str, typer.Argument(help="E-mail address.")], as_json: JsonOption = False
) -> None:
    """Show a person: subscriptions, consent, last deliveries, any suppression and its evidence."""
    with open_app() as app:
        profile = app.subscriber_profile(email)
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
    with open_app() as app, app.sessions() as session:
        subscription = unsubscribe(session, get_list(session, chosen_list(app, list_slug)), email)
        session.commit()
        out.print(f"{subscription.subscriber.email}: unsubscribed", markup=False)


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

    from subscribers.importer import import_csv

    with open_app() as app, app.sessions() as session, Progress(console=err, transient=True) as bar:
        task = bar.add_task("importing", total=None)
        report = import_csv(
            session,
            get_list(session, chosen_list(app, list_slug)),
            path,
            taxonomy=app.taxonomy,
            dry_run=dry_run,
            progress=lambda done, total: bar.update(task, completed=done, total=total),
            smtputf8=app.settings.smtp.smtputf8,
        )
        if not dry_run:
            session.commit()
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
    from subscribers.importer import export_csv

    with open_app() as app, app.sessions() as session:
        rows = export_csv(session, get_list(session, chosen_list(app, list_slug)), path)
    out.print(f"Wrote {rows} subscribers to {path}", markup=False)


@subscribers_cli.command("erase")
@handle_errors
def subscribers_erase(
    email: Annotated[str, typer.Argument(help="E-mail address.")],
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask for confirmation.")] = False,
) -> None:
    """Erase everything about a person (GDPR Art. 17); only a suppression hash remains."""
    if not yes:
        typer.confirm(f"Erase every record of {email}? This cannot be undone", abort=True)
    with open_app() as app, app.sessions() as session:
        found = erase(session, email)
        session.commit()
    state = "erased" if found else "was not known; it is now suppressed"
    out.print(f"{email}: {state}", markup=False)


@subscribers_cli.command("export-data")
@handle_errors
def subscribers_export_data(email: Annotated[str, typer.Argument(help="E-mail address.")]) -> None:
    """Print everything held about one person as JSON (GDPR Art. 15/20)."""
    with open_app() as app, app.sessions() as session:
        data = export_person(session, email)
    print_json(data)
