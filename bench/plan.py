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
from pathlib import Path

from sqlalchemy import select

from bench.database import bench_database
from bench.population import create_subscribers, people
from bench.send import ISSUE
from briefmail.app import Briefmail
from briefmail.settings import DatabaseSettings, NewsletterSettings, isolated_settings
from subscribers.models import NewsletterList


def main() -> None:
    """Set up, plan twice, print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subscribers", "-n", type=int, default=100_000)
    parser.add_argument("--database", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    with (
        tempfile.TemporaryDirectory(prefix="bench-plan-") as folder,
        bench_database(args.database, Path(folder)) as database,
    ):
        from pydantic import SecretStr

        app = Briefmail(
            isolated_settings(
                newsletter=NewsletterSettings(
                    slug="bench", **{"from": "Bench <brief@bench.example.org>"}
                ),
                database=DatabaseSettings(url=database.url),
                secret_key=SecretStr(secrets.token_urlsafe(32)),
            )
        )
        app.migrate()
        app.ensure_default_list()
        issue_file = Path(folder) / "issue.txt"
        issue_file.write_text(ISSUE, encoding="utf-8")
        stored = app.ingest(issue_file, "bench").stored
        assert stored is not None
        with app.sessions() as session:
            list_id = session.scalar(
                select(NewsletterList.id).where(NewsletterList.slug == "bench")
            )
        assert list_id is not None
        started = time.perf_counter()
        create_subscribers(app.engine, list_id, people(args.subscribers, args.seed))
        database.after_bulk_load(app.engine)
        setup = time.perf_counter() - started

        dispatcher = app.dispatcher()
        started = time.perf_counter()
        run_id = dispatcher.plan(stored.id)
        plan_seconds = time.perf_counter() - started
        started = time.perf_counter()
        dispatcher.plan(stored.id)
        replan_seconds = time.perf_counter() - started
        planned = dispatcher.report(run_id).planned
        size = database.size_bytes(app.engine)
        app.close()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"plan · {args.subscribers:,} subscribers · {args.database}")
    print(f"{'setup: subscribers (bulk SQL)':<32}{setup:>9.2f} s")
    print(f"{'plan':<32}{plan_seconds:>9.2f} s   {planned / plan_seconds:,.0f} deliveries/s")
    print(f"{'plan again (adds nobody)':<32}{replan_seconds:>9.2f} s")
    print(f"{'planned':<32}{planned:>9,}")
    print(f"{'peak RSS (this process)':<32}{peak:>9.1f} MB (the setup's included)")
    print(f"{'database size':<32}{size / 2**20:>9.1f} MB")
    print(
        json.dumps(
            {
                "subscribers": args.subscribers,
                "database": args.database,
                "planned": planned,
                "plan_seconds": round(plan_seconds, 2),
                "replan_seconds": round(replan_seconds, 2),
                "deliveries_per_s": round(planned / plan_seconds),
                "peak_rss_mb": round(peak, 1),
                "database_mb": round(size / 2**20, 1),
            }
        )
    )


if __name__ == "__main__":
    main()
