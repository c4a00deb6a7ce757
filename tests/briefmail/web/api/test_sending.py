"""Preview, dry-run, test-send, send and schedule through the served API.

A send answers 202 with the run's id at once and the run is sent in the background: the tests
follow it through GET /api/v1/runs/{id} until it is done, and count what the SMTP sink got.
"""

from __future__ import annotations

import datetime as dt
import time

import pytest

from briefmail.accounts.models import Scope
from tests.briefmail.web.api.conftest import Served, error_of
from tests.conftest import subscribe_readers


def test_preview_answers_a_variants_html_and_text(served: Served) -> None:
    """GET preview: the chips reader's HTML holds the chips story; ?format=text the plain part."""
    issue_id = served.approved_issue()
    reader = served.client(Scope.READ)
    html = reader.get(f"/api/v1/issues/{issue_id}/preview", params={"topics": "chips"})
    assert html.status_code == 200, html.text
    assert html.headers["content-type"].startswith("text/html")
    assert "Foundry Starts Volume Output" in html.text
    assert "Series B" not in html.text
    text = reader.get(f"/api/v1/issues/{issue_id}/preview", params={"format": "text"})
    assert text.headers["content-type"].startswith("text/plain")
    assert "Series B" in text.text
    unknown = reader.get(f"/api/v1/issues/{issue_id}/preview", params={"topics": "astrology"})
    assert unknown.status_code == 422
    assert error_of(unknown)["code"] == "unknown_topic"
    bad = reader.get(f"/api/v1/issues/{issue_id}/preview", params={"format": "pdf"})
    assert bad.status_code == 422
    assert error_of(bad)["field"] == "format"


def test_dry_run_counts_the_audience_by_variant_and_writes_nothing(served: Served) -> None:
    """GET dry-run: who would get which variant; no run is created."""
    subscribe_readers(served.app, ["a@example.net", "b@example.net"], topics=["chips"])
    subscribe_readers(served.app, ["c@example.net"])
    issue_id = served.approved_issue()
    plan = served.client(Scope.READ).get(f"/api/v1/issues/{issue_id}/dry-run").json()
    assert plan["eligible"] == 3
    assert {tuple(v["topics"]): v["subscribers"] for v in plan["variants"]} == {
        ("chips",): 2,
        (): 1,
    }
    assert served.app.sending.runs() == []


def test_test_send_mails_one_marked_copy_to_each_address(served: Served) -> None:
    """POST test-send: each address gets one [TEST] copy; a bad address refuses them all."""
    issue_id = served.create_issue()["id"]
    client = served.client(Scope.WRITE)
    bad = client.post(
        f"/api/v1/issues/{issue_id}/test-send", json={"to": ["ed@example.org", "not an address"]}
    )
    assert bad.status_code == 422
    assert error_of(bad)["field"] == "email"
    assert served.sink.messages == []
    sent = client.post(
        f"/api/v1/issues/{issue_id}/test-send",
        json={"to": ["ed@example.org", "copy@example.org"], "topics": ["chips"]},
    )
    assert sent.status_code == 200, sent.text
    assert sent.json()["to"] == ["ed@example.org", "copy@example.org"]
    recipients = sorted(rcpt for m in served.sink.messages for rcpt in m.rcpt_to)
    assert recipients == ["copy@example.org", "ed@example.org"]
    assert all("[TEST]" in str(m.parsed()["Subject"]) for m in served.sink.messages)
    assert served.app.sending.runs() == []
    too_many = client.post(
        f"/api/v1/issues/{issue_id}/test-send",
        json={"to": [f"r{n}@example.org" for n in range(11)]},
    )
    assert too_many.status_code == 422


def test_send_answers_at_once_and_the_run_reaches_every_reader(served: Served) -> None:
    """POST send: 202 {"run_id"} before the send ends; the run is then done, one mail each."""
    readers = [f"reader{n}@example.net" for n in range(12)]
    subscribe_readers(served.app, readers)
    issue_id = served.approved_issue()
    answer = served.client(Scope.SEND).post(f"/api/v1/issues/{issue_id}/send")
    assert answer.status_code == 202, answer.text
    run_id = answer.json()["run_id"]
    assert answer.headers["Location"] == f"/api/v1/runs/{run_id}"
    run = served.wait_for_run(run_id)
    assert run["status"] == "done"
    assert run["counts"].get("delivered") == 12
    assert sorted(r for m in served.sink.messages for r in m.rcpt_to) == sorted(readers)
    assert served.client(Scope.READ).get(f"/api/v1/issues/{issue_id}").json()["status"] == "sent"
    entry = served.app.audit.entries(action="issue.send")[0]
    assert (entry.actor, entry.after) == ("api:test-send", {"run_id": run_id})


