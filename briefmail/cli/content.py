"""Commands for lists, issues, previews, digests, topics and DKIM keys."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, NoReturn

import typer

from briefmail.cli.base import (
    JsonOption,
    ListOption,
    cli,
    dkim_cli,
    err,
    handle_errors,
    issues_cli,
    lists_cli,
    open_app,
    out,
    print_json,
    split_topics,
    topics_cli,
)

if TYPE_CHECKING:
    from briefmail.ops.preview import Preview
    from briefmail.services.content import Change
    from mailer.content import Issue

# Each command imports what it prints with (rich.table) and the library through `open_app`, so
# registering the commands costs nothing when another one runs.

# -- lists -------------------------------------------------------------------------------------


@lists_cli.command("add")
@handle_errors
def lists_add(
    slug: Annotated[str, typer.Argument(help="Short id, e.g. ict-bulletin.")],
    name: Annotated[str, typer.Option("--name", help="Name shown to readers.")],
    from_: Annotated[
        str | None, typer.Option("--from", help="Sender address (default: [newsletter] from).")
    ] = None,
) -> None:
    """Add a newsletter list."""
    with open_app() as app:
        created = app.content.add_list(slug, name, from_)
    out.print(f"Created list {created.slug!r}: {created.name} <{created.list_id}>", markup=False)


@lists_cli.command("list")
@handle_errors
def lists_list(as_json: JsonOption = False) -> None:
    """Show every list."""
    from rich.table import Table

    with open_app() as app:
        rows = app.content.lists()
    if as_json:
        print_json([row.as_json() for row in rows])
        return
    table = Table("slug", "name", "from", "list-id")
    for row in rows:
        table.add_row(row.slug, row.name, row.from_address, row.list_id)
    out.print(table)


# -- ingest and issues -------------------------------------------------------------------------


@cli.command()
@handle_errors
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
    approve: Annotated[
        bool, typer.Option("--approve", help="Approve it for sending at once (else a draft).")
    ] = False,
    as_json: JsonOption = False,
    list_slug: ListOption = None,
) -> None:
    """Parse an issue file, tag its stories and store it as a draft (all or nothing)."""
    with open_app() as app:
        result = app.content.ingest(
            path, list_slug, format=format, dry_run=dry_run, replace=replace, approve=approve
        )
    # On stderr, so `--json` output stays one JSON document.
    for warning in result.detection.warnings:
        err.print(f"Warning: {warning}", markup=False)
    if as_json:
        print_json(result.as_json())
        return
    if explain:
        out.print(f"format: {result.detection.format} ({result.detection.reason})", markup=False)
        out.print(_dating(result.issue, result.detection.reason), markup=False)
    state = result.outcome.value if result.outcome else "parsed (dry run)"
    issue_id = result.issue_id
    draft = issue_id is not None and not approve
    out.print(
        f"Issue {issue_id if issue_id is not None else '-'} "
        f"{state}{' as a draft' if draft else ''}: {result.issue.title} · "
        f"{result.issue.date.isoformat()} · {len(result.issue.stories)} stories"
        + (f" — approve with `briefmail issues approve {issue_id}`" if draft else ""),
        markup=False,
    )


def _dating(issue: Issue, reason: str) -> str:
    """How ingest dated the issue, for --explain."""
    day = issue.date.isoformat()
    if issue.posted:
        return f"date: {day}, printed as {issue.posted!r}"
    if reason.startswith("an HTML page (metadata date"):
        return f"date: {day}, dated by the page's metadata"
    return f"date: none printed; dated the day of ingest ({day})"


@issues_cli.command("list")
@handle_errors
def issues_list(as_json: JsonOption = False, list_slug: ListOption = None) -> None:
    """Show stored issues, newest first."""
    from rich.table import Table
    from rich.text import Text

    with open_app() as app:
        rows = app.content.issues(list_slug)
    if as_json:
        print_json([row.as_json() for row in rows])
        return
    table = Table("id", "date", "status", "title", "stories")
    for row in rows:
        table.add_row(
            str(row.id), row.date.isoformat(), row.status, Text(row.title), str(row.stories)
        )
    out.print(table)


@issues_cli.command("approve")
@handle_errors
def issues_approve(
    issue_id: Annotated[int, typer.Argument(help="Issue id.")], list_slug: ListOption = None
) -> None:
    """Approve a draft so runs may send it."""
    with open_app() as app:
        done = app.content.approve(issue_id, list_slug)
    out.print(f"Issue {done.id} approved: {done.title}", markup=False)


@issues_cli.command("withdraw")
@handle_errors
def issues_withdraw(
    issue_id: Annotated[int, typer.Argument(help="Issue id.")], list_slug: ListOption = None
) -> None:
    """Withdraw an unsent issue (nothing will send it; its schedule is dropped)."""
    with open_app() as app:
        done = app.content.withdraw(issue_id, list_slug)
    out.print(f"Issue {done.id} withdrawn: {done.title}", markup=False)


@issues_cli.command("delete")
@handle_errors
def issues_delete(
    issue_id: Annotated[int, typer.Argument(help="Issue id.")],
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask for confirmation.")] = False,
    list_slug: ListOption = None,
) -> None:
    """Delete an issue that was never sent (a sent one can only stay in the archive)."""
    if not yes:
        typer.confirm(f"Delete issue {issue_id} and its history? This cannot be undone", abort=True)
    with open_app() as app:
        gone = app.content.delete(issue_id, list_slug)
    out.print(f"Issue {gone.id} deleted: {gone.title}", markup=False)


@issues_cli.command("show")
@handle_errors
def issues_show(
    issue_id: Annotated[int, typer.Argument(help="Issue id.")],
    as_json: JsonOption = False,
    list_slug: ListOption = None,
) -> None:
    """Show one issue with its stories and their topics."""
    from rich.table import Table
    from rich.text import Text

    with open_app() as app:
        view = app.content.issue(issue_id, list_slug)
    if as_json:
        print_json(view.as_json())
        return
    issue = view.issue
    # Titles are an editor's or a feed's text: shown as text, never read as Rich markup.
    out.print(
        Text.assemble((issue.title, "bold"), f" · {issue.date.isoformat()} · issue {issue_id}")
    )
    out.print(
        f"status: {view.status}"
        + (f" (approved by {view.approved_by})" if view.approved_by else ""),
        markup=False,
    )
    if view.send_at is not None:
        from subscribers.db import as_utc  # the app is open: the database layer is loaded

        out.print(f"scheduled: {as_utc(view.send_at):%Y-%m-%d %H:%M} UTC", markup=False)
    out.print(f"subject: {issue.subject_line}", markup=False)
    if issue.preheader or issue.summary:
        out.print(f"preview text: {issue.preheader or issue.summary}", markup=False)
    table = Table("#", "title", "source · date", "topics", "link")
    for s in issue.stories:
        table.add_row(
            str(s.position),
            Text(s.title),
            Text(" · ".join(filter(None, (s.source, s.published)))),
            ", ".join(s.topics),
            Text(s.url or (f"(text) {s.link_text}" if s.link_text else "")),
        )
    out.print(table)
    for change in view.history:
        out.print(f"{change.at:%Y-%m-%d %H:%M} {change.actor}: {_described(change)}", markup=False)


def _described(change: Change) -> str:
    """A history line's what: "edit story 2 topics [models] → [models, policy]"."""
    return f"{change.action} {change.field} {_shown(change.before)} → {_shown(change.after)}"


