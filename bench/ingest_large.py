"""How ingest time grows with the size of a brief: 100 KB, 1 MB and 10 MB.

    python -m bench.ingest_large
    python -m bench.ingest_large --sizes 100000,1000000 --stories 50 --wrap 80

Generates a daily brief in the published format (header, numbered stories with source, summary,
why-it-matters and URL bullets) out of made-up words, writes it to a temporary file and times
`read_issue` on it, best of ``--repeat`` runs. The story count is fixed, so a bigger file means
longer summaries — where superlinear parsing shows. ``--wrap`` breaks summaries into lines of
that many columns, as some exports do (0: one line per field, as published). Prints one row per
size with the seconds per MB (flat when ingest is linear), the ratio to the smallest size's
seconds per MB, then one JSON line; the run is recorded in bench/results/ingest_large.json.
"""

from __future__ import annotations

import argparse
import json
import random
import tempfile
import textwrap
import time
from pathlib import Path

from bench.record import record
from mailer.ingest import read_issue

__all__ = ["generate_brief", "main", "measure"]

_SYLLABLES = (
    "bra", "ven", "tor", "qui", "lem", "sao", "dru", "fen", "mik", "ol", "zar", "pe", "nith",
    "gro", "ula", "vex", "cal", "dor", "ise", "mun", "tha", "ry", "bel", "kos",
)  # fmt: skip
_SOURCES = ("Morrowfield Ledger", "Quillby Wire", "Tessaro Daily", "Ombrel Times")


def _word(rng: random.Random) -> str:
    return "".join(rng.choice(_SYLLABLES) for _ in range(rng.randint(1, 3)))


def _sentence(rng: random.Random) -> str:
    words = [_word(rng) for _ in range(rng.randint(6, 18))]
    return " ".join(words).capitalize() + rng.choice(".....?!")


def _prose(rng: random.Random, length: int) -> str:
    parts: list[str] = []
    total = 0
    while total < length:
        sentence = _sentence(rng)
        parts.append(sentence)
        total += len(sentence) + 1
    return " ".join(parts)


def generate_brief(size: int, stories: int = 100, wrap: int = 0, seed: int = 17) -> str:
    """A brief of about ``size`` characters with ``stories`` stories of made-up words."""
    rng = random.Random(seed)
    # What each story costs besides its summary, so the summaries make up the rest.
    fixed = 220
    summary_length = max(40, size // stories - fixed)
    lines = ["Quillmoor Brief — 2026-07-01", "", "Posted on July 1, 2026 at 08:00 AM", ""]
    for number in range(1, stories + 1):
        summary = _prose(rng, summary_length)
        if wrap:
            first, *rest = textwrap.wrap(summary, wrap) or [""]
            summary_lines = [f"  • Summary: {first}", *(f"    {line}" for line in rest)]
        else:
            summary_lines = [f"  • Summary: {summary}"]
        lines += [
            f"{number}. {' '.join(_word(rng) for _ in range(6)).title()}",
            "",
            f"  • {rng.choice(_SOURCES)} · 2026-07-01",
            *summary_lines,
            f"  • Why It Matters: {_prose(rng, 120)}",
            "  • URL: Read more",
            "",
        ]
    return "\n".join(lines)


def measure(size: int, stories: int = 100, wrap: int = 0, repeat: int = 3) -> dict[str, float]:
    """Generate a brief of ``size`` characters and time `read_issue` on it (best of ``repeat``)."""
    text = generate_brief(size, stories, wrap)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "large-brief.txt"
        path.write_text(text, encoding="utf-8")
        megabytes = path.stat().st_size / 1_000_000
        best = float("inf")
        for _ in range(repeat):
            started = time.perf_counter()
            issue, _ = read_issue(path)
            best = min(best, time.perf_counter() - started)
    assert len(issue.stories) == stories
    return {"size": size, "mb": megabytes, "seconds": best, "s_per_mb": best / megabytes}


#: The shapes measured by default: as published, and one summary wrapped over many lines.
SHAPES = ((100, 0), (1, 80))


def main(argv: list[str] | None = None) -> list[dict[str, object]]:
    """Measure each shape at each size, print the table and the JSON line; the report."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n", 1)[0])
    parser.add_argument(
        "--sizes", default="100000,1000000,10000000", help="Characters, comma-separated."
    )
    parser.add_argument("--stories", type=int, help="Stories per brief (at most 999).")
    parser.add_argument("--wrap", type=int, help="Wrap summaries at this many columns.")
    parser.add_argument("--repeat", type=int, default=3, help="Runs per size; the best counts.")
    args = parser.parse_args(argv)
    sizes = sorted(int(s) for s in args.sizes.split(","))
    shapes = (
        SHAPES
        if args.stories is None and args.wrap is None
        else ((args.stories or 100, args.wrap or 0),)
    )
    print(
        f"{'stories':>7} {'wrap':>4} {'size':>12} {'MB':>7} {'seconds':>8} {'s/MB':>7} {'ratio':>6}"
    )
    report = []
    for stories, wrap in shapes:
        results = [measure(size, stories, wrap, args.repeat) for size in sizes]
        base = results[0]["s_per_mb"]
        for row in results:
            # Seconds per MB against the smallest size's: about 1 when ingest is linear.
            row["ratio"] = row["s_per_mb"] / base if base else float("nan")
            print(
                f"{stories:>7} {wrap:>4} {int(row['size']):>12,} {row['mb']:>7.2f} "
                f"{row['seconds']:>8.3f} {row['s_per_mb']:>7.3f} {row['ratio']:>6.2f}"
            )
        report.append({"stories": stories, "wrap": wrap, "results": results})
    print(json.dumps(report))
    return report


if __name__ == "__main__":
    # Recorded only when run as a program: a test calling main() leaves bench/results alone.
    record("ingest_large", {"shapes": main()})
