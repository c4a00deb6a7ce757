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

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from importlib import resources
from typing import Any, Literal

import jinja2

from subscribers.rules import DEFAULT_CADENCE, DEFAULT_SEND_HOUR, DEFAULT_TIMEZONE
from subscribers.tokens import InvalidToken

__all__ = ["Answer", "Refused", "Views"]


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


class Refused(Exception):
    """A request that gets an error page: status and a message for the reader."""

    def __init__(self, status: int, message: str) -> None:
        self.status = status
        super().__init__(message)


class Views:
    """The page templates (subscribers/templates), loaded once."""

    def __init__(self) -> None:
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
        )

    def page(self, name: str, status: int = 200, **context: Any) -> Answer:
        """Render one page template as the answer."""
        return Answer(status, self.env.get_template(name).render(**context))

    def refused(self, exc: Refused) -> Answer:
        """The error page for a refused request."""
        return self.page("message.html", exc.status, title="Sorry", message=str(exc))

    def retry(self, exc: InvalidToken) -> Answer:
        """The page for a form whose CSRF token has expired or belongs to another page."""
        return self.page("message.html", 400, title="Please try again", message=f"{exc}.")

    def text(self, body: str, status: int = 200) -> Answer:
        """A plain-text answer (for mail providers, not people)."""
        return Answer(status, body, kind="text")
