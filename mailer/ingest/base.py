"""What every source format shares: the error type, decoding, text clean-up, the text shape.

The text shape is what markup (a web page, Markdown) is turned into for the text parsers, with
the links it held; :func:`attach_links` gives those links to the parsed stories.
"""

from __future__ import annotations

import codecs
import datetime as dt
import re
from bisect import bisect_left
from dataclasses import dataclass, field, replace
from pathlib import Path

from mailer.content import Format, Issue, Story

__all__ = [
    "Block",
    "IngestError",
    "Link",
    "ShapeWriter",
    "Shaped",
    "SourceText",
    "attach_links",
    "blocks",
    "clean_text",
    "decode_source",
    "header_line",
    "plain_strong",
]


class IngestError(Exception):
    """A source file could not be read as an issue; names the file and the line."""

    def __init__(self, path: str | Path, line: int, reason: str) -> None:
        self.path = str(path)
        self.line = line
        self.reason = reason
        super().__init__(f"{self.path}:{line}: {reason}")


@dataclass(frozen=True, slots=True)
class SourceText:
    """Decoded source: its name, its lines (without line endings) and the day it was received.

    The received day becomes the date of an issue whose format prints none (articles).
    """

    path: str
    lines: tuple[str, ...]
    received: dt.date = field(default_factory=dt.date.today)

    def error(self, line: int, reason: str) -> IngestError:
        """Build an IngestError for this source at 1-based ``line``."""
        return IngestError(self.path, line, reason)


@dataclass(frozen=True, slots=True)
class Block:
    """A run of non-blank lines: where it starts (1-based) and its stripped lines."""

    line: int
    lines: tuple[str, ...]

    @property
    def text(self) -> str:
        """The block's lines joined by single spaces."""
        return " ".join(self.lines)


def blocks(lines: tuple[str, ...] | list[str], first_line: int = 1) -> list[Block]:
    """Split lines into blocks separated by blank lines."""
    found: list[Block] = []
    current: list[str] = []
    start = first_line
    for number, raw in enumerate(lines, start=first_line):
        text = raw.strip()
        if text:
            if not current:
                start = number
            current.append(text)
        elif current:
            found.append(Block(start, tuple(current)))
            current = []
    if current:
        found.append(Block(start, tuple(current)))
    return found


# Byte-order marks decide the encoding outright; longest first so UTF-32 is not read as UTF-16.
_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)
# C0 controls other than tab, newline and carriage return never belong in an issue.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def decode_source(data: bytes, path: str | Path, received: dt.date | None = None) -> SourceText:
    """Decode a newsroom text file (BOM-marked UTF-8/16/32, else UTF-8, else GB18030)."""
    encoding = next((enc for bom, enc in _BOMS if data.startswith(bom)), None)
    candidates = [encoding] if encoding else ["utf-8", "gb18030"]
    last: UnicodeDecodeError | None = None
    for candidate in candidates:
        try:
            text = data.decode(candidate)
        except UnicodeDecodeError as exc:
            last = exc
            continue
        # splitlines() would also split on U+2028 and friends, which may sit inside a
        # paragraph; only real line endings end a line here.
        lines = tuple(text.replace("\r\n", "\n").replace("\r", "\n").split("\n"))
        for number, line in enumerate(lines, start=1):
            if match := _CONTROL.search(line):
                hint = " (is it UTF-16 without a byte-order mark?)" if "\x00" in line else ""
                raise IngestError(
                    path, number, f"control character U+{ord(match.group()):04X} in text{hint}"
                )
        return SourceText(str(path), lines, received or dt.date.today())
    assert last is not None
    where = data[: last.start].count(b"\n") + 1
    raise IngestError(
        path, where, f"cannot decode text as {' or '.join(candidates)}: {last.reason}"
    )


# "(?<!\s)": a search tries "\s*" once per run of spaces, from its start, not from each of its
# spaces (which is quadratic in the run's length); the matches are the same.
_CITATIONS = re.compile(r"(?:(?<!\s)\s*\[\d{1,3}(?:[-–,]\s*\d{1,3})*\])+")
_SPACES = re.compile(r"[ \t\u00a0]{2,}")


def clean_text(text: str) -> str:
    """Remove citation markers like ``[3][5]`` and collapse runs of spaces."""
    text = _CITATIONS.sub("", text)
    return _SPACES.sub(" ", text).strip()


@dataclass(frozen=True, slots=True)
class Link:
    """A link found in markup: the 1-based line of the shaped text it sits on, where it goes."""

    line: int
    #: An absolute http(s) address (relative ones were resolved or dropped while shaping).
    href: str
    text: str


