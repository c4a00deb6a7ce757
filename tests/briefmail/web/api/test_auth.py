"""Tokens and scopes: no /api/v1 route answers without a valid token, and scopes nest.

The route walk reads the real route table (`create_web(app).routes`, with the routes of the
included routers), so a route added later is checked too; each request goes to the served app
over loopback.
"""

from __future__ import annotations

import re

import httpx
from fastapi.routing import APIRoute, iter_route_contexts

from briefmail.accounts.models import Scope
from briefmail.web import create_web
from tests.briefmail.web.api.conftest import Served, error_of


def api_routes(served: Served) -> list[tuple[str, str]]:
    """Every (method, path) of the API, path parameters filled with a plausible value."""
    found: list[tuple[str, str]] = []
    for route in iter_route_contexts(create_web(served.app).routes):
        assert isinstance(route.original_route, APIRoute), route
        if route.path is not None and route.path.startswith("/api/v1"):
            path = re.sub(r"\{email\}", "reader@example.org", route.path)
            path = re.sub(r"\{\w+\}", "1", path)
            found.extend((method, path) for method in sorted(route.methods or ()))
    return found


def test_every_api_route_answers_401_without_a_token(served: Served) -> None:
    """Each /api/v1 route, whatever its method and body, refuses a request without a token."""
    routes = api_routes(served)
    assert len(routes) >= 25, routes  # the walk sees the whole API, not an empty table
    client = served.client(None)
    for method, path in routes:
        answer = client.request(method, path, json={"anything": 1})
        assert answer.status_code == 401, (method, path, answer.status_code, answer.text)
        assert answer.headers["WWW-Authenticate"] == "Bearer"
        assert error_of(answer)["code"] == "unauthorized"


def test_every_api_route_answers_401_to_a_forged_or_revoked_token(served: Served) -> None:
    """A made-up token, another scheme, and a revoked token are all refused with 401."""
    raw, view = served.app.tokens.create("soon-revoked", Scope.SEND, "cli:test")
    served.app.tokens.revoke(view.id)
    for header in (f"Bearer {raw}", "Bearer bm_not-a-token", f"Basic {raw}", "Bearer"):
        # A generous timeout: on a loaded CI machine one answer once took over httpx's 5 s.
        client = httpx.Client(base_url=served.base, headers={"Authorization": header}, timeout=30)
        with client:
            for method, path in api_routes(served):
                answer = client.request(method, path)
                assert answer.status_code == 401, (header, method, path, answer.text)


def test_a_read_token_reads_but_cannot_write_or_send(served: Served) -> None:
    """Read scope: GETs answer; creating an issue is 403 and so is sending."""
    issue_id = served.approved_issue()
    reader = served.client(Scope.READ)
    assert reader.get("/api/v1/issues").status_code == 200
    assert reader.get(f"/api/v1/issues/{issue_id}").status_code == 200
    refused = reader.post("/api/v1/issues", json={"text": "x"})
    assert refused.status_code == 403
    assert error_of(refused)["code"] == "insufficient_scope"
    assert reader.post(f"/api/v1/issues/{issue_id}/send").status_code == 403
    assert served.sink.messages == []


def test_a_write_token_edits_and_approves_but_cannot_send_or_erase(served: Served) -> None:
    """Write scope: create and approve answer; send, schedule, pause and erase are 403."""
    writer = served.client(Scope.WRITE)
    issue_id = served.create_issue(writer)["id"]
    assert writer.post(f"/api/v1/issues/{issue_id}/approve").status_code == 200
    for path in (
        f"/api/v1/issues/{issue_id}/send",
        f"/api/v1/issues/{issue_id}/schedule",
        "/api/v1/runs/1/pause",
        "/api/v1/subscribers/reader@example.org/erase",
    ):
        answer = writer.post(path, json={"at": "2030-01-01 07:00"})
        assert answer.status_code == 403, (path, answer.text)
        assert "send" in error_of(answer)["message"]
    assert served.app.sending.runs() == []


def test_a_send_token_may_do_what_a_write_token_may(served: Served) -> None:
    """Scopes nest: a send token creates and approves issues too."""
    sender = served.client(Scope.SEND)
    issue_id = served.create_issue(sender)["id"]
    assert sender.post(f"/api/v1/issues/{issue_id}/approve").json()["status"] == "approved"


def test_each_write_is_in_the_audit_log_as_the_token(served: Served) -> None:
    """Creating and approving an issue write entries whose actor is api:TOKEN_NAME."""
    issue_id = served.approved_issue()
    entries = served.app.audit.entries(actor="api:test-write")
    actions = {(entry.action, entry.target) for entry in entries}
    assert ("issue.create", f"issue:{issue_id}") in actions
    assert ("issue.approve", f"issue:{issue_id}") in actions
    approve = next(e for e in entries if e.action == "issue.approve")
    assert approve.before == {"status": "draft"}
    assert approve.after == {"status": "approved"}
    assert approve.ip == "127.0.0.1"


def test_the_issue_history_names_the_token_not_the_server_login(served: Served) -> None:
    """The library records who acted from the request's token, not the process's user."""
    issue_id = served.approved_issue()
    history = served.client(Scope.READ).get(f"/api/v1/issues/{issue_id}").json()["history"]
    assert history, "approving an issue is in its history"
    assert {change["actor"] for change in history} == {"api:test-write"}
    assert served.app.actor.startswith("cli:")  # the served app itself is untouched


def test_acting_shares_the_app_but_not_its_actor(served: Served) -> None:
    """`acting_as` gives a request the app's engine and renderer, its own actor and services."""
    app = served.app
    app.content  # noqa: B018 - a service built on the app before the clone
    app.webhooks  # noqa: B018 - and one more, so no service is missed by name
    clone = app.acting_as("api:someone")
    assert clone.actor == "api:someone"
    assert app.actor != "api:someone"
    assert clone.engine is app.engine
    assert clone.renderer is app.renderer
    assert clone.content is not app.content
    assert clone.content.app is clone
    assert clone.webhooks is not app.webhooks
