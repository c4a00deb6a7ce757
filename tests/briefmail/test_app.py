"""The composition root: web app health, ingest all-or-nothing, preview."""

from __future__ import annotations

import threading
import time

import httpx
import pytest
import uvicorn

from briefmail.app import Briefmail
from briefmail.web import create_web
from mailer.ingest import IngestError
from mailer.testing import free_port
from scheduler.editions import Stored, list_issues
from subscribers.lists import get_list
from tests.conftest import FIXTURES


def test_healthz_checks_the_database(app: Briefmail) -> None:
    """/healthz of the real web app, served by uvicorn, answers ok after querying the database."""
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(create_web(app), host="127.0.0.1", port=port, log_level="error")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 30
        while not server.started and time.monotonic() < deadline:
            time.sleep(0.02)
        assert server.started, "uvicorn did not start in 30 s"
        # Generous: under CI's parallel browser tests a first answer once took over 5 s; this
        # pins what /healthz answers, not how fast (bench/ measures speed).
        response = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=30)
    finally:
        server.should_exit = True
        thread.join(timeout=10)
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_ingest_is_all_or_nothing_and_deduplicated(app: Briefmail, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """A bad file stores nothing; the same content ingested twice is stored once."""
    bad = tmp_path / "bad.txt"
    bad.write_text("Brief — 2026-07-01\n1. T\n  • Summary: x\n3. U\n  • Summary: y\n")
    with pytest.raises(IngestError):
        app.content.ingest(bad, "brief", approve=True)
    first = app.content.ingest(FIXTURES / "brief-mixed.txt", "brief", approve=True)
    second = app.content.ingest(FIXTURES / "brief-mixed.txt", "brief", approve=True)
    assert (first.outcome, second.outcome) == (Stored.CREATED, Stored.UNCHANGED)
    assert first.stored is not None
    assert second.stored is not None
    assert first.stored.id == second.stored.id
    with app.sessions() as session:
        assert len(list_issues(session, get_list(session, "brief"))) == 1


def test_acting_as_writes_the_actor_into_histories(app: Briefmail) -> None:
    """A copy acting for an operator records them as the actor; the original is unchanged."""
    app.ensure_default_list()
    stored = app.ingest(FIXTURES / "brief-mixed.txt", "brief").stored
    assert stored is not None
    editor = app.acting_as("console:editor@example.org")
    editor.content.approve(stored.id)
    view = app.content.issue(stored.id)
    assert view.approved_by == "console:editor@example.org"
    assert view.history[-1].actor == editor.actor  # (the ingest before it was the CLI's)
    assert editor.engine is app.engine and app.actor.startswith("cli:")
    assert editor.sending is not app.sending and editor.sending.app is editor
