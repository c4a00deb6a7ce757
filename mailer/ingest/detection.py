"""Which format a source is — or why it is no issue at all.

Each format's own signature (``looks_like_X``) says whether the text shows that format; a
:class:`Profile` of the text says what else it is made of (code, tables, config lines, log
lines, CSV rows, prose). A format that claims the text is still refused when the profile says the
text is mostly something no issue is made of, and an article needs a title and prose paragraphs
(a README's headings, install commands and tables are not an article). When nothing fits, the
IngestError gives each format's reasons, so the operator sees why and can force one.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from mailer.ingest.base import SourceText, blocks
from mailer.ingest.dates import parse_range

__all__ = ["Detection", "Profile", "choose_format", "profile"]

Detector = Callable[[tuple[str, ...]], str | None]


@dataclass(frozen=True, slots=True)
class Detection:
    """The source format chosen, the evidence for it, and warnings about the source."""

    format: str
    reason: str
    #: What the source looks wrong about but was still read ("path:line: …"), for the operator.
    warnings: tuple[str, ...] = ()
    #: What the file was written in: "text", "html" or "markdown".
    markup: str = "text"


_FENCE = re.compile(r"^\s*(?:`{3,}|~{3,})[\w+.-]*\s*$")
_ATX_HEADING = re.compile(r"^ {0,3}#{1,6}[ \t]+\S")
_LIST = re.compile(r"^\s*(?:[-*+•●▪◦]|\d{1,3}[.)])\s+")
_CODE = re.compile(
    r"^\s*(?:def |class |import |from [\w.]+ import |if __name__|return\b|async def |"
    r"\$ |>>> |#!|#include|function |const |let |var |public |private |"
    r"(?:pip|npm|make|cd|git|python3?|sudo|apt-get|curl|briefmail|docker)\s)"
    r"|[;{}]\s*$|^\s*[})\]],?\s*$|^\s*@\w+"
)
_SECTION = re.compile(r"^\s*\[{1,2}[\w.\-\" ]+\]{1,2}\s*$")
_KEY_VALUE = re.compile(r"^\s*[\w.\-\"]+\s*(?:=\s*\S|:\s*(?:\S.*)?$)")
_LOG = re.compile(
    r"^\s*(?:\[?\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}|\[?\d{2}:\d{2}:\d{2}|"
    r"[A-Z][a-z]{2} [ \d]\d \d{2}:\d{2}:\d{2}|"
    r"\[?(?:DEBUG|INFO|WARN|WARNING|ERROR|CRITICAL|TRACE)\b)"
)
_SENTENCE = re.compile(r"[.!?。！？]")
_CJK = re.compile(r"[\u3000-\u9fff\uff00-\uffef]")
_BRIEF_HEADER = re.compile(r"\bbrief\b.*\d{4}-\d{2}-\d{2}", re.IGNORECASE)
_BRIEF_STORY = re.compile(r"^\s{0,3}\d{1,3}[.)]\s+\S")
_SOURCE_END = re.compile(r"\*\*\s*\([^()*]{1,120}\)\s*\*\*\s*$")
# The longest line that can be a bulletin's period ("8 - 14 June 2026"), as the bulletin has it.
_PERIOD_CHARS = 60
# How many rows are enough to say a file is a CSV table.
_CSV_ROWS = 50
#: Shares of the content lines beyond which a text is not an issue, whatever claims it: code
#: and table rows together, config lines, log lines, and all of those together.
CODE_SHARE, CONFIG_SHARE, LOG_SHARE, MIXED_SHARE = 0.15, 0.5, 0.5, 0.4


@dataclass(frozen=True, slots=True)
class Profile:
    """What a text's non-blank lines are made of, counted line by line."""

    content: int
    headings: int = 0
    code: int = 0
    table: int = 0
    config: int = 0
    log: int = 0
    lists: int = 0
    prose: int = 0
    #: (rows, fields) when every line is a row of the same number of comma/tab/semicolon fields.
    csv: tuple[int, int] | None = None

    def share(self, count: int) -> int:
        """``count`` as a whole percentage of the content lines."""
        return round(100 * count / self.content) if self.content else 0

    def junk(self) -> list[str]:
        """Why no issue is made of this text (empty when nothing says so)."""
        found: list[str] = []
        if self.csv:
            found.append(f"{self.csv[0]} rows of {self.csv[1]} separated fields (a CSV table)")
        if self.code + self.table > CODE_SHARE * self.content:
            code = [f"{self.share(self.code)}% code lines"] if self.code else []
            found.append(", ".join([*code, *([f"{self.table} table rows"] if self.table else [])]))
        if self.config > CONFIG_SHARE * self.content:
            found.append(f"{self.share(self.config)}% 'key = value' or '[section]' lines")
        if self.log > LOG_SHARE * self.content:
            found.append(f"{self.share(self.log)}% lines start with a timestamp or log level")
        if not found and self.code + self.table + self.config + self.log > MIXED_SHARE * (
            self.content
        ):
            structured = self.code + self.table + self.config + self.log
            found.append(f"{self.share(structured)}% code, table, config or log lines")
        return found

    def not_prose(self) -> list[str]:
        """Why this text is no article: too little prose for its headings and lists."""
        found: list[str] = []
        if not self.prose:
            found.append("no prose paragraphs")
        if self.headings > 2 * self.prose + 2:
            found.append(f"{self.headings} '#' headings for {_paragraphs(self.prose)}")
        if self.lists > 2 * self.prose + 4:
            found.append(f"{self.lists} list lines for {_paragraphs(self.prose)}")
        return found

    def summary(self) -> list[str]:
        """The counts worth showing in a refusal."""
        shown = [f"{self.headings} '#' headings"] if self.headings else []
        if self.code:
            shown.append(f"{self.share(self.code)}% code lines")
        if self.table:
            shown.append(f"{self.table} table rows")
        return shown


