"""The topic taxonomy (TOML) and explainable story tagging.

A topic has *keywords* (a single one is enough: "SMIC", "export controls"), *hints* (words that
suggest the topic but mislead alone: "market"; two are needed) and *weak* words (ambiguous ones,
"low-altitude", "autonomous": they count only beside a keyword or hint of the same topic, never
alone or with each other). *ignore* lists phrases that contain a topic's word but are no evidence
of it ("business model", "blue chip"). The taxonomy's *places* ("Beijing", "Brussels") are never
evidence of any topic: a story set in Washington is not about policy. Matching is by whole word
or whole phrase, case-insensitively, in a story's title, summary and "why it matters" (a word
ending a hyphenated compound counts: "delivery-drone" is a drone; one starting it does not). A
story gets a topic when its score reaches 2: each distinct keyword found scores 2, each hint or
weak word 1. A topic that only just reaches 2 is dropped as a passing mention when another topic
scores twice as much or more (three times, if its 2 is a keyword: a named thing is seldom an
aside), unless its word is in the title. Hashtags (articles) map to
topics through each topic's *aliases*. A topic with a *parent* also gives its parent.

An issue read as one piece (an article, a bulletin) goes to a reader whole, so every topic it
carries widens its audience: it keeps at most three topics, ranked by their score summed over
its stories (an article also drops those under a third of the best: asides). `explain` returns the
evidence, kept and dropped, so an editor can see why a story got a topic and fix the taxonomy.

The shipped taxonomy has a *learned backstop*: logistic regression per topic over TF-IDF word
1-2-grams, trained on first use on the labelled stories in mailer/data/ (never pickled). It adds
at most one topic the words did not earn, when fairly sure; its evidence says "learned".
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

from mailer.content import GENERAL, WHOLE_ISSUE_FORMATS, Format, Issue, Story

__all__ = [
    "GENERAL",
    "MAX_ISSUE_TOPICS",
    "ONE_PIECE_FORMATS",
    "TRAINING_DATA",
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
#: How many times a story's strongest topic may outscore a topic that only just reaches the
#: threshold before that one is a passing mention: two hints are thin evidence beside a strong
#: subject, while one keyword (a product, an agency, "funding round") is most often a second
#: topic of the story, not an aside.
_PASSING_HINTS = 2
_PASSING_KEYWORD = 3
#: The most topics an issue read as one piece keeps: each one widens who receives it.
MAX_ISSUE_TOPICS = 3
#: Formats whose readers get the issue as one piece. Articles share one topic set across their
#: sections; a bulletin's items keep their own topics, limited to the issue's best three.
ONE_PIECE_FORMATS = WHOLE_ISSUE_FORMATS | {Format.BULLETIN}
#: The word lists of a topic, in the order evidence names them.
_WORD_KEYS = ("keywords", "hints", "weak")
_ORDINALS = ("1st", "2nd", "3rd")
#: Han ideographs, kana and hangul: scripts written without spaces between words.
_CJK_RANGES = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff"
_CJK = re.compile(f"[{_CJK_RANGES}]")
#: A character that continues a Latin-script word (a letter, digit or '_', but not CJK).
_LATIN_CHAR = f"[^\\W{_CJK_RANGES}]"
#: How sure the learned backstop must be to add a topic (one per story): chosen by 5-fold
#: cross-validation on the tuning stories, where 0.40-0.50 all gave the best balance.
_LEARNED_AT = 0.45
#: The stories the backstop learns from (the tuning set; hold-outs never ship).
TRAINING_DATA = "data/labelled-stories.toml"


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
    #: Ambiguous words: they score only when a keyword or hint of this topic is found too.
    weak: tuple[str, ...] = ()
    #: Phrases that contain one of the topic's words but are no evidence of it.
    ignore: tuple[str, ...] = ()
    #: Hashtags (without '#', lowercase, '_' for spaces) that mean this topic.
    aliases: tuple[str, ...] = ()
    parent: str | None = None


@dataclass(frozen=True, slots=True)
class Evidence:
    """Why a story has a topic (or lost it): the words found, their score, and the reason."""

    topic: str
    score: int
    words: tuple[str, ...]
    via: str | None = None
    #: Why a whole-issue format did not keep this topic (None: the topic is kept).
    dropped: str | None = None

    def describe(self) -> str:
        """One line for `briefmail topics explain`."""
        found = ", ".join(self.words) if self.words else "-"
        via = f" ({self.via})" if self.via else ""
        dropped = f" -- dropped: {self.dropped}" if self.dropped else ""
        return f"{self.topic}: {found} [score {self.score}]{via}{dropped}"


@dataclass(frozen=True, slots=True)
class _Matcher:
    keywords: re.Pattern[str] | None
    hints: re.Pattern[str] | None
    weak: re.Pattern[str] | None
    ignore: re.Pattern[str] | None


@dataclass(frozen=True, slots=True)
class Taxonomy:
    """An ordered set of topics, plus the implicit `general`."""

    topics: tuple[Topic, ...]
    #: Place names: never evidence of a topic (the loader refuses them in word lists).
    places: tuple[str, ...] = ()
    #: Whether the learned backstop may add a topic (the shipped taxonomy's topics only).
    learned: bool = False
    _matchers: dict[str, _Matcher] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )

    def _matcher(self, topic: Topic) -> _Matcher:
        """A topic's patterns, compiled once, when first needed (a sender never tags: 0.4 s)."""
        if (found := self._matchers.get(topic.id)) is None:
            found = _Matcher(
                _pattern(topic.keywords),
                _pattern(topic.hints),
                _pattern(topic.weak),
                _pattern(topic.ignore),
            )
            self._matchers[topic.id] = found
        return found

    @property
    def ids(self) -> tuple[str, ...]:
        """Topic ids in taxonomy order (without `general`)."""
        return tuple(t.id for t in self.topics)

    def get(self, topic_id: str) -> Topic | None:
        """The topic with this id, or None."""
        return next((t for t in self.topics if t.id == topic_id), None)

    def label(self, topic_id: str) -> str:
        """The reader-facing label of a topic id; untagged stories are simply "in the news"."""
        topic = self.get(topic_id)
        if topic is not None:
            return topic.label
        return "Also in the news" if topic_id == GENERAL else topic_id

    def validate(self, chosen: Iterable[str]) -> tuple[str, ...]:
        """Return the chosen ids sorted; raise UnknownTopic naming any the taxonomy lacks."""
        chosen = {c.strip().lower() for c in chosen if c.strip()}
        unknown = chosen - set(self.ids)
        if unknown:
            raise UnknownTopic(unknown, self.ids)
        return tuple(sorted(chosen))

    def explain_text(
        self, title: str, body: str, hashtags: Iterable[str] = (), *, learned: bool = True
    ) -> list[Evidence]:
        """The topics a text earns, with evidence, in taxonomy order (parents included).

        ``learned``: let the backstop add a topic, if this taxonomy has it.
        """
        scored = [self._score(topic, f"{title}\n{body}") for topic in self.topics]
        top = max((e.score for e in scored), default=0)
        found = {
            e.topic: e
            for e, topic in zip(scored, self.topics, strict=True)
            if e.score >= _THRESHOLD and not self._passing(topic, e, top, title)
        }
        if learned and self.learned:
            guess = _learned_guess(f"{title}\n{body}", set(self.ids) - set(found))
            if guess is not None:
                found[guess.topic] = guess
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
        """Evidence per story, kept topics first; an issue read as one piece keeps three."""
        if issue.format in WHOLE_ISSUE_FORMATS:
            shared = self._explain_whole(issue)
            return [shared for _ in issue.stories]
        found = [self.explain(story) for story in issue.stories]
        if issue.format not in ONE_PIECE_FORMATS:
            return found
        sums: dict[str, int] = {}
        for evidence in found:
            for e in evidence:
                sums[e.topic] = sums.get(e.topic, 0) + e.score
        # A bulletin's items were each judged on their own text: only the cap applies.
        kept, reasons = self._cap(sums, set(), passing=False)
        return [_mark(evidence, kept, reasons) for evidence in found]

    def tag(self, story: Story) -> Story:
        """Return the story with the topics its text earns, or `general` if none."""
        return story.with_topics([e.topic for e in self.explain(story)] or [GENERAL])

    def tag_issue(self, issue: Issue, *, keep_existing: bool = False) -> Issue:
        """Return the issue with every story tagged (``keep_existing``: only untagged ones)."""
        evidence = self.explain_issue(issue)
        stories = tuple(
            story
            if keep_existing and story.topics
            else story.with_topics([e.topic for e in found if not e.dropped] or [GENERAL])
            for story, found in zip(issue.stories, evidence, strict=True)
        )
        return replace(issue, stories=stories)

    def _explain_whole(self, issue: Issue) -> list[Evidence]:
        """An article's topics: earned by its whole text, ranked by the sum over its sections."""
        body = "\n".join(f"{s.title}\n{_body(s)}" for s in issue.stories)
        earned = self.explain_text(issue.title, body, issue.tags, learned=False)
        texts = [issue.title, *(f"{s.title}\n{_body(s)}" for s in issue.stories)]
        hashtags = _tags(issue)
        tagged = {t.id for t in self.topics if hashtags.intersection(t.aliases)}
        sums: dict[str, int] = {}
        evidence: dict[str, Evidence] = {}
        for e in earned:
            topic = self.get(e.topic)
            if topic is None or (e.via or "").startswith("parent"):
                continue
            # Repetition across sections is what tells the article's subject from an aside.
            total = sum(self._score(topic, text).score for text in texts)
            # An editor's hashtag counts like one more keyword.
            sums[e.topic] = total + _THRESHOLD * (e.topic in tagged)
            evidence[e.topic] = replace(e, score=sums[e.topic])
        kept, reasons = self._cap(sums, tagged)
        marked = _mark(list(evidence.values()), kept, reasons)
        for topic_id in kept:
            for ancestor in self._ancestors(topic_id):
                marked.append(Evidence(ancestor, 0, (), f"parent of {topic_id}"))
        order = {t: n for n, t in enumerate(self.ids)}
        return sorted(marked, key=lambda e: (e.dropped is not None, order[e.topic]))

    def _cap(
        self, sums: Mapping[str, int], tagged: set[str], *, passing: bool = True
    ) -> tuple[list[str], dict[str, str]]:
        """The topics an issue keeps (best first) and why each other one was dropped.

        ``passing``: also drop topics under a third of the best (an article's asides).
        """
        order = {t: n for n, t in enumerate(self.ids)}
        ranked = sorted(sums, key=lambda t: (-sums[t], t not in tagged, order.get(t, 0)))
        top = sums[ranked[0]] if ranked else 0
        kept: list[str] = []
        reasons: dict[str, str] = {}
        for rank, topic_id in enumerate(ranked, start=1):
            with_parents = {*kept, topic_id, *self._ancestors(topic_id)}
            if passing and sums[topic_id] * 3 < top:
                reasons[topic_id] = f"a passing mention (score {sums[topic_id]}, best {top})"
            elif len(with_parents) > MAX_ISSUE_TOPICS:
                reasons[topic_id] = f"ranked {rank}; an issue keeps {MAX_ISSUE_TOPICS} topics"
            else:
                kept.append(topic_id)
        return kept, reasons

    def _passing(self, topic: Topic, evidence: Evidence, top: int, title: str) -> bool:
        """Whether a topic that only just reaches the threshold is an aside beside the top one."""
        if evidence.score > _THRESHOLD or self._score(topic, title).score:
            return False
        keywords = self._matcher(topic).keywords
        keyword = keywords is not None and any(keywords.fullmatch(w) for w in evidence.words)
        return evidence.score * (_PASSING_KEYWORD if keyword else _PASSING_HINTS) <= top

    def _score(self, topic: Topic, text: str) -> Evidence:
        matcher = self._matcher(topic)
        if matcher.ignore is not None:
            # Blank ignored phrases out so that their words ("model" in "business model") are
            # not found; the text keeps its length so phrase matching is otherwise unchanged.
            text = matcher.ignore.sub(lambda m: " " * len(m.group(0)), text)
        found = {
            key: _found(pattern, text)
            for key, pattern in zip(
                _WORD_KEYS, (matcher.keywords, matcher.hints, matcher.weak), strict=True
            )
        }
        if not found["keywords"] and not found["hints"]:
            # A weak word alone, or with other weak words, is no evidence at all.
            found["weak"] = set()
        # Each distinct term counts once: a word repeated, or with its plural, is one piece of
        # evidence ("price" and "prices" say the same thing once).
        score = sum(
            weight * len({_singular(w) for w in found[key]})
            for key, weight in (("keywords", 2), ("hints", 1), ("weak", 1))
        )
        words = found["keywords"] | found["hints"] | found["weak"]
        return Evidence(topic.id, score, tuple(sorted(words)))

    def _ancestors(self, topic_id: str) -> list[str]:
        found: list[str] = []
        topic = self.get(topic_id)
        while topic is not None and topic.parent and topic.parent not in found:
            found.append(topic.parent)
            topic = self.get(topic.parent)
        return found


