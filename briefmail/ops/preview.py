"""Previews: what an issue will look like, and who would get which version, before sending.

`briefmail preview` writes the HTML, the text part and the full .eml of one variant; with
`--open` it serves a page showing the issue's variants at phone and desktop widths.
`briefmail send --dry-run` counts the audience by variant without writing anything, and
`send --test-to` mails one real copy of a variant to one address, outside the ledger.
"""

from __future__ import annotations

import datetime as dt
import html
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Self

# The send path (renderer, planner, database) is imported by the function that uses it: the
# `send` command imports this module for its dry run and test copy, and must start fast.
if TYPE_CHECKING:
    from http.server import ThreadingHTTPServer

    from briefmail.app import Briefmail
    from mailer.message import OutgoingMessage
    from mailer.render import Rendered

__all__ = [
    "DryRun",
    "Gallery",
    "Preview",
    "PreviewError",
    "audience_variants",
    "dry_run",
    "preview_variant",
    "send_test_copy",
    "write_preview",
]

_WIDTHS = (375, 600)


class PreviewError(ValueError):
    """A preview cannot be made as asked (e.g. no story matches the topics)."""


@dataclass(frozen=True, slots=True)
class Preview:
    """One rendered variant and the full message a subscriber of it would receive."""

    topics: tuple[str, ...]
    rendered: Rendered
    message: OutgoingMessage
    stories: int

    @property
    def label(self) -> str:
        """How the variant is named to the operator."""
        return ", ".join(self.topics) or "every topic"


def preview_variant(
    app: Briefmail,
    issue_id: int,
    list_slug: str,
    topics: Sequence[str] = (),
    *,
    subject_prefix: str = "",
    dkim: bool = False,
    to: str | None = None,
) -> Preview:
    """Render one variant of an issue as a subscriber of ``topics`` would receive it."""
    from scheduler.editions import load_issue
    from scheduler.planning import run_kind, variant_key, variant_topics
    from subscribers.lists import get_list

    chosen = app.taxonomy.validate(topics)
    with app.sessions() as session:
        row = load_issue(session, issue_id, get_list(session, list_slug))
        kind, _, _ = run_kind(row.to_issue(), row.id)
        factory = replace(
            app.dispatcher(signed=False).factory(row, kind, None),
            dkim=app.dkim if dkim else None,
            subject_prefix=subject_prefix,
        )
    key = variant_key(chosen)
    stories = factory.stories_for(variant_topics(key))
    if not stories:
        raise PreviewError(
            f"no story of issue {issue_id} matches topics {', '.join(chosen)}; "
            "such a subscriber is skipped"
        )
    template = factory.template(key)
    message = factory.message(template, to or f"preview@{factory.domain}")
    return Preview(chosen, template.rendered.fill(factory.links(None)), message, len(stories))


@dataclass(frozen=True, slots=True)
class DryRun:
    """Who a send of an issue would reach now, by variant, and who it would skip and why."""

    eligible: int
    skipped: dict[str, int]
    #: (topics — empty for "every topic" —, subscribers, stories), largest first.
    variants: list[tuple[tuple[str, ...], int, int]]
    #: (when — None: at once —, subscribers): a daily brief's local send hours, in order.
    schedule: list[tuple[dt.datetime | None, int]] = field(default_factory=list)

    def as_json(self) -> dict[str, object]:
        """The `briefmail send --dry-run --json` shape."""
        return {
            "eligible": self.eligible,
            "skipped": self.skipped,
            "variants": [
                {"topics": list(topics), "subscribers": n, "stories": stories}
                for topics, n, stories in self.variants
            ],
            "schedule": [
                {"at": at.isoformat() if at else "now", "subscribers": n} for at, n in self.schedule
            ],
        }


def dry_run(app: Briefmail, issue_id: int, list_slug: str) -> DryRun:
    """Plan an issue's audience in memory: nothing is sent and nothing is written."""
    from scheduler.editions import load_issue
    from scheduler.planning import Planner, variant_topics
    from subscribers.lists import get_list

    with app.sessions() as session:
        row = load_issue(session, issue_id, get_list(session, list_slug))
        factory = app.dispatcher(signed=False).factory(row, "dry-run", None)
        planner = Planner(row)
        census = planner.census(session)
        session.rollback()  # read only: nothing to keep, and nothing may be kept
    by_variant, at, skipped = census.by_variant, census.by_time, planner.skipped
    variants = [
        (tuple(sorted(variant_topics(key))), n, len(factory.stories_for(variant_topics(key))))
        for key, n in sorted(by_variant.items(), key=lambda item: (-item[1], item[0]))
    ]
    schedule = sorted(
        at.items(), key=lambda item: item[0] or dt.datetime.min.replace(tzinfo=dt.UTC)
    )
    return DryRun(sum(by_variant.values()), dict(sorted(skipped.items())), variants, schedule)


