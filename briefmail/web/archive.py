"""The public archive of sent issues and its feed: /archive, /archive/{id}, /feed.xml.

Only issues a run has sent appear. The web version shows every story of the issue (no topic
filter), in full whatever its length, and carries no personal links: its footer points to the
subscription page. E-mails link into it: each story's heading has the id ``story-N`` (N its place
in the issue) and each digest group's ``topic-ID``, so a contents list or a compact e-mail's
"Read the full story" works in clients that drop ``#fragment`` links inside a message.
"""

from __future__ import annotations

import datetime as dt
import html
from collections.abc import Callable
from dataclasses import dataclass

from fastapi import APIRouter
from fastapi.responses import HTMLResponse, Response
from feedgen.feed import FeedGenerator
from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload, sessionmaker

from mailer.render import Newsletter, Renderer, Slot
from scheduler.editions import StoredIssue
from scheduler.ledger import Run
from subscribers.lists import get_list
from subscribers.models import NewsletterList

__all__ = ["Archive", "archive_router", "sent_issue", "sent_issues"]


def sent_issues(
    session: Session, newsletter: NewsletterList, limit: int = 100
) -> list[StoredIssue]:
    """The list's issues that a run has sent, newest first."""
    return list(
        session.scalars(
            select(StoredIssue)
            .where(
                StoredIssue.list_id == newsletter.id,
                select(Run.id).where(Run.issue_id == StoredIssue.id).exists(),
            )
            .options(selectinload(StoredIssue.stories), selectinload(StoredIssue.newsletter))
            .order_by(StoredIssue.date.desc(), StoredIssue.id.desc())
            .limit(limit)
        )
    )


def sent_issue(session: Session, issue_id: int) -> StoredIssue | None:
    """The issue with this id if a run has sent it (of any list: its e-mails link here)."""
    return session.scalar(
        select(StoredIssue)
        .where(
            StoredIssue.id == issue_id,
            select(Run.id).where(Run.issue_id == StoredIssue.id).exists(),
        )
        .options(selectinload(StoredIssue.stories), selectinload(StoredIssue.newsletter))
    )


@dataclass(frozen=True, slots=True)
class Archive:
    """The archive's pages and feed, each a plain method answering a response."""

    sessions: sessionmaker[Session]
    renderer: Renderer
    identity: Callable[[NewsletterList], Newsletter]
    base_url: str

    @property
    def subscribe_url(self) -> str:
        """Where the archive sends readers who want the e-mails."""
        return f"{self.base_url}/subscribe"

    def index(self, slug: str) -> HTMLResponse:
        """Every sent issue of the list, newest first."""
        base_url = self.base_url
        with self.sessions() as session:
            newsletter = get_list(session, slug)
            rows = [(i.id, i.title, i.date) for i in sent_issues(session, newsletter)]
            name = newsletter.name
        items = (
            "".join(
                f'<li><a href="{base_url}/archive/{issue_id}">{html.escape(title)}</a> '
                f"<small>{date.isoformat()}</small></li>"
                for issue_id, title, date in rows
            )
            or "<li>Nothing has been sent yet.</li>"
        )
        return HTMLResponse(
            '<!doctype html><html lang="en"><head><meta charset="utf-8">'
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>{html.escape(name)} — archive</title>"
            f'<link rel="alternate" type="application/atom+xml" href="{base_url}/feed.xml">'
            "<style>body{font:16px/1.5 system-ui,sans-serif;max-width:40rem;margin:2rem auto;"
            "padding:0 1rem}</style></head>"
            f"<body><h1>{html.escape(name)}: archive</h1><ul>{items}</ul>"
            f'<p><a href="{self.subscribe_url}">Subscribe</a></p></body></html>'
        )

    def issue(self, issue_id: int) -> HTMLResponse:
        """The web version of one sent issue, every story included."""
        with self.sessions() as session:
            row = sent_issue(session, issue_id)
            if row is None:
                return HTMLResponse("<h1>Not found</h1>", status_code=404)
            issue, who = row.to_issue(), self.identity(row.newsletter)
        # The page is its own archive URL, so its contents list links stay on the page; and it
        # is never shortened (budget None): it is where the compact e-mails send readers.
        rendered = self.renderer.render_issue(
            issue,
            issue.stories,
            who,
            topics=[],
            cadence="",
            archive_url=f"{self.base_url}/archive/{issue_id}",
            budget=None,
        )
        subscribe = self.subscribe_url
        filled = rendered.fill({Slot.UNSUBSCRIBE_URL: subscribe, Slot.PREFERENCES_URL: subscribe})
        return HTMLResponse(filled.html)

    def feed(self, slug: str) -> Response:
        """An Atom feed of the list's sent issues."""
        base_url = self.base_url
        with self.sessions() as session:
            newsletter = get_list(session, slug)
            rows = sent_issues(session, newsletter, 50)
            generator = FeedGenerator()
            generator.id(f"{base_url}/archive")
            generator.title(newsletter.name)
            generator.link(href=f"{base_url}/archive", rel="alternate")
            generator.link(href=f"{base_url}/feed.xml", rel="self")
            generator.language("en")
            for row in reversed(rows):
                entry = generator.add_entry()
                entry.id(f"{base_url}/archive/{row.id}")
                entry.title(row.title)
                entry.link(href=f"{base_url}/archive/{row.id}")
                published = dt.datetime.combine(row.date, dt.time(), tzinfo=dt.UTC)
                entry.published(published)
                entry.updated(published)
                entry.summary(" · ".join(s.title for s in row.stories))
            body = generator.atom_str(pretty=True)
        return Response(body, media_type="application/atom+xml")


def archive_router(archive: Archive, default_list: str) -> APIRouter:
    """Routes for the archive pages and the Atom feed of the default list."""
    router = APIRouter()

    @router.get("/archive", response_class=HTMLResponse)
    def archive_index() -> HTMLResponse:
        """Every sent issue of the default list, newest first."""
        return archive.index(default_list)

    @router.get("/archive/{issue_id}", response_class=HTMLResponse)
    def archive_issue(issue_id: int) -> HTMLResponse:
        """The web version of one sent issue, every story included."""
        return archive.issue(issue_id)

    @router.get("/feed.xml")
    def feed() -> Response:
        """An Atom feed of the sent issues."""
        return archive.feed(default_list)

    return router
