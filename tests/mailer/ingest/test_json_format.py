"""The JSON format: what `--json` prints reads back as the same issue; errors name fields."""

from __future__ import annotations

import json
import re
from dataclasses import replace
from pathlib import Path

import pytest

from mailer.content import issue_to_json
from mailer.ingest import IngestError, read_issue, read_issue_bytes
from tests.conftest import FIXTURES


@pytest.mark.parametrize(
    "name", ["brief-2026-06-26.txt", "ict-bulletin-2026-06-08.txt", "article-china-ai-momentum.txt"]
)
def test_round_trip_gives_the_same_issue(seeds: Path, name: str) -> None:
    """ingest → JSON → ingest yields an equal issue for every seed format."""
    issue, _ = read_issue(seeds / name)
    text = json.dumps(issue_to_json(issue, 7), ensure_ascii=False, indent=2)
    again, detection = read_issue_bytes(text.encode(), "issue.json")
    assert detection.format == "json"
    assert again == issue


def test_the_editorial_fields_round_trip() -> None:
    """An issue's summary, subject and preheader survive ingest → JSON → ingest."""
    issue, _ = read_issue(FIXTURES / "article-sample.txt")
    edited = replace(
        issue,
        summary="Small models now run next to the machines they watch.",
        subject="Edge AI grows up",
        preheader="Why factories move inference onto cameras",
    )
    text = json.dumps(issue_to_json(edited, 3), ensure_ascii=False)
    again, _ = read_issue_bytes(text.encode(), "issue.json")
    assert (again.summary, again.subject, again.preheader) == (
        edited.summary,
        edited.subject,
        edited.preheader,
    )
    assert again == edited


def test_null_editorial_fields_stay_unset() -> None:
    """null (or absent) summary, subject and preheader read as None, not as text."""
    data = {**VALID, "summary": None, "subject": None}
    issue, _ = read_issue_bytes(json.dumps(data).encode(), "x.json")
    assert (issue.summary, issue.subject, issue.preheader) == (None, None, None)


VALID = {
    "title": "T",
    "date": "2026-07-01",
    "stories": [{"title": "A", "summary": "a"}, {"title": "B", "summary": "b"}],
}


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"date": "July 1"}, "1: date: expected YYYY-MM-DD"),
        ({"stories": []}, "stories: must be a non-empty list"),
        ({"format": "poster"}, "format: unknown format 'poster'"),
        ({"stories": [{"title": "A"}]}, "stories[0].summary: required text is missing"),
        (
            {"stories": [{"title": "A", "summary": "a", "url": "Read more"}]},
            "stories[0].url: not an http(s) address",
        ),
        (
            {"stories": [{"title": "A", "summary": "a", "position": 3}]},
            "stories[0].position: is 3, expected 1",
        ),
        ({"summary": ["a", "list"]}, "x.json:1: summary: must be text or null"),
        ({"subject": 7}, "x.json:1: subject: must be text or null"),
        ({"preheader": {"text": "x"}}, "x.json:1: preheader: must be text or null"),
        ({"summary": "bell \u0007"}, "summary: control character or lone surrogate U+0007"),
    ],
)
def test_invalid_json_issues_name_the_field(change: dict[str, object], message: str) -> None:
    """Every structural problem names the field (and the story's line)."""
    text = json.dumps({**VALID, **change}, indent=2)
    with pytest.raises(IngestError, match=re.escape(message)):
        read_issue_bytes(text.encode(), "x.json", format="json")


def test_story_errors_point_at_the_story_line() -> None:
    """An error in the second story names the line where that story's object starts."""
    data = {**VALID, "stories": [{"title": "A", "summary": "a"}, {"title": "B"}]}
    text = json.dumps(data, indent=2)
    with pytest.raises(IngestError) as info:
        read_issue_bytes(text.encode(), "x.json")
    assert info.value.line == text.splitlines().index("    {", 6) + 1


def test_broken_json_names_its_line() -> None:
    """Malformed JSON is reported at the decoder's line."""
    with pytest.raises(IngestError, match=r"x.json:3: invalid JSON"):
        read_issue_bytes(b'{\n "title": "T",\n "stories": [}\n', "x.json")
