"""The API served for real: a migrated briefmail on loopback, and httpx clients with tokens.

`served` serves the whole web face (uvicorn in a thread, `serve_web`) of the `app` fixture,
whose mail goes to the `smtp_sink`; `served.client(scope)` is an httpx client carrying a fresh
token of that scope (created through `app.tokens`, as `briefmail tokens create` does).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from briefmail.accounts.models import Scope
from briefmail.app import Briefmail
from mailer.testing import SmtpSink
from tests.conftest import FIXTURES, serve_web

#: A daily brief of four stories (chips, models, funding, a note), as published.
BRIEF = (FIXTURES / "brief-mixed.txt").read_text(encoding="utf-8")


@dataclass
class Served:
    """A served briefmail: the app, its base URL, its SMTP sink and token-carrying clients."""

    app: Briefmail
    base: str
    sink: SmtpSink
    tokens: dict[Scope, str] = field(default_factory=dict)
    clients: list[httpx.Client] = field(default_factory=list)

    def token(self, scope: Scope | str) -> str:
        """The raw token of this scope (created once, named after it)."""
        scope = Scope(scope)
        if scope not in self.tokens:
            raw, _ = self.app.tokens.create(f"test-{scope.value}", scope, "cli:test")
            self.tokens[scope] = raw
        return self.tokens[scope]

    def client(self, scope: Scope | str | None = Scope.SEND) -> httpx.Client:
        """An httpx client of the served app (with a token of ``scope``; None: without one)."""
        headers = {"Authorization": f"Bearer {self.token(scope)}"} if scope else {}
        client = httpx.Client(base_url=self.base, headers=headers, timeout=30)
        self.clients.append(client)
        return client

    def create_issue(self, client: httpx.Client | None = None, text: str = BRIEF) -> dict[str, Any]:
        """POST the brief as a draft; the answer's JSON (asserting a 201)."""
        answer = (client or self.client(Scope.WRITE)).post("/api/v1/issues", json={"text": text})
        assert answer.status_code == 201, answer.text
        created: dict[str, Any] = answer.json()
        return created

    def approved_issue(self) -> int:
        """A stored, approved brief's id."""
        issue_id = int(self.create_issue()["id"])
        answer = self.client(Scope.WRITE).post(f"/api/v1/issues/{issue_id}/approve")
        assert answer.status_code == 200, answer.text
        return issue_id

    def wait_for_run(self, run_id: int, timeout: float = 30.0) -> dict[str, Any]:
        """Poll GET /api/v1/runs/{id} until the run is done (or fail at the deadline)."""
        client = self.client(Scope.READ)
        deadline = time.monotonic() + timeout
        while True:
            run: dict[str, Any] = client.get(f"/api/v1/runs/{run_id}").json()
            if run["status"] in ("done", "cancelled", "paused"):
                return run
            assert time.monotonic() < deadline, f"run {run_id} still {run['status']}: {run}"
            time.sleep(0.05)


def error_of(answer: httpx.Response) -> dict[str, Any]:
    """The ``error`` object of a refusal (asserting the API's error shape)."""
    body = answer.json()
    assert set(body) == {"error"}, body
    error: dict[str, Any] = body["error"]
    assert isinstance(error["code"], str)
    assert isinstance(error["message"], str)
    assert error["message"]
    return error


@pytest.fixture
def served(app: Briefmail, smtp_sink: SmtpSink) -> Iterator[Served]:
    """The whole web face of `app` on loopback, with clients carrying API tokens."""
    with serve_web(app) as base:
        found = Served(app, base, smtp_sink)
        try:
            yield found
        finally:
            for client in found.clients:
                client.close()
