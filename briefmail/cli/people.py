"""Commands for subscribers: add, list, show, remove, import, export, erase, export-data."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

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

if TYPE_CHECKING:
    from briefmail.services.confirmations import ConfirmationSent
    from briefmail.services.people import Added

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
    hour: Annotated[
        int, typer.Option("--hour", help="Local hour (0-23) of daily sends.", min=0, max=23)
    ] = 7,
    confirmed: Annotated[
        bool, typer.Option("--confirmed", help="Skip double opt-in (you hold their consent).")
    ] = False,
    no_email: Annotated[
        bool,
        typer.Option("--no-email", help="Send no confirmation e-mail (the reader stays pending)."),
    ] = False,
    update: Annotated[
        bool,
        typer.Option("--update", help="Change an address already on the list to these settings."),
    ] = False,
    as_json: JsonOption = False,
    list_slug: ListOption = None,
) -> None:
    """Subscribe an address; without --confirmed it gets the confirmation e-mail.

    An address already on the list changes only with --update (what differs is printed); a
    suppressed or erased address is refused with the reason.
    """
    with open_app() as app:
        added = app.people.add(
            email,
            list_slug,
            topics=split_topics(topics),
            cadence=cadence,
            timezone=timezone,
            send_hour=hour,
            confirmed=confirmed,
            send_email=not no_email,
            update=update,
        )
    if as_json:
        print_json(added.as_json())
    else:
        _print_added(added, no_email=no_email)
    if added.confirmation is not None and added.confirmation.error is not None:
        raise typer.Exit(1)


def _print_added(added: Added, *, no_email: bool) -> None:
    """What `subscribers add` did, in words: the outcome, the differences, the e-mail."""
    s = added.subscription
    summary = f"{s.status} · {s.cadence} · {', '.join(s.topics) or 'every topic'} · {s.timezone}"
    changes = ", ".join(str(d) for d in added.differences)
    if added.outcome == "unchanged":
        out.print(f"{s.email}: already on the list ({summary}); nothing to change", markup=False)
        return
    if added.outcome == "exists":
        out.print(
            f"{s.email} exists ({summary}): would change {changes}; run with --update to apply",
            markup=False,
        )
        return
    out.print(f"{s.email}: {added.outcome} · {summary}", markup=False)
    if added.outcome == "updated":
        out.print(f"  changed {changes}", markup=False)
    elif added.differences:  # a known person on a new list: their time zone is kept
        out.print(
            f"  kept {changes.replace(' → ', ' (asked ')}); --update changes it", markup=False
        )
    confirmation = added.confirmation
    if confirmation is not None and confirmation.error is not None:
        err.print(
            f"Error: {confirmation}; {s.email} stays pending "
            f"(try again: briefmail subscribers resend-confirmation {s.email})",
            markup=False,
        )
    elif confirmation is not None:
        out.print(f"  {confirmation}; they are mailed once they confirm", markup=False)
    elif s.status == "pending" and no_email:
        out.print(
            f"  no e-mail sent (--no-email): {s.email} stays pending until confirmed "
            f"(briefmail subscribers confirm / resend-confirmation {s.email})",
            markup=False,
        )


@subscribers_cli.command("confirm")
@handle_errors
def subscribers_confirm(
    email: Annotated[str, typer.Argument(help="E-mail address.")], list_slug: ListOption = None
) -> None:
    """Record that a pending reader confirmed (by reply, in person); they are mailed from now on."""
    with open_app() as app:
        subscription, changed = app.people.confirm_for(email, list_slug)
    if changed:
        out.print(f"{subscription.email}: confirmed", markup=False)
    else:
        out.print(
            f"{subscription.email}: {subscription.status}, not pending; nothing changed",
            markup=False,
        )


@subscribers_cli.command("resend-confirmation")
@handle_errors
def subscribers_resend_confirmation(
    emails: Annotated[
        list[str] | None, typer.Argument(help="Pending addresses (or use --pending).")
    ] = None,
    pending: Annotated[
        bool, typer.Option("--pending", help="Every pending reader of the list.")
    ] = False,
    as_json: JsonOption = False,
    list_slug: ListOption = None,
) -> None:
    """Send the confirmation e-mail again (at most one an hour per address; skips are named)."""
    if not emails and not pending:
        raise typer.BadParameter("name the addresses, or use --pending for every pending reader")
    with open_app() as app:
        results = app.people.resend_confirmation(emails or (), list_slug, pending=pending)
    if as_json:
        print_json([r.as_json() for r in results])
    else:
        for result in results:
            out.print(str(result), markup=False)
        _print_tally(results)
    if any(r.error is not None for r in results):
        raise typer.Exit(1)


def _print_tally(results: Sequence[ConfirmationSent]) -> None:
    """``confirmations: 3 sent, 1 skipped, 0 failed``."""
    sent = sum(r.sent for r in results)
    failed = sum(r.error is not None for r in results)
    skipped = len(results) - sent - failed
    out.print(f"confirmations: {sent} sent, {skipped} skipped, {failed} failed", markup=False)


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
    send_confirmations: Annotated[
        bool,
        typer.Option(
            "--send-confirmations", help="Mail the pending rows their confirmation e-mail."
        ),
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
            send_confirmations=send_confirmations,
        )
    report = imported.report
    verb = "would import" if dry_run else "imported"
    out.print(
        f"{path}: {verb} {report.rows} rows: {report.created} new, {report.updated} updated, "
        f"{report.unchanged} unchanged, {report.skipped_suppressed} suppressed (skipped)",
        markup=False,
    )
    if report.pending and not send_confirmations:
        out.print(
            f"{len(report.pending)} pending: they get nothing until they confirm; "
            "--send-confirmations mails them the confirmation e-mail",
            markup=False,
        )
    elif report.pending:
        out.print(f"{len(report.pending)} pending", markup=False)
    if imported.confirmations:
        for result in imported.confirmations:
            if not result.sent:
                out.print(str(result), markup=False)
        _print_tally(imported.confirmations)
        if any(r.error is not None for r in imported.confirmations):
            raise typer.Exit(1)


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
