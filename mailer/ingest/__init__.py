"""Source formats → Issue. One module per format; detection says why it chose one.

Every format's result passes through :func:`_finish`, the one place that checks what all formats
promise: a title and story titles that are still text once made header-safe (mailer.content
makes them one line), and warnings for what is readable but suspicious (a file cut short).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from mailer.content import Issue
from mailer.ingest.article import looks_like_article, parse_article
from mailer.ingest.base import IngestError, SourceText, decode_source
from mailer.ingest.brief import looks_like_brief, parse_brief
from mailer.ingest.bulletin import looks_like_bulletin, parse_bulletin
from mailer.ingest.json_format import looks_like_json, parse_json

__all__ = [
    "FORMATS",
    "Detection",
    "IngestError",
    "detect_format",
    "read_issue",
    "read_issue_bytes",
]


@dataclass(frozen=True, slots=True)
class _Format:
    detect: Callable[[tuple[str, ...]], str | None]
    parse: Callable[[SourceText], Issue]


#: Every known source format by name, in the order detection tries them. A new format is added
#: here and nowhere else.
FORMATS: dict[str, _Format] = {
    "json": _Format(looks_like_json, parse_json),
    "brief": _Format(looks_like_brief, parse_brief),
    "bulletin": _Format(looks_like_bulletin, parse_bulletin),
    "article": _Format(looks_like_article, parse_article),
}


@dataclass(frozen=True, slots=True)
class Detection:
    """The source format chosen, the evidence for it, and warnings about the source."""

    format: str
    reason: str
    #: What the source looks wrong about but was still read ("path:line: …"), for the operator.
    warnings: tuple[str, ...] = ()


def detect_format(source: SourceText) -> Detection:
    """Pick the first format whose signature the source shows; IngestError when none does."""
    for name, fmt in FORMATS.items():
        if reason := fmt.detect(source.lines):
            return Detection(name, reason)
    known = ", ".join(FORMATS)
    raise source.error(1, f"unrecognised format (known: {known}); pass --format to force one")


def read_issue_bytes(
    data: bytes, path: str | Path, format: str = "auto", received: dt.date | None = None
) -> tuple[Issue, Detection]:
    """Parse source bytes as ``format`` (or detect it); topics are not assigned here.

    ``received`` is the date given to an issue whose source prints none (default: today).
    """
    if format != "auto" and format not in FORMATS:
        known = ", ".join(FORMATS)
        raise IngestError(path, 1, f"unknown format {format!r} (known: auto, {known})")
    source = decode_source(data, path, received)
    if not any(line.strip() for line in source.lines):
        raise source.error(1, "the file is empty")
    detection = detect_format(source) if format == "auto" else Detection(format, "--format")
    issue = FORMATS[detection.format].parse(source)
    warnings = _finish(source, issue)
    return issue, Detection(detection.format, detection.reason, warnings)


def read_issue(
    path: str | Path, format: str = "auto", received: dt.date | None = None
) -> tuple[Issue, Detection]:
    """Read and parse a source file; IngestError names the file when it cannot be read."""
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise IngestError(path, 1, f"cannot read file: {exc.strerror or exc}") from exc
    return read_issue_bytes(data, path, format, received)


# How prose ends when it is complete: a full stop, a closing quote or bracket, an ellipsis.
_COMPLETE = re.compile(r"[.!?。！？…\"”’»)\]]$")
# How much of the last field's end must match the file's last line to say it is that field.
_TAIL = 40


def _finish(source: SourceText, issue: Issue) -> tuple[str, ...]:
    """Check what every format promises of its issue; return warnings about the source."""
    if not issue.title:
        raise source.error(1, "the issue title is empty once line breaks and controls are removed")
    for story in issue.stories:
        if not story.title:
            raise source.error(story.line or 1, f"story {story.position} has an empty title")
    return tuple(_cut_short(source, issue))


def _cut_short(source: SourceText, issue: Issue) -> list[str]:
    """A file without a final line break whose last field stops mid-sentence was likely cut."""
    last = source.lines[-1].rstrip()
    if not last.strip():
        return []  # the file ends with a line break: it was saved whole
    story = issue.stories[-1]
    for prose in (story.why_it_matters, story.summary):
        if prose and last.endswith(prose[-_TAIL:]) and not _COMPLETE.search(prose):
            shown = ("…" if len(prose) > _TAIL else "") + prose[-_TAIL:].lstrip()
            return [
                f"{source.path}:{len(source.lines)}: the last field ends mid-sentence "
                f"({shown!r}) and the file has no final line break: was it cut short?"
            ]
    return []
