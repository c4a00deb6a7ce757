"""The public archive: each list's issues as published, and an Atom feed per list.

Every list has ``/lists/{slug}/archive`` (its sent issues, newest first), ``/lists/{slug}/archive/
{id}`` (one issue; 404 if it is another list's) and ``/lists/{slug}/feed.xml``. The default list
also has the short ``/archive`` and ``/feed.xml``; ``/archive/{id}`` serves a sent issue of *any*
list, because that is the address every e-mail links to (scheduler/messages.py).

Only issues whose status is ``sent`` are shown; drafts, approved and withdrawn issues answer 404.
A sent issue cannot be withdrawn directly. When every run of an issue is cancelled it is approved
again (scheduler.editions.reopen_after_cancel) and leaves the archive, links from the e-mails
that went out included, until it is sent again: only an issue on its way to every reader is
published. If it is then withdrawn, it stays out.

The web version is the e-mail renderer's output in its web mode (mailer.render.WebVersion): every
story of the issue (no topic filter), in full whatever its length, and a footer for anyone: the
list's name, Subscribe and the list's archive, no reader's count, reason or personal links.
E-mails link into it: each story's heading has the id ``story-N`` (N its place in the issue) and
each digest group's ``topic-ID``, so a contents list or a compact e-mail's "Read the full story"
works in clients that drop ``#fragment`` links inside a message. An issue the renderer cannot
show (a stored value no longer valid) gets a plain page of its stories rather than an error.

A feed entry carries every story (title, source, summary, why it matters, link) as HTML, and is
dated when its issue was sent (the newest run that was not cancelled), else by the issue's date.
"""

from __future__ import annotations

import datetime as dt
import html
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

from fastapi import APIRouter
from fastapi.responses import HTMLResponse, Response
from feedgen.feed import FeedGenerator
from sqlalchemy import func, select
from sqlalchemy.orm import Session, selectinload, sessionmaker

from mailer.content import Issue
from mailer.render import Newsletter, Renderer, RenderError, WebVersion
from mailer.text import inline_html, paragraphs_html, period_text
from scheduler.editions import IssueStatus, StoredIssue, StoredStory
from scheduler.ledger import Run, RunStatus
from subscribers.db import as_utc
from subscribers.lists import UnknownList, all_lists, get_list
from subscribers.models import NewsletterList
from subscribers.page_views import Refused, Views

__all__ = ["Archive", "ArchivePaths", "archive_router", "sent_issue", "sent_issues", "sent_times"]

#: Characters XML 1.0 cannot carry at all: a stored one must not break the feed.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
#: The largest issue id (a 32-bit column: PostgreSQL refuses to compare it with more).
_MAX_ID = 2**31 - 1
_STYLE = (
    "body{font:16px/1.5 system-ui,sans-serif;max-width:40rem;margin:2rem auto;padding:0 1rem;"
    "overflow-wrap:anywhere}ul{padding-left:1.2rem}li{margin:0 0 .5rem}"
    ".date{white-space:nowrap;color:#52606d}"
)


def sent_issues(
    session: Session, newsletter: NewsletterList, limit: int = 100
) -> list[StoredIssue]:
    """The list's issues whose status is sent, newest first."""
    return list(
        session.scalars(
            select(StoredIssue)
            .where(StoredIssue.list_id == newsletter.id, StoredIssue.status == IssueStatus.SENT)
            .options(selectinload(StoredIssue.stories), selectinload(StoredIssue.newsletter))
            .order_by(StoredIssue.date.desc(), StoredIssue.id.desc())
            .limit(limit)
        )
    )


def sent_issue(
    session: Session, issue_id: int, newsletter: NewsletterList | None = None
) -> StoredIssue | None:
    """The issue with this id if its status is sent (and it is ``newsletter``'s, if given)."""
    query = select(StoredIssue).where(
        StoredIssue.id == issue_id, StoredIssue.status == IssueStatus.SENT
    )
    if newsletter is not None:
        query = query.where(StoredIssue.list_id == newsletter.id)
    return session.scalar(
        query.options(selectinload(StoredIssue.stories), selectinload(StoredIssue.newsletter))
    )


