"""Markdown: the same issues in Markdown ingest to the text versions' stories, plus links."""

from __future__ import annotations

import datetime as dt

import pytest

from mailer.ingest import IngestError, read_issue, read_issue_bytes
from mailer.ingest.markdown import looks_like_markdown, shape_markdown, split_front_matter
from tests.conftest import FIXTURES
from tests.mailer.ingest.test_html import printed

MARKDOWN = FIXTURES / "markdown"


@pytest.mark.parametrize(
    ("name", "text", "urls"),
    [
        (
            "brief.md",
            "brief-mixed.txt",
            [
                "https://example.com/foundry-volume",
                "https://models.example.net/open-weights",
                "https://wire.example.org/2026/07/01/series-b-round/",
                "https://wire.example.org/notes/summer-schedule",
            ],
        ),
        (
            "bulletin.md",
            "bulletin-sample.txt",
            [
                "https://telecom-review.example.com/2026/07/rural-towers",
                "https://science-weekly.example.org/research-network",
                None,
            ],
        ),
        ("article.md", "article-sample.txt", [None, None, "https://vision.example.com/"]),
    ],
)
def test_markdown_ingests_to_its_text_versions_stories(
    name: str, text: str, urls: list[str | None]
) -> None:
    """Same title, date, stories and fields as the text version; links become addresses."""
    from_markdown, detection = read_issue(MARKDOWN / name)
    from_text, expected = read_issue(FIXTURES / text)
    assert printed(from_markdown) == printed(from_text)
    assert from_markdown.posted == from_text.posted
    assert [s.url for s in from_markdown.stories] == urls
    assert (detection.format, detection.markup) == (expected.format, "markdown")


def test_numbered_items_keep_their_numbers_and_bullets_their_marks() -> None:
    """'1. **Title**' stays a numbered line (markers dropped); '- **Summary:** …' a field."""
    shaped = shape_markdown(
        (
            "3. **Third**",
            "   - **Summary:** It *was* [here](https://x.org).",
        )
    )
    assert [line for line in shaped.lines if line] == ["3. Third", "• Summary: It was here."]
    assert [(link.line, link.href, link.text) for link in shaped.links] == [
        (3, "https://x.org", "here")
    ]


def test_strong_inside_prose_stays_emphasis() -> None:
    """**words** inside a paragraph are the content's one mark-up and are kept."""
    shaped = shape_markdown(("Chips for **low-power inference** ship now.",))
    assert shaped.lines[0] == "Chips for **low-power inference** ship now."


def test_front_matter_dates_and_titles_an_article_that_prints_neither() -> None:
    """title: and date: in front matter stand in for a missing heading and date line."""
    text = (MARKDOWN / "article.md").read_text("utf-8")
    text = text.replace("# Edge AI Grows Up: Why Small Models Are Winning Factory Floors\n", "")
    text = text.replace("Posted on 9 July 2026\n", "").replace("2026-07-09", "2026-07-10")
    issue, _ = read_issue_bytes(text.encode(), "a.md", received=dt.date(2026, 8, 1))
    assert issue.title == "Edge AI Grows Up: Why Small Models Are Winning Factory Floors"
    assert issue.date == dt.date(2026, 7, 10)
    assert len(issue.stories) == 3


def test_front_matter_is_split_from_the_text() -> None:
    """Only leading '---' front matter is metadata; its quotes are not part of the value."""
    fields, body = split_front_matter('---\ntitle: "A: B"\nDate: 2026-07-01\n---\n# A: B\n')
    assert fields == {"title": "A: B", "date": "2026-07-01"}
    assert body == "# A: B\n"
    assert split_front_matter("# No front matter\n---\n") == ({}, "# No front matter\n---\n")


def test_relative_links_need_a_base() -> None:
    """A relative Markdown link is dropped unless a base address is given."""
    lines = ("[Read more](/news/one)",)
    assert shape_markdown(lines).links == ()
    resolved = shape_markdown(lines, base_url="https://notes.example.org/2026/")
    assert resolved.links[0].href == "https://notes.example.org/news/one"


def test_a_markdown_text_without_the_suffix_is_read_as_markdown() -> None:
    """A .txt that no text format fits but shows headings and links is read as Markdown."""
    text = (MARKDOWN / "bulletin.md").read_bytes()
    issue, detection = read_issue_bytes(text, "bulletin.txt")
    assert (detection.format, detection.markup, len(issue.stories)) == ("bulletin", "markdown", 3)


def test_format_markdown_forces_it() -> None:
    """--format markdown reads any file as Markdown; the issue format is still detected."""
    text = (MARKDOWN / "brief.md").read_bytes()
    _, detection = read_issue_bytes(text, "brief.txt", format="markdown")
    assert (detection.format, detection.markup) == ("brief", "markdown")


def test_a_readme_is_refused() -> None:
    """Install commands, tables and many headings are no article, even with some prose."""
    readme = (
        "# harbourctl\n\nA command-line tool for harbour masters.\n\n## Install\n\n"
        "```sh\npip install harbourctl\nharbourctl init\n```\n\n## Usage\n\n"
        "| command | what |\n| --- | --- |\n| `count` | count buoys |\n| `mark` | mark one |\n\n"
        "## Licence\n\nMIT, see [LICENCE](https://example.org/licence).\n"
    )
    with pytest.raises(IngestError) as info:
        read_issue_bytes(readme.encode(), "README.md")
    message = str(info.value)
    assert message.startswith("README.md:1: Markdown: unrecognised format")
    assert "not an article: " in message
    assert "% code lines, 4 table rows" in message


@pytest.mark.parametrize(
    ("path", "lines", "expected"),
    [
        ("a.md", ("x",), "a .md file"),
        ("a.txt", ("---", "title: T", "---", "x"), "Markdown front matter"),
        ("a.txt", ("# T", "See [x](https://x.org)."), "1 Markdown headings and 1 links"),
        ("a.txt", ("#chips #models", "Plain text."), None),
    ],
)
def test_looks_like_markdown(path: str, lines: tuple[str, ...], expected: str | None) -> None:
    """Markdown is its suffix, front matter, or '#' headings together with links."""
    assert looks_like_markdown(path, lines) == expected
