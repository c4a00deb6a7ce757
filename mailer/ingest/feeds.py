"""Feeds: an RSS, Atom or JSON Feed document → the entries it offers, each with what to ingest.

RSS (0.9x, 1.0, 2.0) and Atom are read by feedparser, which copes with the wide variety of what
real publishers serve (wrong encodings, undeclared entities, namespaces); JSON Feed (1.0, 1.1)
is a plain JSON document and is read here. Each entry is reduced to the few things a poller
needs: a stable key (the entry's id, else its link, else its title and date), its title, link
and dates, and its body — the full HTML or text when the feed carries it, else only a summary,
in which case the poller fetches the entry's page.

A document that is no feed (an HTML page, an error page, truncated XML with no entry) raises
FeedError with the reason, so a poller can say why it ingested nothing.
"""

from __future__ import annotations

import calendar
import datetime as dt
import hashlib
import html
import json
import re
from dataclasses import dataclass
from typing import Any

__all__ = ["FeedEntry", "FeedError", "ParsedFeed", "parse_feed"]

# Below this much text a feed's body is a teaser, not the issue: the poller reads the page —
# unless the body has the structure of a piece (several paragraphs or headings), as a short
# article carried whole does and a teaser never has.
FULL_TEXT_CHARS = 600
STRUCTURED_CHARS = 200
_BLOCKS = re.compile(r"<(?:p|h[1-6]|li|blockquote)[\s>]", re.IGNORECASE)
_PARAGRAPH_BREAK = re.compile(r"\n\s*\n")
# How an excerpt ends (WordPress' "[…]", "Continue reading →", "Read more"): the page has the rest.
_EXCERPT_END = re.compile(
    r"(?:\[(?:…|\.\.\.|&hellip;)\]|continue reading\W*|read more\W*|read the full \w+\W*|"
    r"阅读全文\W*|阅读原文\W*)$",
    re.IGNORECASE,
)
_TAGS = re.compile(r"<[^>]+>")
_JSON_FEED = re.compile(r"^https?://jsonfeed\.org/version/\d", re.IGNORECASE)


class FeedError(ValueError):
    """The document is not a feed briefmail can read (the message says why)."""


@dataclass(frozen=True, slots=True)
class FeedEntry:
    """One entry of a feed, as a poller ingests it."""

    #: What identifies the entry across polls (its id, link, or title and date).
    key: str
    title: str
    link: str | None
    published: dt.datetime | None
    updated: dt.datetime | None
    #: The entry's full body (HTML when ``html``, else plain text); None when it has none.
    body: str | None
    html: bool
    #: The feed's short description of the entry, when it has one.
    summary: str | None

    @property
    def full(self) -> bool:
        """Whether the body is the whole entry (a short body is a teaser: read the page)."""
        if self.body is None:
            return False
        text = _text(self.body)
        length = len(text)
        if _EXCERPT_END.search(text[-80:]):
            return False
        if length >= FULL_TEXT_CHARS:
            return True
        blocks = (
            len(_BLOCKS.findall(self.body))
            if self.html
            else len(_PARAGRAPH_BREAK.split(self.body.strip()))
        )
        return blocks >= 3 and length >= STRUCTURED_CHARS

    @property
    def digest(self) -> str:
        """A digest of what the feed says of the entry: a changed one is ingested again."""
        parts = [self.title, self.link or "", self.body or "", self.summary or ""]
        return hashlib.sha256("\x1f".join(parts).encode("utf-8")).hexdigest()

    @property
    def day(self) -> dt.date | None:
        """The date the entry was published (or last updated), for issues that print none."""
        when = self.published or self.updated
        return when.date() if when else None


@dataclass(frozen=True, slots=True)
class ParsedFeed:
    """A feed's title and its entries, in the feed's order."""

    title: str
    kind: str
    entries: tuple[FeedEntry, ...]


def parse_feed(data: bytes, url: str = "") -> ParsedFeed:
    """Read an RSS, Atom or JSON Feed document; FeedError when it is none of them."""
    head = data.lstrip(b"\xef\xbb\xbf \t\r\n")
    if head.startswith(b"{"):
        return _parse_json_feed(head)
    return _parse_xml_feed(data, url)


def _parse_json_feed(data: bytes) -> ParsedFeed:
    """A JSON Feed (https://jsonfeed.org/version/1.1)."""
    try:
        document = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise FeedError(f"not a feed: invalid JSON ({exc})") from exc
    if not isinstance(document, dict) or not _JSON_FEED.match(str(document.get("version", ""))):
        raise FeedError("not a feed: JSON without a jsonfeed.org 'version'")
    items = document.get("items")
    if not isinstance(items, list):
        raise FeedError("not a feed: a JSON Feed needs an 'items' list")
    entries = []
    for number, item in enumerate(items, 1):
        if not isinstance(item, dict):
            raise FeedError(f"item {number}: an item must be an object")
        entries.append(_json_entry(item))
    return ParsedFeed(str(document.get("title") or ""), "json", tuple(entries))