def sent_times(session: Session, issue_ids: Iterable[int]) -> dict[int, dt.datetime]:
    """When each issue was sent (UTC): the start of its newest run that was not cancelled."""
    ids = list(issue_ids)
    if not ids:
        return {}
    rows = session.execute(
        select(Run.issue_id, func.max(Run.created_at))
        .where(Run.issue_id.in_(ids), Run.status != RunStatus.CANCELLED)
        .group_by(Run.issue_id)
    )
    # SQLite hands back naive instants; they are UTC (server_default now()).
    return {i: as_utc(t) for i, t in rows if t is not None}


@dataclass(frozen=True, slots=True)
class ArchivePaths:
    """Where one list's archive is served: under /lists/{slug}, or at the root (default list)."""

    base_url: str
    #: "" for the default list's short routes, else "/lists/{slug}".
    root: str

    @classmethod
    def of(cls, base_url: str, slug: str | None) -> ArchivePaths:
        """The list's /lists/{slug} routes, or the root ones when ``slug`` is None."""
        return cls(base_url, f"/lists/{slug}" if slug is not None else "")

    @property
    def index(self) -> str:
        """The archive's page of issues."""
        return f"{self.base_url}{self.root}/archive"

    @property
    def feed(self) -> str:
        """The Atom feed."""
        return f"{self.base_url}{self.root}/feed.xml"

    def issue(self, issue_id: int) -> str:
        """One issue's web version."""
        return f"{self.index}/{issue_id}"


def _xml_text(text: str) -> str:
    return _NOT_XML.sub("", text)


def _page(title: str, body: str, head: str = "", lang: str = "en") -> str:
    """A small standalone HTML page (``title`` is text; ``body`` and ``head`` are markup)."""
    return (
        f'<!doctype html><html lang="{html.escape(lang)}"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{html.escape(title)}</title>{head}<style>{_STYLE}</style></head>"
        f"<body>{body}</body></html>"
    )


def _web_link(url: str | None) -> str | None:
    """A story's address if it is one a page may link to (http or https), else None."""
    return url if url and re.match(r"https?://", url, re.I) else None


def _stories_html(row: StoredIssue) -> str:
    """Every story of a stored issue as escaped HTML: title, source, summary, why, link."""
    parts = [f"<div>{paragraphs_html(row.summary)}</div>"] if row.summary else []
    for story in row.stories:
        parts.append(_story_html(story))
    return "".join(parts) or "<p>This issue has no stories.</p>"


def _story_html(story: StoredStory) -> str:
    meta = " · ".join(html.escape(p) for p in (story.source, story.published) if p)
    link = _web_link(story.url)
    where = f" at {html.escape(story.source)}" if story.source else ""
    return "".join(
        (
            f"<h2>{inline_html(story.title or '')}</h2>",
            f"<p><small>{meta}</small></p>" if meta else "",
            f"<div>{paragraphs_html(story.summary or '')}</div>",
            f"<p><strong>Why it matters:</strong> {inline_html(story.why_it_matters)}</p>"
            if story.why_it_matters
            else "",
            f'<p><a href="{html.escape(link)}">Read the story{where} →</a></p>' if link else "",
        )
    )


def _plain_issue(row: StoredIssue, who: Newsletter, web: WebVersion, head: str) -> str:
    """An issue's page without the renderer: its stories, and the web version's footer."""
    name = html.escape(who.name)
    body = (
        f"<p>{name}</p><h1>{html.escape(row.title)}</h1>{_stories_html(row)}"
        f"<p>This issue of {name} is shown as it was sent. "
        f'<a href="{html.escape(web.subscribe_url)}">Subscribe</a> · '
        f'<a href="{html.escape(web.archive_url)}">All issues of {name}</a></p>'
    )
    return _page(row.title, body, head, who.language)


def _when(row: StoredIssue) -> str:
    """The issue's day or period as text ("8–14 June 2026")."""
    return period_text(Issue(row.title, row.date, (), period_end=row.period_end))


