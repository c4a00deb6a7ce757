"""The API's one error shape: the library's refusals translated, and no traceback ever.

`translate` is checked against the library's own exceptions as they are raised; the served
app shows that an unforeseen failure is a logged 500 `internal_error` whose body says nothing
of the code, and that a validation failure names its field.
"""

from __future__ import annotations

import pytest

from briefmail.accounts.models import Scope
from briefmail.services.content import ContentService
from briefmail.web.api.errors import ApiError, translate
from mailer.ingest.base import IngestError
from mailer.topics import UnknownTopic
from scheduler.editions import IssueStateError, UnknownIssue
from scheduler.runs import RunStateError, UnknownRun
from scheduler.scheduling import ScheduleError
from subscribers.rules import InvalidAddress, InvalidTimezone
from subscribers.service import NotSubscribed
from tests.briefmail.web.api.conftest import Served, error_of


@pytest.mark.parametrize(
    ("exc", "status", "code", "field"),
    [
        (UnknownIssue(7), 404, "not_found", None),
        (UnknownRun(7), 404, "not_found", None),
        (NotSubscribed("a@example.net is not subscribed"), 404, "not_found", None),
        (IngestError("/tmp/x/pasted.txt", 3, "no stories"), 422, "invalid_issue", "text"),
        (UnknownTopic(["astrology"], ["chips"]), 422, "unknown_topic", "topics"),
        (InvalidAddress("x", "no @"), 422, "invalid_value", "email"),
        (InvalidTimezone("Mars/Base"), 422, "invalid_value", "timezone"),
        (ScheduleError("in the past"), 422, "invalid_schedule", "at"),
        (IssueStateError("issue 7 was sent"), 409, "issue_state_conflict", None),
        (RunStateError("run 7 is done"), 409, "run_state_conflict", None),
    ],
)
def test_the_librarys_refusals_become_stable_codes(
    exc: Exception, status: int, code: str, field: str | None
) -> None:
    """Each library exception maps to its status, code and field, with its own message."""
    found = translate(exc)
    assert isinstance(found, ApiError)
    assert (found.status, found.code, found.field) == (status, code, field)
    assert found.message
    assert "/tmp" not in found.message


def test_an_unforeseen_error_is_translated_to_nothing() -> None:
    """An exception the library does not raise as a refusal is not dressed up as one."""
    assert translate(RuntimeError("boom")) is None


def test_an_unforeseen_failure_is_a_500_without_a_traceback(
    served: Served, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """A failure nobody foresaw: 500 internal_error, no traceback in the body, one in the log."""

    def broken(self: ContentService, list_slug: str | None = None) -> list[object]:
        raise RuntimeError("the disk caught fire at line 42 of secret_module.py")

    monkeypatch.setattr(ContentService, "issues", broken)
    answer = served.client(Scope.READ).get("/api/v1/issues")
    assert answer.status_code == 500
    assert error_of(answer)["code"] == "internal_error"
    assert "secret_module" not in answer.text
    assert "Traceback" not in answer.text
    assert any("secret_module" in (r.exc_text or str(r.exc_info)) for r in caplog.records)


def test_query_and_body_validation_name_their_field(served: Served) -> None:
    """A wrong query type and a wrong body type answer 422 with the field's name."""
    client = served.client(Scope.WRITE)
    query = client.get("/api/v1/issues", params={"limit": "many"})
    assert query.status_code == 422
    assert error_of(query)["field"] == "limit"
    body = client.post("/api/v1/subscribers", json={"email": "a@example.net", "topics": "chips"})
    assert body.status_code == 422
    assert error_of(body)["field"] == "topics"
    nested = client.patch(
        "/api/v1/issues/1", json={"topics": {"story": "first", "topics": ["chips"]}}
    )
    assert error_of(nested)["field"] == "topics.story"
    not_object = client.post("/api/v1/subscribers", json=["a@example.net"])
    assert not_object.status_code == 422
    assert error_of(not_object)["code"] == "invalid_json"
