"""The topic taxonomy (TOML) and explainable story tagging.

A topic has *keywords* (a single one is enough: "SMIC", "export controls") and *hints* (words
that suggest the topic but mislead alone: "model", "market"). Matching is by whole word or whole
phrase, case-insensitively, in a story's title, summary and "why it matters". A story gets a
topic when its score reaches 2: each distinct keyword found scores 2, each hint 1; a topic that
only just reaches 2 is dropped as a passing mention when another topic scores over three times
as much. Hashtags (articles) map to topics through each topic's *aliases*. A topic with a
*parent* also gives its parent. `explain` returns the evidence, so an editor can see why a story
got a topic and fix the taxonomy when it is wrong.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from importlib import resources
from pathlib import Path

from mailer.content import GENERAL, WHOLE_ISSUE_FORMATS, Issue, Story

__all__ = [
    "GENERAL",
    "Evidence",
    "Score",
    "Taxonomy",
    "TaxonomyError",
    "Topic",
    "UnknownTopic",
    "default_taxonomy",
    "evaluate",
    "load_taxonomy",
]

_THRESHOLD = 2


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
    keywords: tuple[str, ...] = ()
    hints: tuple[str, ...] = ()
    #: Hashtags (without '#', lowercase, '_' for spaces) that mean this topic.
    aliases: tuple[str, ...] = ()
    parent: str | None = None


@dataclass(frozen=True, slots=True)
class Evidence:
    """Why a story has a topic: the words found, their score, and any parent/hashtag reason."""

    topic: str
    score: int
    words: tuple[str, ...]
    via: str | None = None

    def describe(self) -> str:
        """One line for `briefmail topics explain`."""
        found = ", ".join(self.words) if self.words else "-"
        via = f" ({self.via})" if self.via else ""
        return f"{self.topic}: {found} [score {self.score}]{via}"


@dataclass(frozen=True, slots=True)
class _Matcher:
    keywords: re.Pattern[str] | None
    hints: re.Pattern[str] | None


@dataclass(frozen=True, slots=True)
class Taxonomy:
    """An ordered set of topics, plus the implicit `general`."""

    topics: tuple[Topic, ...]
    _matchers: dict[str, _Matcher] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # Compiled once per taxonomy: tagging runs for every story of every ingest.
        matchers = {t.id: _Matcher(_pattern(t.keywords), _pattern(t.hints)) for t in self.topics}
        object.__setattr__(self, "_matchers", matchers)

    @property
    def ids(self) -> tuple[str, ...]:
        """Topic ids in taxonomy order (without `general`)."""
        return tuple(t.id for t in self.topics)

    def get(self, topic_id: str) -> Topic | None:
        """The topic with this id, or None."""
        return next((t for t in self.topics if t.id == topic_id), None)

    def label(self, topic_id: str) -> str:
        """The reader-facing label of a topic id (`general` included)."""
        topic = self.get(topic_id)
        if topic is not None:
            return topic.label
        return "General" if topic_id == GENERAL else topic_id

    def validate(self, chosen: Iterable[str]) -> tuple[str, ...]:
        """Return the chosen ids sorted; raise UnknownTopic naming any the taxonomy lacks."""
        chosen = {c.strip().lower() for c in chosen if c.strip()}
        unknown = chosen - set(self.ids)
        if unknown:
            raise UnknownTopic(unknown, self.ids)
        return tuple(sorted(chosen))

    def explain_text(self, title: str, body: str, hashtags: Iterable[str] = ()) -> list[Evidence]:
        """The topics a text earns, with evidence, in taxonomy order (parents included)."""
        scored = [self._score(topic, title, body) for topic in self.topics]
        top = max((e.score for e in scored), default=0)
        # A lone keyword is a passing mention when the story is clearly about something else:
        # it counts only if it reaches a third of the strongest topic's score.
        found = {
            e.topic: e
            for e in scored
            if e.score >= _THRESHOLD and (e.score > _THRESHOLD or e.score * 3 >= top)
        }
        tags = {_normalise_tag(tag) for tag in hashtags}
        for topic in self.topics:
            matched = sorted(f"#{a}" for a in topic.aliases if a in tags)
            if matched and topic.id not in found:
                found[topic.id] = Evidence(topic.id, _THRESHOLD, tuple(matched), "hashtag")
        for topic_id in list(found):
            for ancestor in self._ancestors(topic_id):
                found.setdefault(ancestor, Evidence(ancestor, 0, (), f"parent of {topic_id}"))
        return [found[t] for t in self.ids if t in found]

    def explain(self, story: Story) -> list[Evidence]:
        """The topics a story's own text earns, with evidence."""
        return self.explain_text(story.title, _body(story))

    def explain_issue(self, issue: Issue) -> list[list[Evidence]]:
        """Evidence per story; a whole-issue format (article) is judged as one text."""
        if issue.format in WHOLE_ISSUE_FORMATS:
            body = "\n".join(f"{s.title}\n{_body(s)}" for s in issue.stories)
            shared = self.explain_text(issue.title, body, issue.tags)
            return [shared for _ in issue.stories]
        return [self.explain(story) for story in issue.stories]

    def tag(self, story: Story) -> Story:
        """Return the story with the topics its text earns, or `general` if none."""
        return story.with_topics([e.topic for e in self.explain(story)] or [GENERAL])

    def tag_issue(self, issue: Issue, *, keep_existing: bool = False) -> Issue:
        """Return the issue with every story tagged (``keep_existing``: only untagged ones)."""
        evidence = self.explain_issue(issue)
        stories = tuple(
            story
            if keep_existing and story.topics
            else story.with_topics([e.topic for e in found] or [GENERAL])
            for story, found in zip(issue.stories, evidence, strict=True)
        )
        return replace(issue, stories=stories)

    def _score(self, topic: Topic, title: str, body: str) -> Evidence:
        matcher = self._matchers[topic.id]
        score, words = 0, set()
        text = f"{title}\n{body}"
        for pattern, weight in ((matcher.keywords, 2), (matcher.hints, 1)):
            if pattern is None:
                continue
            # Each distinct term counts once: a word repeated is one piece of evidence.
            found = {" ".join(m.group(0).lower().split()) for m in pattern.finditer(text)}
            score += weight * len(found)
            words |= found
        return Evidence(topic.id, score, tuple(sorted(words)))

    def _ancestors(self, topic_id: str) -> list[str]:
        found: list[str] = []
        topic = self.get(topic_id)
        while topic is not None and topic.parent and topic.parent not in found:
            found.append(topic.parent)
            topic = self.get(topic.parent)
        return found


