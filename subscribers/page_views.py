"""What a public page answers, and the Jinja templates it is rendered from.

A page handler (`subscribers.pages`) answers with an `Answer`: a status, a body and the few
things the web face must add when it turns it into an HTTP response (the subscribe form's
cookie, the work that runs once the answer has gone out). Nothing here knows HTTP.

The pages are server-rendered and work without JavaScript; every value is autoescaped, and a
template that names an unknown value fails instead of rendering blank. A handler that refuses
a request raises `Refused` (a status and one sentence for the reader), which `Views.refused`
turns into the error page; a form whose CSRF token does not fit gets `Views.retry`.
"""

from __future__ import annotations

import zoneinfo
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from typing import Any, Literal

import jinja2

from mailer.brand import Brand
from mailer.text import dated_title
from subscribers.rules import DEFAULT_CADENCE, DEFAULT_SEND_HOUR, DEFAULT_TIMEZONE
from subscribers.tokens import InvalidToken

__all__ = ["Answer", "Refused", "Site", "Views", "time_zones"]


@cache
def time_zones() -> tuple[str, ...]:
    """The IANA zones a reader picks from: "Area/City" names and UTC, sorted (no aliases)."""
    areas = {"Africa", "America", "Antarctica", "Asia", "Atlantic", "Australia", "Europe"}
    areas |= {"Indian", "Pacific"}
    chosen = {n for n in zoneinfo.available_timezones() if n.split("/", 1)[0] in areas}
    return ("UTC", *sorted(chosen))


@dataclass(frozen=True, slots=True)
class Site:
    """Who the pages belong to: the publisher's name and each list's look (mailer.brand)."""

    publisher: str = "Newsletter"
    #: Each list's brand by slug; "" is the publisher's own.
    brands: Callable[[str], Brand] = field(default=lambda slug: Brand())
    #: The slug of the list whose archive is at /archive.
    default_slug: str = ""

    def home(self, slug: str | None) -> str:
        """The front page a list's pages lead back to (``/`` for the default list and None)."""
        return f"/lists/{slug}" if slug and slug != self.default_slug else "/"

    def archive(self, slug: str | None) -> str:
        """A list's archive page (the default list's short one, the publisher's for None)."""
        return "/archive" if not slug or slug == self.default_slug else f"/lists/{slug}/archive"


@dataclass(frozen=True, slots=True)
class Answer:
    """What a page handler answers: a status and a body, and what the web face must add."""

    status: int
    body: str
    #: "html" for a page; "text" for the plain answer of RFC 8058's one-click POST.
    kind: Literal["html", "text"] = "html"
    #: The value of the subscribe form's cookie, to be set (again) with this answer.
    form_cookie: str | None = None
    #: Work to start once the answer has gone out (the half of a subscribe that looks people up).
    after: Callable[[], Awaitable[None]] | None = None


#: A next step offered under an error: a sentence, and a link's text and address (or None).
NextStep = tuple[str, str | None, str | None]


class Refused(Exception):
    """A request that gets an error page: status, a message for the reader and a way on."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        title: str = "Something is not right",
        next: NextStep | None = None,
    ) -> None:
        self.status = status
        self.title = title
        self.next = next or ("", "Go to the front page", "/")
        super().__init__(message)


class Views:
    """The page templates (subscribers/templates), loaded once."""

    def __init__(self, site: Site | None = None) -> None:
        self.site = site or Site()
        folder = resources.files("subscribers").joinpath("templates")
        self.env = jinja2.Environment(
            loader=jinja2.FileSystemLoader(str(folder)),
            autoescape=True,
            undefined=jinja2.StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
        )
        # The form's preselected answers are the rules' defaults, not numbers of its own.
        self.env.globals.update(
            default_cadence=DEFAULT_CADENCE.value,
            default_hour=DEFAULT_SEND_HOUR,
            default_timezone=DEFAULT_TIMEZONE,
            time_zones=time_zones(),
            brand_of=self.site.brands,
        )
        # An issue's title as in its e-mails: ISO days written out, never broken.
        self.env.filters["dated_title"] = dated_title

    def page(
        self, template: str, status: int = 200, *, slug: str | None = None, **context: Any
    ) -> Answer:
        """Render one page template as the answer, dressed as list ``slug``'s or the publisher's."""
        brand = self.site.brands(slug or "")
        chrome = {
            "brand": brand,
            "publisher": self.site.publisher,
            "home": self.site.home(slug),
            "archive_url": self.site.archive(slug),
        }
        return Answer(status, self.env.get_template(template).render(**(chrome | context)))

    def refused(self, exc: Refused, slug: str | None = None) -> Answer:
        """The error page for a refused request, with a way on."""
        return self.page(
            "message.html", exc.status, slug=slug, title=exc.title, message=str(exc), next=exc.next
        )

    def retry(self, exc: InvalidToken) -> Answer:
        """The page for a form whose CSRF token has expired or belongs to another page."""
        return self.page(
            "message.html",
            400,
            title="Please try again",
            message=f"{str(exc)[:1].upper()}{str(exc)[1:]}.",
            next=("Go back, reload the page and send the form again.", None, None),
        )

    def text(self, body: str, status: int = 200) -> Answer:
        """A plain-text answer (for mail providers, not people)."""
        return Answer(status, body, kind="text")
