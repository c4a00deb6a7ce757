"""Topic tagging quality: precision and recall per topic on the hand-labelled story set.

    python -m bench.tagging [--taxonomy FILE] [--labelled FILE] [--misses]

Prints a table, then one JSON line with the per-topic figures and the micro-averaged totals,
which are recorded in bench/results/tagging.json too.
"""

from __future__ import annotations

import argparse
import json
import tomllib
from pathlib import Path

from bench.record import record
from mailer.content import Story
from mailer.topics import default_taxonomy, evaluate, load_taxonomy

ROOT = Path(__file__).resolve().parent.parent


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


def main() -> None:
    """Print per-topic precision and recall."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--taxonomy", type=Path)
    parser.add_argument("--labelled", type=Path, default=ROOT / "tests/data/labelled-stories.toml")
    parser.add_argument("--misses", action="store_true", help="list every wrong tag")
    args = parser.parse_args()
    taxonomy = load_taxonomy(args.taxonomy) if args.taxonomy else default_taxonomy()
    labelled = load_labelled(args.labelled)
    scores = evaluate(taxonomy, labelled)
    print(f"{len(labelled)} labelled stories\n")
    print(f"{'topic':<16}{'precision':>10}{'recall':>8}{'tp':>5}{'fp':>5}{'fn':>5}")
    for s in scores:
        print(
            f"{s.topic:<16}{s.precision:>10.2f}{s.recall:>8.2f}"
            f"{s.true_positives:>5}{s.false_positives:>5}{s.false_negatives:>5}"
        )
    tp = sum(s.true_positives for s in scores)
    fp = sum(s.false_positives for s in scores)
    fn = sum(s.false_negatives for s in scores)
    micro_p, micro_r = tp / (tp + fp), tp / (tp + fn)
    print(f"{'all (micro)':<16}{micro_p:>10.2f}{micro_r:>8.2f}{tp:>5}{fp:>5}{fn:>5}")
    if args.misses:
        for story, expected in labelled:
            got = set(taxonomy.tag(story).topics)
            if got != expected:
                print(f"\n{story.title}\n  expected {sorted(expected)} got {sorted(got)}")
                for e in taxonomy.explain(story):
                    print(f"    {e.describe()}")
    figures = {
        "stories": len(labelled),
        "topics": {
            s.topic: {"precision": round(s.precision, 3), "recall": round(s.recall, 3)}
            for s in scores
        },
        "micro": {"precision": round(micro_p, 3), "recall": round(micro_r, 3)},
    }
    print(json.dumps(figures))
    record("tagging", figures)


if __name__ == "__main__":
    main()
