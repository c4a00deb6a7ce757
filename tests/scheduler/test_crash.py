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
from mailer.dkim import generate_key
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


def configure(home: Path, port: int, signing: str | None = None) -> None:
    """The config; with ``signing``, DKIM-signed with a new key, signed as it says."""
    dkim = ""
    if signing is not None:
        (home / "dkim.key").write_bytes(generate_key("rsa"))
        dkim = (
            f'[dkim]\ndomain = "example.org"\nselector = "s"\nkey_file = "dkim.key"\n'
            f'signing = "{signing}"\n'
        )
    (home / "briefmail.toml").write_text(
        f'[database]\nurl = "sqlite:///{home / "b.db"}"\n'
        f'[smtp]\nhost = "127.0.0.1"\nport = {port}\nconnections = {CONNECTIONS}\n'
        f"[delivery]\nbatch_size = {BATCH}\n" + dkim,  # five batches: kills land between them too
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


#: When the kill comes (accepted messages), with how many workers and where DKIM is signed.
KILLS = [
    pytest.param(0, 1, None, id="planning"),
    pytest.param(5, 1, None, id="first-sends"),
    pytest.param(BATCH, 1, None, id="between-batches"),
    pytest.param(READERS // 2 + 100, 2, None, id="two-workers-mid-run"),
    pytest.param(READERS - 10, 1, None, id="near-the-end"),
    pytest.param(READERS // 2, 1, "process", id="signing-process-mid-run"),
]


@pytest.mark.parametrize(("kill_after", "workers", "signing"), KILLS)
def test_kill_then_resume_sends_everyone_once_but_the_in_flight(
    tmp_path: Path,
    readers: tuple[Path, int],
    kill_after: int,
    workers: int,
    signing: str | None,
) -> None:
    """Killed after N accepted messages (0: while planning), the resumed run completes exactly.

    The kill is SIGKILL to the sender's whole process group (its workers too, with --workers,
    and its signing process, with DKIM signed apart); the same command then resumes. Nobody
    is missing, and extra copies are at most the deliveries the resumed run reports as
    uncertain, which are at most the connections open.
    """
    database, issue_id = readers
    shutil.copy(database, tmp_path / "b.db")
    with SmtpSink(faults=Faults(delay=0.001), keep_data=False) as sink:
        configure(tmp_path, sink.port, signing)
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


def signing_children(parent: int) -> list[int]:
    """The pids of ``parent``'s children that run `python -m mailer.signing` (from /proc)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            ppid = int(stat.read_text().rsplit(")", 1)[1].split()[1])
            command = (stat.parent / "cmdline").read_bytes().split(b"\0")
        except (OSError, ValueError, IndexError):
            continue  # gone meanwhile
        if ppid == parent and b"mailer.signing" in command:
            found.append(int(stat.parent.name))
    return found


def test_a_killed_signing_process_costs_no_reader(
    tmp_path: Path, readers: tuple[Path, int]
) -> None:
    """SIGKILL the signing process mid-run: the sender signs the rest itself, once each.

    The send finishes by itself with nobody missing, nobody twice, nothing uncertain, every
    message signed, and says once on its log that it signs in the sender from now on.
    """
    database, issue_id = readers
    shutil.copy(database, tmp_path / "b.db")
    with SmtpSink(faults=Faults(delay=0.001)) as sink:
        configure(tmp_path, sink.port, "process")
        sender = briefmail(tmp_path, "send", str(issue_id), "--json")
        deadline = time.monotonic() + 120
        while sink.count() < READERS // 3:
            assert time.monotonic() < deadline and sender.poll() is None
            time.sleep(0.002)
        children = signing_children(sender.pid)
        assert len(children) == 1, "the sender has no signing process"
        os.kill(children[0], signal.SIGKILL)
        killed_at = sink.count()
        out, err = sender.communicate(timeout=300)
        assert sender.returncode == 0, err
        report = json.loads(out)
        signed = [m.data.startswith(b"DKIM-Signature: ") for m in sink.messages]

    copies = Counter(sink.recipients())
    assert killed_at < READERS, "the kill came too late to test anything"
    assert set(copies) == {f"r{n:04d}@example.net" for n in range(READERS)}
    assert max(copies.values()) == 1 and report["uncertain"] == 0
    assert report["delivered"] == READERS and all(signed)
    assert err.count("the signing process exited; signing in the sender from now on") == 1
