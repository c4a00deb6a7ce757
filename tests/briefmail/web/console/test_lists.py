"""Lists in the console: subscriptions by status, the newest issue and the archive link."""

from __future__ import annotations

from briefmail.accounts.models import Role
from subscribers.lists import create_list, get_list
from subscribers.service import subscribe, unsubscribe
from tests.briefmail.web.console.conftest import Console
from tests.conftest import FIXTURES, subscribe_readers


def test_each_list_with_its_counts_latest_issue_and_archive(console: Console) -> None:
    """Two lists: each shows its own counts by status, its newest issue and archive address."""
    app = console.app
    subscribe_readers(app, ["a@example.net", "b@example.net", "c@example.net"])
    with app.sessions() as session:
        weekly = create_list(session, "weekly", "Weekly Test", "Weekly <weekly@example.org>")
        subscribe(session, weekly, "p@example.net", taxonomy=app.taxonomy)  # pending
        unsubscribe(session, get_list(session, "brief"), "c@example.net")
        session.commit()
    stored = app.ingest(FIXTURES / "brief-mixed.txt", "brief").stored
    assert stored is not None
    with console.client() as client:
        console.login(client, Role.VIEWER)
        page = client.get("/admin/lists")
    assert page.status_code == 200
    text = page.text
    assert 'data-count="brief-confirmed">2<' in text
    assert 'data-count="brief-unsubscribed">1<' in text
    assert 'data-count="weekly-pending">1<' in text
    assert 'data-count="weekly-confirmed">0<' in text
    assert f'href="/admin/issues/{stored.id}"' in text
    assert f'href="{console.base}/archive"' in text
    assert f'href="{console.base}/lists/weekly/archive"' in text
    assert "No issue yet." in text  # the weekly list
