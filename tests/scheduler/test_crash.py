"""A sender killed with SIGKILL at any moment loses nobody; only what was in flight can double.

Real processes: `briefmail send` runs as a subprocess against a real SMTP server in this
process, is killed with SIGKILL at five points of a 1,000-reader run (while planning, at the
first sends, between batches, mid-run with two worker processes, near the end), and the same
command then resumes the run. Every reader ends with at least one copy; extra copies are at most the
deliveries the resumed run reports as uncertain, and those are at most the connections open.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import time
from collections import Counter
from pathlib import Path

import pytest

from briefmail.app import Briefmail
from briefmail.settings import load_settings
from mailer.testing import Faults, SmtpSink
from subscribers.lists import get_list
from subscribers.service import subscribe
from tests.conftest import FIXTURES, start_briefmail

# Big enough for five batches and two workers mid-run; small enough to keep the suite quick.
READERS = 1000
CONNECTIONS = 4
BATCH = 200


def briefmail(home: Path, *args: str) -> subprocess.Popen[str]:
    # Its own process group: with --workers, the kill takes the worker processes too.
    return start_briefmail(home, *args, own_group=True)


def configure(home: Path, port: int) -> None:
    (home / "briefmail.toml").write_text(
        f'[database]\nurl = "sqlite:///{home / "b.db"}"\n'
        f'[smtp]\nhost = "127.0.0.1"\nport = {port}\nconnections = {CONNECTIONS}\n'
        f"[delivery]\nbatch_size = {BATCH}\n",  # five batches: kills land between them too
        encoding="utf-8",
    )


@pytest.fixture(scope="module")
def readers(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, int]:
    """A database with READERS confirmed readers and the sample issue, made once per module."""
    home = tmp_path_factory.mktemp("readers")
    configure(home, 25)
    os.environ["BRIEFMAIL_SECRET_KEY"] = "k" * 32
    try:
        app = Briefmail(load_settings(home / "briefmail.toml"))
    finally:
        del os.environ["BRIEFMAIL_SECRET_KEY"]
    app.migrate()
    app.ensure_default_list()
    with app.sessions() as session:
        newsletter = get_list(session, "brief")
        for n in range(READERS):
            subscribe(
                session, newsletter, f"r{n:04d}@example.net", taxonomy=app.taxonomy, confirmed=True
            )
        session.commit()
    stored = app.ingest(FIXTURES / "brief-mixed.txt", "brief", approve=True).stored
    assert stored is not None
    app.close()
    return home / "b.db", stored.id


@pytest.mark.parametrize(
    ("kill_after", "workers"),
    [(0, 1), (5, 1), (BATCH, 1), (READERS // 2 + 100, 2), (READERS - 10, 1)],
    ids=["planning", "first-sends", "between-batches", "two-workers-mid-run", "near-the-end"],
)
def test_kill_then_resume_sends_everyone_once_but_the_in_flight(
    tmp_path: Path, readers: tuple[Path, int], kill_after: int, workers: int
) -> None:
    """Killed after N accepted messages (0: while planning), the resumed run completes exactly.

    The kill is SIGKILL to the sender's whole process group (its workers too, with --workers);
    the same command then resumes. Nobody is missing, and extra copies are at most the
    deliveries the resumed run reports as uncertain, which are at most the connections open.
    """
    database, issue_id = readers
    shutil.copy(database, tmp_path / "b.db")
    with SmtpSink(faults=Faults(delay=0.001), keep_data=False) as sink:
        configure(tmp_path, sink.port)
        sender = briefmail(tmp_path, "send", str(issue_id), "--workers", str(workers))
        deadline = time.monotonic() + 120
        while sink.count() < kill_after and sender.poll() is None:
            assert time.monotonic() < deadline
            time.sleep(0.002)
        os.killpg(sender.pid, signal.SIGKILL)
        sender.communicate(timeout=30)
        killed_at = sink.count()

        resumed = briefmail(tmp_path, "send", str(issue_id), "--json")
        out, err = resumed.communicate(timeout=300)
        assert resumed.returncode == 0, err
        report = json.loads(out)

    copies = Counter(sink.recipients())
    duplicates = sum(n - 1 for n in copies.values())
    assert set(copies) == {f"r{n:04d}@example.net" for n in range(READERS)}
    assert report["delivered"] == READERS and report["pending"] == report["deferred"] == 0
    assert killed_at < READERS, "the kill came too late to test anything"
    assert duplicates <= report["uncertain"] <= CONNECTIONS * workers, (
        killed_at,
        duplicates,
        report,
    )
