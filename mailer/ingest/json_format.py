"""Issues as JSON: exactly the shape `briefmail ingest --json` prints, so tools can write issues.

Ingesting the JSON that `--json` printed gives the same issue back (topics included: stories that
carry topics keep them; stories without topics are tagged like any other).

Before the decoder sees it, one linear scan refuses what the shape never holds — nesting deeper
than :data:`MAX_DEPTH`, a number longer than :data:`MAX_NUMBER_CHARS`, NaN or Infinity — with its
line, so no input reaches the decoder's recursion or its integer-conversion limit. Titles may
carry any character (mailer.content makes them one line); other text may not carry controls or
lone surrogates, which no database or message can hold.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Mapping
from typing import Any

from mailer.content import Format, Issue, Role, Story, header_text
from mailer.ingest.base import SourceText

__all__ = ["MAX_DEPTH", "MAX_NUMBER_CHARS", "looks_like_json", "parse_json"]

#: How deep the shape nests: the issue object, its stories list, a story, the story's topics.
MAX_DEPTH = 4
#: The longest number the shape holds (an id, a position, a line), in characters.
MAX_NUMBER_CHARS = 15
# One token of JSON as far as the shape scan cares: a string (unrolled so it runs in linear time,
# newlines included so line numbers stay right in broken files), a bracket, a line break, a
# number or a bare word; a lone '"' is a string that never ends. Spaces, commas and colons are
# skipped.
_TOKEN = re.compile(
    r'"[^"\\]*(?:\\.[^"\\]*)*"|[{}\[\]\n]|-?[0-9][0-9.eE+-]*|[A-Za-z]+|"', re.DOTALL
)
_WORDS = frozenset({"true", "false", "null"})
# What text fields other than titles may not hold (as in the text formats, plus lone surrogates).
_UNSTORABLE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff]")

# The issue's optional text besides `posted`: the printed summary, an editor's subject/preheader.
_ISSUE_TEXT = ("summary", "subject", "preheader")
_TEXT_FIELDS = ("source", "published", "why_it_matters", "url", "link_text", "group")


def looks_like_json(lines: tuple[str, ...]) -> str | None:
    """Say why these lines look like a JSON issue, or return None."""
    first = next((line.strip() for line in lines if line.strip()), "")
    if first.startswith("{") and any('"stories"' in line for line in lines):
        return 'a JSON object with a "stories" list'
    return None


def parse_json(source: SourceText) -> Issue:
    """Parse a JSON issue; errors name the line and the field (e.g. stories[2].summary)."""
    text = "\n".join(source.lines)
    story_lines = _scan(source, text)
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise source.error(exc.lineno, f"invalid JSON: {exc.msg}") from None
    if not isinstance(data, dict):
        raise source.error(1, "a JSON issue must be an object")
    stories_data = data.get("stories")
    if not isinstance(stories_data, list) or not stories_data:
        raise source.error(1, "stories: must be a non-empty list")
    stories = []
    for index, item in enumerate(stories_data):
        line = story_lines[index] if index < len(story_lines) else 1
        stories.append(_story(source, item, index, line))
    try:
        issue_format = Format(data.get("format") or Format.BRIEF)
    except ValueError:
        raise source.error(1, f"format: unknown format {data.get('format')!r}") from None
    return Issue(
        title=_required_text(source, data, "title", 1, "title", header=True),
        date=_date(source, data.get("date"), "date"),
        period_end=_date(source, data["period_end"], "period_end")
        if data.get("period_end")
        else None,
        stories=tuple(stories),
        format=issue_format,
        posted=_optional_text(source, data, "posted", 1, "posted"),
        tags=tuple(_string_list(source, data.get("tags"), 1, "tags")),
        **{name: _optional_text(source, data, name, 1, name) for name in _ISSUE_TEXT},
    )


def _story(source: SourceText, item: Any, index: int, line: int) -> Story:
    where = f"stories[{index}]"
    if not isinstance(item, Mapping):
        raise source.error(line, f"{where}: must be an object")
    position = item.get("position", index + 1)
    if position != index + 1:
        raise source.error(line, f"{where}.position: is {position!r}, expected {index + 1}")
    url = _optional_text(source, item, "url", line, f"{where}.url")
    if url is not None and not re.match(r"^https?://[^\s<>\"]+$", url, re.IGNORECASE):
        raise source.error(line, f"{where}.url: not an http(s) address: {url[:60]!r}")
    try:
        role = Role(item.get("role") or Role.STORY)
    except ValueError:
        raise source.error(line, f"{where}.role: unknown role {item.get('role')!r}") from None
    texts = {
        name: _optional_text(source, item, name, line, f"{where}.{name}") for name in _TEXT_FIELDS
    }
    return Story(
        position=index + 1,
        title=_required_text(source, item, "title", line, f"{where}.title", header=True),
        summary=_required_text(source, item, "summary", line, f"{where}.summary"),
        topics=tuple(
            sorted(set(_string_list(source, item.get("topics"), line, f"{where}.topics")))
        ),
        role=role,
        line=line,
        **texts,
    )


def _required_text(
    source: SourceText,
    data: Mapping[str, Any],
    key: str,
    line: int,
    where: str,
    *,
    header: bool = False,
) -> str:
    value = data.get(key)
    # A title counts as present only if something is left once it is made one line.
    present = isinstance(value, str) and (header_text(value) if header else value.strip())
    if not present:
        raise source.error(line, f"{where}: required text is missing")
    assert isinstance(value, str)
    if not header:
        _check_storable(source, value, line, where)
    return value


def _check_storable(source: SourceText, value: str, line: int, where: str) -> None:
    if match := _UNSTORABLE.search(value):
        raise source.error(
            line, f"{where}: control character or lone surrogate U+{ord(match.group()):04X}"
        )


def _optional_text(
    source: SourceText, data: Mapping[str, Any], key: str, line: int, where: str
) -> str | None:
    value = data.get(key)
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise source.error(line, f"{where}: must be text or null")
    _check_storable(source, value, line, where)
    return value


def _string_list(source: SourceText, value: Any, line: int, where: str) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise source.error(line, f"{where}: must be a list of strings")
    for item in value:
        _check_storable(source, item, line, where)
    return value


def _date(source: SourceText, value: Any, where: str) -> dt.date:
    try:
        return dt.date.fromisoformat(value)
    except (TypeError, ValueError):
        raise source.error(1, f"{where}: expected YYYY-MM-DD, got {value!r}") from None


def _scan(source: SourceText, text: str) -> list[int]:
    """Refuse what the shape never holds, with its line; return where each story starts.

    The stories are the objects directly inside a list inside the top-level object.
    """
    lines: list[int] = []
    depth, line = 0, 1
    for match in _TOKEN.finditer(text):
        token = match.group()
        first = token[0]
        if first == "\n":
            line += 1
        elif token == '"':
            break  # the rest is one unterminated string: the decoder says where
        elif first == '"':
            line += token.count("\n")
        elif first in "{[":
            if first == "{" and depth == 2:
                lines.append(line)
            depth += 1
            if depth > MAX_DEPTH:
                raise source.error(
                    line,
                    f"nesting deeper than an issue's shape (at most {MAX_DEPTH} levels: "
                    "issue, stories, story, topics)",
                )
        elif first in "}]":
            depth -= 1
        elif first.isalpha():
            if token not in _WORDS:
                raise source.error(line, f"invalid JSON: {token[:20]!r} is not a value")
        elif len(token) > MAX_NUMBER_CHARS:
            raise source.error(
                line,
                f"number {token[:12]}… ({len(token):,} characters) is out of range: "
                f"numbers have at most {MAX_NUMBER_CHARS} characters",
            )
    return lines
