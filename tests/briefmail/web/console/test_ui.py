"""What every console page shares: security headers, styled errors, flashes, no remote resource."""

from __future__ import annotations

import re

import pytest

from briefmail.accounts.models import Role
from briefmail.web.console.ui import local_next
from tests.briefmail.web.console.conftest import Console, csrf_of
from tests.conftest import FIXTURES, subscribe_readers

HEADERS = {
    "cache-control": "no-store",
    "x-frame-options": "DENY",
    "referrer-policy": "same-origin",
    "x-content-type-options": "nosniff",
}


def test_security_headers_on_pages_errors_and_redirects(console: Console) -> None:
    """The sign-in page, a redirect to it, a 404 and a signed-in page all carry the headers."""
    with console.client() as client:
        answers = [client.get("/admin/login"), client.get("/admin")]
        console.login(client, Role.VIEWER)
        answers += [client.get("/admin"), client.get("/admin/runs/424242")]
    assert [a.status_code for a in answers] == [200, 303, 200, 404]
    for answer in answers:
        for name, value in HEADERS.items():
            assert answer.headers[name] == value, (answer.url, name)
        csp = answer.headers["content-security-policy"]
        assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp


def test_a_route_may_set_its_own_cache_header(console: Console) -> None:
    """The headers are defaults: the static route's long cache is not overwritten by no-store."""
    with console.client() as client:
        answer = client.get("/admin/static/console.css")
    assert "immutable" in answer.headers["cache-control"]
    assert answer.headers["x-content-type-options"] == "nosniff"


def test_errors_are_styled_pages_naming_the_field(console: Console) -> None:
    """A bad query parameter is a 400 page naming it, a missing thing a 404 page, never JSON."""
    with console.client() as client:
        console.login(client, Role.VIEWER)
        bad = client.get("/admin/runs/abc")
        missing = client.get("/admin/runs/31337")
        window = client.get("/admin?days=7")
    assert bad.status_code == 400 and "run_id" in bad.text
    assert missing.status_code == 404 and "there is no run 31337" in missing.text
    assert window.status_code == 400 and "days: one of 30, 90" in window.text
    for answer in (bad, missing, window):
        assert answer.headers["content-type"].startswith("text/html")
        assert '<nav class="nav"' in answer.text  # the console's layout, still signed in


def test_a_flash_is_shown_once(console: Console) -> None:
    """A message set by a POST's redirect appears on the next page and not on the one after."""
    subscribe_readers(console.app, ["r@example.net"])
    stored = console.app.ingest(FIXTURES / "brief-mixed.txt", "brief", approve=True).stored
    assert stored is not None
    run_id = console.app.sending.plan(stored.id)
    with console.client() as client:
        console.login(client, Role.OWNER)
        token = csrf_of(client.get(f"/admin/runs/{run_id}").text)
        client.post(f"/admin/runs/{run_id}/pause", data={"csrf": token})
        first = client.get(f"/admin/runs/{run_id}")
        second = client.get(f"/admin/runs/{run_id}")
    assert f"Run {run_id} is paused" in first.text
    assert f"Run {run_id} is paused" not in second.text


def test_pages_load_nothing_from_elsewhere_and_run_no_inline_script(console: Console) -> None:
    """Every script has a local src; no stylesheet, script or image comes from another host."""
    with console.client() as client:
        pages = [client.get("/admin/login").text]
        console.login(client, Role.OWNER)
        pages += [
            client.get(p).text for p in ("/admin", "/admin/runs", "/admin/lists", "/admin/sources")
        ]
    for html in pages:
        for tag in re.findall(r"<script\b[^>]*>", html):
            assert re.search(r'src="/admin/static/', tag), tag
        assert not re.search(r'<(script|img|link|iframe)\b[^>]*(src|href)="(https?:)?//', html)


def test_the_navigation_follows_the_role(console: Console) -> None:
    """A viewer's navigation has no owner pages; an owner's has them; the current page is marked."""
    with console.client() as client:
        console.login(client, Role.VIEWER)
        viewer = client.get("/admin/runs").text
    with console.client() as client:
        console.login(client, Role.OWNER)
        owner = client.get("/admin/runs").text
    assert 'href="/admin/operators"' not in viewer
    assert 'href="/admin/operators"' in owner
    assert '<a href="/admin/runs" aria-current="page">' in viewer


@pytest.mark.parametrize(
    ("asked", "kept"),
    [
        ("/admin/runs/3", "/admin/runs/3"),
        ("/admin/issues?stage=draft", "/admin/issues?stage=draft"),
        ("/admin", "/admin"),
        ("", "/admin"),
        ("https://evil.example.com/admin", "/admin"),
        ("//evil.example.com/admin", "/admin"),
        ("/admin\\@evil.example.com", "/admin"),
        ("/administrator", "/admin"),
        ("/admin/login?next=/admin/runs", "/admin"),
        ("/subscribe", "/admin"),
    ],
)
def test_next_is_only_a_console_path(asked: str, kept: str) -> None:
    """Where a sign-in leads: a console path on this site, else the dashboard."""
    assert local_next(asked) == kept
