"""The daily brief: a header, then numbered stories with bulleted, labelled fields.

China AI Brief — 2026-06-26            <- title; the issue date is the YYYY-MM-DD in it
Posted on June 26, 2026 at 09:30 PM    <- optional
Top Stories                            <- optional, like any other header line
1. Story title
  • Source · 2026-06-26                <- the one unlabelled bullet: source · published
  • Summary: ...                       <- required; prose may continue on following lines
  • Why It Matters: ...
  • URL: Read more                     <- an address, or only the link's text

Page chrome around and between the stories (a blog post's share bar, its comments widget) is
dropped (:mod:`mailer.ingest.chrome`); story headings and bullets are never chrome.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field

from mailer.content import Format, Issue, Story
from mailer.ingest.base import SourceText
from mailer.ingest.chrome import drop_chrome
from mailer.ingest.dates import find_date

__all__ = ["MAX_STORIES", "looks_like_brief", "parse_brief", "split_link"]

# Greedy to the end of the line, stripped in code: a lazy group before "\s*$" retries the
# whitespace at every character, which is quadratic in a long line's runs of spaces.
_HEADING = re.compile(r"^\s{0,3}(\d{1,3})[.)]\s+(\S.*)")
_BULLET = re.compile(r"^\s*[•●▪◦*-]\s+(.*)")
# A heading whose number is too long to be a story's (see MAX_STORIES).
_LONG_HEADING = re.compile(r"^\s{0,3}([1-9]\d{3,8})[.)]\s+\S")
#: Story numbers have at most three digits: a brief holds at most this many stories.
MAX_STORIES = 999
_FIELD = re.compile(r"^(summary|why it matters|url|link|source)\s*[:：]\s*(.*)$", re.IGNORECASE)
_POSTED = re.compile(r"^posted on\b", re.IGNORECASE)
_ADDRESS = re.compile(r"^https?://[^\s<>\"]+$", re.IGNORECASE)
_MARKDOWN_LINK = re.compile(r"^\[(.+)\]\((https?://[^\s)]+)\)$", re.IGNORECASE)
# The text ends in a non-space so "\s*" is tried once per run of spaces, not once per space.
_TRAILING_LINK = re.compile(r"^(.*?\S)\s*[(<](https?://[^\s)>]+)[)>]$", re.IGNORECASE)
_SOURCE_SEPARATOR = " · "

_PROSE_FIELDS = {"summary", "why_it_matters"}


def looks_like_brief(lines: tuple[str, ...]) -> str | None:
    """Say why these lines look like a daily brief, or return None."""
    headings = sum(1 for line in lines if _HEADING.match(line))
    summaries = sum(1 for line in lines if re.match(r"^\s*[•●▪◦*-]\s+summary\s*:", line, re.I))
    if headings and summaries:
        return f"{headings} numbered headings and {summaries} '• Summary:' bullets"
    return None


def split_link(value: str) -> tuple[str | None, str | None]:
    """Split a URL field into (url, link_text); link text never becomes an address."""
    value = value.strip()
    if not value:
        return None, None
    if _ADDRESS.match(value):
        return value, None
    for pattern in (_MARKDOWN_LINK, _TRAILING_LINK):
        if match := pattern.match(value):
            return match.group(2), match.group(1).strip()
    return None, value


@dataclass
class _Draft:
    """A story while its lines are being read; becomes a Story once complete."""

    number: int
    title: str
    line: int
    #: Each field's lines; prose that wraps adds lines, joined once at the end (joining them
    #: line by line would copy the whole field each time: quadratic in its length).
    fields: dict[str, list[str]] = field(default_factory=dict)
    last: str | None = None

    def set(self, source: SourceText, name: str, value: str, line: int) -> None:
        if name in self.fields:
            raise source.error(line, f"story {self.number} has a second '{_label(name)}' line")
        self.fields[name] = [value]
        self.last = name

    def get(self, name: str) -> str:
        return " ".join(self.fields.get(name, ()))

    def finish(self, source: SourceText) -> Story:
        summary = self.get("summary").strip()
        if not summary:
            raise source.error(self.line, f"story {self.number} '{self.title}' has no Summary")
        url, link_text = split_link(self.get("url"))
        source_name, published = _split_source(self.get("source"))
        return Story(
            line=self.line,
            position=self.number,
            title=self.title,
            summary=summary,
            source=source_name,
            published=published,
            why_it_matters=self.get("why_it_matters").strip() or None,
            url=url,
            link_text=link_text,
        )


def parse_brief(source: SourceText) -> Issue:
    """Parse a daily brief; raise IngestError naming the line of the first problem."""
    header: list[tuple[int, str]] = []
    drafts: list[_Draft] = []
    numbered = [(n, raw) for n, raw in enumerate(source.lines, start=1) if raw.strip()]
    for number, raw in drop_chrome(numbered, _is_structure):
        line = raw.strip()
        heading = _HEADING.match(raw)
        if heading is None and (long := _LONG_HEADING.match(raw)):
            _refuse_long_number(source, drafts, int(long.group(1)), number)
        if heading and not _BULLET.match(raw):
            drafts.append(_start_story(source, drafts, heading, number))
        elif not drafts:
            header.append((number, line))
        elif bullet := _BULLET.match(raw):
            _read_bullet(source, drafts[-1], bullet.group(1), number)
        else:
            _continue_field(source, drafts[-1], line, number)
    if not drafts:
        raise source.error(1, "no numbered stories found (expected lines like '1. Title')")
    title, date, posted = _read_header(source, header)
    stories = tuple(draft.finish(source) for draft in drafts)
    return Issue(title=title, date=date, stories=stories, format=Format.BRIEF, posted=posted)


def _is_structure(raw: str) -> bool:
    """Story headings and field bullets: never chrome, and they end a widget block."""
    return bool(_HEADING.match(raw) or _BULLET.match(raw) or _POSTED.match(raw.strip()))


def _start_story(
    source: SourceText, drafts: list[_Draft], heading: re.Match[str], line: int
) -> _Draft:
    number = int(heading.group(1))
    expected = len(drafts) + 1
    # Never renumber: a gap is a lost story and a repeat a merged one; the editor must decide.
    if 1 <= number < expected:
        first = drafts[number - 1].line
        raise source.error(line, f"story number {number} is used twice (first at line {first})")
    if number != expected:
        missing = f"story {expected} is missing" if expected > 1 else "numbering must start at 1"
        raise source.error(line, f"story numbered {number} follows {expected - 1}: {missing}")
    return _Draft(number=number, title=heading.group(2).rstrip(), line=line)


def _refuse_long_number(source: SourceText, drafts: list[_Draft], number: int, line: int) -> None:
    # "1000. Title" right after story 999 is a story we cannot number, not prose to append.
    if number == len(drafts) + 1:
        raise source.error(
            line,
            f"story {number}: story numbers go up to {MAX_STORIES}; "
            "split the brief into two issues",
        )


def _read_bullet(source: SourceText, draft: _Draft, text: str, line: int) -> None:
    text = text.rstrip()
    labelled = _FIELD.match(text)
    if labelled:
        name = labelled.group(1).lower().replace(" ", "_")
        draft.set(source, "url" if name == "link" else name, labelled.group(2).strip(), line)
    elif "source" not in draft.fields:
        draft.set(source, "source", text, line)
    else:
        raise source.error(line, f"story {draft.number}: unexpected bullet {text[:40]!r}")


def _continue_field(source: SourceText, draft: _Draft, text: str, line: int) -> None:
    # Prose wraps onto following lines in some exports; anything else after a field is a mistake
    # we refuse rather than guess at (it would silently become part of a link or a source).
    last = draft.last
    if last is None or last not in _PROSE_FIELDS:
        hint = f" (story numbers go up to {MAX_STORIES})" if _LONG_HEADING.match(text) else ""
        raise source.error(line, f"story {draft.number}: text outside a field: {text[:40]!r}{hint}")
    draft.fields[last].append(text)


def _read_header(
    source: SourceText, header: list[tuple[int, str]]
) -> tuple[str, dt.date, str | None]:
    if not header:
        raise source.error(1, "no title before the first story")
    title = header[0][1]
    posted = next((text for _, text in header if _POSTED.match(text)), None)
    for number, text in header:
        try:
            found = find_date(text)
        except ValueError as exc:
            raise source.error(number, str(exc)) from None
        if found:
            return title, found, posted
    raise source.error(header[0][0], "no issue date in the header (expected 'Title — YYYY-MM-DD')")


def _split_source(value: str) -> tuple[str | None, str | None]:
    value = value.strip()
    if not value:
        return None, None
    name, sep, published = value.rpartition(_SOURCE_SEPARATOR)
    if not sep:
        return value, None
    return name.strip() or None, published.strip() or None


def _label(name: str) -> str:
    return {"why_it_matters": "Why It Matters", "url": "URL"}.get(name, name.title())
