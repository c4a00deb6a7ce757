"""Newsletter lists: a publisher runs several (a daily brief, a weekly bulletin, ...)."""

from __future__ import annotations

import re

from sqlalchemy import select
from sqlalchemy.orm import Session

from subscribers.models import NewsletterList

__all__ = ["ListError", "UnknownList", "all_lists", "create_list", "default_list_id", "get_list"]

_SLUG = re.compile(r"^[a-z0-9][a-z0-9-]{0,63}$")


class ListError(ValueError):
    """A list cannot be created as asked; the message says which field is wrong."""


class UnknownList(LookupError):
    """No list has this slug; the message lists the ones that exist."""

    def __init__(self, slug: str, known: list[str]) -> None:
        self.slug = slug
        hint = f"known lists: {', '.join(known)}" if known else "run `briefmail init` first"
        super().__init__(f"no list {slug!r} ({hint})")


def default_list_id(slug: str, name: str, from_address: str) -> str:
    """An RFC 2919 List-Id on the sender's domain: 'Name <slug.domain>'."""
    # Imported here: mailer.message loads the renderer (mjml), which listing or looking up a
    # list never needs, and every command looks one up.
    from mailer.message import domain_of

    return f"{name} <{slug}.{domain_of(from_address)}>"


def create_list(
    session: Session, slug: str, name: str, from_address: str, list_id: str | None = None
) -> NewsletterList:
    """Add a list; ListError if the slug is malformed or taken, or the sender has no domain."""
    if not _SLUG.match(slug):
        raise ListError(f"slug {slug!r}: use lowercase letters, digits and dashes")
    if session.scalar(select(NewsletterList).where(NewsletterList.slug == slug)):
        raise ListError(f"slug {slug!r}: a list with this slug exists")
    try:
        list_id = list_id or default_list_id(slug, name, from_address)
    except ValueError as exc:
        raise ListError(f"from {from_address!r}: {exc}") from exc
    newsletter = NewsletterList(slug=slug, name=name, from_address=from_address, list_id=list_id)
    session.add(newsletter)
    session.flush()
    return newsletter


def get_list(session: Session, slug: str) -> NewsletterList:
    """The list with this slug, or UnknownList."""
    found = session.scalar(select(NewsletterList).where(NewsletterList.slug == slug))
    if found is None:
        raise UnknownList(slug, [n.slug for n in all_lists(session)])
    return found


def all_lists(session: Session) -> list[NewsletterList]:
    """Every list, by slug."""
    return list(session.scalars(select(NewsletterList).order_by(NewsletterList.slug)))
