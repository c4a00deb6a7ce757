"""The `briefmail` command: thin wrappers over the library (Typer + Rich).

Each command opens the app, calls one library function and prints the result. Library exceptions
become one line on stderr in one place (`_ERRORS`): exit 2 for bad input, 1 for a failed
operation. `--debug` shows the traceback instead.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import functools
import json
import logging
import os
import subprocess
import sys
import threading
import time
import webbrowser
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any, ParamSpec, TypeVar

import typer
from rich.console import Console
from rich.table import Table

from mailer.bounces import BounceError
from mailer.content import issue_to_json
from mailer.dkim import DkimError
from mailer.ingest import IngestError
from mailer.topics import TaxonomyError, UnknownTopic
from scheduler import ledger
from scheduler.app import Briefmail, build_app
from scheduler.dispatch import SendInterrupted, SendReport
from scheduler.editions import (
    DigestError,
    IssueAlreadySent,
    UnknownIssue,
    build_digest,
    list_issues,
    load_issue,
    retag_issue,
    week_label,
)
from scheduler.ledger import RunConflict, UnknownRun
from scheduler.logs import configure_logging
from scheduler.preview import DryRun, PreviewError, send_test_copy
from scheduler.preview import dry_run as count_audience
from scheduler.settings import (
    CONFIG_FILE,
    SettingsError,
    load_settings,
    write_default_config,
    write_secret_key,
)
from scheduler.shares import Share, ShareBusy
from subscribers.importer import ImportFailed
from subscribers.lists import ListError, UnknownList, all_lists, create_list, get_list
from subscribers.models import Cadence
from subscribers.service import (
    InvalidAddress,
    InvalidTimezone,
    NotSubscribed,
    erase,
    export_person,
    list_subscriptions,
    subscribe,
    unsubscribe,
)

__all__ = ["cli", "main"]

P = ParamSpec("P")
R = TypeVar("R")


#: Library exceptions and the exit code each means: 2 = bad input, 1 = the operation failed.
_ERRORS: tuple[tuple[type[Exception], int], ...] = (
    (SettingsError, 2),
    (IngestError, 2),
    (TaxonomyError, 2),
    (UnknownTopic, 2),
    (InvalidAddress, 2),
    (InvalidTimezone, 2),
    (UnknownIssue, 2),
    (UnknownList, 2),
    (ListError, 2),
    (PreviewError, 2),
    (UnknownRun, 2),
    (ledger.RunStateError, 2),
    (ShareBusy, 1),
    (BounceError, 2),
    (DigestError, 2),
    (IssueAlreadySent, 1),
    (NotSubscribed, 1),
    (RunConflict, 1),
    (SendInterrupted, 1),
    (DkimError, 2),
    (ImportFailed, 2),
    (OSError, 1),
)

cli = typer.Typer(
    name="briefmail",
    help="Newsletter delivery: ingest issues, manage subscribers, preview and send.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
lists_cli = typer.Typer(help="Newsletter lists (a publisher runs several).", no_args_is_help=True)
issues_cli = typer.Typer(help="Stored issues.", no_args_is_help=True)
subscribers_cli = typer.Typer(help="Subscribers of a list.", no_args_is_help=True)
runs_cli = typer.Typer(help="Send runs and their deliveries.", no_args_is_help=True)
topics_cli = typer.Typer(help="The topic taxonomy and story tagging.", no_args_is_help=True)
dkim_cli = typer.Typer(help="DKIM keys for signing messages.", no_args_is_help=True)
cli.add_typer(lists_cli, name="lists")
cli.add_typer(issues_cli, name="issues")
cli.add_typer(subscribers_cli, name="subscribers")
cli.add_typer(runs_cli, name="runs")
schedule_cli = typer.Typer(help="The scheduler's jobs.", no_args_is_help=True)
cli.add_typer(schedule_cli, name="schedule")
bounces_cli = typer.Typer(
    help="Bounces and complaints sent back by mail servers.", no_args_is_help=True
)
cli.add_typer(bounces_cli, name="bounces")
cli.add_typer(topics_cli, name="topics")
cli.add_typer(dkim_cli, name="dkim")

out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)

_state: dict[str, Any] = {"config": None, "debug": False}

ListOption = Annotated[
    str | None, typer.Option("--list", "-l", help="List slug (default: [newsletter] slug).")
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]


def _handle_errors(func: Callable[P, R]) -> Callable[P, R]:
    """Turn library exceptions into `Error: …` on stderr and the exit code `_ERRORS` gives."""

    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return func(*args, **kwargs)
        except tuple(kind for kind, _ in _ERRORS) as exc:
            if _state["debug"]:
                raise
            code = next(code for kind, code in _ERRORS if isinstance(exc, kind))
            err.print(f"Error: {exc}", markup=False, soft_wrap=True)
            raise typer.Exit(code) from None

    return wrapper


@contextmanager
def _app() -> Iterator[Briefmail]:
    app = build_app(load_settings(_state["config"]))
    try:
        yield app
    finally:
        app.close()


def _slug(app: Briefmail, slug: str | None) -> str:
    return slug or app.settings.newsletter.slug


def _print_json(data: object) -> None:
    sys.stdout.write(json.dumps(data, ensure_ascii=False, indent=2) + "\n")


def _topics(value: str | None) -> list[str]:
    return [t.strip() for t in (value or "").split(",") if t.strip()]


@cli.callback()
def _main(
    config: Annotated[
        Path | None,
        typer.Option(
            "--config", "-c", help=f"Config file (default: $BRIEFMAIL_CONFIG or ./{CONFIG_FILE})."
        ),
    ] = None,
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks on errors.")] = False,
) -> None:
    """Newsletter delivery: ingest issues, manage subscribers, preview and send."""
    _state["config"] = config
    _state["debug"] = debug
    configure_logging(logging.DEBUG if debug else logging.WARNING)


@cli.command()
@_handle_errors
def init() -> None:
    """Create briefmail.toml (if absent), migrate the database and create the default list."""
    config = _state["config"] or Path(CONFIG_FILE)
    if write_default_config(config):
        out.print(f"Wrote {config}")
    _state["config"] = config
    with _app() as app:
        if write_secret_key(app.settings.resolve(app.settings.security.secret_key_file)):
            out.print(f"Wrote {app.settings.security.secret_key_file} (token key; keep it private)")
        app.migrate()
        newsletter, created = app.ensure_default_list()
        out.print(f"Database ready at {app.settings.database_url()}")
        out.print(
            f"{'Created' if created else 'Found'} list {newsletter.slug!r} ({newsletter.name})"
        )


# -- lists -------------------------------------------------------------------------------------


@lists_cli.command("add")
@_handle_errors
def lists_add(
    slug: Annotated[str, typer.Argument(help="Short id, e.g. ict-bulletin.")],
    name: Annotated[str, typer.Option("--name", help="Name shown to readers.")],
    from_: Annotated[
        str | None, typer.Option("--from", help="Sender address (default: [newsletter] from).")
    ] = None,
) -> None:
    """Add a newsletter list."""
    with _app() as app, app.sessions() as session:
        created = create_list(session, slug, name, from_ or app.settings.newsletter.from_)
        session.commit()
        out.print(
            f"Created list {created.slug!r}: {created.name} <{created.list_id}>", markup=False
        )


@lists_cli.command("list")
@_handle_errors
def lists_list(as_json: JsonOption = False) -> None:
    """Show every list."""
    with _app() as app, app.sessions() as session:
        rows = [
            {"slug": n.slug, "name": n.name, "from": n.from_address, "list_id": n.list_id}
            for n in all_lists(session)
        ]
    if as_json:
        _print_json(rows)
        return
    table = Table("slug", "name", "from", "list-id")
    for row in rows:
        table.add_row(row["slug"], row["name"], row["from"], row["list_id"])
    out.print(table)


# -- ingest and issues -------------------------------------------------------------------------


@cli.command()
@_handle_errors
def ingest(
    path: Annotated[Path, typer.Argument(help="The issue file.")],
    format: Annotated[
        str, typer.Option("--format", help="auto, brief, bulletin, article or json.")
    ] = "auto",
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Parse and tag, store nothing.")
    ] = False,
    explain: Annotated[
        bool, typer.Option("--explain", help="Say why the format was chosen.")
    ] = False,
    replace: Annotated[
        bool, typer.Option("--replace", help="Store a changed file for an already-sent issue.")
    ] = False,
    as_json: JsonOption = False,
    list_slug: ListOption = None,
) -> None:
    """Parse an issue file, tag its stories with topics and store it (all or nothing)."""
    with _app() as app:
        result = app.ingest(
            path, _slug(app, list_slug), format=format, dry_run=dry_run, replace=replace
        )
    issue_id = result.stored.id if result.stored else None
    if as_json:
        _print_json(issue_to_json(result.issue, issue_id))
        return
    if explain:
        out.print(f"format: {result.detection.format} ({result.detection.reason})", markup=False)
    state = result.outcome.value if result.outcome else "parsed (dry run)"
    out.print(
        f"Issue {issue_id if issue_id is not None else '-'} {state}: {result.issue.title} · "
        f"{result.issue.date.isoformat()} · {len(result.issue.stories)} stories",
        markup=False,
    )


@issues_cli.command("list")
@_handle_errors
def issues_list(as_json: JsonOption = False, list_slug: ListOption = None) -> None:
    """Show stored issues, newest first."""
    with _app() as app, app.sessions() as session:
        rows = list_issues(session, get_list(session, _slug(app, list_slug)))
        data = [
            {
                "id": r.id,
                "title": r.title,
                "date": r.date.isoformat(),
                "format": r.format,
                "stories": len(r.stories),
            }
            for r in rows
        ]
    if as_json:
        _print_json(data)
        return
    table = Table("id", "date", "title", "stories")
    for item in data:
        table.add_row(str(item["id"]), str(item["date"]), str(item["title"]), str(item["stories"]))
    out.print(table)


@issues_cli.command("show")
@_handle_errors
def issues_show(
    issue_id: Annotated[int, typer.Argument(help="Issue id.")],
    as_json: JsonOption = False,
    list_slug: ListOption = None,
) -> None:
    """Show one issue with its stories and their topics."""
    with _app() as app, app.sessions() as session:
        row = load_issue(session, issue_id, get_list(session, _slug(app, list_slug)))
        issue = row.to_issue()
    if as_json:
        _print_json(issue_to_json(issue, issue_id))
        return
    out.print(f"[bold]{issue.title}[/bold] · {issue.date.isoformat()} · issue {issue_id}")
    table = Table("#", "title", "source · date", "topics", "link")
    for s in issue.stories:
        table.add_row(
            str(s.position),
            s.title,
            " · ".join(filter(None, (s.source, s.published))),
            ", ".join(s.topics),
            s.url or (f"(text) {s.link_text}" if s.link_text else ""),
        )
    out.print(table)


@cli.command()
@_handle_errors
def preview(
    issue_id: Annotated[int, typer.Argument(help="Issue id.")],
    topics: Annotated[
        str | None,
        typer.Option("--topics", help="Comma-separated topic ids (default: every topic)."),
    ] = None,
    out_file: Annotated[
        Path | None, typer.Option("--out", help="HTML file (the .txt and .eml go beside it).")
    ] = None,
    eml: Annotated[Path | None, typer.Option("--eml", help="Write the whole message here.")] = None,
    open_page: Annotated[
        bool, typer.Option("--open", help="Serve a page with every variant at 375 and 600 px.")
    ] = False,
    port: Annotated[int, typer.Option("--port", help="Port of the --open page.")] = 8025,
    list_slug: ListOption = None,
) -> None:
    """Render an issue as a subscriber of the given topics would receive it."""
    from scheduler.preview import Gallery, audience_variants, preview_variant, write_preview

    with _app() as app:
        slug = _slug(app, list_slug)
        result = preview_variant(app, issue_id, slug, _topics(topics))
        paths = write_preview(result, out_file or Path(f"preview-{issue_id}.html"), eml)
        out.print(
            f"{result.label}: {result.stories} stories, "
            f"{len(result.rendered.html.encode()):,} bytes of HTML",
            markup=False,
        )
        for path in paths:
            out.print(f"  wrote {path}", markup=False)
        if not open_page:
            return
        previews = []
        for variant in audience_variants(app, issue_id, slug):
            try:
                previews.append(preview_variant(app, issue_id, slug, variant))
            except PreviewError:
                continue  # a topic set that gets nothing from this issue has nothing to show
    gallery = Gallery(f"Issue {issue_id}", previews).start(port=port)
    out.print(f"{len(previews)} variants side by side at {gallery.url} (Ctrl-C to stop)")
    webbrowser.open(gallery.url)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        gallery.stop()


@cli.command()
@_handle_errors
def digest(
    week: Annotated[
        str | None,
        typer.Option("--week", help="ISO week, e.g. 2026-W26 (default: last week)."),
    ] = None,
    as_json: JsonOption = False,
    list_slug: ListOption = None,
) -> None:
    """Assemble a week's daily issues into one digest issue (building it again changes nothing)."""
    with _app() as app, app.sessions() as session:
        label = week or week_label(dt.date.today() - dt.timedelta(days=7))
        row, outcome = build_digest(
            session, get_list(session, _slug(app, list_slug)), label, app.taxonomy
        )
        session.commit()
        issue = row.to_issue()
    if as_json:
        _print_json(issue_to_json(issue, row.id))
        return
    groups = dict.fromkeys(s.group for s in issue.stories)
    out.print(
        f"Digest {row.id} {outcome.value}: {issue.title} · {len(issue.stories)} stories in "
        f"{len(groups)} groups ({', '.join(str(g) for g in groups)})",
        markup=False,
    )


