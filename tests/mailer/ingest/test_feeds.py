"""Feeds: RSS, Atom and JSON Feed documents read into entries with keys, dates and bodies."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from mailer.ingest.feeds import FULL_TEXT_CHARS, FeedError, parse_feed

LONG = "<p>" + "Foundries raised wafer prices again this quarter. " * 20 + "</p>"

RSS = f"""<?xml version="1.0" encoding="utf-8"?>
<rss version="2.0" xmlns:content="http://purl.org/rss/1.0/modules/content/">
<channel><title>Harbour &amp; Chips</title><link>https://harbour.example.com/</link>
<description>A weekly note</description>
<item><title>Second post</title><link>https://harbour.example.com/p/2</link>
<guid isPermaLink="false">harbour-2</guid><pubDate>Sat, 04 Jul 2026 08:00:00 +0200</pubDate>
<description>Only a teaser.</description></item>
<item><title>First &lt;em&gt;post&lt;/em&gt;</title><link>https://harbour.example.com/p/1</link>
<pubDate>Fri, 03 Jul 2026 08:00:00 GMT</pubDate>
<content:encoded><![CDATA[{LONG}]]></content:encoded></item>
</channel></rss>"""

ATOM = f"""<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom"><title>Tide Notes</title>
<id>urn:uuid:6b4e0c1a</id><updated>2026-07-05T09:00:00Z</updated>
<entry><title>An atom entry</title><id>urn:uuid:entry-1</id>
<link rel="alternate" href="https://tide.example.org/entry-1"/>
<published>2026-07-05T07:30:00+08:00</published><updated>2026-07-05T09:00:00Z</updated>
<content type="html">{LONG.replace("<", "&lt;").replace(">", "&gt;")}</content></entry>
</feed>"""


def json_feed(**item: object) -> bytes:
    """A JSON Feed 1.1 document with one item."""
    document = {
        "version": "https://jsonfeed.org/version/1.1",
        "title": "Quay Letters",
        "items": [item],
    }
    return json.dumps(document).encode("utf-8")


class TestRss:
    """RSS 2.0 through feedparser."""

    def test_entries_carry_key_title_link_and_utc_dates(self) -> None:
        """Each item gives its guid (else its link) as key, a plain title and a UTC date."""
        feed = parse_feed(RSS.encode("utf-8"))
        assert feed.title == "Harbour & Chips"
        second, first = feed.entries
        assert second.key == "harbour-2"
        assert first.key == "https://harbour.example.com/p/1"
        assert first.title == "First post"
        assert second.published == dt.datetime(2026, 7, 4, 6, 0, tzinfo=dt.UTC)
        assert second.day == dt.date(2026, 7, 4)

    def test_full_content_is_the_body_and_a_teaser_is_not(self) -> None:
        """content:encoded of some length is the whole entry; a one-line description is not."""
        second, first = parse_feed(RSS.encode("utf-8")).entries
        assert first.full and first.html and "Foundries raised" in (first.body or "")
        assert not second.full
        assert second.summary == "Only a teaser."

    def test_a_long_description_counts_as_the_body(self) -> None:
        """A feed that puts the whole post in <description> has it read as the body."""
        escaped = LONG.replace("<", "&lt;").replace(">", "&gt;")
        data = RSS.replace("Only a teaser.", escaped).encode("utf-8")
        second = parse_feed(data).entries[0]
        assert second.full

    @pytest.mark.parametrize(
        "ending",
        ["[…]", "[&hellip;]", '<a href="/p/1">Continue reading →</a>', "Read more", "阅读全文"],
    )
    def test_a_long_excerpt_that_says_so_is_a_teaser(self, ending: str) -> None:
        """A body ending in "[…]" or "Continue reading" is an excerpt: the page is read."""
        escaped = (LONG + f"<p>{ending}</p>").replace("<", "&lt;").replace(">", "&gt;")
        data = RSS.replace("Only a teaser.", escaped).encode("utf-8")
        assert not parse_feed(data).entries[0].full

    def test_the_digest_changes_with_the_entry(self) -> None:
        """Another title gives another digest; the same document gives the same one."""
        before = parse_feed(RSS.encode("utf-8")).entries[0]
        again = parse_feed(RSS.encode("utf-8")).entries[0]
        after = parse_feed(RSS.replace("Second post", "Second post, corrected").encode()).entries[0]
        assert before.digest == again.digest != after.digest


class TestAtom:
    """Atom 1.0 through feedparser."""

    def test_an_atom_entry_reads_like_an_rss_item(self) -> None:
        """Its id is the key, its alternate link the link, its html content the full body."""
        feed = parse_feed(ATOM.encode("utf-8"))
        (entry,) = feed.entries
        assert feed.kind.startswith("atom")
        assert entry.key == "urn:uuid:entry-1"
        assert entry.link == "https://tide.example.org/entry-1"
        assert entry.published == dt.datetime(2026, 7, 4, 23, 30, tzinfo=dt.UTC)
        assert entry.full and entry.html


class TestJsonFeed:
    """JSON Feed 1.0 and 1.1, read by hand."""

    def test_an_item_gives_id_url_html_and_dates(self) -> None:
        """id, url, content_html and date_published become key, link, body and date."""
        feed = parse_feed(
            json_feed(
                id="q-7",
                url="https://quay.example.net/7",
                title="Quay seven",
                content_html=LONG,
                date_published="2026-07-06T10:00:00Z",
            )
        )
        (entry,) = feed.entries
        assert (entry.key, entry.link, entry.title) == (
            "q-7",
            "https://quay.example.net/7",
            "Quay seven",
        )
        assert entry.full and entry.html
        assert entry.published == dt.datetime(2026, 7, 6, 10, 0, tzinfo=dt.UTC)

    def test_text_content_is_a_plain_body_and_an_untitled_item_is_named_by_its_words(
        self,
    ) -> None:
        """content_text is a non-HTML body; an item without title takes its first words."""
        text = "Regulators opened a consultation on chip export licences. " * 15
        (entry,) = parse_feed(json_feed(id="q-8", content_text=text)).entries
        assert not entry.html and entry.full
        assert entry.title.startswith("Regulators opened a consultation")
        assert len(entry.body or "") >= FULL_TEXT_CHARS

    @pytest.mark.parametrize(
        ("document", "reason"),
        [
            (b'{"title": "no version"}', "jsonfeed.org"),
            (b'{"version": "https://jsonfeed.org/version/1.1", "items": 3}', "'items' list"),
            (b'{"version": "https://jsonfeed.org/version/1.1", "items": [1]}', "item 1"),
            (b"{not json", "invalid JSON"),
        ],
    )
    def test_a_broken_json_feed_is_refused_with_the_reason(
        self, document: bytes, reason: str
    ) -> None:
        """JSON that is no JSON Feed, or whose items are not objects, raises FeedError."""
        with pytest.raises(FeedError, match=reason):
            parse_feed(document)


class TestNotAFeed:
    """What is no feed is refused, so a poller can say why it ingested nothing."""

    @pytest.mark.parametrize(
        "document",
        [
            b"<!doctype html><html><body><h1>502 Bad Gateway</h1></body></html>",
            b"just some text",
            b"<?xml version='1.0'?><rss version='2.0'><channel><title>cut",
        ],
    )
    def test_a_page_text_or_truncated_feed_raises_feed_error(self, document: bytes) -> None:
        """An HTML page, plain text or a feed cut off before any entry is not a feed."""
        with pytest.raises(FeedError, match="not a feed"):
            parse_feed(document)

    def test_a_feed_with_no_entries_is_an_empty_feed_not_an_error(self) -> None:
        """A well-formed feed with nothing in it yet reads as zero entries."""
        empty = (
            b"<?xml version='1.0'?><rss version='2.0'><channel><title>New</title></channel></rss>"
        )
        assert parse_feed(empty).entries == ()
