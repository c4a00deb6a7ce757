"""Text for e-mails and pages: one-line summaries, wrapped plain text, dates, inline markup.

Pure functions of strings and content, used by the renderer's templates (as Jinja filters) and
by the public pages: a story's one-line summary for compact layouts, the reader's reference
to a source, an issue's day or period, a title whose ISO days are written out and never broken,
and the small markup a summary may carry (``**bold**``, paragraphs).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import re
import textwrap
import unicodedata
from collections.abc import Sequence

from markupsafe import Markup, escape

from mailer.content import Issue, Story

__all__ = [
    "dated_title",
    "inline_html",
    "one_line",
    "paragraphs_html",
    "period_text",
    "plain_text",
    "preheader_for",
    "reference_text",
    "summary_line",
    "wrap",
    "wrap_paragraphs",
]

#: Link texts that say nothing about the article; shown as no reference at all.
_EMPTY_LINK_TEXTS = frozenset({"read more", "more", "link", "here", "full story", "source"})
_WIDTH = 78
_STRONG = re.compile(r"\*\*(?=\S)(.+?)(?<=\S)\*\*")
#: Width of a compact one-line summary, in columns (a CJK character takes two).
_ONE_LINE = 170
_ISO_DAY = re.compile(r"\b(\d{4})-(\d{2})-(\d{2})\b|\b\d{4}-W\d{2}\b")
_SENTENCE_END = re.compile(r'(?:(?<=[.!?])|(?<=[.!?]["”’)]))\s+(?=["“‘(]?[A-Z0-9])|(?<=[。！？])')
#: A "sentence" shorter than this is an abbreviation ("U.S.") or a fragment: take the next too.
_SHORTEST_SENTENCE = 40


def summary_line(summary: str | None, limit: int = 140) -> str | None:
    """An issue's printed summary as preview text: one line, cut at a word; None if none."""
    if not summary:
        return None
    return _clip(" ".join(plain_text(summary).split()), limit, " ·,;")


def preheader_for(stories: Sequence[Story], limit: int = 140) -> str:
    """The preview text inbox lists show: the first story titles, cut at a word boundary."""
    return _clip(" · ".join(plain_text(s.title) for s in stories), limit, " ·")


def _clip(text: str, limit: int, trailer: str) -> str:
    """``text`` if it fits ``limit`` characters, else cut at a word, ``trailer`` stripped, + "…"."""
    if len(text) <= limit:
        return text
    return text[: limit - 1].rsplit(" ", 1)[0].rstrip(trailer) + "…"


def one_line(text: str, width: int = _ONE_LINE) -> str:
    """The first sentence of a summary, cut at a word to about ``width`` columns (CJK: two each).

    Emphasis mark-up is dropped: a cut could leave half of a ``**`` pair.
    """
    flat = " ".join(plain_text(text).split("\n\n")[0].split())
    first = ""
    for sentence in _SENTENCE_END.split(flat):
        # CJK sentences end with their own full stop and are joined without a space.
        first += "" if not first or first.endswith(("。", "！", "？")) else " "
        first += sentence
        if _columns(first) >= _SHORTEST_SENTENCE:
            break
    columns = 0
    for end, char in enumerate(first):
        columns += _columns(char)
        if columns > width:
            cut = first[:end]
            # Cut at a space when there is one near the end; CJK text has none, cut anywhere.
            spaced = cut.rsplit(" ", 1)[0] if " " in cut[end // 2 :] else cut
            return spaced.rstrip(" ,;:–—-") + "…"
    return first


def _columns(text: str) -> int:
    """How many columns text takes: East Asian wide and full-width characters take two."""
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


def reference_text(story: Story) -> str | None:
    """What to print for a story without an address: its link text, unless that says nothing."""
    text = (story.link_text or "").strip()
    if not text or text.lower().rstrip(".…") in _EMPTY_LINK_TEXTS:
        return None
    return text


def period_text(issue: Issue) -> str:
    """The issue's day ("Friday, 26 June 2026") or period ("8–14 June 2026")."""
    start, end = issue.date, issue.period_end
    if end is None or end == start:
        return f"{start:%A}, {_day(start)}"
    if (start.year, start.month) == (end.year, end.month):
        return f"{start.day}–{end.day} {end:%B %Y}"
    if start.year == end.year:
        return f"{start.day} {start:%B} – {end.day} {end:%B %Y}"
    return f"{start.day} {start:%B %Y} – {end.day} {end:%B %Y}"


def _day(day: dt.date) -> str:
    return f"{day.day} {day:%B %Y}"


def dated_title(title: str) -> Markup:
    """A title as HTML, escaped, with its ISO days written out and no date broken across lines.

    "China AI Brief — 2026-06-22" shows as "China AI Brief — 22 June 2026" (a phone broke the
    ISO form after "2026-06-"); an ISO week ("2026-W27") is kept, but never broken either.
    """

    def unbreakable(match: re.Match[str]) -> str:
        text = match.group(0)
        if match.group(1):
            with contextlib.suppress(ValueError):  # 2026-13-45 is no day: shown as written
                text = _day(dt.date(*map(int, match.group(1, 2, 3))))
        return f'<span class="nowrap">{text}</span>'

    return Markup(_ISO_DAY.sub(unbreakable, str(escape(title))))


def inline_html(text: str) -> Markup:
    """Escape text for HTML, turning ``**words**`` into <strong>."""
    return Markup(_STRONG.sub(r"<strong>\1</strong>", str(escape(text))))


def paragraphs_html(text: str) -> Markup:
    """Escape text for HTML as paragraphs (blank-line separated), with emphasis."""
    parts = [p.strip() for p in str(text).split("\n\n") if p.strip()]
    if len(parts) <= 1:
        return inline_html(parts[0] if parts else "")
    return Markup("".join(f"<p>{inline_html(p)}</p>" for p in parts))


def plain_text(text: str) -> str:
    """Text without emphasis mark-up, for the plain-text part and preview text."""
    return _STRONG.sub(r"\1", str(text))


def wrap(text: str, indent: str = "", first: str | None = None) -> str:
    """Wrap a paragraph at 78 columns; ``first`` is the first line's indent (default ``indent``).

    Words longer than a line (CJK text has no spaces) are broken, unless the paragraph holds an
    address: a broken URL no longer works, a long line does.
    """
    flat = " ".join(plain_text(text).split())
    return textwrap.fill(
        flat,
        width=_WIDTH,
        initial_indent=indent if first is None else first,
        subsequent_indent=indent,
        break_long_words="://" not in flat,
        break_on_hyphens=False,
    )


def wrap_paragraphs(text: str, indent: str = "") -> str:
    """Wrap each blank-line separated paragraph, keeping a blank line between them."""
    return "\n\n".join(wrap(p, indent) for p in str(text).split("\n\n") if p.strip())
