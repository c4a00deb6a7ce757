"""Source formats → Issue. One module per format; detection says why it chose one."""

from __future__ import annotations

import datetime as dt
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
    """The source format chosen and the evidence for it."""

    format: str
    reason: str


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
    return FORMATS[detection.format].parse(source), detection


def read_issue(
    path: str | Path, format: str = "auto", received: dt.date | None = None
) -> tuple[Issue, Detection]:
    """Read and parse a source file; IngestError names the file when it cannot be read."""
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise IngestError(path, 1, f"cannot read file: {exc.strerror or exc}") from exc
    return read_issue_bytes(data, path, format, received)
