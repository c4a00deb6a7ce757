"""Every published seed parses to its exact story count, each field equal to a checked value.

The expectations (tests/data/seed-expectations.json) were checked by hand against the seeds.
Long text is pinned by a hash so the seeds' prose is not copied into this repository.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from mailer.ingest import read_issue
from tests.conftest import FIXTURES

EXPECTED = json.loads((FIXTURES.parent / "data" / "seed-expectations.json").read_text("utf-8"))


def digest(value: str | None) -> str | None:
    return None if value is None else hashlib.sha256(value.encode()).hexdigest()[:16]


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_seed_matches_its_checked_expectation(seeds: Path, name: str) -> None:
    """Format, dates, tags and every story field equal the hand-checked values."""
    expected = EXPECTED[name]
    issue, detection = read_issue(seeds / name)
    assert detection.format == expected["format"]
    assert digest(issue.title) == expected["title_sha"]
    if expected["date"]:
        assert issue.date.isoformat() == expected["date"]
    assert (issue.period_end.isoformat() if issue.period_end else None) == expected["period_end"]
    assert digest(issue.posted) == expected["posted"]
    assert list(issue.tags) == expected["tags"]
    assert len(issue.stories) == len(expected["stories"])
    for story, want in zip(issue.stories, expected["stories"], strict=True):
        got = {
            "line": story.line,
            "role": str(story.role),
            "title_sha": digest(story.title),
            "summary_sha": digest(story.summary),
            "summary_chars": len(story.summary),
            "why_sha": digest(story.why_it_matters),
            "source": story.source,
            "published": story.published,
            "url": story.url,
            "link_text": story.link_text,
        }
        assert got == want, f"story {story.position}"
