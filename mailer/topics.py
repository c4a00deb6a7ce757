"""The topic taxonomy (TOML) and explainable story tagging.

A taxonomy is a list of topics, each with keywords matched as whole words or phrases,
case-insensitively, in a story's title, summary and "why it matters". Tagging returns *why* a
topic was given, so an editor can see and fix a wrong match.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from importlib import resources
from pathlib import Path

from mailer.content import GENERAL, Issue, Story

__all__ = [
    "GENERAL",
    "Taxonomy",
    "TaxonomyError",
    "Topic",
    "UnknownTopic",
    "default_taxonomy",
    "load_taxonomy",
]


class TaxonomyError(Exception):
    """A taxonomy file is malformed; the message names the file and the topic or key."""


class UnknownTopic(ValueError):
    """A topic id that the taxonomy does not define; the message lists the valid ones."""

    def __init__(self, unknown: Iterable[str], valid: Iterable[str]) -> None:
        self.unknown = tuple(sorted(unknown))
        self.valid = tuple(valid)
        super().__init__(
            f"unknown topic {', '.join(self.unknown)} (valid topics: {', '.join(self.valid)})"
        )


@dataclass(frozen=True, slots=True)
class Topic:
    """One topic: a stable id, what readers see, and the words that signal it."""

    id: str
    label: str
    description: str
    keywords: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Taxonomy:
    """An ordered set of topics, plus the implicit `general`."""

    topics: tuple[Topic, ...]
    _patterns: dict[str, re.Pattern[str] | None] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # Compiled once per taxonomy: tagging runs for every story of every ingest.
        patterns = {t.id: _keyword_pattern(t.keywords) for t in self.topics}
        object.__setattr__(self, "_patterns", patterns)

    @property
    def ids(self) -> tuple[str, ...]:
        """Topic ids in taxonomy order (without `general`)."""
        return tuple(t.id for t in self.topics)

    def label(self, topic_id: str) -> str:
        """The reader-facing label of a topic id (`general` included)."""
        for topic in self.topics:
            if topic.id == topic_id:
                return topic.label
        return "General" if topic_id == GENERAL else topic_id

    def validate(self, chosen: Iterable[str]) -> tuple[str, ...]:
        """Return the chosen ids sorted; raise UnknownTopic naming any the taxonomy lacks."""
        chosen = {c.strip().lower() for c in chosen if c.strip()}
        unknown = chosen - set(self.ids)
        if unknown:
            raise UnknownTopic(unknown, self.ids)
        return tuple(sorted(chosen))

    def explain(self, story: Story) -> dict[str, tuple[str, ...]]:
        """Map each matching topic id to the distinct words in the story that matched it."""
        text = " ".join(filter(None, (story.title, story.summary, story.why_it_matters)))
        found: dict[str, tuple[str, ...]] = {}
        for topic_id, pattern in self._patterns.items():
            if pattern is None:
                continue
            words = {m.group(0).lower() for m in pattern.finditer(text)}
            if words:
                found[topic_id] = tuple(sorted(words))
        return found

    def tag(self, story: Story) -> Story:
        """Return the story with the topics its text matches, or `general` if none does."""
        return story.with_topics(self.explain(story) or (GENERAL,))

    def tag_issue(self, issue: Issue) -> Issue:
        """Return the issue with every story tagged."""
        return replace(issue, stories=tuple(self.tag(s) for s in issue.stories))


def _keyword_pattern(keywords: Iterable[str]) -> re.Pattern[str] | None:
    words = sorted({k.strip() for k in keywords if k.strip()}, key=len, reverse=True)
    if not words:
        return None
    # Lookarounds instead of \b so that keywords ending in punctuation ("5G", "C++") still match
    # as whole words, and "chip" does not match inside "chipset".
    alternatives = "|".join(re.escape(w).replace(r"\ ", r"\s+") for w in words)
    return re.compile(rf"(?<![\w-])(?:{alternatives})(?![\w-])", re.IGNORECASE)


def load_taxonomy(path: str | Path) -> Taxonomy:
    """Load a taxonomy TOML file; TaxonomyError names the file and the offending topic."""
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise TaxonomyError(f"{path}: cannot read: {exc.strerror or exc}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise TaxonomyError(f"{path}: {exc}") from exc
    return _parse_taxonomy(data, str(path))


def default_taxonomy() -> Taxonomy:
    """The taxonomy shipped with briefmail."""
    text = resources.files("mailer").joinpath("data/topics.toml").read_text(encoding="utf-8")
    return _parse_taxonomy(tomllib.loads(text), "mailer/data/topics.toml")


def _parse_taxonomy(data: Mapping[str, object], origin: str) -> Taxonomy:
    entries = data.get("topic")
    if not isinstance(entries, list) or not entries:
        raise TaxonomyError(f"{origin}: no [[topic]] tables")
    topics: list[Topic] = []
    for index, entry in enumerate(entries, start=1):
        if not isinstance(entry, dict):
            raise TaxonomyError(f"{origin}: topic {index} is not a table")
        topic_id = entry.get("id")
        where = f"{origin}: topic {topic_id or index}"
        if not isinstance(topic_id, str) or not re.fullmatch(r"[a-z][a-z0-9-]*", topic_id):
            raise TaxonomyError(f"{where}: id must be lowercase letters, digits and dashes")
        if topic_id == GENERAL or topic_id in {t.id for t in topics}:
            raise TaxonomyError(f"{where}: id is reserved or defined twice")
        keywords = entry.get("keywords", [])
        if not isinstance(keywords, list) or not all(isinstance(k, str) for k in keywords):
            raise TaxonomyError(f"{where}: keywords must be a list of strings")
        topics.append(
            Topic(
                id=topic_id,
                label=str(entry.get("label") or topic_id.title()),
                description=str(entry.get("description") or ""),
                keywords=tuple(keywords),
            )
        )
    return Taxonomy(tuple(topics))