def _mark(
    evidence: Sequence[Evidence], kept: Sequence[str], reasons: Mapping[str, str]
) -> list[Evidence]:
    """Evidence with the issue's ranking noted: kept topics first, then the dropped ones."""
    marked = []
    for e in evidence:
        if e.topic in kept:
            rank = kept.index(e.topic)
            note = f"{_ORDINALS[rank] if rank < len(_ORDINALS) else rank + 1} in the issue"
            marked.append(replace(e, via=f"{e.via}; {note}" if e.via else note))
        elif e.topic in reasons:
            marked.append(replace(e, dropped=reasons[e.topic]))
        else:
            marked.append(e)
    return sorted(marked, key=lambda e: e.dropped is not None)


def _singular(word: str) -> str:
    """The word without its inflection, for counting distinct evidence (not for display)."""
    for ending in ("ing", "ed", "es", "s", "d"):
        if word.endswith(ending) and not word.endswith("ss") and len(word) - len(ending) >= 3:
            return word[: -len(ending)]
    return word


def _tags(issue: Issue) -> set[str]:
    return {_normalise_tag(tag) for tag in issue.tags}


def _found(pattern: re.Pattern[str] | None, text: str) -> set[str]:
    if pattern is None:
        return set()
    return {" ".join(m.group(0).lower().split()) for m in pattern.finditer(text)}


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
    # Chinese and Japanese are written without spaces between words, so a CJK term can have no
    # word boundary: "芯片" must be found inside "车规级芯片迎来量产". CJK terms are therefore
    # matched as substrings (and have no inflections); other terms as whole words.
    cjk = [re.escape(t) for t in terms if _CJK.search(t)]
    # Lookarounds instead of \b so that terms ending in punctuation ("5G", "C++") still match as
    # whole words, "chip" does not match inside "chipset" or "chip-making", and phrases match
    # across line breaks. A term may end a hyphenated compound: a "delivery-drone" is a drone and
    # "power-management chips" are chips (so "blue-chip" is an ignored phrase of chips). A CJK
    # character is no letter of a Latin word: "GPU" is found in "租用GPU资源".
    latin = "|".join(
        re.escape(t).replace(r"\ ", r"\s+") + _endings(t) for t in terms if not _CJK.search(t)
    )
    alternatives = [f"(?<!{_LATIN_CHAR})(?:{latin})(?!-)(?!{_LATIN_CHAR})"] if latin else []
    if cjk:
        alternatives.append("|".join(cjk))
    return re.compile("|".join(alternatives), re.IGNORECASE)


