"""Markdown sources: an issue written in Markdown → the text shape the format parsers read.

Parsed by markdown-it-py (CommonMark), never by regular expressions over the text: headings,
paragraphs, list items and table rows become blocks (see :class:`mailer.ingest.base.Shaped`),
numbered items keep their numbers, ``**strong**`` stays emphasis, other inline mark-up becomes
its text and ``[text](url)`` keeps its address beside the text. Optional front matter
(``---`` / ``title: …`` / ``date: …`` / ``---``) gives the title and date when the text has none.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urljoin, urlsplit

from markdown_it import MarkdownIt
from markdown_it.token import Token

from mailer.ingest.base import Shaped, ShapeWriter, plain_strong

__all__ = ["MARKDOWN_SUFFIXES", "looks_like_markdown", "shape_markdown", "split_front_matter"]

#: File name endings that say a source is Markdown.
MARKDOWN_SUFFIXES = frozenset({".md", ".markdown", ".mdown", ".mkd"})
_FRONT_MATTER = re.compile(r"\A\ufeff?---[ \t]*\n(.*?)\n---[ \t]*(?:\n|\Z)", re.DOTALL)
_FRONT_FIELD = re.compile(r"^([A-Za-z_][\w-]*)\s*:\s*(.*?)\s*$")
_ATX_HEADING = re.compile(r"^ {0,3}#{1,6}[ \t]+\S")
_INLINE_LINK = re.compile(r"\[[^\]\n]+\]\((?:https?://|/)[^)\s]+\)")
_ISO_DAY = re.compile(r"(\d{4}-\d{2}-\d{2})")


def looks_like_markdown(path: str | Path, lines: tuple[str, ...]) -> str | None:
    """Say why a source is Markdown (its suffix, or headings with links, or front matter)."""
    if Path(path).suffix.lower() in MARKDOWN_SUFFIXES:
        return f"a {Path(path).suffix} file"
    text = "\n".join(lines[:400])
    if _FRONT_MATTER.match(text):
        return "Markdown front matter"
    headings = sum(1 for line in lines if _ATX_HEADING.match(line))
    links = len(_INLINE_LINK.findall(text))
    if headings and links:
        return f"{headings} Markdown headings and {links} links"
    return None


@dataclass(frozen=True, slots=True)
class _List:
    ordered: bool
    start: int


def split_front_matter(text: str) -> tuple[dict[str, str], str]:
    """The ``key: value`` fields of leading front matter, and the text after it."""
    match = _FRONT_MATTER.match(text)
    if not match:
        return {}, text
    fields: dict[str, str] = {}
    for line in match.group(1).split("\n"):
        if field := _FRONT_FIELD.match(line):
            fields[field.group(1).lower()] = field.group(2).strip().strip("\"'")
    return fields, text[match.end() :]


def shape_markdown(lines: tuple[str, ...], base_url: str | None = None) -> Shaped:
    """Markdown lines as shaped text with their absolute links, title and date."""
    fields, body = split_front_matter("\n".join(lines))
    tokens = MarkdownIt("commonmark").enable("table").parse(body)
    writer = _MarkdownWriter(base_url)
    writer.tokens(tokens)
    date = None
    if found := _ISO_DAY.search(fields.get("date", "")):
        try:
            date = dt.date.fromisoformat(found.group(1))
        except ValueError:
            date = None
    return writer.shaped(fields.get("title") or None, date, "Markdown")


class _MarkdownWriter(ShapeWriter):
    """Walks markdown-it's block tokens, keeping list numbering and table rows."""

    def __init__(self, base_url: str | None) -> None:
        super().__init__()
        self.base_url = base_url
        self.lists: list[_List] = []
        self.prefix = ""
        self.row: list[str] | None = None

    def tokens(self, tokens: list[Token]) -> None:
        """Write one block per heading, paragraph, list item, table row or code line."""
        for token in tokens:
            kind = token.type
            if kind in {"bullet_list_open", "ordered_list_open"}:
                start = int(token.attrGet("start") or 1)
                self.lists.append(_List(kind == "ordered_list_open", start))
            elif kind in {"bullet_list_close", "ordered_list_close"}:
                self.lists.pop()
            elif kind == "list_item_open":
                current = self.lists[-1]
                self.prefix = f"{token.info or current.start}. " if current.ordered else "• "
            elif kind == "tr_open":
                self.row = []
            elif kind == "tr_close" and self.row is not None:
                self.block("| " + " | ".join(self.row) + " |")
                self.row = None
            elif kind == "inline":
                self.inline_block(token)
            elif kind in {"fence", "code_block"}:
                for line in token.content.split("\n"):
                    self.block(line)

    def inline_block(self, token: Token) -> None:
        """A heading, paragraph or table cell; the first paragraph of an item gets its mark."""
        text, links = self.inline(token.children or [])
        if self.row is not None:
            self.row.append(text.strip())
            return
        self.block(plain_strong(self.prefix + text), links)
        self.prefix = ""

    def inline(self, children: list[Token]) -> tuple[str, list[tuple[str, str]]]:
        """Running text with ``**strong**`` kept and the links (absolute only) it holds."""
        parts: list[str] = []
        links: list[tuple[str, str]] = []
        open_links: list[tuple[str | None, int]] = []
        for child in children:
            kind = child.type
            if kind in {"text", "code_inline", "html_inline"}:
                parts.append(child.content)
            elif kind in {"softbreak", "hardbreak"}:
                parts.append(" ")
            elif kind in {"strong_open", "strong_close"}:
                parts.append("**")
            elif kind == "image":
                parts.append(child.content)
            elif kind == "link_open":
                open_links.append((self.resolve(str(child.attrGet("href") or "")), len(parts)))
            elif kind == "link_close" and open_links:
                href, start = open_links.pop()
                if href:
                    links.append((href, " ".join("".join(parts[start:]).split())))
        return "".join(parts), links

    def resolve(self, href: str) -> str | None:
        """An absolute http(s) address, or None (relative without a base, mail, anchors)."""
        absolute = urljoin(self.base_url, href.strip()) if self.base_url else href.strip()
        parts = urlsplit(absolute)
        if parts.scheme.lower() in {"http", "https"} and parts.netloc:
            return absolute
        return None
