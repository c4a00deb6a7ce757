"""Subscriber CSV import and export speed on a throwaway SQLite database.

    python -m bench.import_subscribers [--rows 100000] [--seed 7]

Writes a CSV of realistic rows (mixed domains, topics, cadences and time zones), then times a
plain stdlib csv read of it (the baseline), a first import (all created, with the commit), a
second import of the same file (all unchanged) and an export. Prints a table, then one JSON line.
"""

from __future__ import annotations

import argparse
import csv
import json
import random
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from sqlalchemy.orm import Session, sessionmaker

from bench.population import DOMAINS as BENCH_DOMAINS
from bench.population import FIRST, LAST, ZONES
from briefmail.migrate import upgrade
from mailer.topics import default_taxonomy
from subscribers.db import make_engine, make_sessionmaker
from subscribers.importer import COLUMNS, ImportReport, export_csv, import_csv
from subscribers.lists import create_list
from subscribers.models import NewsletterList

T = TypeVar("T")

# The bench population's names and zones; one domain in mixed case, which the importer must
# fold like any other.
DOMAINS = [domain if domain != "example.org" else "Example.ORG" for domain in BENCH_DOMAINS]
SOURCES = ["website", "import", "conference 2026", "partner newsletter", ""]


def write_rows(path: Path, rows: int, seed: int) -> None:
    """A CSV of ``rows`` distinct, valid subscribers with varied choices."""
    rng = random.Random(seed)
    topic_ids = default_taxonomy().ids
    with path.open("w", encoding="utf-8", newline="") as stream:
        writer = csv.writer(stream)
        writer.writerow(COLUMNS)
        for n in range(rows):
            first, last = rng.choice(FIRST), rng.choice(LAST)
            topics = rng.sample(topic_ids, rng.choice([0, 0, 1, 2, 3]))
            writer.writerow(
                (
                    f"{first}.{last.replace('ü', 'ue')}{n}@{rng.choice(DOMAINS)}",
                    f"{first.title()} {last.title()}" if rng.random() < 0.7 else "",
                    rng.choices(["confirmed", "pending", "unsubscribed"], [80, 15, 5])[0],
                    rng.choices(["daily", "weekly"], [70, 30])[0],
                    rng.choice(ZONES),
                    rng.choice([6, 7, 7, 7, 8, 12, 18]),
                    "|".join(topics),
                    rng.choice(SOURCES),
                    f"2026-{rng.randint(1, 11):02d}-{rng.randint(1, 28):02d}T09:30:00+00:00"
                    if rng.random() < 0.8
                    else "",
                )
            )


def timed(action: Callable[[], T]) -> tuple[T, float]:
    """The action's result and its wall-clock seconds."""
    start = time.perf_counter()
    result = action()
    return result, time.perf_counter() - start


def csv_baseline(path: Path) -> int:
    """Rows of the file as the stdlib csv module reads them, doing nothing else."""
    with path.open(encoding="utf-8", newline="") as stream:
        return sum(1 for _ in csv.reader(stream)) - 1


def run_import(
    sessions: sessionmaker[Session], newsletter: NewsletterList, path: Path
) -> ImportReport:
    """Import the file in one session and commit, as the CLI does."""
    with sessions() as session:
        report = import_csv(session, newsletter, path, taxonomy=default_taxonomy())
        session.commit()
        return report


def run_export(sessions: sessionmaker[Session], newsletter: NewsletterList, path: Path) -> int:
    """Export the list to ``path``."""
    with sessions() as session:
        return export_csv(session, newsletter, path)


def main() -> None:
    """Time import, re-import and export of a generated file."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="briefmail-bench-") as tmp:
        folder = Path(tmp)
        source, exported = folder / "subscribers.csv", folder / "exported.csv"
        write_rows(source, args.rows, args.seed)
        engine = make_engine(f"sqlite:///{folder / 'bench.db'}")
        upgrade(engine)
        sessions = make_sessionmaker(engine)
        with sessions() as session:
            newsletter = create_list(session, "bench", "Bench Brief", "Brief <b@news.example.org>")
            session.commit()
        parsed, csv_seconds = timed(lambda: csv_baseline(source))
        first, import_seconds = timed(lambda: run_import(sessions, newsletter, source))
        second, reimport_seconds = timed(lambda: run_import(sessions, newsletter, source))
        count, export_seconds = timed(lambda: run_export(sessions, newsletter, exported))
        engine.dispose()
    if not (parsed == first.rows == first.created == second.unchanged == count == args.rows):
        raise SystemExit(f"unexpected counts: parsed {parsed}, {first}, {second}, export {count}")
    print(f"{args.rows:,} rows ({source.name}, {len(COLUMNS)} columns)\n")
    print(f"{'step':<28}{'seconds':>9}{'rows/s':>11}{'× csv':>8}")
    for step, seconds in (
        ("stdlib csv read (baseline)", csv_seconds),
        ("import (all created)", import_seconds),
        ("re-import (all unchanged)", reimport_seconds),
        ("export", export_seconds),
    ):
        print(
            f"{step:<28}{seconds:>9.2f}{args.rows / seconds:>11,.0f}{seconds / csv_seconds:>8.1f}"
        )
    print(
        json.dumps(
            {
                "rows": args.rows,
                "import_seconds": round(import_seconds, 3),
                "rows_per_s": round(args.rows / import_seconds),
                "reimport_seconds": round(reimport_seconds, 3),
                "export_seconds": round(export_seconds, 3),
            }
        )
    )


if __name__ == "__main__":
    main()