@dataclass(frozen=True, slots=True)
class Archive:
    """The archive's pages and feeds, each a plain method answering a response."""

    sessions: sessionmaker[Session]
    renderer: Renderer
    identity: Callable[[NewsletterList], Newsletter]
    base_url: str
    #: The list whose archive is also at /archive and /feed.xml.
    default_slug: str
    #: The public pages' templates (the archive's index and its error pages look like them).
    views: Views = field(default_factory=Views)

    @property
    def subscribe_url(self) -> str:
        """Where the archive sends readers who want the e-mails."""
        return f"{self.base_url}/subscribe"

    def paths(self, newsletter: NewsletterList, short: bool) -> ArchivePaths:
        """The list's archive addresses: the short ones only for the default list, if asked."""
        slug = None if short and newsletter.slug == self.default_slug else newsletter.slug
        return ArchivePaths.of(self.base_url, slug)

    def index(self, slug: str, *, short: bool = False) -> HTMLResponse:
        """Every sent issue of the list, newest first, with the lists' feeds linked."""
        with self.sessions() as session:
            try:
                newsletter = get_list(session, slug)
            except UnknownList:
                return self._not_found(f"There is no newsletter {slug!r} here.")
            paths = self.paths(newsletter, short)
            issues = [
                {"title": i.title, "url": paths.issue(i.id), "date": i.date, "when": _when(i)}
                for i in sent_issues(session, newsletter)
            ]
            others = [(n.name, self.paths(n, False).feed) for n in all_lists(session)]
            name, lang = newsletter.name, self.identity(newsletter).language
        feeds = [(name, paths.feed)] + [o for o in others if o[1] != paths.feed]
        answer = self.views.page(
            "archive.html",
            slug=newsletter.slug,
            lang=lang,
            name=name,
            issues=issues,
            feeds=feeds,
            feed=paths.feed,
            subscribe=f"/lists/{newsletter.slug}/subscribe",
        )
        return HTMLResponse(answer.body, status_code=answer.status)

    def _not_found(self, message: str) -> HTMLResponse:
        """The styled 404 page, with the way back to the front page."""
        refused = Refused(
            404, message, title="Not found", next=("Find every issue from", "the front page", "/")
        )
        answer = self.views.refused(refused)
        return HTMLResponse(answer.body, status_code=answer.status)

    def issue(self, issue_id: str, slug: str | None = None) -> HTMLResponse:
        """The web version of one sent issue, every story included (of list ``slug``, if given).

        Without ``slug`` (the /archive/{id} the e-mails link to) an issue of any list is served.
        """
        digits = issue_id.isascii() and issue_id.isdigit() and len(issue_id) <= len(str(_MAX_ID))
        if not digits or int(issue_id) > _MAX_ID:
            return self._not_found(f"No issue {issue_id!r}.")
        with self.sessions() as session:
            try:
                newsletter = get_list(session, slug) if slug is not None else None
            except UnknownList:
                return self._not_found(f"No list {slug!r} has an archive here.")
            row = sent_issue(session, int(issue_id), newsletter)
            if row is None:
                return self._not_found(f"No sent issue {issue_id} in this archive.")
            page = self._web_version(row, slug is None)
        return HTMLResponse(page)

    def _web_version(self, row: StoredIssue, short: bool) -> str:
        """The issue's page: the renderer's web version, else a plain page of its stories."""
        who = self.identity(row.newsletter)
        own = self.paths(row.newsletter, short)
        # The page is its own archive URL, so its contents list links stay on the page; the
        # footer's archive link is the issue's list's.
        page_url = ArchivePaths.of(self.base_url, None if short else row.newsletter.slug)
        web = WebVersion(self.subscribe_url, own.index)
        # One address for search engines whichever of the issue's two serves it.
        canonical = self.paths(row.newsletter, True).issue(row.id)
        head = f'<link rel="canonical" href="{html.escape(canonical)}">'
        try:
            issue = row.to_issue()
            # Never shortened (budget None): it is where the compact e-mails send readers.
            rendered = self.renderer.render_issue(
                issue,
                issue.stories,
                who,
                topics=[],
                cadence="",
                archive_url=page_url.issue(row.id),
                budget=None,
                web=web,
            )
        except (ValueError, RenderError):
            # A value stored before a format, role or template changed: show the text anyway.
            return _plain_issue(row, who, web, head)
        return rendered.html.replace("<head>", "<head>" + head, 1)

    def feed(self, slug: str, *, short: bool = False) -> Response:
        """An Atom feed of the list's sent issues, each entry carrying its stories."""
        with self.sessions() as session:
            try:
                newsletter = get_list(session, slug)
            except UnknownList:
                return self._not_found(f"No list {slug!r} has a feed here.")
            paths = self.paths(newsletter, short)
            rows = sent_issues(session, newsletter, 50)
            body = self._atom(newsletter, paths, rows, sent_times(session, (r.id for r in rows)))
        return Response(body, media_type="application/atom+xml")

    def _atom(
        self,
        newsletter: NewsletterList,
        paths: ArchivePaths,
        rows: Sequence[StoredIssue],
        sent: dict[int, dt.datetime],
    ) -> bytes:
        generator = FeedGenerator()
        # One id per list whichever address serves it; the default list keeps its first one.
        short = newsletter.slug == self.default_slug
        generator.id(ArchivePaths.of(self.base_url, None if short else newsletter.slug).index)
        generator.title(_xml_text(newsletter.name) or newsletter.slug)
        generator.link(href=paths.index, rel="alternate")
        generator.link(href=paths.feed, rel="self")
        generator.language(self.identity(newsletter).language)
        for row in reversed(rows):  # feedgen puts each new entry first: newest ends on top
            entry = generator.add_entry()
            # /archive/{id} serves every list's issues: the one stable address of an entry.
            entry.id(f"{self.base_url}/archive/{row.id}")
            entry.title(_xml_text(row.title) or f"Issue {row.id}")
            entry.link(href=paths.issue(row.id), rel="alternate")
            when = sent.get(row.id) or dt.datetime.combine(row.date, dt.time(), tzinfo=dt.UTC)
            entry.published(when)
            entry.updated(when)
            entry.summary(_xml_text(" · ".join(s.title for s in row.stories)) or None)
            entry.content(_xml_text(_stories_html(row)), type="html")
        if rows:
            generator.updated(max(e.updated() for e in generator.entry()))
        body: bytes = generator.atom_str(pretty=True)
        return body


