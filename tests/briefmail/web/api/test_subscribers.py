"""/api/v1/subscribers through the served API: add, page, read, change, unsubscribe, erase.

Adding without ``confirmed`` is double opt-in: the confirmation e-mail reaches the SMTP sink.
The listing is paged by cursor over 120 readers: every reader once, in order, none twice.
"""

from __future__ import annotations

from briefmail.accounts.models import Scope
from subscribers.models import ConsentEvent, Subscriber
from tests.briefmail.web.api.conftest import Served, error_of
from tests.conftest import subscribe_readers


def test_adding_an_address_is_pending_and_mails_the_confirmation(served: Served) -> None:
    """POST {"email"}: 201, pending, and one confirmation e-mail to that address."""
    answer = served.client(Scope.WRITE).post(
        "/api/v1/subscribers",
        json={"email": "new@example.net", "topics": ["chips"], "timezone": "Europe/Berlin"},
    )
    assert answer.status_code == 201, answer.text
    body = answer.json()
    assert body["email"] == "new@example.net"
    assert body["status"] == "pending"
    assert body["topics"] == ["chips"]
    assert body["timezone"] == "Europe/Berlin"
    assert body["outcome"] == "created"
    assert [m.rcpt_to for m in served.sink.messages] == [("new@example.net",)]
    assert served.app.audit.entries(action="subscriber.added")[0].actor == "api:test-write"


def test_a_confirmed_import_records_its_consent_as_an_import(served: Served) -> None:
    """POST {"confirmed": true}: confirmed at once, no e-mail, consent recorded as an import."""
    answer = served.client(Scope.WRITE).post(
        "/api/v1/subscribers", json={"email": "old@example.net", "confirmed": True}
    )
    assert answer.status_code == 201, answer.text
    assert answer.json()["status"] == "confirmed"
    assert served.sink.messages == []
    with served.app.sessions() as session:
        events = session.query(ConsentEvent).join(Subscriber).all()
        assert [(str(e.action), str(e.source)) for e in events] == [("import", "import")]


def test_adding_an_existing_address_changes_nothing_without_update(served: Served) -> None:
    """A second POST with other settings answers "exists" and the differences; update applies."""
    subscribe_readers(served.app, ["kept@example.net"], topics=["chips"])
    client = served.client(Scope.WRITE)
    again = client.post("/api/v1/subscribers", json={"email": "kept@example.net"})
    assert again.status_code == 200, again.text
    assert again.json()["outcome"] == "exists"
    assert again.json()["topics"] == ["chips"]
    assert {d["field"] for d in again.json()["differences"]} >= {"topics"}
    updated = client.post(
        "/api/v1/subscribers", json={"email": "kept@example.net", "update": True, "confirmed": True}
    )
    assert updated.json()["outcome"] == "updated"
    assert updated.json()["topics"] == []


def test_bad_subscriber_fields_are_refused_naming_the_field(served: Served) -> None:
    """A bad address, topic, zone, cadence or hour: 422 naming the field; nobody is stored."""
    client = served.client(Scope.WRITE)
    cases = {
        "email": {"email": "not an address"},
        "topics": {"email": "a@example.net", "topics": ["astrology"]},
        "timezone": {"email": "a@example.net", "timezone": "Mars/Base"},
        "cadence": {"email": "a@example.net", "cadence": "hourly"},
        "send_hour": {"email": "a@example.net", "send_hour": 25},
    }
    for field, body in cases.items():
        answer = client.post("/api/v1/subscribers", json=body)
        assert answer.status_code == 422, (field, answer.text)
        assert error_of(answer)["field"] == field, answer.text
    missing = client.post("/api/v1/subscribers", json={})
    assert error_of(missing) == {
        "code": "missing_field",
        "message": "email is required",
        "field": "email",
    }
    assert served.app.people.subscribers() == []
    assert served.sink.messages == []


def test_120_readers_page_by_cursor_each_once(served: Served) -> None:
    """limit=50 pages 120 readers as 50, 50, 20: each once, newest first; the last cursor null."""
    readers = [f"reader{n:03}@example.net" for n in range(120)]
    subscribe_readers(served.app, readers)
    client = served.client(Scope.READ)
    seen: list[str] = []
    sizes = []
    cursor = None
    while True:
        params: dict[str, str | int] = {"limit": 50}
        if cursor:
            params["cursor"] = cursor
        page = client.get("/api/v1/subscribers", params=params).json()
        sizes.append(len(page["data"]))
        seen.extend(row["email"] for row in page["data"])
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert sizes == [50, 50, 20]
    assert seen == readers[::-1]
    bad = client.get("/api/v1/subscribers", params={"cursor": "not-a-cursor!"})
    assert bad.status_code == 422
    assert error_of(bad)["code"] == "invalid_cursor"
    assert client.get("/api/v1/subscribers", params={"limit": 0}).status_code == 422
    assert client.get("/api/v1/subscribers", params={"limit": 501}).status_code == 422


def test_listing_filters_by_status(served: Served) -> None:
    """?status=pending keeps the pending readers only."""
    subscribe_readers(served.app, ["c@example.net"])
    served.app.people.subscribe("p@example.net")
    client = served.client(Scope.READ)
    pending = client.get("/api/v1/subscribers", params={"status": "pending"}).json()
    assert [row["email"] for row in pending["data"]] == ["p@example.net"]
    assert pending["counts"]["confirmed"] == 1
    found = client.get("/api/v1/subscribers", params={"q": "C@EXAMPLE"}).json()
    assert [row["email"] for row in found["data"]] == ["c@example.net"]
    bad = client.get("/api/v1/subscribers", params={"status": "sleeping"})
    assert error_of(bad)["field"] == "status"


