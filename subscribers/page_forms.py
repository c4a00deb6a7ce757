"""What the public pages read and refuse: the forms' fields, the visitor, the error pages.

The handlers in `subscribers.pages` take these plain values (the web face fills them from the
request) and answer a refused link or request with one of the `Refused` pages here, each with
a sentence for the reader and a next step (never a bare "not valid").
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from subscribers.models import ConsentSource
from subscribers.page_views import Refused
from subscribers.rules import DEFAULT_CADENCE, DEFAULT_SEND_HOUR, DEFAULT_TIMEZONE
from subscribers.service import Context
from subscribers.tokens import CONFIRM_MAX_AGE, InvalidToken

__all__ = [
    "FORM_MAX_AGE",
    "WORDING",
    "PreferencesForm",
    "SubscribeForm",
    "UnsubscribeForm",
    "Visitor",
    "link_refused",
    "no_longer_valid",
    "sentence",
    "too_many",
]

#: The version of the form wording, stored with every consent given through these pages.
#: Change it whenever the text a person agrees to changes.
WORDING = "2026-12-web-2"

#: How long a subscribe form (its CSRF token and the cookie it is bound to) stays good.
FORM_MAX_AGE = 2 * 3600


def no_longer_valid() -> Refused:
    """A link whose subscription is gone (erased, or its key changed since it was made)."""
    return Refused(
        400,
        "This link no longer works: its subscription has changed since it was sent.",
        title="This link no longer works",
        next=("The links in the newest e-mail from us always work.", "Go to the front page", "/"),
    )


def too_many() -> Refused:
    """Too many subscribe requests from one address of the network."""
    return Refused(
        429,
        "There have been too many subscription requests from your network in the last hour.",
        title="Too many requests",
        next=("Please wait a while and try again.", "Go to the front page", "/"),
    )


def sentence(text: str) -> str:
    """``text`` as a sentence: a capital first letter and a full stop."""
    text = text.strip()
    if not text:
        return text
    return text[0].upper() + text[1:] + ("" if text.endswith((".", "!", "?")) else ".")


def link_refused(exc: InvalidToken, *, confirming: bool = False) -> Refused:
    """The page for a link that cannot be read (expired, cut short, or not ours)."""
    if confirming:
        return Refused(
            400,
            f"{sentence(str(exc))} Confirmation links work for {CONFIRM_MAX_AGE // 86400} days.",
            title="This link no longer works",
            next=("To subscribe, ask for a new link:", "subscribe again", "/subscribe"),
        )
    return Refused(
        400,
        sentence(str(exc)),
        title="This link no longer works",
        next=("The links in the newest e-mail from us always work.", "Go to the front page", "/"),
    )


@dataclass(frozen=True, slots=True)
class Visitor:
    """Who sent a request, as the web face read it: what consent records and limits need."""

    #: The client's address (the peer, or what a trusted proxy forwarded for).
    ip: str
    user_agent: str | None = None
    #: The visitor's subscribe-form cookie ("" when none came with the request).
    form_cookie: str = ""
    #: Whether the request says it comes from one of our own pages (Fetch Metadata, Origin…).
    same_origin: bool = False

    def context(self) -> Context:
        """Where a consent given by this visitor came from, as the consent log records it."""
        return Context(
            source=ConsentSource.WEB, ip=self.ip, user_agent=self.user_agent, wording=WORDING
        )


@dataclass(frozen=True, slots=True)
class SubscribeForm:
    """The fields of the subscribe form, as posted."""

    email: str = ""
    lists: Sequence[str] = ()
    topics: Sequence[str] = ()
    cadence: str = DEFAULT_CADENCE.value
    timezone: str = DEFAULT_TIMEZONE
    send_hour: int = DEFAULT_SEND_HOUR
    csrf: str = ""
    #: The honeypot: hidden from people, filled in by form-filling robots.
    website: str = ""
    #: "address" (the first step: the address alone) or "choices" (everything: subscribe).
    step: str = "choices"


@dataclass(frozen=True, slots=True)
class PreferencesForm:
    """The fields of the preferences form, as posted."""

    topics: Sequence[str] = ()
    cadence: str = DEFAULT_CADENCE.value
    timezone: str = DEFAULT_TIMEZONE
    send_hour: int = DEFAULT_SEND_HOUR
    csrf: str = ""


@dataclass(frozen=True, slots=True)
class UnsubscribeForm:
    """An unsubscribe POST: the page's button (with CSRF) or a mail provider's one-click."""

    #: The body was ``List-Unsubscribe=One-Click`` (RFC 8058): no CSRF, a plain answer.
    one_click: bool = False
    csrf: str = ""
    #: Leave every list the subscriber is on, not just the link's.
    all_lists: bool = False