def archive_router(archive: Archive) -> APIRouter:
    """Routes for every list's archive and feed, and the default list's short ones."""
    router = APIRouter()

    @router.get("/archive", response_class=HTMLResponse)
    def archive_index() -> HTMLResponse:
        """Every sent issue of the default list, newest first."""
        return archive.index(archive.default_slug, short=True)

    @router.get("/archive/{issue_id}", response_class=HTMLResponse)
    def archive_issue(issue_id: str) -> HTMLResponse:
        """The web version of one sent issue of any list (the address e-mails link to)."""
        return archive.issue(issue_id)

    @router.get("/feed.xml")
    def feed() -> Response:
        """An Atom feed of the default list's sent issues."""
        return archive.feed(archive.default_slug, short=True)

    @router.get("/lists/{slug}/archive", response_class=HTMLResponse)
    def list_archive_index(slug: str) -> HTMLResponse:
        """Every sent issue of one list, newest first."""
        return archive.index(slug)

    @router.get("/lists/{slug}/archive/{issue_id}", response_class=HTMLResponse)
    def list_archive_issue(slug: str, issue_id: str) -> HTMLResponse:
        """The web version of one sent issue of this list (404 if it is another list's)."""
        return archive.issue(issue_id, slug)

    @router.get("/lists/{slug}/feed.xml")
    def list_feed(slug: str) -> Response:
        """An Atom feed of one list's sent issues."""
        return archive.feed(slug)

    return router
