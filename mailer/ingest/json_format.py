"""Issues as JSON: exactly the shape `briefmail ingest --json` prints, so tools can write issues.

Ingesting the JSON that `--json` printed gives the same issue back (topics included: stories that
carry topics keep them; stories without topics are tagged like any other).
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Mapping
from typing import Any

from mailer.content import Format, Issue, Role, Story
from mailer.ingest.base import SourceText

__all__ = ["looks_like_json", "parse_json"]

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
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise source.error(exc.lineno, f"invalid JSON: {exc.msg}") from None
    if not isinstance(data, dict):
        raise source.error(1, "a JSON issue must be an object")
    story_lines = _story_lines(text)
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
        title=_required_text(source, data, "title", 1, "title"),
        date=_date(source, data.get("date"), "date"),
        period_end=_date(source, data["period_end"], "period_end")
        if data.get("period_end")
        else None,
        stories=tuple(stories),
        format=issue_format,
        posted=_optional_text(source, data, "posted", 1, "posted"),
        tags=tuple(_string_list(source, data.get("tags"), 1, "tags")),
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
        title=_required_text(source, item, "title", line, f"{where}.title"),
        summary=_required_text(source, item, "summary", line, f"{where}.summary"),
        topics=tuple(
            sorted(set(_string_list(source, item.get("topics"), line, f"{where}.topics")))
        ),
        role=role,
        line=line,
        **texts,
    )


def _required_text(
    source: SourceText, data: Mapping[str, Any], key: str, line: int, where: str
) -> str:
    value = data.get(key)
    if not isinstance(value, str) or not value.strip():
        raise source.error(line, f"{where}: required text is missing")
    return value


def _optional_text(
    source: SourceText, data: Mapping[str, Any], key: str, line: int, where: str
) -> str | None:
    value = data.get(key)
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise source.error(line, f"{where}: must be text or null")
    return value


def _string_list(source: SourceText, value: Any, line: int, where: str) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise source.error(line, f"{where}: must be a list of strings")
    return value


def _date(source: SourceText, value: Any, where: str) -> dt.date:
    try:
        return dt.date.fromisoformat(value)
    except (TypeError, ValueError):
        raise source.error(1, f"{where}: expected YYYY-MM-DD, got {value!r}") from None


def _story_lines(text: str) -> list[int]:
    """The line where each object directly inside a top-level list starts (the stories)."""
    lines: list[int] = []
    depth, line, in_string, escaped = 0, 1, False, False
    for char in text:
        if char == "\n":
            line += 1
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
            continue
        if char == '"':
            in_string = True
        elif char in "{[":
            if char == "{" and depth == 2:
                lines.append(line)
            depth += 1
        elif char in "}]":
            depth -= 1
    return lines
