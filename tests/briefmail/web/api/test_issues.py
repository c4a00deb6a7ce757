"""/api/v1/issues through the served app: create from text or JSON, list, read, edit, approve.

Each route's happy path, and its refusals in the API's error shape (field named, nothing
changed). Idempotent retries of POST /issues are in test_idempotency.py.
"""

from __future__ import annotations

from briefmail.accounts.models import Scope
from tests.briefmail.web.api.conftest import BRIEF, Served, error_of


def test_posting_raw_text_stores_a_tagged_draft(served: Served) -> None:
    """POST {"list", "text"} ingests the brief: 201, its id, draft status, stories and topics."""
    answer = served.client(Scope.WRITE).post(
        "/api/v1/issues", json={"list": "brief", "text": BRIEF}
    )
    assert answer.status_code == 201, answer.text
    issue = answer.json()
    assert isinstance(issue["id"], int)
    assert issue["status"] == "draft"
    assert issue["list"] == "brief"
    assert issue["outcome"] == "stored"
    assert issue["detection"]["format"] == "brief"
    assert len(issue["stories"]) == 4
    assert "chips" in issue["stories"][0]["topics"]
    assert [i.id for i in served.app.content.issues()] == [issue["id"]]


def test_posting_the_ingest_json_shape_stores_the_same_issue(served: Served) -> None:
    """POST {"issue": <ingest --json>} of an issue read back stores it (as an update: same key)."""
    client = served.client(Scope.WRITE)
    first = served.create_issue(client)
    shape = {k: v for k, v in first.items() if k not in ("list", "outcome", "detection")}
    shape["title"] = "Test Brief — JSON copy"
    again = client.post("/api/v1/issues", json={"issue": shape})
    assert again.status_code in (200, 201), again.text
    assert again.json()["detection"]["format"] == "json"
    assert [s["title"] for s in again.json()["stories"]] == [s["title"] for s in first["stories"]]


def test_posting_the_same_text_twice_answers_the_stored_issue(served: Served) -> None:
    """A second POST of identical text is "already stored" (200), the same id, no new issue."""
    client = served.client(Scope.WRITE)
    first = served.create_issue(client)
    again = client.post("/api/v1/issues", json={"text": BRIEF})
    assert again.status_code == 200
    assert again.json()["outcome"] == "already stored"
    assert again.json()["id"] == first["id"]
    assert len(served.app.content.issues()) == 1


def test_bad_issues_are_refused_naming_the_field_and_line(served: Served) -> None:
    """Unreadable text: 422 naming the line; neither text nor issue, or both: 422; none stored."""
    client = served.client(Scope.WRITE)
    unreadable = client.post("/api/v1/issues", json={"text": "\n\n", "format": "brief"})
    assert unreadable.status_code == 422, unreadable.text
    error = error_of(unreadable)
    assert error["code"] == "invalid_issue"
    assert error["field"] == "text"
    assert isinstance(error["line"], int)
    assert "/tmp" not in error["message"]  # the server's temporary path is not the client's
    for body in ({}, {"text": BRIEF, "issue": {}}):
        refused = client.post("/api/v1/issues", json=body)
        assert refused.status_code == 422
        assert error_of(refused)["code"] == "missing_field"
    bad_json = client.post("/api/v1/issues", json={"issue": {"title": "no stories"}})
    assert bad_json.status_code == 422
    assert error_of(bad_json)["field"] == "issue"
    assert served.app.content.issues() == []


def test_unknown_fields_lists_and_formats_are_refused(served: Served) -> None:
    """An unknown field, an unknown list and a non-object body: 422 or 404, never a 500."""
    client = served.client(Scope.WRITE)
    extra = client.post("/api/v1/issues", json={"text": BRIEF, "titel": "typo"})
    assert extra.status_code == 422
    assert error_of(extra) == {
        "code": "unknown_field",
        "message": "titel is not a field of this request",
        "field": "titel",
    }
    no_list = client.post("/api/v1/issues", json={"text": BRIEF, "list": "nope"})
    assert no_list.status_code == 404
    assert error_of(no_list)["code"] == "not_found"
    not_json = client.post(
        "/api/v1/issues", content=b"[1,", headers={"Content-Type": "application/json"}
    )
    assert not_json.status_code == 422
    assert error_of(not_json)["code"] in ("invalid_json", "invalid_value")


def test_reading_an_issue_and_an_unknown_one(served: Served) -> None:
    """GET /issues/{id} answers the `issues show --json` shape; an unknown id is 404 not_found."""
    issue_id = served.create_issue()["id"]
    reader = served.client(Scope.READ)
    shown = reader.get(f"/api/v1/issues/{issue_id}").json()
    assert shown["id"] == issue_id
    assert shown["status"] == "draft"
    assert [(c["actor"], c["action"]) for c in shown["history"]] == [("api:test-write", "ingest")]
    missing = reader.get("/api/v1/issues/9999")
    assert missing.status_code == 404
    assert error_of(missing)["code"] == "not_found"
    assert "9999" in error_of(missing)["message"]
    wrong = reader.get("/api/v1/issues/abc")
    assert wrong.status_code == 422
    assert error_of(wrong)["field"] == "issue_id"


