"""Detection refuses what is no issue, giving each format's reasons; real issues still detect."""

from __future__ import annotations

from pathlib import Path

import pytest

from mailer.ingest import IngestError, read_issue, read_issue_bytes
from mailer.ingest.detection import Profile, profile
from tests.conftest import FIXTURES

ROOT = FIXTURES.parent.parent
NOT_ISSUES = FIXTURES / "not-issues"


@pytest.mark.parametrize(
    ("path", "evidence"),
    [
        (ROOT / "README.md", "table rows"),
        (ROOT / "pyproject.toml", "code, table, config or log lines"),
        (ROOT / "mailer" / "content.py", "% code lines"),
        (NOT_ISSUES / "subscribers.csv", "6 rows of 6 separated fields (a CSV table)"),
        (NOT_ISSUES / "deploy.yaml", "'key = value' or '[section]' lines"),
        (NOT_ISSUES / "settings.ini", "'key = value' or '[section]' lines"),
        (NOT_ISSUES / "worker.log", "100% lines start with a timestamp or log level"),
        (NOT_ISSUES / "stats.json", 'not a JSON issue: no "stories" list in the JSON'),
    ],
    ids=lambda value: value.name if isinstance(value, Path) else None,
)
def test_what_is_no_issue_is_refused_with_each_formats_reasons(path: Path, evidence: str) -> None:
    """README, config, CSV, code, logs and stray JSON are refused, each format saying why."""
    with pytest.raises(IngestError) as info:
        read_issue(path)
    message = str(info.value)
    markup = "Markdown: " if path.suffix == ".md" else ""
    assert message.startswith(f"{path}:1: {markup}unrecognised format (known: json, brief")
    assert "not a brief: " in message
    assert "not a bulletin: " in message
    assert "not an article: " in message
    assert evidence in message
    assert message.endswith("use --format to force one")


def test_the_brief_refusal_names_what_a_brief_needs() -> None:
    """A file with neither header nor stories says which of the brief's parts it lacks."""
    with pytest.raises(IngestError, match=r'not a brief: no "… Brief — DATE" header and no '):
        read_issue(NOT_ISSUES / "worker.log")


@pytest.mark.parametrize(
    ("name", "format"),
    [
        ("brief-mixed.txt", "brief"),
        ("bulletin-sample.txt", "bulletin"),
        ("article-sample.txt", "article"),
    ],
)
def test_real_issues_still_detect(name: str, format: str) -> None:
    """Every text fixture is detected as its format, as plain text."""
    _, detection = read_issue(FIXTURES / name)
    assert (detection.format, detection.markup) == (format, "text")


def test_a_document_about_briefs_is_no_brief() -> None:
    """Text that shows a brief inside a code block is documentation, not an issue."""
    text = (
        "Writing a brief\n\nA brief looks like this:\n\n```\n"
        + "\n".join(
            f"{n}. Story {n}\n  • Wire · 2026-07-01\n  • Summary: Story {n} happened.\n"
            for n in (1, 2)
        )
        + "```\n"
    )
    with pytest.raises(IngestError) as info:
        read_issue_bytes(text.encode(), "howto.txt")
    assert "not a brief: 2 numbered headings and 2 '• Summary:' bullets, but " in str(info.value)
    assert "% code lines" in str(info.value)


def test_an_article_needs_prose() -> None:
    """A title and short headed lines with no sentences are not an article."""
    text = "Release checklist\n#ops\nBuild\nTag\nUpload\nAnnounce\n"
    with pytest.raises(IngestError, match="not an article: hashtags at line 2, but no prose"):
        read_issue_bytes(text.encode(), "checklist.txt")


def test_forcing_a_format_skips_the_refusal() -> None:
    """--format article reads even the project's README (the operator has decided)."""
    issue, detection = read_issue(ROOT / "README.md", "article")
    assert (detection.format, detection.reason, detection.markup) == (
        "article",
        "Markdown; --format",
        "markdown",
    )
    assert issue.title == "briefmail"


def test_an_unknown_forced_format_lists_the_known_ones() -> None:
    """--format takes an issue format or a markup; anything else names them all."""
    with pytest.raises(IngestError, match=r"unknown format 'rtf' \(known: auto, json, brief, "):
        read_issue_bytes(b"text", "a.txt", format="rtf")
    with pytest.raises(IngestError, match="bulletin, article, html, markdown"):
        read_issue_bytes(b"text", "a.txt", format="rtf")


class TestProfile:
    def test_fenced_lines_count_as_code(self) -> None:
        """Lines between ``` fences (and the fences) are code, whatever they say."""
        shape = profile(("Intro sentence that is long enough to be prose here.", "```", "x", "```"))
        assert (shape.content, shape.code, shape.prose) == (4, 3, 1)

    def test_an_article_fence_with_a_title_is_not_code(self) -> None:
        """'```About the Organizations Mentioned' (the article format's marker) opens no fence."""
        shape = profile(("```About the Organizations Mentioned", "Some Org", "Some Org builds."))
        assert shape.code == 0

    def test_tables_and_headings_are_counted(self) -> None:
        """Markdown tables rows and '#' headings are what a README is made of."""
        shape = profile(("# Title", "## Usage", "| a | b |", "| --- | --- |", "| 1 | 2 |"))
        assert (shape.headings, shape.table) == (2, 3)
        assert shape.junk() == ["3 table rows"]

    def test_a_clean_text_has_no_junk(self) -> None:
        """An issue's profile says nothing against it."""
        lines = (FIXTURES / "bulletin-sample.txt").read_text("utf-8").split("\n")
        assert profile(tuple(lines)).junk() == []

    def test_many_headings_with_little_prose_is_no_article(self) -> None:
        """A heading-heavy text with one paragraph of prose reads as an outline."""
        assert Profile(content=20, headings=9, prose=1).not_prose() == [
            "9 '#' headings for 1 prose paragraph"
        ]
