"""/api/v1/runs through the served API: list, read (counts by status), pause, resume, cancel.

A run is paused while it sends to a slow relay, so pause and resume act on a live send; the
figures come from the ledger, whoever sends.
"""

from __future__ import annotations

import time
from typing import Any

import pytest

from briefmail.accounts.models import Scope
from tests.briefmail.web.api.conftest import Served, error_of
from tests.conftest import subscribe_readers


def _sent_run(served: Served, readers: int = 3) -> int:
    """An issue sent through the API to ``readers`` readers, the run finished; its id."""
    subscribe_readers(served.app, [f"r{n}@example.net" for n in range(readers)])
    issue_id = served.approved_issue()
    run_id = int(served.client(Scope.SEND).post(f"/api/v1/issues/{issue_id}/send").json()["run_id"])
    served.wait_for_run(run_id)
    return run_id


def test_a_run_reads_with_its_counts_by_status(served: Served) -> None:
    """GET /runs/{id}: status done, three delivered, the report's figures; GET /runs lists it."""
    run_id = _sent_run(served)
    reader = served.client(Scope.READ)
    run = reader.get(f"/api/v1/runs/{run_id}").json()
    assert run["id"] == run_id
    assert run["status"] == "done"
    assert {k: n for k, n in run["counts"].items() if n} == {"delivered": 3}
    assert set(run["counts"]) >= {"pending", "deferred", "delivered", "failed", "cancelled"}
    assert run["by_reply"]
    listed = reader.get("/api/v1/runs").json()
    assert [row["id"] for row in listed["data"]] == [run_id]
    assert listed["next_cursor"] is None
    missing = reader.get("/api/v1/runs/9999")
    assert missing.status_code == 404
    assert error_of(missing)["code"] == "not_found"


def _wait(served: Served, run_id: int, status: str, timeout: float = 20) -> dict[str, Any]:
    """Poll the run until it is in ``status`` (deadline: fail)."""
    client = served.client(Scope.READ)
    deadline = time.monotonic() + timeout
    while True:
        run: dict[str, Any] = client.get(f"/api/v1/runs/{run_id}").json()
        if run["status"] == status:
            return run
        assert time.monotonic() < deadline, run
        time.sleep(0.05)


@pytest.mark.smtp_faults(delay=0.05)
def test_pause_then_resume_a_live_run(served: Served) -> None:
    """Pause stops a sending run short of its readers; resume sends the rest, once each."""
    # Five rounds of the slow relay whatever `[smtp] connections` is: long enough to pause.
    readers = [f"p{n}@example.net" for n in range(5 * served.app.settings.smtp.connections)]
    subscribe_readers(served.app, readers)
    issue_id = served.approved_issue()
    sender = served.client(Scope.SEND)
    run_id = sender.post(f"/api/v1/issues/{issue_id}/send").json()["run_id"]
    paused = sender.post(f"/api/v1/runs/{run_id}/pause")
    assert paused.status_code == 200, paused.text
    assert paused.json()["status"] == "paused"
    time.sleep(0.5)  # the senders finish what is in flight, then stop
    held = len(served.sink.messages)
    assert held < len(readers)
    resumed = sender.post(f"/api/v1/runs/{run_id}/resume")
    assert resumed.status_code == 202, resumed.text
    run = _wait(served, run_id, "done", timeout=30)
    assert run["counts"].get("delivered") == len(readers)
    assert sorted(r for m in served.sink.messages for r in m.rcpt_to) == sorted(readers)
    actions = [e.action for e in served.app.audit.entries(actor="api:test-send")]
    assert "run.pause" in actions
    assert "run.resume" in actions


def test_cancel_is_final(served: Served) -> None:
    """Cancel answers the cancelled run; pausing or resuming it then answers 409."""
    subscribe_readers(served.app, ["c@example.net"])
    issue_id = served.approved_issue()
    run_id = served.app.sending.plan(issue_id)  # planned, not sent: nothing races the cancel
    sender = served.client(Scope.SEND)
    cancelled = sender.post(f"/api/v1/runs/{run_id}/cancel")
    assert cancelled.status_code == 200, cancelled.text
    assert cancelled.json()["status"] == "cancelled"
    for verb in ("pause", "resume"):
        refused = sender.post(f"/api/v1/runs/{run_id}/{verb}")
        assert refused.status_code == 409, (verb, refused.text)
        assert error_of(refused)["code"] == "run_state_conflict"
    assert served.sink.messages == []
    assert sender.post("/api/v1/runs/9999/cancel").status_code == 404