def test_listing_issues_newest_first_by_status(served: Served) -> None:
    """GET /issues pages newest first; ?status= keeps only that status."""
    first = served.create_issue()["id"]
    second = served.create_issue(text=BRIEF.replace("2026-07-01", "2026-07-02"))["id"]
    served.client(Scope.WRITE).post(f"/api/v1/issues/{first}/approve")
    reader = served.client(Scope.READ)
    listed = reader.get("/api/v1/issues").json()
    assert [row["id"] for row in listed["data"]] == [second, first]
    assert listed["next_cursor"] is None
    approved = reader.get("/api/v1/issues", params={"status": "approved"}).json()
    assert [row["id"] for row in approved["data"]] == [first]
    paged = reader.get("/api/v1/issues", params={"limit": 1}).json()
    assert [row["id"] for row in paged["data"]] == [second]
    rest = reader.get("/api/v1/issues", params={"limit": 1, "cursor": paged["next_cursor"]})
    assert [row["id"] for row in rest.json()["data"]] == [first]
    assert rest.json()["next_cursor"] is None


def test_editing_an_issue_changes_it_and_records_who(served: Served) -> None:
    """PATCH sets the title, a story's topics and moves a story in one change, as the token."""
    issue_id = served.create_issue()["id"]
    answer = served.client(Scope.WRITE).patch(
        f"/api/v1/issues/{issue_id}",
        json={
            "title": "A Better Title",
            "topics": {"story": 3, "topics": ["policy"]},
            "move": {"story": 3, "to": 1},
        },
    )
    assert answer.status_code == 200, answer.text
    edited = answer.json()
    assert edited["title"] == "A Better Title"
    assert edited["stories"][0]["title"] == "Start-up Closes Series B Round"
    assert edited["stories"][0]["topics"] == ["policy"]
    assert {change["actor"] for change in edited["history"]} == {"api:test-write"}
    entry = served.app.audit.entries(action="issue.edit")[0]
    assert entry.after is not None
    assert entry.after["title"] == "A Better Title"


def test_bad_edits_change_nothing(served: Served) -> None:
    """An unknown topic, a story that does not exist, an empty edit: 422, the issue as it was."""
    issue_id = served.create_issue()["id"]
    client = served.client(Scope.WRITE)
    before = client.get(f"/api/v1/issues/{issue_id}").json()
    topic = client.patch(
        f"/api/v1/issues/{issue_id}",
        json={"title": "Changed?", "topics": {"story": 1, "topics": ["astrology"]}},
    )
    assert topic.status_code == 422
    assert error_of(topic)["code"] == "unknown_topic"
    assert error_of(topic)["field"] == "topics"
    story = client.patch(f"/api/v1/issues/{issue_id}", json={"drop": 40})
    assert story.status_code == 422
    assert error_of(story)["code"] == "invalid_edit"
    empty = client.patch(f"/api/v1/issues/{issue_id}", json={})
    assert error_of(empty)["code"] == "nothing_to_change"
    assert client.get(f"/api/v1/issues/{issue_id}").json() == before


def test_approve_then_withdraw(served: Served) -> None:
    """Approve moves a draft to approved, withdraw to withdrawn; approving again works."""
    issue_id = served.create_issue()["id"]
    client = served.client(Scope.WRITE)
    assert client.post(f"/api/v1/issues/{issue_id}/approve").json()["status"] == "approved"
    assert client.post(f"/api/v1/issues/{issue_id}/withdraw").json()["status"] == "withdrawn"
    assert client.post(f"/api/v1/issues/{issue_id}/approve").json()["status"] == "approved"
    missing = client.post("/api/v1/issues/9999/approve")
    assert missing.status_code == 404


def test_a_sent_issue_cannot_be_withdrawn_or_edited(served: Served) -> None:
    """After its send, withdraw and edit answer 409 with the library's reason."""
    issue_id = served.approved_issue()
    sender = served.client(Scope.SEND)
    run_id = sender.post(f"/api/v1/issues/{issue_id}/send").json()["run_id"]
    served.wait_for_run(run_id)
    withdrawn = sender.post(f"/api/v1/issues/{issue_id}/withdraw")
    assert withdrawn.status_code == 409
    assert error_of(withdrawn)["code"] == "issue_state_conflict"
    edited = sender.patch(f"/api/v1/issues/{issue_id}", json={"title": "Too late"})
    assert edited.status_code == 409
    assert "sent" in error_of(edited)["message"]