@dataclass(frozen=True, slots=True)
class Shaped:
    """Markup (a web page, Markdown) turned into the plain text the format parsers read.

    One block per paragraph, heading or list item, blank lines between; numbered items keep
    their numbers and bulleted ones get a '•'. The links and the page's own title and date
    (from its metadata or front matter) are kept beside the text for after parsing.
    """

    lines: tuple[str, ...]
    links: tuple[Link, ...] = ()
    title: str | None = None
    date: dt.date | None = None
    #: What the markup was, for the detection's reason: "an HTML page", "Markdown".
    kind: str = "markup"

    def insert(self, index: int, text: str) -> Shaped:
        """A copy with ``text`` as a line before 0-based ``index`` (links below move down)."""
        lines = (*self.lines[:index], text, "", *self.lines[index:])
        moved = tuple(
            Link(link.line + 2 if link.line > index else link.line, link.href, link.text)
            for link in self.links
        )
        return Shaped(lines, moved, self.title, self.date, self.kind)


class ShapeWriter:
    """Collects blocks of shaped text and the links on each line."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.links: list[Link] = []

    def block(self, text: str, links: list[tuple[str, str]] | None = None) -> None:
        """Add one block (a line; skipped when empty) with the links its text holds."""
        # A page may spell controls as character references (&#7;); none belongs in an issue.
        text = _SPACE_RUNS.sub(" ", _CONTROL.sub(" ", text)).strip()
        if not text:
            return
        self.lines.append(text)
        line = len(self.lines)
        self.links.extend(Link(line, href, label) for href, label in links or ())
        self.lines.append("")

    def shaped(self, title: str | None, date: dt.date | None, kind: str) -> Shaped:
        """The text written so far; the title goes first when the text does not start with it."""
        result = Shaped(tuple(self.lines), tuple(self.links), title, date, kind)
        leading = [line for line in self.lines[:6] if line]
        if title and header_line(title) not in (header_line(line) for line in leading[:3]):
            result = result.insert(0, title)
        return result


_SPACE_RUNS = re.compile(r"\s+")
# Markup around a whole line or a field's label ("**Summary:** …") is layout, not emphasis:
# the text formats print neither.
_WHOLE_STRONG = re.compile(r"^\*\*([^*]+)\*\*$")
_LABEL_STRONG = re.compile(r"^((?:[-•]\s+)?)\*\*([^*]{1,40}?)\s*([:：])\s*\*\*\s*")
_LABEL_STRONG_OUTSIDE = re.compile(r"^((?:[-•]\s+)?)\*\*([^*]{1,40}?)\*\*\s*([:：])\s*")


def plain_strong(text: str) -> str:
    """Drop '**' around a whole line, a numbered title or a leading label ('**URL:** …')."""
    text = text.strip()
    number = re.match(r"^(\d{1,3}[.)]\s+)(.*)$", text)
    prefix, rest = (number.group(1), number.group(2)) if number else ("", text)
    if whole := _WHOLE_STRONG.match(rest):
        return prefix + whole.group(1).strip()
    for pattern in (_LABEL_STRONG, _LABEL_STRONG_OUTSIDE):
        if label := pattern.match(rest):
            return f"{prefix}{label.group(1)}{label.group(2)}{label.group(3)} {rest[label.end() :]}"
    return prefix + rest


def header_line(text: str) -> str:
    """A line compared loosely: case and spacing aside."""
    return _SPACE_RUNS.sub(" ", text).strip().casefold()


# Link text that stands for "the story itself" rather than naming something in it.
_STORY_LINK = re.compile(
    r"^(?:read (?:more|on|the (?:full )?(?:story|article|report))|(?:source|story) link|source|"
    r"full (?:story|article|text)|continue reading|original(?: (?:article|story))?|more|link)"
    r"\W*$",
    re.IGNORECASE,
)


def attach_links(issue: Issue, links: tuple[Link, ...]) -> Issue:
    """Give each story without an address the link of its own part of the page.

    A story's part runs from its first line to the next story's. The link chosen is, in order:
    one on the story's title line, one whose text is what the copy printed instead of an address
    ("Read more", an article title), one reading "Read more"/"Source link"; else, except in an
    article (whose inline links cite, not locate), the part's first link.
    """
    stories = list(issue.stories)
    starts = [story.line or 0 for story in stories]
    ordered = sorted(links, key=lambda link: link.line)
    lines = [link.line for link in ordered]
    for index, story in enumerate(stories):
        if story.url or story.line is None:
            continue
        # Each story's links by bisection: a page of a thousand stories stays linear-ish.
        end = starts[index + 1] if index + 1 < len(starts) else lines[-1] + 1 if lines else 0
        here = ordered[bisect_left(lines, story.line) : bisect_left(lines, end)]
        chosen = _pick(story, here, whole=issue.format == Format.ARTICLE)
        if chosen is not None:
            stories[index] = replace(story, url=chosen.href)
    return replace(issue, stories=tuple(stories))


def _pick(story: Story, links: list[Link], whole: bool) -> Link | None:
    printed = header_line(story.link_text or "")
    for test in (
        lambda link: link.line == story.line,
        lambda link: bool(printed) and header_line(link.text) == printed,
        lambda link: bool(_STORY_LINK.match(link.text.strip())),
    ):
        if found := next((link for link in links if test(link)), None):
            return found
    return None if whole or not links else links[0]