# -- topics --------------------------------------------------------------------------------------


@topics_cli.command("list")
@_handle_errors
def topics_list(as_json: JsonOption = False) -> None:
    """Show the taxonomy: every topic subscribers can choose."""
    with _app() as app:
        topics = app.taxonomy.topics
    if as_json:
        _print_json(
            [
                {
                    "id": t.id,
                    "label": t.label,
                    "description": t.description,
                    "parent": t.parent,
                    "keywords": list(t.keywords),
                    "hints": list(t.hints),
                    "aliases": list(t.aliases),
                }
                for t in topics
            ]
        )
        return
    table = Table("id", "label", "description", "keywords", "aliases")
    for t in topics:
        table.add_row(
            t.id,
            t.label,
            t.description,
            str(len(t.keywords) + len(t.hints)),
            " ".join(f"#{a}" for a in t.aliases),
        )
    out.print(table)


@topics_cli.command("explain")
@_handle_errors
def topics_explain(
    issue_id: Annotated[int, typer.Argument(help="Issue id.")], list_slug: ListOption = None
) -> None:
    """Show, per story, which words matched which topic."""
    with _app() as app, app.sessions() as session:
        row = load_issue(session, issue_id, get_list(session, _slug(app, list_slug)))
        issue = row.to_issue()
        evidence = app.taxonomy.explain_issue(issue)
    for story, found in zip(issue.stories, evidence, strict=True):
        out.print(f"{story.position}. {story.title}", markup=False)
        out.print(f"   stored topics: {', '.join(story.topics) or '-'}", markup=False)
        for item in found or []:
            out.print(f"   {item.describe()}", markup=False)
        if not found:
            out.print("   no topic matches: general", markup=False)


