"""The bench's database: a SQLite file beside the config, or a throwaway PostgreSQL cluster.

PostgreSQL comes from Debian's ``postgresql`` package, started the way the test suite starts it
(tests/postgres.py: initdb into a temporary folder, pg_ctl on a free loopback port). Like the
test cluster it runs without fsync and with synchronous_commit off: a bench's rows are thrown
away, and the SQLite side does not fsync each commit either (WAL, synchronous=NORMAL).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Engine, text

ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class BenchDatabase:
    """Where the bench's data lives: its URL, and how to measure and prepare it."""

    kind: str
    url: str
    folder: Path

    @property
    def paramstyle(self) -> str:
        """The placeholder of plain SQL through the driver: ? (sqlite3) or %s (psycopg)."""
        return "?" if self.kind == "sqlite" else "%s"

    def size_bytes(self, engine: Engine) -> int:
        """The database's size on disk: the SQLite files, or pg_database_size."""
        if self.kind == "sqlite":
            return sum(p.stat().st_size for p in self.folder.glob("bench.db*") if p.is_file())
        with engine.connect() as connection:
            return int(connection.scalar(text("SELECT pg_database_size(current_database())")))

    def after_bulk_load(self, engine: Engine) -> None:
        """What an operator does after loading rows with explicit ids behind the ORM's back.

        PostgreSQL: move the id sequences past the loaded rows, and ANALYZE so the planner
        knows the tables' sizes at once (autovacuum would, a little later).
        """
        if self.kind == "sqlite":
            return
        with engine.begin() as connection:
            for table in ("subscribers", "subscriptions", "consent_events"):
                connection.execute(
                    text(
                        f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                        f"(SELECT coalesce(max(id), 1) FROM {table}))"
                    )
                )
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.execute(text("ANALYZE"))


@contextmanager
def bench_database(kind: str, folder: Path) -> Iterator[BenchDatabase]:
    """A database for one bench run, removed afterwards when it is a PostgreSQL cluster."""
    if kind == "sqlite":
        yield BenchDatabase(kind, f"sqlite:///{folder / 'bench.db'}", folder)
        return
    # tests/ is importable from the repository root, where benches run (python -m bench.NAME).
    from tests.postgres import PostgresMissing, running_cluster

    try:
        with running_cluster() as cluster, cluster.database() as url:
            yield BenchDatabase(kind, url, folder)
    except PostgresMissing as missing:
        raise SystemExit(f"--database postgresql: {missing}") from None
