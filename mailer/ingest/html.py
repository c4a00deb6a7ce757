"""Web pages: an issue saved as HTML (a blog post with its site around it) → the text shape.

The main content is found by trafilatura (its XML output keeps headings, lists, bold and links);
this module only walks that XML into the blocks the text parsers read (see
:class:`mailer.ingest.base.Shaped`) and reads what the page says of itself — ``<base href>``,
its canonical address, its title and publication date — from the page's head with the standard
library's HTML parser. Links are made absolute against ``<base href>``, else the canonical
address, else the address the page was fetched from; a link that stays relative is dropped.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import xml.etree.ElementTree as ET
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urljoin, urlsplit

from mailer.ingest.base import IngestError, Shaped, ShapeWriter, plain_strong

__all__ = ["looks_like_html", "shape_html"]

_HTML_START = re.compile(rb"^\s*(?:<!--.*?-->\s*)*<(?:!doctype\s+html|html)\b", re.I | re.S)
_BODY = re.compile(rb"<body[\s>]", re.IGNORECASE)
_REFERENCE = re.compile(rb"&#(?:([0-9]{1,7})|[xX]([0-9a-fA-F]{1,6}));")
# The controls the text formats refuse: C0 but tab, line feed and carriage return, and DEL.
_CONTROLS = frozenset({*range(0x09), 0x0B, 0x0C, *range(0x0E, 0x20), 0x7F})
_ISO_DAY = re.compile(r"^\s*(\d{4}-\d{2}-\d{2})")
# Elements of trafilatura's XML that hold blocks rather than running text.
_BLOCK_TAGS = frozenset({"head", "p", "list", "item", "table", "row", "quote", "code", "div"})
_SKIP_TAGS = frozenset({"graphic", "note"})
# Consent banners sit at the top of the body, where trafilatura may take them for content.
_BANNERS = [
    f"//*[contains(translate(@{attr}, 'COKIEONSTGDPR', 'cokieonstgdpr'), '{word}')]"
    for attr in ("id", "class")
    for word in ("cookie", "consent", "gdpr")
]


def looks_like_html(data: bytes) -> bool:
    """True when bytes are a web page: ``<!doctype html``/``<html`` first, or a ``<body``."""
    head = data[:4096].lstrip(b"\xef\xbb\xbf")
    return bool(_HTML_START.match(head) or _BODY.search(data[:65536]))


def shape_html(data: bytes, path: str | Path, base_url: str | None = None) -> Shaped:
    """The page's main content as shaped text, with its absolute links, title and date.

    ``base_url`` is where the page was fetched from (a feed poller passes it); ``<base href>``
    and the canonical address printed in the page take precedence over it.
    """
    import trafilatura  # heavy (lxml, htmldate…): loaded only when a page is read

    # A reference to a control character (&#7;) makes the whole page unparsable for lxml.
    data = _REFERENCE.sub(_blank_control, data)
    meta = _PageMeta.read(data)
    extracted = trafilatura.extract(
        data,
        output_format="xml",
        include_links=True,
        include_formatting=True,
        include_comments=False,
        include_tables=True,
        favor_recall=True,
        deduplicate=False,
        prune_xpath=_BANNERS,
    )
    if not extracted:
        raise IngestError(path, 1, "the page has no main content (no text found in its body)")
    try:
        root = ET.fromstring(extracted)
    except ET.ParseError as exc:
        raise IngestError(path, 1, f"the page's main content could not be read: {exc}") from None
    main = root.find("main")
    writer = _PageWriter(_resolver(meta, base_url))
    writer.walk(main if main is not None else root)
    if not any(writer.lines):
        raise IngestError(path, 1, "the page has no main content (no text found in its body)")
    return writer.shaped(meta.title, meta.date, "an HTML page")


def _blank_control(match: re.Match[bytes]) -> bytes:
    decimal, hexadecimal = match.groups()
    code = int(decimal) if decimal else int(hexadecimal, 16)
    return b" " if code in _CONTROLS else match.group()


class _PageWriter(ShapeWriter):
    """Walks trafilatura's XML: one block per heading, paragraph, list item or table row."""

    def __init__(self, resolve: _Resolve) -> None:
        super().__init__()
        self.resolve = resolve

    def walk(self, element: ET.Element) -> None:
        """Write the blocks of ``element``'s children (and its own loose text)."""
        if element.text and element.text.strip():
            self.block(element.text)
        for child in element:
            self.element(child)
            if child.tail and child.tail.strip():
                self.block(child.tail)

    def element(self, element: ET.Element, prefix: str = "") -> None:
        """Write one element of the main content as its blocks."""
        tag = element.tag
        if tag in _SKIP_TAGS:
            return
        if tag == "list":
            self.items(element)
        elif tag == "table":
            for row in element.iter("row"):
                cells = [self.inline(cell)[0] for cell in row.iter("cell")]
                self.block("| " + " | ".join(cells) + " |")
        elif tag in {"head", "p", "code"} or not _has_blocks(element):
            text, links = self.inline(element)
            self.block(plain_strong(prefix + text), links)
        else:
            self.walk(element)

    def items(self, element: ET.Element) -> None:
        """Numbered lists keep their numbers; bulleted items get a '•'."""
        numbered = element.get("rend") == "ol"
        for number, item in enumerate(element.findall("item"), start=1):
            prefix = f"{number}. " if numbered else "• "
            own, links = self.inline(item, skip_blocks=True)
            children = [child for child in item if child.tag in _BLOCK_TAGS]
            if not own.strip() and children and children[0].tag in {"head", "p"}:
                # "<li><h3>Title</h3><ul>…</ul></li>": the number belongs to the title.
                self.element(children[0], prefix)
                children = children[1:]
            else:
                self.block(plain_strong(prefix + own), links)
            for child in children:
                self.element(child)

    def inline(
        self, element: ET.Element, skip_blocks: bool = False
    ) -> tuple[str, list[tuple[str, str]]]:
        """Running text with ``**bold**`` kept and the (absolute) links it holds."""
        links: list[tuple[str, str]] = []
        parts = [element.text or ""]
        for child in element:
            if not (skip_blocks and child.tag in _BLOCK_TAGS) and child.tag not in _SKIP_TAGS:
                text, inner = self.inline(child)
                links.extend(inner)
                if child.tag == "hi" and child.get("rend") == "#b" and text.strip():
                    text = f"**{text.strip()}**"
                elif child.tag == "ref" and (href := self.resolve(child.get("target") or "")):
                    links.append((href, " ".join(text.split())))
                elif child.tag == "lb":
                    text = " "
                parts.append(text)
            parts.append(child.tail or "")
        return "".join(parts), links


