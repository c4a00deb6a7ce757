"""Idempotency keys on POSTs that create or send: a retry acts once and gets the first answer.

Retries go to the served app like a client's after a lost answer; the concurrent case fires
the duplicates from threads at once, and the database's UNIQUE constraint lets one act.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from briefmail.accounts.models import Scope
from tests.briefmail.web.api.conftest import BRIEF, Served, error_of
from tests.conftest import subscribe_readers


def test_a_retried_issue_post_replays_the_first_answer(served: Served) -> None:
    """The same key and body: the stored 201 again, marked replayed; one issue stored."""
    client = served.client(Scope.WRITE)
    key = {"Idempotency-Key": "issue-2026-07-01"}
    first = client.post("/api/v1/issues", json={"text": BRIEF}, headers=key)
    assert first.status_code == 201, first.text
    assert "Idempotent-Replayed" not in first.headers
    retry = client.post("/api/v1/issues", json={"text": BRIEF}, headers=key)
    assert retry.status_code == 201
    assert retry.headers["Idempotent-Replayed"] == "true"
    assert retry.json() == first.json()
    assert len(served.app.content.issues()) == 1


def test_a_key_reused_with_another_body_is_refused(served: Served) -> None:
    """The same key with another body: 422 idempotency_key_reused, and nothing is stored."""
    client = served.client(Scope.WRITE)
    key = {"Idempotency-Key": "k1"}
    assert client.post("/api/v1/issues", json={"text": BRIEF}, headers=key).status_code == 201
    other = client.post(
        "/api/v1/issues", json={"text": BRIEF.replace("2026-07-01", "2026-07-02")}, headers=key
    )
    assert other.status_code == 422
    assert error_of(other)["code"] == "idempotency_key_reused"
    assert len(served.app.content.issues()) == 1
    # The same key on another route is another request too.
    route = client.post("/api/v1/subscribers", json={"email": "a@example.net"}, headers=key)
    assert error_of(route)["code"] == "idempotency_key_reused"


def test_keys_belong_to_their_token(served: Served) -> None:
    """Another token's request with the same key is its own request, not a replay."""
    key = {"Idempotency-Key": "shared"}
    mine = served.client(Scope.WRITE).post(
        "/api/v1/subscribers", json={"email": "a@example.net"}, headers=key
    )
    theirs = served.client(Scope.SEND).post(
        "/api/v1/subscribers", json={"email": "b@example.net"}, headers=key
    )
    assert (mine.status_code, theirs.status_code) == (201, 201)
    assert "Idempotent-Replayed" not in theirs.headers


def test_a_failed_request_releases_its_key(served: Served) -> None:
    """A refused first request is not replayed: after the fix, a retry with the key acts."""
    client = served.client(Scope.WRITE)
    key = {"Idempotency-Key": "retry-after-fix"}
    refused = client.post("/api/v1/issues", json={"text": BRIEF, "list": "nope"}, headers=key)
    assert refused.status_code == 404
    fixed = client.post("/api/v1/issues", json={"text": BRIEF}, headers=key)
    assert fixed.status_code == 201, fixed.text


def test_a_retried_send_sends_once(served: Served) -> None:
    """Two POST send with one key: the same run id, one run, one message per reader."""
    readers = [f"once{n}@example.net" for n in range(5)]
    subscribe_readers(served.app, readers)
    issue_id = served.approved_issue()
    client = served.client(Scope.SEND)
    key = {"Idempotency-Key": "send-7"}
    first = client.post(f"/api/v1/issues/{issue_id}/send", headers=key)
    retry = client.post(f"/api/v1/issues/{issue_id}/send", headers=key)
    assert first.status_code == retry.status_code == 202
    assert retry.headers["Idempotent-Replayed"] == "true"
    assert retry.json()["run_id"] == first.json()["run_id"]
    served.wait_for_run(first.json()["run_id"])
    assert len(served.app.sending.runs()) == 1
    assert sorted(r for m in served.sink.messages for r in m.rcpt_to) == sorted(readers)
    assert len(served.app.audit.entries(action="issue.send")) == 1


@pytest.mark.both_databases  # the key's unique constraint decides the race
def test_concurrent_duplicates_do_not_both_act(served: Served) -> None:
    """Eight simultaneous POSTs with one key: one creates, the others replay or are told to wait."""
    token = served.token(Scope.WRITE)

    def post(_: int) -> httpx.Response:
        with httpx.Client(base_url=served.base, timeout=30) as client:
            return client.post(
                "/api/v1/subscribers",
                json={"email": "race@example.net"},
                headers={"Authorization": f"Bearer {token}", "Idempotency-Key": "race"},
            )

    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(post, range(8)))
    acted = [a for a in answers if "Idempotent-Replayed" not in a.headers and a.status_code == 201]
    assert len(acted) == 1, [(a.status_code, a.text) for a in answers]
    for answer in answers:
        assert answer.status_code in (201, 409), answer.text
        if answer.status_code == 409:
            assert error_of(answer)["code"] == "idempotency_in_progress"
    assert len(served.sink.messages) == 1  # one confirmation e-mail
    assert len(served.app.audit.entries(action="subscriber.added")) == 1


def test_a_bad_key_is_refused(served: Served) -> None:
    """An over-long key: 422 invalid_idempotency_key, nothing done."""
    answer = served.client(Scope.WRITE).post(
        "/api/v1/issues", json={"text": BRIEF}, headers={"Idempotency-Key": "k" * 201}
    )
    assert error_of(answer)["code"] == "invalid_idempotency_key"
    assert served.app.content.issues() == []


def test_a_retried_test_send_mails_once(served: Served) -> None:
    """A test-send retried with its key is replayed: one copy reaches the editor."""
    issue_id = served.create_issue()["id"]
    client = served.client(Scope.WRITE)
    headers = {"Idempotency-Key": "test-copy-1"}
    body = {"to": ["ed@example.org"]}
    first = client.post(f"/api/v1/issues/{issue_id}/test-send", json=body, headers=headers)
    retry = client.post(f"/api/v1/issues/{issue_id}/test-send", json=body, headers=headers)
    assert first.status_code == retry.status_code == 200, first.text
    assert retry.headers["Idempotent-Replayed"] == "true"
    assert len(served.sink.messages) == 1