def _endings(term: str) -> str:
    """The inflections a term also matches: "invest" finds "invests", "invested", "investing"."""
    if not term[-1:].isalpha() or (term.isupper() and len(term) > 1):
        return ""
    # "-d" only after "e" ("rule", "ruled"): "ban" + "d" would be "band".
    return "(?:s|d)?" if term.endswith("e") else "(?:s|es|ed|ing)?"


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


def default_taxonomy(*, learned: bool = True) -> Taxonomy:
    """The taxonomy shipped with briefmail (``learned``: with the learned backstop)."""
    text = resources.files("mailer").joinpath("data/topics.toml").read_text(encoding="utf-8")
    return replace(_parse_taxonomy(tomllib.loads(text), "mailer/data/topics.toml"), learned=learned)


@cache
def _backstop() -> tuple[Any, Any, Any, tuple[str, ...]]:
    """The trained backstop: vectoriser, weights, intercepts and topic ids (once per process)."""
    # Imported here: scikit-learn takes most of a second to import, and only tagging needs it.
    import numpy as np
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

    text = resources.files("mailer").joinpath(TRAINING_DATA).read_text(encoding="utf-8")
    stories: list[dict[str, Any]] = tomllib.loads(text)["story"]
    topics = tuple(sorted({t for s in stories for t in s["topics"]} - {GENERAL}))
    vectoriser = TfidfVectorizer(ngram_range=(1, 2), min_df=2, sublinear_tf=True)
    features = vectoriser.fit_transform([_training_text(s) for s in stories])
    fitted = [
        LogisticRegression(C=30.0, solver="liblinear", random_state=0).fit(
            features, [topic in s["topics"] for s in stories]
        )
        for topic in topics
    ]
    weights = np.vstack([m.coef_[0] for m in fitted])
    return vectoriser, weights, np.array([m.intercept_[0] for m in fitted]), topics


