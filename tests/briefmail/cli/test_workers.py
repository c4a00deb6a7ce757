"""Worker processes sharing one run on PostgreSQL: each reader once.

Real processes and a real server: four `briefmail worker --run RUN` processes claim from one
20,000-reader run in PostgreSQL and send to an aiosmtpd sink in this process. The same run with
one worker killed mid-run is in test_workers_takeover.py, a file of its own so that pytest-xdist
(which gives a file's tests to one process) runs the two minute-long sends side by side.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from pathlib import Path

import pytest

from briefmail.app import Briefmail
from briefmail.settings import load_settings
from mailer.testing import SmtpSink
from scheduler import ledger
from subscribers.importer import import_csv
from subscribers.lists import get_list
from tests.conftest import FIXTURES, start_briefmail

pytestmark = pytest.mark.postgresql_only

READERS = 20_000
WORKERS = 4
CONNECTIONS = 4
LEASE = 3.0


def configure(home: Path, database_url: str, port: int) -> Path:
    config = home / "briefmail.toml"
    config.write_text(
        f'[database]\nurl = "{database_url}"\n'
        f'[smtp]\nhost = "127.0.0.1"\nport = {port}\nconnections = {CONNECTIONS}\n'
        f"[delivery]\nbatch_size = 1000\nlease_seconds = {LEASE}\n",
        encoding="utf-8",
    )
    return config


def planned_run(home: Path, database_url: str) -> tuple[int, Briefmail]:
    """Set up ``home``: READERS readers, the sample brief and its planned run; (run id, app)."""
    configure(home, database_url, 25)
    os.environ["BRIEFMAIL_SECRET_KEY"] = "k" * 32
    try:
        app = Briefmail(load_settings(home / "briefmail.toml"))
    finally:
        del os.environ["BRIEFMAIL_SECRET_KEY"]
    app.migrate()
    app.ensure_default_list()
    readers = home / "readers.csv"
    readers.write_text(
        "email,status\n" + "".join(f"r{n:05d}@example.net,confirmed\n" for n in range(READERS)),
        encoding="utf-8",
    )
    with app.sessions() as session:
        import_csv(session, get_list(session, "brief"), readers, taxonomy=app.taxonomy)
        session.commit()
    stored = app.ingest(FIXTURES / "brief-mixed.txt", "brief", approve=True).stored
    assert stored is not None
    return app.dispatcher().plan(stored.id), app


def check_everyone_once(sink: SmtpSink, app: Briefmail, run_id: int) -> Counter[str]:
    copies = Counter(sink.recipients())
    assert set(copies) == {f"r{n:05d}@example.net" for n in range(READERS)}
    with app.sessions() as session:
        counts = ledger.count_by_status(session, run_id)
        assert counts.get("delivered") == READERS, counts
        assert ledger.run_status(session, run_id) == ledger.RunStatus.DONE
    return copies


def test_four_workers_share_a_run_and_send_each_reader_once(
    tmp_path: Path, database_url: str, planned: tuple[int, Briefmail]
) -> None:
    """Four worker processes on one 20,000-reader run: every reader exactly one copy."""
    run_id, app = planned
    with SmtpSink(keep_data=False) as sink:
        configure(tmp_path, database_url, sink.port)
        workers = [
            start_briefmail(tmp_path, "worker", "--run", str(run_id), "--json")
            for _ in range(WORKERS)
        ]
        reports = []
        for worker in workers:
            out, err = worker.communicate(timeout=600)
            assert worker.returncode == 0, err
            reports.append(json.loads(out))
        copies = check_everyone_once(sink, app, run_id)
    assert max(copies.values()) == 1
    assert sum(r["sent_now"] for r in reports) == READERS
    assert all(r["sent_now"] > READERS / WORKERS / 4 for r in reports), reports  # all took part
    assert sum(r["uncertain"] for r in reports) == 0
