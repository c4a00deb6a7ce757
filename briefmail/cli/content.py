"""Commands for lists, issues, previews, digests, topics and DKIM keys."""

from __future__ import annotations

import datetime as dt
import os
import threading
import webbrowser
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from briefmail.cli.base import (
    JsonOption,
    ListOption,
    chosen_list,
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
from briefmail.ops.preview import PreviewError
from mailer.content import issue_to_json
from scheduler.editions import (
    build_digest,
    list_issues,
    load_issue,
    retag_issue,
    week_label,
)
from subscribers.lists import all_lists, create_list, get_list

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
    with open_app() as app, app.sessions() as session:
        created = create_list(session, slug, name, from_ or app.settings.newsletter.from_)
        session.commit()
        out.print(
            f"Created list {created.slug!r}: {created.name} <{created.list_id}>", markup=False
        )


@lists_cli.command("list")
@handle_errors
def lists_list(as_json: JsonOption = False) -> None:
    """Show every list."""
    with open_app() as app, app.sessions() as session:
        rows = [
            {"slug": n.slug, "name": n.name, "from": n.from_address, "list_id": n.list_id}
            for n in all_lists(session)
        ]
    if as_json:
        print_json(rows)
        return
    table = Table("slug", "name", "from", "list-id")
    for row in rows:
        table.add_row(row["slug"], row["name"], row["from"], row["list_id"])
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
    as_json: JsonOption = False,
    list_slug: ListOption = None,
) -> None:
    """Parse an issue file, tag its stories with topics and store it (all or nothing)."""
    with open_app() as app:
        result = app.ingest(
            path, chosen_list(app, list_slug), format=format, dry_run=dry_run, replace=replace
        )
    issue_id = result.stored.id if result.stored else None
    # On stderr, so `--json` output stays one JSON document.
    for warning in result.detection.warnings:
        err.print(f"Warning: {warning}", markup=False)
    if as_json:
        print_json(issue_to_json(result.issue, issue_id))
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
@handle_errors
def issues_list(as_json: JsonOption = False, list_slug: ListOption = None) -> None:
    """Show stored issues, newest first."""
    with open_app() as app, app.sessions() as session:
        rows = list_issues(session, get_list(session, chosen_list(app, list_slug)))
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
        print_json(data)
        return
    table = Table("id", "date", "title", "stories")
    for item in data:
        table.add_row(str(item["id"]), str(item["date"]), str(item["title"]), str(item["stories"]))
    out.print(table)


@issues_cli.command("show")
@handle_errors
def issues_show(
    issue_id: Annotated[int, typer.Argument(help="Issue id.")],
    as_json: JsonOption = False,
    list_slug: ListOption = None,
) -> None:
    """Show one issue with its stories and their topics."""
    with open_app() as app, app.sessions() as session:
        row = load_issue(session, issue_id, get_list(session, chosen_list(app, list_slug)))
        issue = row.to_issue()
    if as_json:
        print_json(issue_to_json(issue, issue_id))
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
    from briefmail.ops.preview import Gallery, audience_variants, preview_variant, write_preview

    with open_app() as app:
        slug = chosen_list(app, list_slug)
        result = preview_variant(app, issue_id, slug, split_topics(topics))
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
    with open_app() as app, app.sessions() as session:
        label = week or week_label(dt.date.today() - dt.timedelta(days=7))
        row, outcome = build_digest(
            session, get_list(session, chosen_list(app, list_slug)), label, app.taxonomy
        )
        session.commit()
        issue = row.to_issue()
    if as_json:
        print_json(issue_to_json(issue, row.id))
        return
    groups = dict.fromkeys(s.group for s in issue.stories)
    out.print(
        f"Digest {row.id} {outcome.value}: {issue.title} · {len(issue.stories)} stories in "
        f"{len(groups)} groups ({', '.join(str(g) for g in groups)})",
        markup=False,
    )


# -- topics --------------------------------------------------------------------------------------


@topics_cli.command("list")
@handle_errors
def topics_list(as_json: JsonOption = False) -> None:
    """Show the taxonomy: every topic subscribers can choose."""
    with open_app() as app:
        topics = app.taxonomy.topics
    if as_json:
        print_json(
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
@handle_errors
def topics_explain(
    issue_id: Annotated[int, typer.Argument(help="Issue id.")], list_slug: ListOption = None
) -> None:
    """Show, per story, which words matched which topic."""
    with open_app() as app, app.sessions() as session:
        row = load_issue(session, issue_id, get_list(session, chosen_list(app, list_slug)))
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
@handle_errors
def topics_retag(
    issue_ids: Annotated[list[int] | None, typer.Argument(help="Issue ids.")] = None,
    all_issues: Annotated[bool, typer.Option("--all", help="Every issue of the list.")] = False,
    list_slug: ListOption = None,
) -> None:
    """Tag stored issues again with the current taxonomy (only when you ask)."""
    if not issue_ids and not all_issues:
        raise typer.BadParameter("name issue ids or pass --all")
    with open_app() as app, app.sessions() as session:
        newsletter = get_list(session, chosen_list(app, list_slug))
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
