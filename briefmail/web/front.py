"""The front pages: the publisher's at ``/`` and each list's at ``/lists/{slug}``.

A front page is what a stranger sees first, so it says what the newsletter is (the brand's
description), asks for the address alone (the topics and cadence come on the next step,
`subscribers.pages`), and shows the newest sent issue in full as a web page, the past issues
and the feeds. Only sent issues appear, as in the archive: an approved issue is not on the
web before it is in the readers' inboxes.

``/`` is the publisher's page when there are several lists (each list with its description
and newest issue, one form to choose among them) and the one list's page when there is one.
Every value is read here and handed to the page templates; the subscribe form, its token and
its cookie are `PublicPages.front_page`'s.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from markupsafe import Markup
from sqlalchemy.orm import Session, sessionmaker

from briefmail.web.archive import sent_issues
from briefmail.web.forms import PageAdapter
from mailer.content import GENERAL, Issue
from mailer.text import inline_html, paragraphs_html, period_text
from scheduler.editions import StoredIssue, StoredStory
from subscribers.lists import UnknownList, all_lists, get_list
from subscribers.models import NewsletterList
from subscribers.page_views import Answer, Refused
from subscribers.pages import PublicPages, Visitor

__all__ = ["FrontPages", "error_page", "front_router"]

#: How many past issues a front page lists (the archive has them all).
PAST_ISSUES = 8


def _story(story: StoredStory, label: Callable[[str], str]) -> dict[str, Any]:
    """One story as the page shows it: escaped markup, topic pills (none when untagged)."""
    url = story.url if story.url and story.url.startswith(("http://", "https://")) else None
    return {
        "title": Markup(inline_html(story.title or "")),
        "url": url,
        "meta": " · ".join(p for p in (story.source, story.published) if p),
        "source": story.source,
        "summary": Markup(paragraphs_html(story.summary or "")),
        "why": Markup(inline_html(story.why_it_matters)) if story.why_it_matters else None,
        "pills": [label(t) for t in story.topics if t != GENERAL],
    }


def _when(row: StoredIssue) -> str:
    return period_text(Issue(row.title, row.date, (), period_end=row.period_end))


@dataclass(frozen=True, slots=True)
class FrontPages:
    """The front pages, each a plain method answering an `Answer`."""

    sessions: sessionmaker[Session]
    pages: PublicPages
    #: A topic id's label for readers (mailer.topics.Taxonomy.label).
    label: Callable[[str], str]
    #: The list whose archive is at /archive (its issues' short addresses).
    default_slug: str

    def _archive(self, newsletter: NewsletterList) -> str:
        short = newsletter.slug == self.default_slug
        return "/archive" if short else f"/lists/{newsletter.slug}/archive"

    def _feed(self, newsletter: NewsletterList) -> str:
        short = newsletter.slug == self.default_slug
        return "/feed.xml" if short else f"/lists/{newsletter.slug}/feed.xml"

    def _issues(self, session: Session, newsletter: NewsletterList) -> dict[str, Any]:
        """A list's newest issue in full and the ones before it, as the templates want them."""
        rows = sent_issues(session, newsletter, PAST_ISSUES + 1)
        archive = self._archive(newsletter)
        past = [
            {"title": r.title, "url": f"{archive}/{r.id}", "when": _when(r), "date": r.date}
            for r in rows[1:]
        ]
        latest = None
        if rows:
            row = rows[0]
            latest = {
                "title": row.title,
                "url": f"{archive}/{row.id}",
                "when": _when(row),
                "date": row.date,
                "summary": Markup(paragraphs_html(row.summary)) if row.summary else None,
                "stories": [_story(s, self.label) for s in row.stories],
            }
        return {
            "slug": newsletter.slug,
            "name": newsletter.name,
            "archive": archive,
            "feed": self._feed(newsletter),
            "latest": latest,
            "past": past,
        }

    def newsletter(self, slug: str, visitor: Visitor) -> Answer:
        """One list's front page: what it is, the form's first step, its newest issue."""
        with self.sessions() as session:
            try:
                newsletter = get_list(session, slug)
            except UnknownList:
                return self.pages.views.refused(
                    Refused(
                        404,
                        f"There is no newsletter {slug!r} here.",
                        title="No such newsletter",
                        next=("See every newsletter on", "the front page", "/"),
                    )
                )
            content = self._issues(session, newsletter)
        return self.pages.front_page(slug, visitor, newsletter=content, lists_shown=[])

    def publisher(self, visitor: Visitor) -> Answer:
        """``/``: the only list's front page, or the publisher's with every list."""
        with self.sessions() as session:
            lists = all_lists(session)
            content: dict[str, Any] | None
            shown: list[dict[str, Any]] = []
            if len(lists) == 1:
                content = self._issues(session, lists[0])
            else:
                shown = [self._issues(session, n) for n in lists]
                default = [c for c in shown if c["slug"] == self.default_slug]
                content = default[0] if default else (shown[0] if shown else None)
        slug = lists[0].slug if len(lists) == 1 else None
        return self.pages.front_page(slug, visitor, newsletter=content, lists_shown=shown)


_ERRORS = {
    404: (
        "Page not found",
        "There is no page at this address. It may have moved, or the link was cut short.",
    ),
    405: ("This page cannot do that", "The page exists, but not for what the browser asked."),
    400: (
        "The form was not filled in as expected",
        "Something in the form was missing or not in the right shape.",
    ),
}


def error_page(pages: PublicPages) -> Callable[[Request, int], Response]:
    """A browser's page for a refusal of the router (unknown address, wrong method, bad form)."""

    def page(request: Request, status: int) -> Response:
        title, message = _ERRORS.get(
            status, ("Something went wrong", "The page could not be shown. Please try again.")
        )
        refused = Refused(
            status, message, title=title, next=("Find the newsletters on", "the front page", "/")
        )
        answer = pages.views.refused(refused)
        return HTMLResponse(answer.body, status_code=answer.status)

    return page


def front_router(front: FrontPages, http: PageAdapter) -> APIRouter:
    """The publisher's front page and each list's."""
    router = APIRouter()

    @router.get("/", response_class=HTMLResponse)
    def publisher_page(request: Request) -> Response:
        """The front page: what the newsletters are, a short form, the newest issue."""
        return http.respond(front.publisher(http.visitor(request)))

    @router.get("/lists/{slug}", response_class=HTMLResponse)
    def list_page(request: Request, slug: str) -> Response:
        """One list's front page."""
        return http.respond(front.newsletter(slug, http.visitor(request)))

    return router