def _shown(value: object) -> str:
    """A recorded value as text: a topic list as [a, b], anything else as its repr."""
    if isinstance(value, list):
        return f"[{', '.join(str(item) for item in value)}]"
    return repr(value)


@issues_cli.command("edit")
@handle_errors
def issues_edit(
    issue_id: Annotated[int, typer.Argument(help="Issue id.")],
    title: Annotated[str | None, typer.Option("--title", help="A new title.")] = None,
    subject: Annotated[
        str | None, typer.Option("--subject", help='The Subject line ("": the title).')
    ] = None,
    preheader: Annotated[
        str | None,
        typer.Option("--preheader", help='The inbox preview text ("": from the stories).'),
    ] = None,
    story: Annotated[
        int | None, typer.Option("--story", help="The story --topics sets (1-based).")
    ] = None,
    topics: Annotated[
        str | None,
        typer.Option("--topics", help='Comma-separated topic ids ("": general); kept by retag.'),
    ] = None,
    drop: Annotated[int | None, typer.Option("--drop", help="Drop story N.")] = None,
    move: Annotated[int | None, typer.Option("--move", help="Move story N (with --to).")] = None,
    to: Annotated[int | None, typer.Option("--to", help="The place --move puts it.")] = None,
    as_json: JsonOption = False,
    list_slug: ListOption = None,
) -> None:
    """Edit an unsent issue: title, subject, preheader, story topics, stories (all or nothing).

    Story numbers are the places `issues show` prints before this command.
    """
    from scheduler.revisions import Edits

    _pair("--story", story, "--topics", topics)
    _pair("--move", move, "--to", to)
    edits = Edits(
        title=title,
        subject=subject,
        preheader=preheader,
        topics=(story, tuple(split_topics(topics))) if story is not None else None,
        drop=drop,
        move=(move, to) if move is not None and to is not None else None,
    )
    if edits.empty:
        _usage(
            "nothing to change: give --title, --subject, --preheader, --story N --topics a,b, "
            "--drop N or --move N --to M (see `briefmail issues edit --help`)"
        )
    with open_app() as app:
        edited = app.revisions.edit(issue_id, edits, list_slug)
    if as_json:
        print_json(edited.as_json())
        return
    if not edited.changes:
        out.print(f"Issue {issue_id}: nothing changed ({edited.view.status})", markup=False)
    for change in edited.changes:
        out.print(f"Issue {issue_id}: {_described(change)}", markup=False)


