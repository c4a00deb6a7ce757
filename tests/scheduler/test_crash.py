"""A sender killed with SIGKILL at any moment loses nobody; only what was in flight can double.

Real processes: `briefmail send` runs as a subprocess against a real SMTP server in this
process, is killed with SIGKILL at several points of a 400-reader run, and the same command
then resumes the run. Every reader ends with at least one copy; extra copies are at most the
deliveries the resumed run reports as uncertain, and those are at most the connections open.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from mailer.testing import Faults, SmtpSink
from scheduler.app import Briefmail
from scheduler.settings import load_settings
from subscribers.lists import get_list
from subscribers.service import subscribe
from tests.conftest import FIXTURES

# 400 readers keep this under a minute: building each MIME message costs ~15 ms today (the
# per-variant byte template of the delivery-engine issue will remove most of it).
READERS = 400
CONNECTIONS = 4


def briefmail(home: Path, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", "from scheduler.cli import main; main()", *args],
        cwd=home,
        env={**os.environ, "BRIEFMAIL_SECRET_KEY": "k" * 32},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


@pytest.mark.parametrize("kill_after", [0, 5, 150, 260, 395])
def test_kill_then_resume_sends_everyone_once_but_the_in_flight(
    tmp_path: Path, kill_after: int
) -> None:
    """Killed after N accepted messages (0: while planning), the resumed run completes exactly."""
    with SmtpSink(faults=Faults(delay=0.002)) as sink:
        (tmp_path / "briefmail.toml").write_text(
            f'[database]\nurl = "sqlite:///{tmp_path / "b.db"}"\n'
            f'[smtp]\nhost = "{sink.host}"\nport = {sink.port}\nconnections = {CONNECTIONS}\n'
            "[delivery]\nbatch_size = 100\n",  # four batches: kills land between them too
            encoding="utf-8",
        )
        os.environ["BRIEFMAIL_SECRET_KEY"] = "k" * 32
        try:
            app = Briefmail(load_settings(tmp_path / "briefmail.toml"))
        finally:
            del os.environ["BRIEFMAIL_SECRET_KEY"]
        app.migrate()
        app.ensure_default_list()
        with app.sessions() as session:
            newsletter = get_list(session, "brief")
            for n in range(READERS):
                subscribe(
                    session,
                    newsletter,
                    f"r{n:04d}@example.net",
                    taxonomy=app.taxonomy,
                    confirmed=True,
                )
            session.commit()
        stored = app.ingest(FIXTURES / "brief-mixed.txt", "brief").stored
        assert stored is not None
        app.close()

        sender = briefmail(tmp_path, "send", str(stored.id))
        deadline = time.monotonic() + 60
        while len(sink.messages) < kill_after and sender.poll() is None:
            assert time.monotonic() < deadline
            time.sleep(0.005)
        sender.send_signal(signal.SIGKILL)
        sender.communicate(timeout=30)
        killed_at = len(sink.messages)

        resumed = briefmail(tmp_path, "send", str(stored.id), "--json")
        out, err = resumed.communicate(timeout=120)
        assert resumed.returncode == 0, err
        report = json.loads(out)

    copies = Counter(sink.recipients())
    duplicates = sum(n - 1 for n in copies.values())
    assert set(copies) == {f"r{n:04d}@example.net" for n in range(READERS)}
    assert report["delivered"] == READERS and report["pending"] == report["deferred"] == 0
    assert duplicates <= report["uncertain"] <= CONNECTIONS, (killed_at, duplicates, report)
