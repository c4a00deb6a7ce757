"""The weekly bulletin: a title block with the period, then headline + paragraph items.

NEWSLETTER                                   <- title block: lines before the period
INFORMATION AND COMMUNICATION TECHNOLOGY     <-
8 - 14 June 2026                             <- the issue's period
Headline of the first item                   <- one short line
Paragraph text ... **(China Daily)**         <- paragraph(s); the source in bold brackets
Headline of an item without a source
Paragraph text without a source.             <- the item keeps source null

Page chrome around and between the items (share bars, a comments widget) is dropped
(:mod:`mailer.ingest.chrome`) before the blocks are read; line numbers stay those of the file.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field

from mailer.content import Format, Issue, Story
from mailer.ingest.base import Block, SourceText, blocks, clean_text
from mailer.ingest.chrome import drop_chrome
from mailer.ingest.dates import parse_range

__all__ = ["looks_like_bulletin", "parse_bulletin"]

# "(?<!\s)": a search tries the leading "\s*" once per run of spaces, not once per space.
_SOURCE = re.compile(r"(?<!\s)\s*\*\*\s*\(([^()*]{1,120})\)\s*\*\*\s*$")
_SENTENCE_END = re.compile(r"[.。!！;；:：]$")
_MAX_HEADLINE_WORDS = 30
_TITLE_BLOCK_LINES = 12


def looks_like_bulletin(lines: tuple[str, ...]) -> str | None:
    """Say why these lines look like a bulletin, or return None."""
    sources = sum(1 for line in lines if _SOURCE.search(line))
    try:
        period = _find_period(_blocks(lines)[:_TITLE_BLOCK_LINES])
    except ValueError as exc:
        # A period that names no real day is still a bulletin's shape: parsing names the line.
        if not sources:
            return None
        return f"a period line ({exc}) and {sources} paragraphs ending in **(Source)**"
    if period and sources:
        where, (start, end), _ = period
        return (
            f"a period {start:%d %b %Y}–{end:%d %b %Y} at line {where.line} and "
            f"{sources} paragraphs ending in **(Source)**"
        )
    return None


@dataclass
class _Item:
    headline: str
    line: int
    paragraphs: list[str] = field(default_factory=list)
    source: str | None = None


def parse_bulletin(source: SourceText) -> Issue:
    """Parse a bulletin; raise IngestError naming the line of the first problem."""
    found = _blocks(source.lines)
    try:
        period = _find_period(found[:_TITLE_BLOCK_LINES])
    except ValueError as exc:
        raise source.error(found[0].line if found else 1, str(exc)) from None
    if period is None:
        raise source.error(1, "no period (e.g. '8 - 14 June 2026') in the title block")
    period_block, (start, end), index = period
    title_blocks = found[:index]
    if not title_blocks:
        raise source.error(period_block.line, "no title before the period")
    items = _read_items(source, found[index + 1 :])
    if not items:
        raise source.error(period_block.line, "no items after the period")
    stories = tuple(
        Story(
            position=n,
            title=clean_text(item.headline),
            summary=clean_text("\n\n".join(item.paragraphs)),
            source=item.source,
            line=item.line,
        )
        for n, item in enumerate(items, start=1)
    )
    title = " — ".join(clean_text(b.text) for b in title_blocks)
    return Issue(
        title=title,
        date=start,
        period_end=end if end != start else None,
        stories=stories,
        format=Format.BULLETIN,
    )


def _blocks(lines: tuple[str, ...]) -> list[Block]:
    """The file's blocks once chrome lines are blanked (so every block keeps its line)."""
    numbered = [(n, raw) for n, raw in enumerate(lines) if raw.strip()]
    kept = {n for n, _ in drop_chrome(numbered, lambda raw: bool(_SOURCE.search(raw)))}
    return blocks(tuple(raw if n in kept else "" for n, raw in enumerate(lines)))


def _find_period(candidates: list[Block]) -> tuple[Block, tuple[dt.date, dt.date], int] | None:
    for index, block in enumerate(candidates):
        # The period stands on a line of its own; a date inside a paragraph is not one.
        if len(block.lines) == 1 and len(block.text) <= 60 and (found := parse_range(block.text)):
            return block, found, index
    return None


def _is_headline(block: Block) -> bool:
    text = block.text
    return (
        len(block.lines) == 1
        and not _SOURCE.search(text)
        and not _SENTENCE_END.search(text)
        and len(text.split()) <= _MAX_HEADLINE_WORDS
    )


def _read_items(source: SourceText, body: list[Block]) -> list[_Item]:
    items: list[_Item] = []
    for block in body:
        current = items[-1] if items else None
        if _is_headline(block):
            if current is not None and not current.paragraphs:
                raise source.error(current.line, f"headline {current.headline[:50]!r} has no text")
            items.append(_Item(headline=block.text, line=block.line))
            continue
        if current is None:
            raise source.error(block.line, "text before the first headline")
        if current.source is not None:
            # The previous item already ended with its source: this paragraph lacks a headline.
            raise source.error(
                block.line, f"paragraph without a headline after the item at line {current.line}"
            )
        text = " ".join(block.lines)
        if match := _SOURCE.search(text):
            current.source = match.group(1).strip()
            text = text[: match.start()]
        current.paragraphs.append(text.strip())
    if items and not items[-1].paragraphs:
        raise source.error(items[-1].line, f"headline {items[-1].headline[:50]!r} has no text")
    return items