def _training_text(story: Mapping[str, Any]) -> str:
    return "\n".join(filter(None, (story["title"], story["summary"], story.get("why"))))


def _learned_guess(text: str, open_topics: set[str]) -> Evidence | None:
    """The backstop's likeliest topic among those the words did not earn, if sure enough."""
    import numpy as np

    vectoriser, weights, intercepts, topics = _backstop()
    scores = vectoriser.transform([text]) @ weights.T + intercepts
    chances = 1.0 / (1.0 + np.exp(-np.asarray(scores).ravel()))
    best = max(
        (n for n, topic in enumerate(topics) if topic in open_topics),
        key=lambda n: chances[n],
        default=None,
    )
    if best is None or chances[best] < _LEARNED_AT:
        return None
    return Evidence(topics[best], _THRESHOLD, (), f"learned, p {chances[best]:.2f}")


_TOPIC_KEYS = frozenset({"id", "label", "description", "aliases", "parent", "ignore", *_WORD_KEYS})


def _strings(entry: Mapping[str, object], key: str, where: str) -> tuple[str, ...]:
    value = entry.get(key, [])
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise TaxonomyError(f"{where}: {key} must be a list of strings")
    return tuple(value)


def _parse_topic(entry: object, index: int, origin: str, seen: set[str]) -> Topic:
    """One [[topic]] table, checked key by key."""
    if not isinstance(entry, dict):
        raise TaxonomyError(f"{origin}: topic {index} is not a table")
    topic_id = entry.get("id")
    where = f"{origin}: topic {topic_id or index}"
    if not isinstance(topic_id, str) or not re.fullmatch(r"[a-z][a-z0-9-]*", topic_id):
        raise TaxonomyError(f"{where}: id must be lowercase letters, digits and dashes")
    if topic_id == GENERAL or topic_id in seen:
        raise TaxonomyError(f"{where}: id is reserved or defined twice")
    unknown_keys = set(entry) - _TOPIC_KEYS
    if unknown_keys:
        raise TaxonomyError(f"{where}: unknown key {', '.join(sorted(unknown_keys))}")
    parent = entry.get("parent")
    if parent is not None and not isinstance(parent, str):
        raise TaxonomyError(f"{where}: parent must be a topic id")
    return Topic(
        id=topic_id,
        label=str(entry.get("label") or topic_id.title()),
        description=str(entry.get("description") or ""),
        keywords=_strings(entry, "keywords", where),
        hints=_strings(entry, "hints", where),
        weak=_strings(entry, "weak", where),
        ignore=_strings(entry, "ignore", where),
        aliases=tuple(_normalise_tag(a) for a in _strings(entry, "aliases", where)),
        parent=parent,
    )


