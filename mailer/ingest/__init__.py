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

from mailer.content import Format, Issue
from mailer.ingest.article import looks_like_article, parse_article
from mailer.ingest.base import IngestError, Shaped, SourceText, attach_links, decode_source
from mailer.ingest.brief import looks_like_brief, parse_brief
from mailer.ingest.bulletin import looks_like_bulletin, parse_bulletin
from mailer.ingest.dates import find_date
from mailer.ingest.detection import Detection, Profile, choose_format, profile
from mailer.ingest.html import looks_like_html, shape_html
from mailer.ingest.json_format import looks_like_json, parse_json
from mailer.ingest.markdown import looks_like_markdown, shape_markdown

__all__ = [
    "FORMATS",
    "MARKUPS",
    "Detection",
    "IngestError",
    "detect_format",
    "read_html",
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
#: What a source may be written in besides plain text; ``--format html|markdown`` says which and
#: leaves the issue format to detection.
MARKUPS = ("html", "markdown")


def detect_format(source: SourceText, shape: Profile | None = None) -> Detection:
    """Pick the first format the source fits; IngestError with each format's reasons if none."""
    return choose_format(source, {name: fmt.detect for name, fmt in FORMATS.items()}, shape)


def read_issue_bytes(
    data: bytes,
    path: str | Path,
    format: str = "auto",
    received: dt.date | None = None,
    base_url: str | None = None,
) -> tuple[Issue, Detection]:
    """Parse source bytes as ``format`` (or detect it); topics are not assigned here.

    ``format`` is an issue format (forcing it skips detection), ``html`` or ``markdown`` (the
    markup is forced, the issue format detected) or ``auto``. ``received`` is the date given to
    an issue whose source prints none (default: today); ``base_url`` is where a web page was
    fetched from, against which its relative links are resolved.
    """
    if format != "auto" and format not in FORMATS and format not in MARKUPS:
        known = ", ".join((*FORMATS, *MARKUPS))
        raise IngestError(path, 1, f"unknown format {format!r} (known: auto, {known})")
    if not data.strip(b" \t\r\n\xef\xbb\xbf"):
        raise IngestError(path, 1, "the file is empty")
    forced = format if format in FORMATS else None
    if format == "html" or (format not in {"markdown", "json"} and looks_like_html(data)):
        return _read_shaped(shape_html(data, path, base_url), path, forced, received, None)
    source = decode_source(data, path, received)
    if not any(line.strip() for line in source.lines):
        raise source.error(1, "the file is empty")
    # Markdown by its suffix or its structure ('#' headings with links, front matter): read as
    # plain text, its headings would become titles with the '#' still in them.
    if format == "markdown" or (format != "json" and looks_like_markdown(path, source.lines)):
        shaped = shape_markdown(source.lines, base_url)
        return _read_shaped(shaped, path, forced, received, profile(source.lines))
    detection = Detection(format, "--format") if forced else detect_format(source)
    issue = FORMATS[detection.format].parse(source)
    warnings = _finish(source, issue)
    return issue, Detection(detection.format, detection.reason, warnings)


def read_html(
    data: bytes, url: str | None = None, received: dt.date | None = None, format: str = "auto"
) -> tuple[Issue, Detection]:
    """Parse a fetched web page (bytes as served) whose address is ``url``; see read_issue_bytes."""
    forced = format if format in FORMATS else "html"
    return read_issue_bytes(data, url or "<page>", forced, received, base_url=url)


def _read_shaped(
    shaped: Shaped,
    path: str | Path,
    forced: str | None,
    received: dt.date | None,
    shape: Profile | None,
) -> tuple[Issue, Detection]:
    """Detect and parse markup's shaped text, then give stories the page's links."""
    # The page's own date (metadata, front matter) dates an issue whose text prints none.
    source = SourceText(str(path), shaped.lines, shaped.date or received or dt.date.today())
    try:
        detection = Detection(forced, "--format") if forced else detect_format(source, shape)
    except IngestError as exc:
        raise IngestError(path, exc.line, f"{shaped.kind}: {exc.reason}") from None
    if detection.format == Format.BRIEF and shaped.date and not _header_dated(source.lines):
        # A brief's date is in its header; a page may print it only in its metadata.
        shaped = shaped.insert(1, shaped.date.isoformat())
        source = SourceText(source.path, shaped.lines, source.received)
    try:
        issue = FORMATS[detection.format].parse(source)
        warnings = _finish(source, issue)
    except IngestError as exc:
        # The line is one of the text extracted from the markup, not of the file as written.
        where = f"{exc.reason} (in the text extracted from {shaped.kind}, line {exc.line})"
        raise IngestError(path, exc.line, where) from None
    issue = attach_links(issue, shaped.links)
    markup = "html" if shaped.kind == "an HTML page" else "markdown"
    # Say where the date may have come from: an issue printing none is dated by the page.
    dated = f" (metadata date {shaped.date.isoformat()})" if shaped.date else ""
    reason = f"{shaped.kind}{dated}; {detection.reason}"
    return issue, Detection(detection.format, reason, warnings, markup)


def _header_dated(lines: tuple[str, ...]) -> bool:
    for line in lines:
        if re.match(r"^\s{0,3}\d{1,3}[.)]\s+\S", line):
            return False
        try:
            if find_date(line):
                return True
        except ValueError:
            return True  # a malformed date is the parser's to report
    return False


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
