"""Source formats → Issue. One module per format; detection says why it chose one."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from mailer.content import Issue
from mailer.ingest.base import IngestError, SourceText, decode_source
from mailer.ingest.brief import looks_like_brief, parse_brief

__all__ = ["FORMATS", "Detection", "IngestError", "detect_format", "read_issue", "read_issue_bytes"]


@dataclass(frozen=True, slots=True)
class _Format:
    detect: Callable[[tuple[str, ...]], str | None]
    parse: Callable[[SourceText], Issue]


#: Every known format by name. A later format is added here and nowhere else.
FORMATS: dict[str, _Format] = {
    "brief": _Format(looks_like_brief, parse_brief),
}


@dataclass(frozen=True, slots=True)
class Detection:
    """The format chosen for a source and the evidence for it."""

    format: str
    reason: str


def detect_format(source: SourceText) -> Detection:
    """Pick the format whose signature the source shows; IngestError when none does."""
    for name, fmt in FORMATS.items():
        if reason := fmt.detect(source.lines):
            return Detection(name, reason)
    known = ", ".join(FORMATS)
    raise source.error(None, f"unrecognised format (known: {known}); pass --format to force one")


def read_issue_bytes(
    data: bytes, path: str | Path, format: str = "auto"
) -> tuple[Issue, Detection]:
    """Parse source bytes as ``format`` (or detect it); topics are not assigned here."""
    source = decode_source(data, path)
    if format == "auto":
        detection = detect_format(source)
    elif format in FORMATS:
        detection = Detection(format, "chosen with --format")
    else:
        raise IngestError(
            path, None, f"unknown format {format!r} (known: auto, {', '.join(FORMATS)})"
        )
    return FORMATS[detection.format].parse(source), detection


def read_issue(path: str | Path, format: str = "auto") -> tuple[Issue, Detection]:
    """Read and parse a source file; IngestError names the file when it cannot be read."""
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise IngestError(path, None, f"cannot read file: {exc.strerror or exc}") from exc
    return read_issue_bytes(data, path, format)
