"""Titles readers understand: shouting calmed, near-miss list names fixed, subjects filled."""

from __future__ import annotations

import datetime
import re

from rapidfuzz import fuzz

# Kept in capitals because readers know them that way.
ACRONYMS = frozenset({"AI", "ICT", "5G", "6G", "US", "EU", "LLM", "UK", "UN", "IT", "API"})
# Lower-cased inside a title, as in ordinary English title case.
SMALL_WORDS = frozenset(
    {
        "a",
        "an",
        "and",
        "as",
        "at",
        "but",
        "by",
        "for",
        "in",
        "of",
        "on",
        "or",
        "the",
        "to",
        "vs",
        "via",
        "with",
    }
)
NAME_SIMILARITY = 85
_DASHES = re.compile(r"\s+[—–-]\s+")
_WORD = re.compile(r"[A-Za-z0-9][A-Za-z0-9'+]*")


class SubjectTemplateError(ValueError):
    """A list's subject template names an unknown field or has a bad format."""


def _is_shouting(title: str) -> bool:
    """Return True when every letter of the title is a capital (and there are some)."""
    letters = [c for c in title if c.isalpha()]
    return len(letters) > 3 and all(c.isupper() for c in letters)


def normalise_title(title: str) -> str:
    """Turn an ALL-CAPS title into title case, keeping acronyms; other titles are left alone."""
    if not _is_shouting(title):
        return title
    first = True

    def fix(match: re.Match[str]) -> str:
        nonlocal first
        word = match.group(0)
        was_first, first = first, False
        if word.upper() in ACRONYMS:
            return word.upper()
        lower = word.lower()
        if not was_first and lower in SMALL_WORDS:
            return lower
        return lower[:1].upper() + lower[1:]

    return _WORD.sub(fix, title)


def list_name_fix(title: str, list_name: str) -> str:
    """Use the list's own name where the title's name part (before a dash) differs only slightly."""
    parts = _DASHES.split(title, maxsplit=1)
    head = parts[0].strip()
    if head == list_name or not head:
        return title
    if fuzz.ratio(head.casefold(), list_name.casefold()) < NAME_SIMILARITY:
        return title
    return list_name + title[len(parts[0]) :] if len(parts) > 1 else list_name


def fill_subject(
    template: str,
    slug: str,
    *,
    list_name: str,
    title: str,
    date: datetime.date,
    top_story: str,
    stories: int,
) -> str:
    """Fill a list's subject template; a bad field or format names `[lists.SLUG] subject`."""
    fields = {
        "list": list_name,
        "title": title,
        "date": date,
        "top_story": top_story,
        "stories": stories,
    }
    try:
        return template.format(**fields).strip()
    except KeyError as exc:
        raise SubjectTemplateError(
            f"[lists.{slug}] subject: unknown field {{{exc.args[0]}}}; "
            "use list, title, date, top_story, stories"
        ) from None
    except (ValueError, IndexError, AttributeError) as exc:
        raise SubjectTemplateError(
            f"[lists.{slug}] subject: bad template {template!r}: {exc}"
        ) from None