@dataclass(frozen=True, slots=True)
class Score:
    """Tagging quality for one topic over a labelled set."""

    topic: str
    true_positives: int
    false_positives: int
    false_negatives: int

    @property
    def precision(self) -> float:
        """Share of stories given the topic that should have it (1.0 when none was given)."""
        given = self.true_positives + self.false_positives
        return self.true_positives / given if given else 1.0

    @property
    def recall(self) -> float:
        """Share of stories that should have the topic and got it (1.0 when none should)."""
        expected = self.true_positives + self.false_negatives
        return self.true_positives / expected if expected else 1.0


def evaluate(taxonomy: Taxonomy, labelled: Iterable[tuple[Story, frozenset[str]]]) -> list[Score]:
    """Precision and recall per topic (and `general`) of tagging against expected topic sets."""
    counts = {t: [0, 0, 0] for t in (*taxonomy.ids, GENERAL)}
    for story, expected in labelled:
        got = set(taxonomy.tag(story).topics)
        for topic, tally in counts.items():
            tally[0] += topic in got and topic in expected
            tally[1] += topic in got and topic not in expected
            tally[2] += topic not in got and topic in expected
    return [Score(topic, *tally) for topic, tally in counts.items()]


def _body(story: Story) -> str:
    return "\n".join(filter(None, (story.summary, story.why_it_matters)))


def _normalise_tag(tag: str) -> str:
    return re.sub(r"[\s-]+", "_", tag.strip().lstrip("#").lower())


def _pattern(words: Iterable[str]) -> re.Pattern[str] | None:
    terms = sorted({w.strip() for w in words if w.strip()}, key=len, reverse=True)
    if not terms:
        return None
    # Lookarounds instead of \b so that terms ending in punctuation ("5G", "C++") still match as
    # whole words, "chip" does not match inside "chipset", and phrases match across line breaks.
    alternatives = "|".join(re.escape(t).replace(r"\ ", r"\s+") for t in terms)
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


def _strings(entry: Mapping[str, object], key: str, where: str) -> tuple[str, ...]:
    value = entry.get(key, [])
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise TaxonomyError(f"{where}: {key} must be a list of strings")
    return tuple(value)


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
        unknown_keys = set(entry) - {
            "id",
            "label",
            "description",
            "keywords",
            "hints",
            "aliases",
            "parent",
        }
        if unknown_keys:
            raise TaxonomyError(f"{where}: unknown key {', '.join(sorted(unknown_keys))}")
        parent = entry.get("parent")
        if parent is not None and not isinstance(parent, str):
            raise TaxonomyError(f"{where}: parent must be a topic id")
        topics.append(
            Topic(
                id=topic_id,
                label=str(entry.get("label") or topic_id.title()),
                description=str(entry.get("description") or ""),
                keywords=_strings(entry, "keywords", where),
                hints=_strings(entry, "hints", where),
                aliases=tuple(_normalise_tag(a) for a in _strings(entry, "aliases", where)),
                parent=parent,
            )
        )
    ids = {t.id for t in topics}
    for topic in topics:
        if topic.parent is not None and topic.parent not in ids:
            raise TaxonomyError(
                f"{origin}: topic {topic.id}: parent {topic.parent!r} is not a topic"
            )
    taxonomy = Taxonomy(tuple(topics))
    for topic in topics:
        if topic.id in taxonomy._ancestors(topic.id):
            raise TaxonomyError(f"{origin}: topic {topic.id}: parents form a cycle")
    return taxonomy