def test_a_person_reads_changes_and_exports(served: Served) -> None:
    """GET the profile; PATCH topics and hour (the rest kept); GET export holds the change."""
    subscribe_readers(served.app, ["ada@example.net"], topics=["chips"], timezone="Europe/London")
    client = served.client(Scope.WRITE)
    profile = client.get("/api/v1/subscribers/ada@example.net").json()
    assert profile["suppression"] is None
    changed = client.patch(
        "/api/v1/subscribers/ada@example.net", json={"topics": ["models", "policy"], "send_hour": 9}
    )
    assert changed.status_code == 200, changed.text
    assert changed.json()["topics"] == ["models", "policy"]
    assert changed.json()["send_hour"] == 9
    assert changed.json()["timezone"] == "Europe/London"
    assert changed.json()["status"] == "confirmed"
    exported = client.get("/api/v1/subscribers/ada@example.net/export").json()
    assert "preferences" in {event["action"] for event in exported["consent_events"]}
    bad = client.patch("/api/v1/subscribers/ada@example.net", json={"timezone": "Nowhere/City"})
    assert error_of(bad)["field"] == "timezone"
    assert client.get("/api/v1/subscribers/nobody@example.net").status_code == 404
    assert client.patch("/api/v1/subscribers/nobody@example.net", json={}).status_code == 404


def test_unsubscribe_then_erase(served: Served) -> None:
    """DELETE unsubscribes (kept, consent history too); erase (send scope) leaves only a hash."""
    subscribe_readers(served.app, ["gone@example.net"])
    client = served.client(Scope.SEND)
    removed = client.delete("/api/v1/subscribers/gone@example.net")
    assert removed.status_code == 200, removed.text
    assert removed.json()["status"] == "unsubscribed"
    [unsubscribed] = served.app.audit.entries(action="subscriber.unsubscribed")
    assert (unsubscribed.actor, unsubscribed.ip) == ("api:test-send", "127.0.0.1")
    erased = client.post("/api/v1/subscribers/gone@example.net/erase")
    assert erased.json() == {"email": "gone@example.net", "found": True}
    assert client.get("/api/v1/subscribers/gone@example.net").status_code == 404
    suppressions = client.get("/api/v1/suppressions").json()["data"]
    assert [row["reason"] for row in suppressions] == ["erased"]
    [entry] = served.app.audit.entries(action="subscriber.erased")
    assert entry.actor == "api:test-send"
    assert "gone@example.net" not in repr(entry)
    assert (
        served.client(Scope.WRITE).post("/api/v1/subscribers/x@example.net/erase").status_code
        == 403
    )


def test_the_audit_log_keeps_no_address_an_erasure_removed(served: Served) -> None:
    """Add, change and erase through the API: the audit log names the reader by id only."""
    client = served.client(Scope.SEND)
    added = client.post("/api/v1/subscribers", json={"email": "ada@example.net"})
    assert added.status_code == 201, added.text
    changed = client.patch("/api/v1/subscribers/ada@example.net", json={"send_hour": 6})
    assert changed.status_code == 200, changed.text
    assert client.post("/api/v1/subscribers/ada@example.net/erase").json()["found"] is True
    entries = served.app.audit.entries(limit=50)
    assert {"subscriber.added", "subscriber.preferences", "subscriber.erased"} <= {
        e.action for e in entries
    }
    (preferences,) = [e for e in entries if e.action == "subscriber.preferences"]
    assert preferences.before is not None and preferences.after is not None
    assert preferences.before["send_hour"] != 6 and preferences.after["send_hour"] == 6
    assert "ada@example.net" not in repr(entries)  # every field of every entry


def test_a_suppressed_address_is_refused_with_its_reason(served: Served) -> None:
    """Adding an erased address answers 409 address_suppressed naming why; nothing is mailed."""
    served.app.people.erase("erased@example.net")
    answer = served.client(Scope.WRITE).post(
        "/api/v1/subscribers", json={"email": "erased@example.net"}
    )
    assert answer.status_code == 409, answer.text
    error = error_of(answer)
    assert (error["code"], error["field"], error["reason"]) == (
        "address_suppressed",
        "email",
        "erased",
    )
    assert served.sink.messages == []


def test_an_operator_confirms_or_resends_for_a_pending_reader(served: Served) -> None:
    """resend-confirmation mails again (once an hour); confirm records it, then changes nothing."""
    client = served.client(Scope.WRITE)
    client.post("/api/v1/subscribers", json={"email": "slow@example.net"})
    assert len(served.sink.messages) == 1
    resent = client.post("/api/v1/subscribers/slow@example.net/resend-confirmation").json()
    assert resent["sent"] is False
    assert "hour" in resent["skipped"]
    confirmed = client.post("/api/v1/subscribers/slow@example.net/confirm")
    assert confirmed.status_code == 200, confirmed.text
    assert (confirmed.json()["status"], confirmed.json()["changed"]) == ("confirmed", True)
    again = client.post("/api/v1/subscribers/slow@example.net/confirm").json()
    assert again["changed"] is False
    assert client.post("/api/v1/subscribers/nobody@example.net/confirm").status_code == 404
    entries = served.app.audit.entries(action="subscriber.confirmed")
    assert [e.actor for e in entries] == ["api:test-write"]