def test_a_draft_or_unknown_issue_is_not_sent(served: Served) -> None:
    """Sending a draft answers 409 issue_not_approved; an unknown issue 404; nothing planned."""
    issue_id = served.create_issue()["id"]
    sender = served.client(Scope.SEND)
    draft = sender.post(f"/api/v1/issues/{issue_id}/send")
    assert draft.status_code == 409
    assert error_of(draft)["code"] == "issue_not_approved"
    assert sender.post("/api/v1/issues/9999/send").status_code == 404
    assert served.app.sending.runs() == []


def test_schedule_and_unschedule(served: Served) -> None:
    """POST schedule sets the send time in the zone; DELETE clears it; bad times are 422."""
    issue_id = served.approved_issue()
    sender = served.client(Scope.SEND)
    day = dt.date.today() + dt.timedelta(days=30)
    at = {"at": f"{day} 07:00", "timezone": "Asia/Shanghai"}  # UTC+8, no summer time
    scheduled = sender.post(f"/api/v1/issues/{issue_id}/schedule", json=at)
    assert scheduled.status_code == 200, scheduled.text
    assert scheduled.json()["send_at"] == f"{day - dt.timedelta(days=1)}T23:00:00+00:00"
    shown = sender.get(f"/api/v1/issues/{issue_id}").json()
    assert shown["send_at"].startswith(f"{day - dt.timedelta(days=1)}T23:00")
    cleared = sender.delete(f"/api/v1/issues/{issue_id}/schedule")
    assert cleared.json() == {"issue_id": issue_id, "unscheduled": True}
    again = sender.delete(f"/api/v1/issues/{issue_id}/schedule")
    assert again.json()["unscheduled"] is False
    past = sender.post(f"/api/v1/issues/{issue_id}/schedule", json={"at": "2001-01-01 07:00"})
    assert past.status_code == 422
    assert error_of(past)["field"] == "at"
    zone = sender.post(f"/api/v1/issues/{issue_id}/schedule", json={**at, "timezone": "Mars/Base"})
    assert zone.status_code == 422
    assert error_of(zone)["field"] == "timezone"
    assert sender.get(f"/api/v1/issues/{issue_id}").json()["send_at"] is None


def test_a_draft_cannot_be_scheduled(served: Served) -> None:
    """Scheduling a draft answers 409 issue_not_approved and leaves it unscheduled."""
    issue_id = served.create_issue()["id"]
    sender = served.client(Scope.SEND)
    answer = sender.post(
        f"/api/v1/issues/{issue_id}/schedule",
        json={"at": f"{dt.date.today() + dt.timedelta(days=3)} 07:00"},
    )
    assert answer.status_code == 409
    assert error_of(answer)["code"] == "issue_not_approved"
    assert sender.get(f"/api/v1/issues/{issue_id}").json()["send_at"] is None


@pytest.mark.smtp_faults(delay=0.1)
def test_the_send_does_not_hold_the_request(served: Served) -> None:
    """With a slow relay (0.2 s a message) the answer comes back while the run still sends."""
    # Four rounds of the slow relay whatever `[smtp] connections` is: the run outlasts the answer.
    readers = [f"slow{n}@example.net" for n in range(4 * served.app.settings.smtp.connections)]
    subscribe_readers(served.app, readers)
    issue_id = served.approved_issue()
    sender = served.client(Scope.SEND)
    sender.get("/api/v1/lists")  # the token checked once: time only the send
    started = time.monotonic()
    answer = sender.post(f"/api/v1/issues/{issue_id}/send")
    answered = time.monotonic() - started
    run = served.client(Scope.READ).get(f"/api/v1/runs/{answer.json()['run_id']}").json()
    assert run["status"] == "sending"
    assert answered < 1.0
    assert served.wait_for_run(answer.json()["run_id"])["counts"]["delivered"] == len(readers)
