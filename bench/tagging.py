"""Topic tagging quality: precision and recall per topic on hand-labelled stories.

    python -m bench.tagging [--taxonomy FILE] [--misses] [--keywords-only]

Prints, for the tuning set (mailer/data/labelled-stories.toml, which the learned backstop is
trained on, so its figures there are in-sample) and the hold-out set written after
tuning (tests/data/labelled-holdout.toml), a table of precision and recall per topic and the
micro-averaged totals (on the hold-out, a topic under the goal of 0.75 is marked); then how many
topics each article fixture keeps (an article goes to every reader of any of its topics). Ends
with one JSON line of the figures (the tuning set's at the top level, then ``holdout`` and
``articles``), which are recorded in bench/results/tagging.json too. ``--keywords-only``
measures the keyword rules without the learned backstop.
"""

from __future__ import annotations

import argparse
import json
import time
import tomllib
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

from bench.record import record
from mailer.content import Format, Issue, Story
from mailer.topics import (
    MAX_ISSUE_TOPICS,
    Score,
    Taxonomy,
    default_taxonomy,
    evaluate,
    load_taxonomy,
)

ROOT = Path(__file__).resolve().parent.parent
TUNING = ROOT / "mailer/data/labelled-stories.toml"
HOLDOUT = ROOT / "tests/data/labelled-holdout.toml"
#: Articles to count topics on: the test fixture, the seed article and any under articles/.
ARTICLE_SOURCES = (
    ROOT / "tests/fixtures/article-sample.txt",
    ROOT.parent / "shared/seeds/article-china-ai-momentum.txt",
    ROOT / "tests/fixtures/articles",
)
#: The goals of issue 19 for the hold-out set and for articles.
GOALS = {"micro": 0.90, "topic": 0.75, "article_topics": 2.5}


def load_labelled(path: Path) -> list[tuple[Story, frozenset[str]]]:
    """The labelled stories of a TOML file as (story, expected topics)."""
    data = tomllib.loads(path.read_text(encoding="utf-8"))
    return [
        (
            Story(position=n, title=e["title"], summary=e["summary"], why_it_matters=e.get("why")),
            frozenset(e["topics"]),
        )
        for n, e in enumerate(data["story"], start=1)
    ]


def micro(scores: Sequence[Score]) -> tuple[float, float]:
    """Micro-averaged precision and recall: every tag counts once, whatever its topic."""
    tp = sum(s.true_positives for s in scores)
    fp = sum(s.false_positives for s in scores)
    fn = sum(s.false_negatives for s in scores)
    return (tp / (tp + fp) if tp + fp else 1.0, tp / (tp + fn) if tp + fn else 1.0)


def article_files() -> list[Path]:
    """The article fixtures present in this checkout (articles/ may hold a dozen more)."""
    found: list[Path] = []
    for source in ARTICLE_SOURCES:
        if source.is_dir():
            found.extend(sorted(p for p in source.iterdir() if p.suffix in {".txt", ".md"}))
        elif source.is_file():
            found.append(source)
    return found


def article_topics(taxonomy: Taxonomy) -> dict[str, list[str]]:
    """The topics each article fixture keeps, by file name (unreadable files are skipped)."""
    from mailer.ingest import IngestError, read_issue

    kept: dict[str, list[str]] = {}
    for path in article_files():
        try:
            issue, _ = read_issue(path, format=Format.ARTICLE.value)
        except IngestError as exc:
            print(f"skipped {path.name}: {exc}")
            continue
        tagged: Issue = taxonomy.tag_issue(issue)
        kept[path.name] = sorted({t for s in tagged.stories for t in s.topics})
    return kept


def print_scores(
    name: str,
    labelled: Sequence[tuple[Story, frozenset[str]]],
    scores: Sequence[Score],
    *,
    goal: float | None = None,
) -> None:
    """One set's table: precision, recall and counts per topic, then the micro average.

    ``goal``: mark each topic whose precision or recall is under it.
    """
    print(f"{name}: {len(labelled)} labelled stories\n")
    print(f"{'topic':<16}{'precision':>10}{'recall':>8}{'tp':>5}{'fp':>5}{'fn':>5}")
    for s in scores:
        under = goal is not None and min(s.precision, s.recall) < goal
        print(
            f"{s.topic:<16}{s.precision:>10.2f}{s.recall:>8.2f}"
            f"{s.true_positives:>5}{s.false_positives:>5}{s.false_negatives:>5}"
            + (f"  < {goal:.2f}" if under else "")
        )
    p, r = micro(scores)
    print(f"{'all (micro)':<16}{p:>10.2f}{r:>8.2f}\n")