def _pair(name: str, value: object, other: str, other_value: object) -> None:
    """Two options that only work together: both given, or neither."""
    if (value is None) != (other_value is None):
        given, missing = (name, other) if value is not None else (other, name)
        _usage(f"{given} needs {missing}")


def _usage(message: str) -> NoReturn:
    """Bad options: one line on stderr and exit 2, like a library's refusal."""
    err.print(f"Error: {message}", markup=False)
    raise typer.Exit(2)


@cli.command()
@handle_errors
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
    with open_app() as app:
        written = app.content.preview(
            issue_id, list_slug, split_topics(topics), html_path=out_file, eml_path=eml
        )
        out.print(
            f"{written.preview.label}: {written.preview.stories} stories, "
            f"{written.html_bytes:,} bytes of HTML",
            markup=False,
        )
        for path in written.paths:
            out.print(f"  wrote {path}", markup=False)
        if not open_page:
            return
        previews = app.content.variants(issue_id, list_slug)
    _serve_gallery(f"Issue {issue_id}", previews, port)


def _serve_gallery(title: str, previews: list[Preview], port: int) -> None:
    """Show the variants side by side in the browser until Ctrl-C."""
    import threading
    import webbrowser

    from briefmail.ops.preview import Gallery

    gallery = Gallery(title, previews).start(port=port)
    out.print(f"{len(previews)} variants side by side at {gallery.url} (Ctrl-C to stop)")
    webbrowser.open(gallery.url)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        gallery.stop()


@cli.command()
@handle_errors
def digest(
    week: Annotated[
        str | None,
        typer.Option("--week", help="ISO week, e.g. 2026-W26 (default: last week)."),
    ] = None,
    as_json: JsonOption = False,
    list_slug: ListOption = None,
) -> None:
    """Assemble a week's daily issues into one digest issue (building it again changes nothing)."""
    with open_app() as app:
        result = app.content.digest(week, list_slug)
    if as_json:
        print_json(result.as_json())
        return
    out.print(
        f"Digest {result.id} {result.outcome.value}: {result.issue.title} · "
        f"{len(result.issue.stories)} stories in {len(result.groups)} groups "
        f"({', '.join(result.groups)})",
        markup=False,
    )


# -- topics --------------------------------------------------------------------------------------


@topics_cli.command("list")
@handle_errors
def topics_list(as_json: JsonOption = False) -> None:
    """Show the taxonomy: every topic subscribers can choose."""
    from rich.table import Table

    with open_app() as app:
        topics = app.content.topics()
    if as_json:
        print_json([topic.as_json() for topic in topics])
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
@handle_errors
def topics_explain(
    issue_id: Annotated[int, typer.Argument(help="Issue id.")], list_slug: ListOption = None
) -> None:
    """Show, per story, which words matched which topic."""
    with open_app() as app:
        stories = app.content.explain(issue_id, list_slug)
    for story in stories:
        out.print(f"{story.position}. {story.title}", markup=False)
        out.print(f"   stored topics: {', '.join(story.topics) or '-'}", markup=False)
        for item in story.evidence:
            out.print(f"   {item.describe()}", markup=False)
        if not story.evidence:
            out.print("   no topic matches: general", markup=False)


@topics_cli.command("retag")
@handle_errors
def topics_retag(
    issue_ids: Annotated[list[int] | None, typer.Argument(help="Issue ids.")] = None,
    all_issues: Annotated[bool, typer.Option("--all", help="Every issue of the list.")] = False,
    list_slug: ListOption = None,
) -> None:
    """Tag stored issues again with the current taxonomy (only when you ask)."""
    if not issue_ids and not all_issues:
        raise typer.BadParameter("name issue ids or pass --all")
    with open_app() as app:
        retagged = app.content.retag(None if all_issues else issue_ids or [], list_slug)
    for one in retagged:
        out.print(f"Issue {one.id}: {one.changed} of {one.stories} stories changed topics")


@dkim_cli.command("keygen")
@handle_errors
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