@topics_cli.command("retag")
@_handle_errors
def topics_retag(
    issue_ids: Annotated[list[int] | None, typer.Argument(help="Issue ids.")] = None,
    all_issues: Annotated[bool, typer.Option("--all", help="Every issue of the list.")] = False,
    list_slug: ListOption = None,
) -> None:
    """Tag stored issues again with the current taxonomy (only when you ask)."""
    if not issue_ids and not all_issues:
        raise typer.BadParameter("name issue ids or pass --all")
    with _app() as app, app.sessions() as session:
        newsletter = get_list(session, _slug(app, list_slug))
        rows = (
            list_issues(session, newsletter)
            if all_issues
            else [load_issue(session, n, newsletter) for n in issue_ids or []]
        )
        for row in rows:
            changed = retag_issue(session, row, app.taxonomy)
            out.print(f"Issue {row.id}: {changed} of {len(row.stories)} stories changed topics")
        session.commit()


@dkim_cli.command("keygen")
@_handle_errors
def dkim_keygen(
    domain: Annotated[str, typer.Option("--domain", help="Signing domain (the From domain).")],
    selector: Annotated[str, typer.Option("--selector", help="DNS selector.")] = "brief",
    algorithm: Annotated[str, typer.Option("--algorithm", help="rsa (2048) or ed25519.")] = "rsa",
    out_file: Annotated[Path, typer.Option("--out", help="Private key file.")] = Path("dkim.key"),
) -> None:
    """Write a new DKIM private key and print the DNS TXT record to publish."""
    from mailer.dkim import DkimSigner, dns_record, generate_key

    if out_file.exists():
        raise FileExistsError(17, "refusing to overwrite an existing key", str(out_file))
    pem = generate_key(algorithm)
    fd = os.open(out_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(pem)
    name, value = dns_record(DkimSigner.from_pem(domain, selector, pem))
    out.print(f"Wrote {out_file} (keep it private)", markup=False)
    out.print(
        f'Publish this DNS TXT record:\n{name}. IN TXT "{value}"', markup=False, soft_wrap=True
    )
    out.print(
        f'Then set in briefmail.toml:\n[dkim]\ndomain = "{domain}"\nselector = "{selector}"\n'
        f'key_file = "{out_file}"',
        markup=False,
    )


# -- subscribers -------------------------------------------------------------------------------


@subscribers_cli.command("add")
@_handle_errors
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
    with _app() as app, app.sessions() as session:
        subscription = subscribe(
            session,
            get_list(session, _slug(app, list_slug)),
            email,
            taxonomy=app.taxonomy,
            topics=_topics(topics),
            cadence=cadence,
            timezone=timezone,
            confirmed=confirmed,
        )
        session.commit()
        chosen = ", ".join(subscription.topics) or "every topic"
        out.print(
            f"{subscription.subscriber.email}: {subscription.status} · "
            f"{subscription.cadence} · {chosen}",
            markup=False,
        )


@subscribers_cli.command("list")
@_handle_errors
def subscribers_list(as_json: JsonOption = False, list_slug: ListOption = None) -> None:
    """Show the list's subscribers with status, cadence and topics."""
    with _app() as app, app.sessions() as session:
        rows = [
            {
                "email": s.subscriber.email,
                "status": str(s.status),
                "cadence": str(s.cadence),
                "timezone": s.subscriber.timezone,
                "topics": list(s.topics),
            }
            for s in list_subscriptions(session, get_list(session, _slug(app, list_slug)))
        ]
    if as_json:
        _print_json(rows)
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


@subscribers_cli.command("remove")
@_handle_errors
def subscribers_remove(
    email: Annotated[str, typer.Argument(help="E-mail address.")], list_slug: ListOption = None
) -> None:
    """Unsubscribe an address from a list (the consent history is kept)."""
    with _app() as app, app.sessions() as session:
        subscription = unsubscribe(session, get_list(session, _slug(app, list_slug)), email)
        session.commit()
        out.print(f"{subscription.subscriber.email}: unsubscribed", markup=False)


@subscribers_cli.command("import")
@_handle_errors
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

    with _app() as app, app.sessions() as session, Progress(console=err, transient=True) as bar:
        task = bar.add_task("importing", total=None)
        report = import_csv(
            session,
            get_list(session, _slug(app, list_slug)),
            path,
            taxonomy=app.taxonomy,
            dry_run=dry_run,
            progress=lambda done, total: bar.update(task, completed=done, total=total),
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
@_handle_errors
def subscribers_export(
    path: Annotated[Path, typer.Argument(help="CSV file to write.")], list_slug: ListOption = None
) -> None:
    """Export the list's subscribers as CSV (it imports back unchanged)."""
    from subscribers.importer import export_csv

    with _app() as app, app.sessions() as session:
        rows = export_csv(session, get_list(session, _slug(app, list_slug)), path)
    out.print(f"Wrote {rows} subscribers to {path}", markup=False)


@subscribers_cli.command("erase")
@_handle_errors
def subscribers_erase(
    email: Annotated[str, typer.Argument(help="E-mail address.")],
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask for confirmation.")] = False,
) -> None:
    """Erase everything about a person (GDPR Art. 17); only a suppression hash remains."""
    if not yes:
        typer.confirm(f"Erase every record of {email}? This cannot be undone", abort=True)
    with _app() as app, app.sessions() as session:
        found = erase(session, email)
        session.commit()
    state = "erased" if found else "was not known; it is now suppressed"
    out.print(f"{email}: {state}", markup=False)


@subscribers_cli.command("export-data")
@_handle_errors
def subscribers_export_data(email: Annotated[str, typer.Argument(help="E-mail address.")]) -> None:
    """Print everything held about one person as JSON (GDPR Art. 15/20)."""
    with _app() as app, app.sessions() as session:
        data = export_person(session, email)
    _print_json(data)


# -- send and runs -----------------------------------------------------------------------------


@cli.command()
@_handle_errors
def send(
    issue_id: Annotated[int, typer.Argument(help="Issue id.")],
    retry_for: Annotated[
        float,
        typer.Option("--retry-for", help="Seconds to keep retrying deferred deliveries."),
    ] = 0.0,
    workers: Annotated[
        int,
        typer.Option("--workers", min=1, max=64, help="Sender processes sharing the run."),
    ] = 1,
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
    as_json: JsonOption = False,
    list_slug: ListOption = None,
) -> None:
    """Send an issue to every matching subscriber. Repeating it sends nothing twice."""
    if topics is not None and test_to is None:
        raise typer.BadParameter("--topics goes with --test-to")
    if dry_run and test_to is not None:
        raise typer.BadParameter("--dry-run and --test-to are two different things; pick one")
    started = time.perf_counter()
    with _app() as app:
        slug = _slug(app, list_slug)
        with app.sessions() as session:
            load_issue(session, issue_id, get_list(session, slug))
        if dry_run:
            _print_dry_run(count_audience(app, issue_id, slug), as_json)
            return
        if test_to is not None:
            copy = asyncio.run(send_test_copy(app, issue_id, slug, test_to, _topics(topics)))
            what = {
                "to": copy.message.rcpt_to,
                "topics": list(copy.topics),
                "stories": copy.stories,
            }
            if as_json:
                _print_json({**what, "message_id": copy.message.message_id})
            else:
                out.print(
                    f"sent a [TEST] copy ({copy.label}, {copy.stories} stories) to "
                    f"{copy.message.rcpt_to}; nothing recorded",
                    markup=False,
                )
            return
        run_id = app.dispatcher().plan(issue_id)
        report = _send_run(app, run_id, retry_for, workers, show=not as_json)
    report.seconds = time.perf_counter() - started
    if as_json:
        _print_json(report.as_json())
        return
    _print_report(report)


def _print_dry_run(plan: DryRun, as_json: bool) -> None:
    """A dry run as JSON, or as a table of variants with the skip reasons under it."""
    if as_json:
        _print_json(plan.as_json())
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


def _send_run(
    app: Briefmail, run_id: int, retry_for: float, workers: int, show: bool
) -> SendReport:
    """Send a planned run in this process or in N worker processes, with a progress bar."""
    with _progress(app, run_id, show and err.is_terminal):
        if workers == 1:
            return asyncio.run(app.resume_run(run_id, retry_for))
        return _run_workers(app, run_id, retry_for, workers)


def _run_workers(app: Briefmail, run_id: int, retry_for: float, workers: int) -> SendReport:
    """Start `runs resume RUN --share i/N` N times, wait for all, and add up their reports."""
    config = ["--config", str(_state["config"])] if _state["config"] else []
    children = [
        subprocess.Popen(
            [
                sys.executable,
                "-c",
                "from scheduler.cli import main; main()",
                *config,
                "runs",
                "resume",
                str(run_id),
                "--share",
                f"{part + 1}/{workers}",
                "--retry-for",
                str(retry_for),
                "--json",
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for part in range(workers)
    ]
    report = app.dispatcher().report(run_id)
    problems = []
    for part, child in enumerate(children, start=1):
        stdout, stderr = child.communicate()
        if child.returncode != 0:
            problems.append(f"worker {part}/{workers}: {stderr.strip() or child.returncode}")
            continue
        figures = json.loads(stdout)
        report.sent_now += figures["sent_now"]
        report.uncertain += figures["uncertain"]
        report.variants_rendered += figures["variants_rendered"]
    if problems:
        raise SendInterrupted(run_id, "; ".join(problems))
    fresh = app.dispatcher().report(run_id)
    fresh.sent_now, fresh.uncertain = report.sent_now, report.uncertain
    fresh.variants_rendered = report.variants_rendered
    return fresh


@contextmanager
def _progress(app: Briefmail, run_id: int, show: bool) -> Iterator[None]:
    """A live bar (sent, deferred, failed, rate, ETA) read from the ledger twice a second."""
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
    stop = threading.Event()
    with Progress(*columns, console=err, transient=True) as bar:
        task = bar.add_task(
            "send", total=None, run=run_id, delivered=0, deferred=0, failed=0, rate=0
        )

        def watch() -> None:
            started, first = time.monotonic(), None
            while not stop.wait(0.5):
                with app.sessions() as session:
                    counts = ledger.count_by_status(session, run_id)
                done = sum(counts.values()) - counts["pending"] - counts["sending"]
                first = done if first is None else first
                rate = (done - first) / max(time.monotonic() - started, 1e-9)
                bar.update(
                    task,
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
@_handle_errors
def runs_pause(run_id: Annotated[int, typer.Argument(help="Run id.")]) -> None:
    """Pause a run: its senders stop after the messages in flight; `runs resume` goes on."""
    _set_run_status(run_id, ledger.RunStatus.PAUSED)


@runs_cli.command("cancel")
@_handle_errors
def runs_cancel(run_id: Annotated[int, typer.Argument(help="Run id.")]) -> None:
    """Cancel a run: nothing more of it is sent (its open deliveries are cancelled)."""
    _set_run_status(run_id, ledger.RunStatus.CANCELLED)


def _set_run_status(run_id: int, status: ledger.RunStatus) -> None:
    with _app() as app, app.sessions() as session:
        run = ledger.get_run(session, run_id)
        ledger.set_run_status(session, run, status)
        session.commit()
        counts = ledger.count_by_status(session, run_id)
    done = ", ".join(f"{k} {v}" for k, v in counts.items() if v)
    out.print(f"run {run_id} is {status} ({done or 'no deliveries'})", markup=False)


@runs_cli.command("resume")
@_handle_errors
def runs_resume(
    run_id: Annotated[int, typer.Argument(help="Run id.")],
    retry_for: Annotated[
        float,
        typer.Option("--retry-for", help="Seconds to keep retrying deferred deliveries."),
    ] = 0.0,
    share: Annotated[
        str,
        typer.Option("--share", help="Send only share K of N of the run (K/N), as a worker."),
    ] = "1/1",
    as_json: JsonOption = False,
) -> None:
    """Send what a run still owes (after a crash, a pause, or deferrals); nothing twice."""
    part, _, parts = share.partition("/")
    try:
        chosen = Share(int(part) - 1, int(parts))
    except ValueError as exc:
        raise typer.BadParameter(f"--share {share}: expected K/N with 1 <= K <= N") from exc
    started = time.perf_counter()
    with _app() as app:
        with app.sessions() as session:
            run = ledger.get_run(session, run_id)
            if run.status == ledger.RunStatus.PAUSED:
                ledger.set_run_status(session, run, ledger.RunStatus.SENDING)
                session.commit()
        report = asyncio.run(app.resume_run(run_id, retry_for, chosen))
    report.seconds = time.perf_counter() - started
    if as_json:
        _print_json({**report.as_json(), "sent_now": report.sent_now})
        return
    _print_report(report)


@runs_cli.command("list")
@_handle_errors
def runs_list(as_json: JsonOption = False) -> None:
    """Show runs, newest first, with delivery counts by status."""
    with _app() as app, app.sessions() as session:
        runs = [ledger.summarize(session, r) for r in ledger.list_runs(session)]
    if as_json:
        _print_json([r.as_json() for r in runs])
        return
    table = Table("run", "kind", "period", "issue", "status", "counts")
    for r in runs:
        counts = ", ".join(f"{k} {v}" for k, v in r.counts.items() if v)
        table.add_row(str(r.id), r.kind, r.period, str(r.issue_id), r.status, counts)
    out.print(table)


@runs_cli.command("show")
@_handle_errors
def runs_show(
    run_id: Annotated[int, typer.Argument(help="Run id.")],
    as_json: JsonOption = False,
    html_file: Annotated[
        Path | None,
        typer.Option("--html", help="Also write a self-contained report page with a chart."),
    ] = None,
) -> None:
    """Show one run: counts by status, variant and SMTP reply, failures, outcomes per minute."""
    from scheduler.report import build_report, render_html

    with _app() as app, app.sessions() as session:
        report = build_report(session, run_id)
    if html_file is not None:
        html_file.write_text(render_html(report), encoding="utf-8")
        err.print(f"wrote {html_file}", markup=False)
    if as_json:
        _print_json(report.as_json())
        return
    run = report.summary
    out.print(f"Run {run.id}: {run.kind} {run.period} · issue {run.issue_id} · {run.status}")
    for status, n in run.counts.items():
        out.print(f"  {status}: {n}")
    for reason, n in run.skipped.items():
        out.print(f"  skipped ({reason}): {n}", markup=False)
    replies = ", ".join(f"{code} {n}" for code, n in report.by_reply.items())
    out.print(f"  SMTP replies: {replies or 'none yet'}", markup=False)
    if report.per_minute:
        peak = max(n for _, n in report.per_minute)
        out.print(f"  peak {peak} outcomes in a minute, over {len(report.per_minute)} minutes")
    for code, text, n in report.problems[:5]:
        out.print(f"  {n} × {code or ''} {text}", markup=False)


@cli.command()
@_handle_errors
def status(as_json: JsonOption = False) -> None:
    """Where sending stands: unfinished runs, rate, queue, suppressions, the scheduler's job."""
    from scheduler.jobs import build_scheduler, describe_jobs
    from scheduler.metrics import collect

    with _app() as app:
        with app.sessions() as session:
            figures = collect(session)
        jobs = describe_jobs(build_scheduler(app, blocking=False))
    data = figures.as_json() | {"jobs": [job.as_json() for job in jobs]}
    if as_json:
        _print_json(data)
        return
    for job in jobs:
        out.print(f"job {job.id}: {job.trigger}", markup=False)
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
    out.print(
        f"send rate {figures.rate:.1f}/s over the last minute; queue {figures.queue}", markup=False
    )
    reasons = ", ".join(f"{k} {v}" for k, v in figures.suppressions.items()) or "none"
    out.print(f"suppressed addresses: {reasons}", markup=False)


# -- schedule ----------------------------------------------------------------------------------


@schedule_cli.command("list")
@_handle_errors
def schedule_list(as_json: JsonOption = False) -> None:
    """The scheduler's jobs (from [schedule]) and when each fires next."""
    from scheduler.jobs import build_scheduler, describe_jobs

    with _app() as app:
        jobs = describe_jobs(build_scheduler(app, blocking=False))
    rows = [job.as_json() for job in jobs]
    if as_json:
        _print_json(rows)
        return
    table = Table("job", "trigger", "next run")
    for row in rows:
        table.add_row(str(row["id"]), str(row["trigger"]), str(row["next_run"] or "-"))
    out.print(table)


# -- bounces -----------------------------------------------------------------------------------


@bounces_cli.command("process")
@_handle_errors
def bounces_process(
    path: Annotated[
        Path, typer.Argument(help="A Maildir, an mbox file, an .eml file or a folder of them.")
    ],
    as_json: JsonOption = False,
) -> None:
    """Apply bounces and complaints: hard bounces and complaints suppress, soft ones count."""
    with _app() as app:
        summary = app.process_bounces(path)
    if as_json:
        _print_json(summary.as_json())
        return
    figures = summary.as_json()
    out.print(", ".join(f"{name.replace('_', ' ')} {n}" for name, n in figures.items()))


# -- serve and demo ----------------------------------------------------------------------------


@cli.command()
@_handle_errors
def serve(
    host: Annotated[str, typer.Option("--host", help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", help="Port to listen on.")] = 8000,
    no_web: Annotated[bool, typer.Option("--no-web", help="Run only the scheduler.")] = False,
    no_scheduler: Annotated[
        bool, typer.Option("--no-scheduler", help="Run only the web app.")
    ] = False,
) -> None:
    """Run the web app and the scheduler (each reader's brief at their local send hour)."""
    from scheduler.jobs import serve as run

    configure_logging(logging.DEBUG if _state["debug"] else logging.INFO)

    if no_web and no_scheduler:
        raise typer.BadParameter("--no-web and --no-scheduler together leave nothing to run")
    with _app() as app:
        run(
            app,
            host=host,
            port=port,
            web=not no_web,
            jobs=not no_scheduler,
            announce=lambda job: err.print(f"job {job.id}: {job.trigger}", markup=False),
        )


@cli.command()
@_handle_errors
def demo(
    subscribers: Annotated[
        int, typer.Option("--subscribers", "-n", help="How many subscribers.", min=1)
    ] = 50,
    out_dir: Annotated[
        Path, typer.Option("--out", help="Where to write the captured messages.")
    ] = Path("demo-out"),
) -> None:
    """Send the sample issue to N made-up subscribers through an embedded SMTP server."""
    from scheduler.demo import run_demo

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
    table.add_row("seconds", f"{report.seconds:.2f}")
    out.print(table)


def main() -> None:
    """Entry point of the `briefmail` console script."""
    cli()