def print_misses(taxonomy: Taxonomy, labelled: Sequence[tuple[Story, frozenset[str]]]) -> None:
    """Every story tagged otherwise than labelled, with the evidence found."""
    for story, expected in labelled:
        got = set(taxonomy.tag(story).topics)
        if got != expected:
            print(f"{story.title}\n  expected {sorted(expected)} got {sorted(got)}")
            for e in taxonomy.explain(story):
                print(f"    {e.describe()}")
    print()


def figures_of(
    labelled: Sequence[tuple[Story, frozenset[str]]], scores: Sequence[Score]
) -> dict[str, object]:
    """One set's figures for the JSON line, with the topics under the per-topic goal."""
    p, r = micro(scores)
    return {
        "stories": len(labelled),
        "topics": {
            s.topic: {"precision": round(s.precision, 3), "recall": round(s.recall, 3)}
            for s in scores
        },
        "micro": {"precision": round(p, 3), "recall": round(r, 3)},
        "under_goal": [s.topic for s in scores if min(s.precision, s.recall) < GOALS["topic"]],
    }


def main() -> None:
    """Print per-topic precision and recall, article topic counts, and whether goals are met."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--taxonomy", type=Path)
    parser.add_argument("--misses", action="store_true", help="list every wrong tag")
    parser.add_argument("--keywords-only", action="store_true", help="no learned backstop")
    args = parser.parse_args()
    taxonomy = load_taxonomy(args.taxonomy) if args.taxonomy else default_taxonomy()
    taxonomy = replace(taxonomy, learned=taxonomy.learned and not args.keywords_only)
    started = time.perf_counter()
    taxonomy.tag(Story(1, "Warm-up", "Trains the learned backstop, if any."))
    figures: dict[str, object] = {
        "learned": taxonomy.learned,
        "first_tag_ms": round((time.perf_counter() - started) * 1000, 1),
    }
    print(
        f"learned backstop: {'on' if taxonomy.learned else 'off'}; first tag took "
        f"{figures['first_tag_ms']} ms\n"
    )
    scores: list[Score] = []
    for name, path in (("tuning", TUNING), ("holdout", HOLDOUT)):
        labelled = load_labelled(path)
        scores = evaluate(taxonomy, labelled)
        print_scores(name, labelled, scores, goal=GOALS["topic"] if name == "holdout" else None)
        if args.misses:
            print_misses(taxonomy, labelled)
        # The tuning set's figures stay at the top level, where earlier runs recorded them.
        if name == "tuning":
            figures.update(figures_of(labelled, scores))
        else:
            figures[name] = figures_of(labelled, scores)
    kept = article_topics(taxonomy)
    for name, topics in kept.items():
        print(f"article {name}: {len(topics)} topics ({', '.join(topics)})")
    mean = sum(len(t) for t in kept.values()) / len(kept) if kept else 0.0
    print(f"articles: mean {mean:.2f} topics over {len(kept)} (at most {MAX_ISSUE_TOPICS} each)")
    figures["articles"] = {"count": len(kept), "mean_topics": round(mean, 2)}
    # The loop's last set is the hold-out.
    print(f"goals met on the hold-out: {'yes' if goals_met(scores, mean) else 'NO'}")
    print(json.dumps(figures))
    record("tagging", figures)


def goals_met(holdout: Sequence[Score], mean_article_topics: float) -> bool:
    """Issue 19's goals: hold-out micro P and R >= 0.90, every topic >= 0.75, articles <= 2.5."""
    per_topic = [v for s in holdout for v in (s.precision, s.recall)]
    return (
        min(micro(holdout)) >= GOALS["micro"]
        and min(per_topic) >= GOALS["topic"]
        and mean_article_topics <= GOALS["article_topics"]
    )


if __name__ == "__main__":
    main()
