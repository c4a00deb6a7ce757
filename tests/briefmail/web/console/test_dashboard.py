"""The dashboard: next sends by time zone, the last runs (live while sending), growth, topics."""

from __future__ import annotations

import asyncio

from briefmail.accounts.models import Role
from subscribers.lists import get_list
from subscribers.service import unsubscribe
from tests.briefmail.web.console.conftest import Console
from tests.conftest import FIXTURES, subscribe_readers


def test_the_dashboard_shows_every_card(console: Console) -> None:
    """Zones with their readers, a sent run with its bar, growth figures and topic bars."""
    app = console.app
    subscribe_readers(app, ["b@example.net"], timezone="Europe/Berlin", topics=["chips"])
    subscribe_readers(app, ["s@example.net", "t@example.net"], timezone="Asia/Shanghai")
    with app.sessions() as session:
        unsubscribe(session, get_list(session, "brief"), "t@example.net")
        session.commit()
    stored = app.ingest(FIXTURES / "brief-mixed.txt", "brief", approve=True).stored
    assert stored is not None
    report = asyncio.run(app.send_issue(stored.id))
    with console.client() as client:
        console.login(client, Role.VIEWER)
        page = client.get("/admin")
        wide = client.get("/admin?days=90")
    assert page.status_code == 200
    text = page.text
    assert "<td>Europe/Berlin</td>" in text and "<td>Asia/Shanghai</td>" in text
    assert f'href="/admin/runs/{report.run_id}"' in text
    assert "2 of 2 delivered" in text
    assert 'aria-label="2 delivered"' in text  # the outcome bar says what it shows
    assert "Readers over 30 days" in text
    assert "<dt>Joined</dt><dd>3</dd>" in text and "<dt>Left</dt><dd>1</dd>" in text
    assert "Confirmed readers per topic: " in text
    assert "hx-trigger" not in text  # nothing is sending: nothing polls
    assert wide.status_code == 200 and "Readers over 90 days" in wide.text


def test_the_runs_card_polls_while_a_run_is_sending(console: Console) -> None:
    """While a run is planned or sending, the card refreshes itself from its own fragment."""
    subscribe_readers(console.app, ["r@example.net"])
    stored = console.app.ingest(FIXTURES / "brief-mixed.txt", "brief", approve=True).stored
    assert stored is not None
    run_id = console.app.sending.plan(stored.id)
    with console.client() as client:
        console.login(client, Role.VIEWER)
        page = client.get("/admin")
        card = client.get("/admin/dashboard/runs")
    assert 'hx-get="/admin/dashboard/runs" hx-trigger="every 5s"' in page.text
    assert card.status_code == 200
    assert card.text.lstrip().startswith('<section class="card" id="last-runs"')
    assert f'href="/admin/runs/{run_id}"' in card.text
    assert "<html" not in card.text


def test_an_empty_console_says_what_to_do(console: Console) -> None:
    """No reader, no run: each card says so instead of drawing nothing."""
    with console.client() as client:
        console.login(client, Role.VIEWER)
        text = client.get("/admin").text
    assert "Nothing is scheduled" in text
    assert "No run yet" in text
