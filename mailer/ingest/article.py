"""A long-form article: title, hashtags, sections (heading + paragraphs) and background notes.

    China's AI Momentum Accelerates: ...          <- title (the first line)
    #artificial_intelligence #markets #china      <- hashtags, mapped to topics by the taxonomy
    Market Performance and Forecasts               <- a heading: short, no closing punctuation
    Chinese AI stocks are expected to ... [3][5]   <- paragraphs; citation markers are removed
    ```About the Organizations Mentioned            <- from here on, background sections
    MiniMax                                        <- one per organisation
    **MiniMax** is a Shanghai-based ...            <- **bold** stays as emphasis mark-up

Around that, what a copied web page adds:

    Saturday, Jan 3, 2026 7:31 am ET3min read     <- a dateline dates the issue (Issue.posted)
    AI Summary                                     <- a "… Summary" / "Key points" / "要点"
    - Foundry output rose for a third month.       <-   heading with bullet items is the
    - Two new fabs open in March.                  <-   summary: items one per line, as printed
    Share / Listen to this article / Comments ...  <- page chrome: dropped wherever it stands
    About Example Photonics                        <- "About <Name>" starts background, too

Page chrome is what :mod:`mailer.ingest.chrome` recognises. Only a standalone dateline dates the
article (the first one; every later one is dropped as metadata); a date mentioned in prose does
not, and an article with no dateline is dated the day it was received (``posted`` stays None).
Lines may or may not be separated by blank lines.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field

from mailer.content import Format, Issue, Role, Story
from mailer.ingest.base import SourceText, clean_text
from mailer.ingest.chrome import drop_chrome
from mailer.ingest.dates import is_dateline, read_dateline

__all__ = ["looks_like_article", "parse_article"]

_HASHTAGS = re.compile(r"^(?:#[^\s#]+\s*){1,30}$")
_BACKGROUND = re.compile(
    r"^about the (?:organi[sz]ations?|companies|company|people|entities|players)"
    r"(?: (?:mentioned|involved|in this (?:article|story)))?\s*:?$",
    re.IGNORECASE,
)
# "About Example Photonics", "About the Author": a press release's or a post's background.
_ABOUT_NAME = re.compile(r"^About (?:the )?[A-Z][\w&.,'’-]*(?: [\w&.,'’()-]+){0,5}$")
# "Aime Summary", "Key takeaways", "TL;DR", "本文要点": a heading over the piece's bullet summary.
_SUMMARY_HEADING = re.compile(
    r"^(?:[\w'’ .-]{0,30}\s)?(?:summary|key points|key takeaways|takeaways|tl;\s?dr|highlights)"
    r"\s*[:：]?$|^.{0,8}(?:摘要|要点|导读)\s*[:：]?$",
    re.IGNORECASE,
)
_SUMMARY_ITEM = re.compile(r"^[-•*·●▪]\s+(\S.*)$")
_CJK = re.compile(r"[\u3400-\u9fff]")
# The closing alternative starts only where a run of spaces or backticks starts, so a long run
# is scanned once, not once per character (quadratic).
_FENCE = re.compile(r"^`{3,}\s*|(?<![\s`])\s*`{3,}$")
_SENTENCE_END = re.compile(r"[.。!！?？;；,，:：…\"”)\]]$")
# A title may ask or exclaim ("Who Is Setting One Up?"), never end like a running sentence.
_TITLE_END = re.compile(r"[.。;；,，:：…]$")
_ABBREVIATION_END = re.compile(
    r"\b(?:Co|Corp|Inc|Ltd|Plc|LLC|GmbH|AG|SA|S\.A|N\.V|Bros|Jr|Sr|Dr|St)\.$"
)
_MAX_HEADING_WORDS = 14
_MAX_HEADING_CHARS = 120
_LIST_MARKER = re.compile(r"^\s*(?:\d{1,3}[.)]|[•●▪◦])\s+")


def looks_like_article(lines: tuple[str, ...]) -> str | None:
    """Say why these lines look like an article, or return None."""
    numbered = [(n, line.strip()) for n, line in enumerate(lines, start=1) if line.strip()]
    content = [(n, text) for n, text in drop_chrome(numbered, _is_structure)]
    while content and is_dateline(content[0][1]):
        content = content[1:]
    if len(content) < 3 or _LIST_MARKER.match(content[0][1]):
        return None
    if sum(1 for _, line in content if _LIST_MARKER.match(line)) > len(content) // 3:
        return None  # numbered or bulleted items: a brief, not an article
    tags = next((n for n, line in content[:6] if _HASHTAGS.match(line)), None)
    if tags is not None:
        return f"hashtags at line {tags}"
    background = next((n for n, line in content if _BACKGROUND.match(_FENCE.sub("", line))), None)
    if background is not None:
        return f"an 'About the …' background block at line {background}"
    prose = sum(1 for _, line in content if _is_paragraph(line))
    if prose >= 2 and not _TITLE_END.search(content[0][1]):
        return f"a title and {prose} paragraphs of prose"
    return None


def _is_paragraph(line: str) -> bool:
    """A line of prose for detection: 25 words, or 40 CJK characters (Chinese has no spaces)."""
    return len(line.split(None, 25)) >= 25 or len(_CJK.findall(line[:200])) >= 40


def _is_structure(text: str) -> bool:
    """Lines that are the article's own structure: never chrome, and they end a widget block."""
    return bool(_HASHTAGS.match(text) or _BACKGROUND.match(_FENCE.sub("", text.strip())))


