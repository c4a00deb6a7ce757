"""Property: for any input, ingest returns a valid issue or an IngestError with a line number.

Nothing else may escape: not a UnicodeError, an IndexError or a ValueError. The normal suite
runs a few hundred examples; `python -m bench.fuzz_ingest` runs the same properties with
10,000 examples each (profile "long").
"""

from __future__ import annotations

import functools
import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mailer.content import Issue
from mailer.ingest import IngestError, read_issue_bytes
from tests.conftest import SEEDS

SEED_NAMES = (
    "brief-2026-06-26.txt",
    "ict-bulletin-2026-06-08.txt",
    "article-china-ai-momentum.txt",
)


@functools.cache
def seed_bytes() -> tuple[bytes, ...]:
    return tuple((SEEDS / name).read_bytes() for name in SEED_NAMES if (SEEDS / name).exists())


def check(data: bytes) -> None:
    """The property itself."""
    # Lines as the decoder counts them: CRLF, LF and a lone CR each end a line.
    lines = data.replace(b"\r\n", b"\n").replace(b"\r", b"\n").count(b"\n") + 1
    try:
        issue, _ = read_issue_bytes(data, "fuzz.txt")
    except IngestError as exc:
        error = exc
    else:
        assert_valid(issue)
        return
    assert isinstance(error.line, int)
    assert 1 <= error.line <= max(lines, 1) + 1, (error.line, lines)
    assert str(error).startswith(f"fuzz.txt:{error.line}: ")


def assert_valid(issue: Issue) -> None:
    assert issue.title.strip()
    assert issue.stories
    assert [s.position for s in issue.stories] == list(range(1, len(issue.stories) + 1))
    for story in issue.stories:
        assert story.title.strip() and story.summary.strip()
        assert story.url is None or re.match(r"^https?://\S+$", story.url)
    if issue.period_end is not None:
        assert issue.period_end >= issue.date


@st.composite
def mutated_seed(draw: st.DrawFn) -> bytes:
    seeds = seed_bytes()
    data = draw(st.sampled_from(seeds))
    lines = data.split(b"\n")
    how = draw(st.sampled_from(["truncate", "shuffle", "huge", "control", "drop", "duplicate"]))
    if how == "truncate":
        return data[: draw(st.integers(0, len(data)))]
    if how == "shuffle":
        return b"\n".join(draw(st.permutations(lines)))
    if how == "huge":
        index = draw(st.integers(0, len(lines) - 1))
        lines[index] = lines[index] + b"x" * draw(st.integers(10_000, 300_000))
    elif how == "control":
        index = draw(st.integers(0, len(data)))
        char = bytes([draw(st.integers(0, 31))])
        return data[:index] + char + data[index:]
    elif how == "drop":
        del lines[draw(st.integers(0, len(lines) - 1))]
    else:
        index = draw(st.integers(0, len(lines) - 1))
        lines.insert(index, lines[index])
    return b"\n".join(lines)


SETTINGS = settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(st.binary(max_size=4000))
def test_random_bytes(data: bytes) -> None:
    """Random bytes never escape as anything but IngestError."""
    check(data)


@SETTINGS
@given(st.text(max_size=3000))
def test_random_text(text: str) -> None:
    """Random Unicode text (in UTF-8) never escapes as anything but IngestError."""
    check(text.encode("utf-8", "surrogatepass"))


@SETTINGS
@given(
    st.lists(
        st.one_of(
            st.sampled_from(
                [
                    "1. Title",
                    "2. Other",
                    "  • Summary: s",
                    "  • URL: x",
                    "#tag",
                    "8 - 14 June 2026",
                    "Text **(Src)**",
                    "Brief — 2026-07-01",
                    "{",
                    '"stories": []',
                    "```About the Organizations Mentioned",
                    "",
                ]
            ),
            st.text(max_size=80),
        ),
        max_size=40,
    )
)
def test_format_shaped_lines(lines: list[str]) -> None:
    """Lines that look like pieces of every format, in any order, are read or refused cleanly."""
    check("\n".join(lines).encode("utf-8", "surrogatepass"))


@pytest.mark.seeds
@SETTINGS
@given(st.data())
def test_mutated_seeds(data: st.DataObject) -> None:
    """Truncated, shuffled, padded or corrupted seeds are read or refused cleanly."""
    assert seed_bytes(), f"seed issues not found at {SEEDS}"
    check(data.draw(mutated_seed()))
