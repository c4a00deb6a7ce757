"""A killed worker's claims taken over on PostgreSQL: nobody lost, extra copies counted.

Four `briefmail worker --run RUN` processes share one 20,000-reader run (the setup of
test_workers.py); one is killed by SIGKILL mid-run. Its claims lapse after the lease and the
others take them over; nobody is lost, and the only extra copies are the killed worker's
in-flight ones, which the workers that took them over report as uncertain.
"""

from __future__ import annotations

import json
import signal
import time
from pathlib import Path

import pytest

from briefmail.app import Briefmail
from mailer.testing import Faults, SmtpSink
from scheduler import ledger
from tests.briefmail.cli.test_workers import (
    CONNECTIONS,
    READERS,
    WORKERS,
    check_everyone_once,
    configure,
)
from tests.conftest import start_briefmail

pytestmark = pytest.mark.postgresql_only


def test_a_killed_workers_claims_are_taken_over_after_the_lease(
    tmp_path: Path, database_url: str, planned: tuple[int, Briefmail]
) -> None:
    """SIGKILL one of four workers mid-run: the others finish its claims once they lapse.

    Nobody is missing; the extra copies are at most the killed worker's in-flight messages,
    and the surviving workers report those deliveries as uncertain.
    """
    run_id, app = planned
    with SmtpSink(faults=Faults(delay=0.001), keep_data=False) as sink:
        configure(tmp_path, database_url, sink.port)
        workers = [
            start_briefmail(tmp_path, "worker", "--run", str(run_id), "--json")
            for _ in range(WORKERS)
        ]
        deadline = time.monotonic() + 300
        while sink.count() < READERS // 3:
            assert time.monotonic() < deadline and workers[0].poll() is None
            time.sleep(0.01)
        workers[0].send_signal(signal.SIGKILL)
        workers[0].communicate(timeout=30)
        with app.sessions() as session:
            left_sending = ledger.count_by_status(session, run_id).get("sending", 0)
        reports = []
        for worker in workers[1:]:
            out, err = worker.communicate(timeout=600)
            assert worker.returncode == 0, err
            reports.append(json.loads(out))
        copies = check_everyone_once(sink, app, run_id)
    duplicates = sum(n - 1 for n in copies.values())
    uncertain = sum(r["uncertain"] for r in reports)
    assert sum(r["lost"] for r in reports) == 0
    # The killed worker's claims were in flight (at most its connections) when it died.
    assert uncertain <= CONNECTIONS, reports
    assert duplicates <= uncertain, (duplicates, reports)
    assert left_sending >= uncertain, (left_sending, uncertain)