@dataclass
class _Section:
    title: str
    line: int
    role: Role
    paragraphs: list[str] = field(default_factory=list)


def parse_article(source: SourceText) -> Issue:
    """Parse an article; raise IngestError naming the line of the first problem."""
    content = [
        (n, _FENCE.sub("", raw.strip()).strip()) for n, raw in enumerate(source.lines, start=1)
    ]
    content = drop_chrome([(n, text) for n, text in content if text], _is_structure)
    summary, content = _take_summary(content)
    date, posted, content = _take_datelines(source, content)
    if not content:
        raise source.error(1, "the article is empty")
    title_line, title = content[0]
    if _HASHTAGS.match(title):
        raise source.error(title_line, "the first line must be the title, not hashtags")
    body = _Body(source, title, background_title=(title_line, "About the organisations mentioned"))
    for number, text in content[1:]:
        body.take(number, text)
    sections = body.sections_or_raise(title_line)
    stories = tuple(
        Story(
            position=n,
            title=clean_text(section.title),
            summary="\n\n".join(section.paragraphs),
            role=section.role,
            line=section.line,
        )
        for n, section in enumerate(sections, start=1)
    )
    return Issue(
        title=clean_text(title),
        date=date or source.received,
        stories=stories,
        format=Format.ARTICLE,
        posted=posted,
        tags=tuple(dict.fromkeys(body.tags)),
        summary=summary,
    )


def _take_summary(content: list[tuple[int, str]]) -> tuple[str | None, list[tuple[int, str]]]:
    """The first bullet summary block as its items, one per line, and the lines without it."""
    for index, (_, text) in enumerate(content[:-1]):
        if _SUMMARY_HEADING.match(text) and _SUMMARY_ITEM.match(content[index + 1][1]):
            end = index + 1
            items: list[str] = []
            while end < len(content) and (item := _SUMMARY_ITEM.match(content[end][1])):
                items.append(clean_text(item.group(1)))
                end += 1
            return "\n".join(items), content[:index] + content[end:]
    return None, content


def _take_datelines(
    source: SourceText, content: list[tuple[int, str]]
) -> tuple[dt.date | None, str | None, list[tuple[int, str]]]:
    """The first dateline's date and text, and the lines without any dateline (metadata)."""
    date: dt.date | None = None
    posted: str | None = None
    rest: list[tuple[int, str]] = []
    for number, text in content:
        try:
            found = read_dateline(text)
        except ValueError as exc:
            raise source.error(number, str(exc)) from None
        if found is None:
            rest.append((number, text))
        elif date is None:
            date, posted = found, text
    return date, posted, rest


@dataclass
class _Body:
    """What the lines after the title have said so far: one line at a time, in order.

    A heading is held back (``pending_heading``) until the next line shows whether it heads a
    section or, followed by another heading, a part whose name joins the next title.
    """

    source: SourceText
    title: str
    tags: list[str] = field(default_factory=list)
    sections: list[_Section] = field(default_factory=list)
    role: Role = Role.SECTION
    pending_heading: tuple[int, str] | None = None
    #: Where background text with no organisation heading of its own is said to start.
    background_title: tuple[int, str] = (1, "About the organisations mentioned")

    def take(self, number: int, text: str) -> None:
        """Read one content line: hashtags, a background marker, a heading or a paragraph."""
        if _HASHTAGS.match(text):
            self.tags.extend(tag.lstrip("#") for tag in text.split())
            return
        if _BACKGROUND.match(text):
            self.role, self.pending_heading = Role.BACKGROUND, None
            self.background_title = (number, text)
            return
        if _is_heading(text):
            if _ABOUT_NAME.match(text):
                self.role = Role.BACKGROUND  # "About Example Photonics": background from here on
            if self.pending_heading is not None:
                # Two headings in a row: the first heads a part; keep it in the next title.
                number, text = self.pending_heading[0], f"{self.pending_heading[1]}: {text}"
            self.pending_heading = (number, text)
            return
        self._paragraph(number, text)

    def _paragraph(self, number: int, text: str) -> None:
        sections = self.sections
        if self.pending_heading is not None:
            sections.append(_Section(self.pending_heading[1], self.pending_heading[0], self.role))
            self.pending_heading = None
        elif not sections:
            sections.append(_Section(self.title, number, self.role))
        elif sections[-1].role != self.role:
            # Background text with no organisation heading: it must not join the last section.
            sections.append(_Section(self.background_title[1], self.background_title[0], self.role))
        sections[-1].paragraphs.append(clean_text(text))

    def sections_or_raise(self, title_line: int) -> list[_Section]:
        """The sections read, once the last line has been taken; an error if none or unfinished."""
        if self.pending_heading is not None:
            number, heading = self.pending_heading
            raise self.source.error(number, f"heading {heading[:50]!r} has no text")
        if not self.sections:
            raise self.source.error(title_line, "the article has no paragraphs")
        return self.sections


def _is_heading(text: str) -> bool:
    # "Example Vision Co." ends in a full stop but is a name, not a sentence.
    ends_like_sentence = _SENTENCE_END.search(text) and not _ABBREVIATION_END.search(text)
    return (
        len(text) <= _MAX_HEADING_CHARS
        and len(text.split()) <= _MAX_HEADING_WORDS
        and not ends_like_sentence
        and "**" not in text
    )
