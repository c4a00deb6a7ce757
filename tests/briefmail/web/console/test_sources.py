"""Sources in the console: last and next poll, the last error, and "Poll now" (editors)."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from briefmail.accounts.models import Role
from briefmail.settings import SourceSettings
from mailer.testing import SmtpSink, free_port
from tests.briefmail.web.console.conftest import Console, csrf_of, served
from tests.conftest import FIXTURES


@pytest.fixture
def sourced(database_url: str, smtp_sink: SmtpSink, tmp_path: Path) -> Iterator[Console]:
    """The console of an app with a folder source holding one brief, and a feed that is down."""
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    brief = inbox / "brief.txt"
    brief.write_bytes((FIXTURES / "brief-mixed.txt").read_bytes())
    settled = time.time() - 60
    os.utime(brief, (settled, settled))
    sources = [
        SourceSettings(list="brief", folder=inbox, name="inbox"),
        SourceSettings(
            list="brief",
            url=f"http://127.0.0.1:{free_port()}/feed.xml",
            name="down-feed",
            timeout_seconds=2,
        ),
    ]
    with served(database_url, smtp_sink, sources=sources) as console:
        yield console


def test_an_editor_polls_a_folder_and_the_page_says_what_arrived(sourced: Console) -> None:
    """Never polled at first; Poll now stores the brief as a draft, and the listing moves on."""
    with sourced.client() as client:
        operator = sourced.login(client, Role.EDITOR)
        page = client.get("/admin/sources")
        assert page.status_code == 200
        assert "inbox" in page.text and "never" in page.text
        answer = client.post(
            "/admin/sources/poll", data={"csrf": csrf_of(page.text), "name": "inbox"}
        )
        assert answer.status_code == 303
        after = client.get("/admin/sources")
    assert "inbox: ok; 1 stored." in after.text
    (info,) = [s for s in sourced.app.sources.listing() if s.spec.label == "inbox"]
    assert info.entries == 1 and info.polled_at is not None
    assert [i.status for i in sourced.app.content.issues()] == ["draft"]
    actions = [e.action for e in sourced.app.audit.entries(actor=operator.actor)]
    assert "source.poll" in actions


def test_a_failing_feed_shows_its_error(sourced: Console) -> None:
    """A feed that cannot be reached: the poll says so, and the listing keeps the error."""
    with sourced.client() as client:
        sourced.login(client, Role.OWNER)
        page = client.get("/admin/sources")
        answer = client.post(
            "/admin/sources/poll", data={"csrf": csrf_of(page.text), "name": "down-feed"}
        )
        assert answer.status_code == 303
        after = client.get("/admin/sources")
    assert "down-feed: failed:" in after.text
    assert "flash-error" in after.text
    assert 'status-bad">error' in after.text


def test_an_unknown_source_is_named(sourced: Console) -> None:
    """Polling a name no source has says which names exist, and polls nothing."""
    with sourced.client() as client:
        sourced.login(client, Role.EDITOR)
        page = client.get("/admin/sources")
        client.post("/admin/sources/poll", data={"csrf": csrf_of(page.text), "name": "nope"})
        after = client.get("/admin/sources")
    assert "name: no source named &#39;nope&#39;" in after.text
    assert all(s.polled_at is None for s in sourced.app.sources.listing())


def test_a_viewer_sees_no_poll_button_and_cannot_poll(sourced: Console) -> None:
    """Viewers read the sources; a poll from one is refused with 403."""
    with sourced.client() as client:
        sourced.login(client, Role.VIEWER)
        page = client.get("/admin/sources")
        assert "Poll now" not in page.text
        answer = client.post(
            "/admin/sources/poll", data={"csrf": csrf_of(page.text), "name": "inbox"}
        )
    assert answer.status_code == 403
    assert all(s.polled_at is None for s in sourced.app.sources.listing())


def test_no_source_configured_says_how_to_add_one(console: Console) -> None:
    """Without [[sources]] the page shows the table to add to briefmail.toml."""
    with console.client() as client:
        console.login(client, Role.VIEWER)
        page = client.get("/admin/sources")
    assert "No source is configured" in page.text and "[[sources]]" in page.text
