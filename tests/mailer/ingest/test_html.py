"""Web pages: the same issue saved as a blog/CMS page ingests to the text version's stories.

Each page in tests/fixtures/html/ holds one of the text fixtures' content inside realistic site
chrome (navigation, cookie banner, sidebar, share bar, comments, footer); its links become the
stories' addresses, which the text copies lack.
"""

from __future__ import annotations

import datetime as dt

import pytest

from mailer.content import Issue
from mailer.ingest import IngestError, read_html, read_issue, read_issue_bytes
from mailer.ingest.html import looks_like_html
from tests.conftest import FIXTURES

HTML = FIXTURES / "html"


def printed(issue: Issue) -> dict[str, object]:
    """Everything of an issue a copy must agree on, except stories' addresses and lines."""
    return {
        "title": issue.title,
        "date": issue.date,
        "period_end": issue.period_end,
        "format": issue.format,
        "tags": issue.tags,
        "stories": [
            (s.title, s.summary, s.source, s.published, s.why_it_matters, s.link_text, s.role)
            for s in issue.stories
        ],
    }


@pytest.mark.parametrize(
    ("page", "text", "urls"),
    [
        (
            "brief.html",
            "brief-mixed.txt",
            [
                "https://example.com/foundry-volume",
                "https://models.example.net/open-weights",
                # "Read more" with a relative href: resolved against the canonical address.
                "https://wire.example.org/2026/07/01/series-b-round/",
                "https://wire.example.org/notes/summer-schedule",
            ],
        ),
        (
            "bulletin.html",
            "bulletin-sample.txt",
            [
                "https://telecom-review.example.com/2026/07/rural-towers",
                "https://trade-office.example.gov/bulletins/news/research-network.html",
                None,
            ],
        ),
        ("article.html", "article-sample.txt", [None, None, "https://vision.example.com/"]),
    ],
)
def test_a_page_ingests_to_its_text_versions_stories(
    page: str, text: str, urls: list[str | None]
) -> None:
    """Same title, date, stories and fields as the text version, plus the page's real links."""
    from_page, detection = read_issue(HTML / page)
    from_text, expected = read_issue(FIXTURES / text)
    assert printed(from_page) == printed(from_text)
    assert [s.url for s in from_page.stories] == urls
    assert (detection.format, detection.markup) == (expected.format, "html")
    assert detection.reason.startswith("an HTML page")


def test_text_urls_are_kept() -> None:
    """A story whose copy printed an address keeps it, whatever links are near."""
    issue, _ = read_issue(HTML / "brief.html")
    text, _ = read_issue(FIXTURES / "brief-mixed.txt")
    assert issue.stories[0].url == text.stories[0].url == "https://example.com/foundry-volume"


PAGE = """<!doctype html>
<html><head>{head}</head><body>
<nav><a href="/">Home</a> <a href="/archive/">Archive</a></nav>
<article>
<h1>{title}</h1>
<h2>Harbour cranes get a software update</h2>
<p>The port authority upgraded the control software of its twelve container cranes this week,
cutting the time a ship waits at berth by a fifth, according to figures it published on Monday.
<a href="news/cranes.html">Read more</a></p>
<h2>Ferry timetable changes</h2>
<p>The island ferry adds an early sailing on weekdays from next month, the operator said in a
statement on its website, after a summer in which the last boat of the day was often full.
<a href="//ferries.example.com/timetable">Source link</a></p>
<h2>Lighthouse restored</h2>
<p>Volunteers finished restoring the old lighthouse, which opens to visitors on Sundays through
the summer season, with guided tours of the lamp room for groups of up to ten people.
<a href="mailto:info@example.org">Write to us</a></p>
</article>
<footer><p>Harbour Notes · all rights reserved</p></footer>
</body></html>"""


def page(head: str = "", title: str = "Harbour Notes: the week on the water") -> bytes:
    """A small article page with relative, protocol-relative and mail links."""
    return PAGE.format(head=head, title=title).encode()


def test_relative_links_resolve_against_base_href() -> None:
    """<base href> decides where relative links point; mail links are never story links."""
    data = page('<base href="https://cdn.example.net/harbour/">')
    issue, _ = read_issue_bytes(data, "notes.html", received=dt.date(2026, 7, 3))
    assert [s.url for s in issue.stories] == [
        "https://cdn.example.net/harbour/news/cranes.html",
        "https://ferries.example.com/timetable",
        None,
    ]