def _paragraphs(count: int) -> str:
    return f"{count} prose paragraph{'' if count == 1 else 's'}"


def profile(lines: tuple[str, ...]) -> Profile:
    """Count what each non-blank line of ``lines`` is."""
    counts = dict.fromkeys(("headings", "code", "table", "config", "log", "lists", "prose", ""), 0)
    content, fenced = 0, False
    for raw in lines:
        line = raw.strip()
        if not line:
            continue
        content += 1
        if _FENCE.match(line) or fenced:
            counts["code"] += 1
            fenced = fenced != bool(_FENCE.match(line))
            continue
        counts[_kind(line)] += 1
    return Profile(
        content=content,
        headings=counts["headings"],
        code=counts["code"],
        table=counts["table"],
        config=counts["config"],
        log=counts["log"],
        lists=counts["lists"],
        prose=counts["prose"],
        csv=_csv(lines),
    )


def _kind(line: str) -> str:
    if _ATX_HEADING.match(line):
        return "headings"
    if line.count("|") >= 2:
        return "table"
    if _LOG.match(line):
        return "log"
    if _CODE.search(line):
        return "code"
    if _SECTION.match(line) or _KEY_VALUE.match(line):
        return "config"
    if _LIST.match(line):
        return "lists"
    # Prose: a long line, or a shorter one that is a sentence (CJK text has no spaces).
    words = len(line.split())
    sentence = words >= 5 and bool(_SENTENCE.search(line))
    return "prose" if words >= 12 or sentence or len(_CJK.findall(line)) >= 20 else ""


def _csv(lines: tuple[str, ...]) -> tuple[int, int] | None:
    """(rows, fields) when the first rows all split into the same number (≥ 2) of fields."""
    rows = [line for line in lines if line.strip()][:_CSV_ROWS]
    if len(rows) < 3:
        return None
    for separator in (",", "\t", ";"):
        try:
            counts = [len(row) for row in csv.reader(rows, delimiter=separator)]
        except csv.Error:
            continue
        if counts[0] >= 2 and sum(1 for n in counts if n == counts[0]) >= 0.9 * len(counts):
            return len([line for line in lines if line.strip()]), counts[0]
    return None


def choose_format(
    source: SourceText, detectors: Mapping[str, Detector], shape: Profile | None = None
) -> Detection:
    """The first format whose signature the source shows and the profile does not refute.

    ``shape`` is the profile of the file as written when the source is converted markup
    (Markdown's headings and fences are gone from its text). IngestError gives every format's
    reasons when none fits.
    """
    shape = shape or profile(source.lines)
    junk = shape.junk()
    refusals: list[str] = []
    for name, detect in detectors.items():
        claim = detect(source.lines)
        vetoes = [] if name == "json" else junk + (shape.not_prose() if name == "article" else [])
        if claim and not vetoes:
            return Detection(name, claim)
        why = (
            _why_not(name, source.lines, shape)
            if not claim
            else f"{claim}, but " + ", ".join(vetoes)
        )
        if why:
            refusals.append(f"not {_article(name)}: {why}")
    known = ", ".join(detectors)
    reasons = "; ".join(refusals)
    raise source.error(
        1, f"unrecognised format (known: {known}): {reasons}; use --format to force one"
    )


def _article(name: str) -> str:
    return {"json": "a JSON issue", "article": "an article"}.get(name, f"a {name}")


def _why_not(name: str, lines: tuple[str, ...], shape: Profile) -> str | None:
    """Why a format whose signature is missing does not fit (None: not worth saying)."""
    if name == "json":
        first = next((line.strip() for line in lines if line.strip()), "")
        is_json = first[:1] == "{" or (first[:1] == "[" and not _SECTION.match(first))
        return 'no "stories" list in the JSON' if is_json else None
    if name == "brief":
        return _why_not_brief(lines)
    if name == "bulletin":
        return _why_not_bulletin(lines)
    found = shape.junk() + shape.not_prose()
    if not found:
        found = ["no title line followed by paragraphs of prose", *shape.summary()]
    return ", ".join(dict.fromkeys(found))


def _why_not_brief(lines: tuple[str, ...]) -> str:
    header = any(_BRIEF_HEADER.search(line) for line in lines[:10])
    stories = sum(1 for line in lines if _BRIEF_STORY.match(line))
    parts = [] if header else ['no "… Brief — DATE" header']
    if stories:
        parts.append(f"{stories} numbered lines but no '• Summary:' fields under them")
    else:
        parts.append("no numbered stories")
    return " and ".join(parts)


def _why_not_bulletin(lines: tuple[str, ...]) -> str:
    period = False
    for block in blocks(lines)[:12]:
        try:
            # As the bulletin reads it: a short line of its own, never a date inside prose.
            short = len(block.lines) == 1 and len(block.text) <= _PERIOD_CHARS
            period = short and parse_range(block.text) is not None
        except ValueError:
            period = False
        if period:
            break
    sources = sum(1 for line in lines if _SOURCE_END.search(line))
    parts = [] if period else ["no period line ('8 - 14 June 2026') in the title block"]
    if not sources:
        parts.append("no paragraphs ending in **(Source)**")
    return " and ".join(parts) or "its items do not read as headline and paragraph"