async def send_test_copy(
    app: Briefmail, issue_id: int, list_slug: str, to: str, topics: Sequence[str] = ()
) -> Preview:
    """Mail one real copy of a variant to ``to``, subject marked [TEST]; nothing is recorded."""
    from subscribers.service import normalise_email

    address = normalise_email(to)
    preview = preview_variant(
        app, issue_id, list_slug, topics, subject_prefix="[TEST] ", dkim=True, to=address
    )
    transport = app.transport()
    try:
        await transport.send(preview.message)
    finally:
        await transport.close()
    return preview


def audience_variants(
    app: Briefmail, issue_id: int, list_slug: str, limit: int = 12
) -> list[tuple[str, ...]]:
    """The topic sets an issue would be rendered for: its audience's, else one per topic."""
    from scheduler.editions import load_issue
    from scheduler.planning import run_kind
    from subscribers.audience import iter_audience
    from subscribers.lists import get_list

    with app.sessions() as session:
        newsletter = get_list(session, list_slug)
        issue = load_issue(session, issue_id, newsletter).to_issue()
        _, _, cadence = run_kind(issue, issue_id)
        seen: dict[tuple[str, ...], None] = {}
        for batch in iter_audience(session, newsletter.id, cadence):
            for member in batch:
                seen.setdefault(tuple(sorted(member.topics)))
            if len(seen) >= limit:
                break
    if not seen:
        seen = {(): None} | {(t,): None for t in app.taxonomy.ids if t in issue.topics}
    return list(seen)[:limit]


def write_preview(preview: Preview, html_path: Path, eml_path: Path | None = None) -> list[Path]:
    """Write the HTML, the text part (beside the HTML, .txt) and the full message (.eml)."""
    text_path = html_path.with_suffix(".txt")
    eml_path = eml_path or html_path.with_suffix(".eml")
    # Opened in a browser, which cannot resolve the e-mail's cid: logo: data: URIs instead.
    html_path.write_text(preview.rendered.browser_html, encoding="utf-8")
    text_path.write_text(preview.rendered.text, encoding="utf-8")
    eml_path.write_bytes(preview.message.data)
    return [html_path, text_path, eml_path]


class Gallery:
    """A local web page showing each variant at phone and desktop width, side by side."""

    def __init__(self, title: str, previews: Sequence[Preview]) -> None:
        self.pages: dict[str, bytes] = {"/": self._index(title, previews).encode("utf-8")}
        for n, preview in enumerate(previews):
            self.pages[f"/variant/{n}.html"] = preview.rendered.html.encode("utf-8")
        self._server: ThreadingHTTPServer | None = None

    @staticmethod
    def _index(title: str, previews: Sequence[Preview]) -> str:
        rows = "\n".join(
            f"<section><h2>{html.escape(p.label)} · {p.stories} stories · "
            f'{len(p.rendered.html.encode()):,} bytes</h2><div class="row">'
            + "".join(
                f'<figure><figcaption>{w}px</figcaption><iframe src="/variant/{n}.html" '
                f'width="{w}" height="900" title="{html.escape(p.label)} at {w}px"></iframe>'
                "</figure>"
                for w in _WIDTHS
            )
            + "</div></section>"
            for n, p in enumerate(previews)
        )
        return (
            '<!doctype html><html lang="en"><head><meta charset="utf-8">'
            f"<title>Preview — {html.escape(title)}</title><style>"
            "body{font-family:system-ui,sans-serif;margin:1.5rem;background:#f4f5f7}"
            ".row{display:flex;gap:1.5rem;align-items:flex-start;flex-wrap:wrap}"
            "iframe{border:1px solid #ccd;background:#fff}figure{margin:0}"
            "h2{font-size:1rem;margin:1.5rem 0 .5rem}</style></head>"
            f"<body><h1>{html.escape(title)}</h1>{rows}</body></html>"
        )

    def start(self, host: str = "127.0.0.1", port: int = 0) -> Self:
        """Serve the pages on host:port (0: any free port) from a background thread."""
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        pages = self.pages

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                body = pages.get(self.path.split("?")[0])
                self.send_response(200 if body is not None else 404)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.end_headers()
                self.wfile.write(body or b"not found")

            def log_message(self, format: str, *args: object) -> None:
                return None  # the operator's terminal is not an access log

        self._server = ThreadingHTTPServer((host, port), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    @property
    def url(self) -> str:
        """The page's address once started."""
        assert self._server is not None, "start() the gallery first"
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}/"

    def stop(self) -> None:
        """Stop serving."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