def test_relative_links_without_a_base_are_dropped() -> None:
    """With no base, canonical or fetch address, a relative link cannot be made absolute."""
    issue, _ = read_issue_bytes(page(), "notes.html", received=dt.date(2026, 7, 3))
    assert [s.url for s in issue.stories] == [None, None, None]


def test_a_fetched_page_resolves_against_its_address() -> None:
    """read_html(data, url): the address the page came from is its base."""
    issue, detection = read_html(page(), "https://notes.example.org/2026/07/week.html")
    assert issue.stories[0].url == "https://notes.example.org/2026/07/news/cranes.html"
    assert detection.markup == "html"


def test_the_json_ld_date_dates_an_article_that_prints_none() -> None:
    """JSON-LD datePublished (inside @graph) dates the issue; the day received does not."""
    ld = (
        '<script type="application/ld+json">{"@context": "https://schema.org", "@graph": '
        '[{"@type": "WebSite"}, {"@type": "BlogPosting", "datePublished": "2026-06-28T18:00"}]}'
        "</script>"
    )
    issue, detection = read_issue_bytes(page(ld), "notes.html", received=dt.date(2026, 7, 3))
    assert issue.date == dt.date(2026, 6, 28)
    assert detection.reason.startswith("an HTML page (metadata date 2026-06-28); a title and ")


def test_a_time_element_dates_the_page_when_nothing_else_does() -> None:
    """<time datetime> is the last of the page's date sources."""
    data = page().replace(b"<article>", b'<article><time datetime="2026-06-30">Tue</time>')
    issue, _ = read_issue_bytes(data, "notes.html", received=dt.date(2026, 7, 3))
    assert issue.date == dt.date(2026, 6, 30)


def test_a_brief_dated_only_in_metadata_takes_that_date() -> None:
    """A brief page whose heading has no date is dated by article:published_time."""
    data = (HTML / "brief.html").read_bytes().replace("Test Brief — 2026-07-01".encode(), b"Brief")
    issue, _ = read_issue_bytes(data, "brief.html")
    assert (issue.title, issue.date) == ("Brief", dt.date(2026, 7, 1))
    assert len(issue.stories) == 4


def test_the_title_comes_from_the_page_when_the_content_lacks_it() -> None:
    """trafilatura leaves the post header out; the <h1> still titles the issue."""
    issue, _ = read_issue(HTML / "brief.html")
    assert issue.title == "Test Brief — 2026-07-01"


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"<html><body></body></html>", "the page has no main content"),
        (
            b"<!doctype html><html><body><nav><a href='/'>Home</a></nav></body></html>",
            "an HTML page: unrecognised format",
        ),
        (
            b"<html><body><div>@@@ ### $$$ ::: </div></body></html>",
            "an HTML page: unrecognised format (known: json, brief, bulletin, article): not a ",
        ),
    ],
)
def test_empty_or_garbage_pages_are_refused_with_a_reason(data: bytes, reason: str) -> None:
    """A page with nothing to read says so, naming the file; never a traceback."""
    with pytest.raises(IngestError, match="page.html:1: ") as info:
        read_issue_bytes(data, "page.html")
    assert reason in str(info.value)


def test_format_html_forces_reading_as_a_page() -> None:
    """--format html reads a fragment without <html> or <body> as a page."""
    fragment = (HTML / "bulletin.html").read_text("utf-8").split("<article", 1)[1]
    issue, detection = read_issue_bytes(f"<article{fragment}".encode(), "x.txt", format="html")
    assert (detection.format, detection.markup, len(issue.stories)) == ("bulletin", "html", 3)


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b"\xef\xbb\xbf  <!DOCTYPE html><p>x</p>", True),
        (b"<!-- saved --><html lang='en'>", True),
        (b"<div>copied</div><body>", True),
        (b"Title\n\nSome <b>bold</b> text", False),
        (b"# Heading\n\n<details>x</details>", False),
    ],
)
def test_looks_like_html(data: bytes, expected: bool) -> None:
    """A page is recognised by its start (after a BOM, spaces, comments) or a <body> tag."""
    assert looks_like_html(data) is expected