def _json_entry(item: dict[str, Any]) -> FeedEntry:
    """One JSON Feed item."""
    title = _text(str(item.get("title") or ""))
    link = _string(item.get("url")) or _string(item.get("external_url"))
    published = _iso(item.get("date_published"))
    updated = _iso(item.get("date_modified"))
    body_html, body_text = _string(item.get("content_html")), _string(item.get("content_text"))
    summary = _string(item.get("summary"))
    key = _string(item.get("id")) or link or _fallback_key(title, published)
    return FeedEntry(
        key=key,
        title=title or _first_words(body_text or _text(body_html or "")),
        link=link,
        published=published,
        updated=updated,
        body=body_html or body_text,
        html=body_html is not None,
        summary=summary,
    )


def _parse_xml_feed(data: bytes, url: str) -> ParsedFeed:
    """RSS or Atom, through feedparser."""
    import feedparser  # loaded only by the poller

    parsed = feedparser.parse(data, response_headers={"content-location": url} if url else None)
    version = str(parsed.get("version") or "")
    if not version:
        reason = parsed.get("bozo_exception")
        detail = f": {' '.join(str(reason).split())}" if reason else ""
        raise FeedError(f"not a feed: no RSS or Atom document found{detail}")
    feed_title = _text(str(parsed.feed.get("title") or ""))
    # An entry with nothing in it (what a truncated document leaves of its last item) is none.
    entries = tuple(
        entry
        for entry in map(_xml_entry, parsed.entries)
        if entry.title or entry.link or entry.body or entry.summary
    )
    if parsed.get("bozo") and not entries:
        raise FeedError(f"not a feed: malformed {version} ({parsed.get('bozo_exception')})")
    return ParsedFeed(feed_title, version, entries)


def _xml_entry(entry: Any) -> FeedEntry:
    """One feedparser entry."""
    title = _text(str(entry.get("title") or ""))
    link = _string(entry.get("link"))
    # dict.get, not entry.get: feedparser maps a missing "updated" to "published" with a warning.
    published = _struct(dict.get(entry, "published_parsed"))
    updated = _struct(dict.get(entry, "updated_parsed"))
    body, is_html = None, False
    for content in entry.get("content") or []:
        value = _string(content.get("value"))
        if value and (body is None or len(value) > len(body)):
            body, is_html = value, "html" in str(content.get("type", "text/html"))
    summary = _string(entry.get("summary"))
    if body is None and summary and len(_text(summary)) >= FULL_TEXT_CHARS:
        # Many RSS feeds put the whole post in <description>: it is the body, not a teaser.
        body, is_html = summary, "html" in str(entry.get("summary_detail", {}).get("type", "html"))
    key = _string(entry.get("id")) or link or _fallback_key(title, published)
    return FeedEntry(
        key=key,
        title=title or _first_words(_text(body or summary or "")),
        link=link,
        published=published,
        updated=updated,
        body=body,
        html=is_html,
        summary=summary,
    )


def _string(value: object) -> str | None:
    """A non-blank string, stripped; None otherwise."""
    return value.strip() or None if isinstance(value, str) else None


def _text(markup: str) -> str:
    """The visible text of an HTML fragment as one line, roughly (titles and judged bodies)."""
    return " ".join(html.unescape(_TAGS.sub(" ", markup)).split())


def _first_words(text: str, words: int = 12) -> str:
    """A title for an untitled entry (microblog feeds have none)."""
    return " ".join(text.split()[:words])


def _struct(value: Any) -> dt.datetime | None:
    """feedparser's UTC time.struct_time as an aware datetime."""
    if value is None:
        return None
    try:
        return dt.datetime.fromtimestamp(calendar.timegm(value), dt.UTC)
    except (OverflowError, ValueError, TypeError):
        return None


def _iso(value: object) -> dt.datetime | None:
    """An RFC 3339 date of a JSON Feed (a naive one is taken as UTC); None when unreadable."""
    if not isinstance(value, str):
        return None
    try:
        when = dt.datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    return when if when.tzinfo else when.replace(tzinfo=dt.UTC)


def _fallback_key(title: str, published: dt.datetime | None) -> str:
    """A key for an entry with neither id nor link: its title and date."""
    return f"{title}|{published.isoformat() if published else ''}"
