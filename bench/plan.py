"""Planning speed: N subscribers, one daily brief, the run planned (no mail sent).

    python bench/plan.py [--subscribers 1000000] [--database sqlite|postgresql] [--seed 7]

Creates the subscribers as bench/send.py does (bench/population.py: the importer's rows, in
bulk), ingests the bench's issue and times `Dispatcher.plan` in this process: one delivery per
eligible reader, with its variant and local send time, decided a range of subscription ids at
a time in the database (scheduler/planning.py). A second plan of the same issue is timed too
(it adds nobody: the cost of a repeated send or a scheduler tick). Prints a table and one JSON
line {"subscribers", "database", "planned", "plan_seconds", "replan_seconds",
"deliveries_per_s", "peak_rss_mb", "database_mb"}. The target on the 2-core development
machine: 1,000,000 planned in under 30 s.
"""

from __future__ import annotations

import argparse
import json
import resource
import secrets
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select

from bench.brief import ISSUE
from bench.database import BenchDatabase, bench_database
from bench.population import create_subscribers, people
from briefmail.app import Briefmail
from briefmail.settings import DatabaseSettings, NewsletterSettings, isolated_settings
from subscribers.models import NewsletterList


@dataclass
class _Figures:
    """What one plan bench measured: the table and the JSON line are made of these."""

    setup: float
    plan_seconds: float
    replan_seconds: float
    planned: int
    size: int
    peak: float


def _arguments() -> argparse.Namespace:
    """The command line: how many subscribers, which database, which seed."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subscribers", "-n", type=int, default=100_000)
    parser.add_argument("--database", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--seed", type=int, default=7)
    return parser.parse_args()


def _app(url: str) -> Briefmail:
    """A migrated Briefmail on ``url`` with the bench's list, as `briefmail init` leaves it."""
    # A local import, where main had it: splitting main should not change what loads when.
    from pydantic import SecretStr

    app = Briefmail(
        isolated_settings(
            newsletter=NewsletterSettings(
                slug="bench", **{"from": "Bench <brief@bench.example.org>"}
            ),
            database=DatabaseSettings(url=url),
            secret_key=SecretStr(secrets.token_urlsafe(32)),
        )
    )
    app.migrate()
    app.ensure_default_list()
    return app


def _ingest(app: Briefmail, folder: Path) -> int:
    """Ingest the bench's issue (the same one bench/send.py sends); its id."""
    issue_file = folder / "issue.txt"
    issue_file.write_text(ISSUE, encoding="utf-8")
    stored = app.ingest(issue_file, "bench", approve=True).stored
    assert stored is not None
    return stored.id


def _create_subscribers(app: Briefmail, database: BenchDatabase, args: argparse.Namespace) -> float:
    """Write the subscribers in bulk (not timed as planning); the seconds it took."""
    with app.sessions() as session:
        list_id = session.scalar(select(NewsletterList.id).where(NewsletterList.slug == "bench"))
    assert list_id is not None
    started = time.perf_counter()
    create_subscribers(app.engine, list_id, people(args.subscribers, args.seed))
    # Part of the setup: PostgreSQL's sequences and statistics must be right before planning.
    database.after_bulk_load(app.engine)
    return time.perf_counter() - started


def _plan_twice(app: Briefmail, issue_id: int) -> tuple[float, float, int]:
    """Seconds of the first plan and of a second that adds nobody; deliveries planned."""
    dispatcher = app.dispatcher()
    started = time.perf_counter()
    run_id = dispatcher.plan(issue_id)
    plan_seconds = time.perf_counter() - started
    # The second plan is the cost of a repeated send or a scheduler tick over the same issue.
    started = time.perf_counter()
    dispatcher.plan(issue_id)
    replan_seconds = time.perf_counter() - started
    return plan_seconds, replan_seconds, dispatcher.report(run_id).planned


def _print_figures(args: argparse.Namespace, figures: _Figures) -> None:
    """The table, then the JSON line."""
    f = figures
    print(f"plan · {args.subscribers:,} subscribers · {args.database}")
    print(f"{'setup: subscribers (bulk SQL)':<32}{f.setup:>9.2f} s")
    print(f"{'plan':<32}{f.plan_seconds:>9.2f} s   {f.planned / f.plan_seconds:,.0f} deliveries/s")
    print(f"{'plan again (adds nobody)':<32}{f.replan_seconds:>9.2f} s")
    print(f"{'planned':<32}{f.planned:>9,}")
    print(f"{'peak RSS (this process)':<32}{f.peak:>9.1f} MB (the setup's included)")
    print(f"{'database size':<32}{f.size / 2**20:>9.1f} MB")
    print(
        json.dumps(
            {
                "subscribers": args.subscribers,
                "database": args.database,
                "planned": f.planned,
                "plan_seconds": round(f.plan_seconds, 2),
                "replan_seconds": round(f.replan_seconds, 2),
                "deliveries_per_s": round(f.planned / f.plan_seconds),
                "peak_rss_mb": round(f.peak, 1),
                "database_mb": round(f.size / 2**20, 1),
            }
        )
    )


def main() -> None:
    """Set up, plan twice, print the figures."""
    args = _arguments()
    with (
        tempfile.TemporaryDirectory(prefix="bench-plan-") as folder,
        bench_database(args.database, Path(folder)) as database,
    ):
        app = _app(database.url)
        issue_id = _ingest(app, Path(folder))
        setup = _create_subscribers(app, database, args)
        plan_seconds, replan_seconds, planned = _plan_twice(app, issue_id)
        size = database.size_bytes(app.engine)
        app.close()
    # This process's peak over the whole run, the setup included (the table says so).
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    _print_figures(args, _Figures(setup, plan_seconds, replan_seconds, planned, size, peak))


if __name__ == "__main__":
    main()
