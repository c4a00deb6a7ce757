"""/api/v1/lists, /api/v1/suppressions and /api/v1/bounces through the served API.

A bounce report is posted as a mail server's hook would: the raw message as message/rfc822,
or inside JSON; a "no such user" report about a delivery the API sent suppresses that reader.
"""

from __future__ import annotations

import re

from briefmail.accounts.models import Scope
from tests.briefmail.web.api.conftest import Served, error_of
from tests.conftest import FIXTURES, subscribe_readers

BOUNCES = FIXTURES / "bounces"
GONE = "no.such.reader@example.net"


def _hard_bounce_of_a_sent_delivery(served: Served) -> bytes:
    """Postfix's "no such user" report about the delivery the API sent to GONE."""
    subscribe_readers(served.app, [GONE, "fine@example.net"])
    issue_id = served.approved_issue()
    run_id = served.client(Scope.SEND).post(f"/api/v1/issues/{issue_id}/send").json()["run_id"]
    served.wait_for_run(run_id)
    [delivery] = served.app.people.profile(GONE)["deliveries"]
    signer = served.app.dispatcher().signer
    assert signer is not None
    token = signer.make_bounce_token(delivery["delivery_id"])
    data = (BOUNCES / "postfix-hard.eml").read_bytes()
    data = re.sub(rb"bounces\+[0-9a-f.]+@", f"bounces+{token}@".encode(), data)
    return re.sub(rb"<run12\.[0-9a-f.]+@news\.example\.org>", delivery["message_id"].encode(), data)


def test_lists_are_listed(served: Served) -> None:
    """GET /lists: the default list with its sender, as `lists list --json` shows it."""
    served.app.content.add_list("weekly", "The Weekly")
    page = served.client(Scope.READ).get("/api/v1/lists").json()
    assert [row["slug"] for row in page["data"]] == ["brief", "weekly"]
    assert page["data"][0]["from"] == "Test Brief <brief@news.example.org>"
    assert page["next_cursor"] is None


def test_a_posted_hard_bounce_suppresses_the_reader(served: Served) -> None:
    """POST /bounces (message/rfc822): the reader is suppressed, with the report's evidence."""
    report = _hard_bounce_of_a_sent_delivery(served)
    client = served.client(Scope.WRITE)
    answer = client.post(
        "/api/v1/bounces", content=report, headers={"Content-Type": "message/rfc822"}
    )
    assert answer.status_code == 200, answer.text
    assert [one["email"] for one in answer.json()["suppressed"]] == [GONE]
    suppressions = client.get("/api/v1/suppressions").json()["data"]
    assert [row["reason"] for row in suppressions] == ["hard bounce"]
    assert suppressions[0]["diagnostic"]
    profile = client.get(f"/api/v1/subscribers/{GONE}").json()
    assert profile["suppression"]["reason"] == "hard bounce"
    again = client.post("/api/v1/bounces", json={"raw": report.decode("utf-8", "replace")})
    assert again.json()["suppressed"] == []  # the same report counts once
    assert again.json()["already_seen"] >= 1


def test_bad_bounce_posts_are_refused(served: Served) -> None:
    """An empty body, JSON without raw, and another media type are refused in the error shape."""
    client = served.client(Scope.WRITE)
    empty = client.post("/api/v1/bounces", content=b"", headers={"Content-Type": "message/rfc822"})
    assert error_of(empty)["code"] == "missing_field"
    no_raw = client.post("/api/v1/bounces", json={"report": "x"})
    assert error_of(no_raw)["field"] == "raw"
    other = client.post("/api/v1/bounces", content=b"x", headers={"Content-Type": "image/png"})
    assert other.status_code == 415
    assert error_of(other)["code"] == "unsupported_media_type"
    assert served.client(Scope.READ).post("/api/v1/bounces", json={"raw": "x"}).status_code == 403


def test_an_unmatched_report_changes_nothing(served: Served) -> None:
    """A real report about no delivery of ours is read and counted, and suppresses nobody."""
    report = (BOUNCES / "gmail-nosuchuser.eml").read_bytes()
    answer = served.client(Scope.WRITE).post(
        "/api/v1/bounces", content=report, headers={"Content-Type": "message/rfc822"}
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["reports"] == 1
    assert answer.json()["suppressed"] == []
    assert served.client(Scope.READ).get("/api/v1/suppressions").json()["data"] == []