def _has_blocks(element: ET.Element) -> bool:
    return any(child.tag in _BLOCK_TAGS for child in element)


class _Resolve:
    """Makes a link absolute against the page's base address; None for what is no web link."""

    def __init__(self, base: str | None) -> None:
        self.base = base

    def __call__(self, href: str) -> str | None:
        href = href.strip()
        if not href or href.startswith("#"):
            return None
        absolute = urljoin(self.base, href) if self.base else href
        parts = urlsplit(absolute)
        if parts.scheme.lower() not in {"http", "https"} or not parts.netloc:
            return None
        return absolute


def _resolver(meta: _PageMeta, base_url: str | None) -> _Resolve:
    page = _absolute(meta.canonical) or _absolute(meta.og_url) or _absolute(base_url)
    base = meta.base_href
    if base and not _absolute(base):
        base = urljoin(page, base) if page else None
    return _Resolve(base or page)


def _absolute(url: str | None) -> str | None:
    if url and urlsplit(url).scheme.lower() in {"http", "https"} and urlsplit(url).netloc:
        return url.strip()
    return None


class _PageMeta(HTMLParser):
    """What a page says of itself: base and canonical addresses, title, publication date."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.base_href: str | None = None
        self.canonical: str | None = None
        self.og_url: str | None = None
        self.og_title: str | None = None
        self.published: str | None = None
        self.time_datetime: str | None = None
        self.json_ld: list[str] = []
        self.h1: list[str] | None = None
        self.h1_text: str | None = None
        self._script: list[str] | None = None

    @classmethod
    def read(cls, data: bytes) -> _PageMeta:
        """Parse the page (decoded leniently: only its metadata is read here)."""
        meta = cls()
        meta.feed(data.decode("utf-8", errors="replace"))
        meta.close()
        return meta

    @property
    def title(self) -> str | None:
        """The page's headline: its ``<h1>``, else ``og:title``."""
        return self.h1_text or (self.og_title.strip() if self.og_title else None) or None

    @property
    def date(self) -> dt.date | None:
        """``article:published_time``, else JSON-LD ``datePublished``, else ``<time datetime>``."""
        candidates = [self.published, *map(_json_ld_date, self.json_ld), self.time_datetime]
        for value in candidates:
            if value and (match := _ISO_DAY.match(value)):
                try:
                    return dt.date.fromisoformat(match.group(1))
                except ValueError:
                    continue
        return None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        """Note the attributes that carry metadata."""
        values = {name: value or "" for name, value in attrs}
        if tag == "base" and self.base_href is None:
            self.base_href = values.get("href") or None
        elif tag == "link" and "canonical" in values.get("rel", "").lower().split():
            self.canonical = self.canonical or values.get("href") or None
        elif tag == "meta":
            self._meta(values.get("property") or values.get("name") or "", values)
        elif tag == "time" and self.time_datetime is None:
            self.time_datetime = values.get("datetime") or None
        elif tag == "script" and values.get("type", "").lower() == "application/ld+json":
            self._script = []
        elif tag == "h1" and self.h1_text is None:
            self.h1 = []
        elif tag == "br" and self.h1 is not None:
            self.h1.append(" ")  # a line break in the headline separates words

    def _meta(self, key: str, values: dict[str, str]) -> None:
        content = values.get("content") or None
        key = key.lower()
        if key == "article:published_time":
            self.published = self.published or content
        elif key == "og:url":
            self.og_url = self.og_url or content
        elif key == "og:title":
            self.og_title = self.og_title or content

    def handle_endtag(self, tag: str) -> None:
        """Close a JSON-LD script or the first ``<h1>``."""
        if tag == "script" and self._script is not None:
            self.json_ld.append("".join(self._script))
            self._script = None
        elif tag == "h1" and self.h1 is not None:
            self.h1_text = " ".join("".join(self.h1).split()) or None
            self.h1 = None

    def handle_data(self, data: str) -> None:
        """Collect the text of a JSON-LD script or of the first ``<h1>``."""
        if self._script is not None:
            self._script.append(data)
        elif self.h1 is not None:
            self.h1.append(data)


def _json_ld_date(text: str) -> str | None:
    """The first ``datePublished`` anywhere in a JSON-LD block (objects, lists, ``@graph``)."""
    try:
        data = json.loads(text)
    except (ValueError, RecursionError):
        return None  # a broken JSON-LD block says nothing; the page is still read
    pending = [data]
    while pending:
        value = pending.pop(0)
        if isinstance(value, dict):
            found = value.get("datePublished")
            if isinstance(found, str):
                return found
            pending.extend(value.values())
        elif isinstance(value, list):
            pending.extend(value)
    return None