def _check_words(topic: Topic, places: Iterable[str], origin: str) -> None:
    """A word in one list only, no place name as evidence, every ignored phrase relevant."""
    where = f"{origin}: topic {topic.id}"
    place_names = {p.casefold() for p in places}
    owner: dict[str, str] = {}
    for key in _WORD_KEYS:
        for word in getattr(topic, key):
            folded = " ".join(word.casefold().split())
            if folded in place_names:
                raise TaxonomyError(
                    f"{where}: {key}: {word!r} is a place name (listed in places), "
                    "and a place is no evidence of a topic"
                )
            if folded in owner:
                raise TaxonomyError(f"{where}: {key}: {word!r} is already in {owner[folded]}")
            owner[folded] = key
    words = _pattern(owner) if topic.ignore else None  # compiled only to check ignored phrases
    for phrase in topic.ignore:
        if words is None or not words.search(phrase):
            raise TaxonomyError(
                f"{where}: ignore: {phrase!r} contains none of the topic's words, "
                "so ignoring it changes nothing"
            )


def _parse_taxonomy(data: Mapping[str, object], origin: str) -> Taxonomy:
    entries = data.get("topic")
    if not isinstance(entries, list) or not entries:
        raise TaxonomyError(f"{origin}: no [[topic]] tables")
    unknown = set(data) - {"topic", "places"}
    if unknown:
        raise TaxonomyError(f"{origin}: unknown key {', '.join(sorted(unknown))}")
    places = _strings(data, "places", origin)
    topics: list[Topic] = []
    for index, entry in enumerate(entries, start=1):
        topic = _parse_topic(entry, index, origin, {t.id for t in topics})
        _check_words(topic, places, origin)
        topics.append(topic)
    ids = {t.id for t in topics}
    for topic in topics:
        if topic.parent is not None and topic.parent not in ids:
            raise TaxonomyError(
                f"{origin}: topic {topic.id}: parent {topic.parent!r} is not a topic"
            )
    taxonomy = Taxonomy(tuple(topics), places)
    for topic in topics:
        if topic.id in taxonomy._ancestors(topic.id):
            raise TaxonomyError(f"{origin}: topic {topic.id}: parents form a cycle")
    return taxonomy
