"""No console route answers without a session, and no console POST acts without its CSRF token.

The walk reads the served app's own route table (`fastapi.routing.iter_route_contexts`, which
yields the routes of included routers too), so a page module added later is walked as well: a
GET without a session must send the browser to sign in, a POST without one must be refused, and
a POST from a signed-in owner that lacks the session's token, or comes from another site, must be
refused too. A viewer cannot send, pause or cancel.
"""

from __future__ import annotations

import re
from urllib.parse import quote

import pytest
from fastapi.routing import APIRoute, iter_route_contexts

from briefmail.accounts.models import Role
from briefmail.web import create_web
from tests.briefmail.web.console.conftest import Console, csrf_of, populate
from tests.briefmail.web.test_routes_get import snapshot
from tests.conftest import FIXTURES, subscribe_readers

#: Routes anyone may reach: the sign-in form and the console's own stylesheet and script.
OPEN = {("GET", "/admin/login"), ("POST", "/admin/login"), ("GET", "/admin/static/{name}")}


def console_routes(console: Console) -> list[tuple[str, str]]:
    """(method, path) of every /admin route of the served app, refusing kinds it cannot call."""
    found: list[tuple[str, str]] = []
    for context in iter_route_contexts(create_web(console.app).routes):
        path = context.path or ""
        if not path.startswith("/admin"):
            continue
        assert isinstance(context.original_route, APIRoute), path
        methods = set(context.methods or ()) - {"HEAD"}
        assert methods <= {"GET", "POST"}, (path, methods)
        found.extend((method, path) for method in sorted(methods))
    return found


def filled(path: str) -> str:
    """The path with a plausible value for each parameter (ids are numbers)."""
    return re.sub(r"\{(\w+)(?::\w+)?\}", lambda m: "x" if m.group(1) == "name" else "1", path)


def test_the_walk_sees_the_console(console: Console) -> None:
    """The route table holds the shell's own pages (so the walk below is not empty)."""
    routes = set(console_routes(console))
    for expected in [("GET", "/admin"), ("GET", "/admin/runs/{run_id}"), ("POST", "/admin/logout")]:
        assert expected in routes


def test_without_a_session_every_route_sends_to_sign_in_or_refuses(console: Console) -> None:
    """GET: 303 to /admin/login?next=<page> (htmx: 401 + HX-Redirect); POST: 401 or 403."""
    walked = 0
    with console.client() as client:
        for method, path in console_routes(console):
            if (method, path) in OPEN:
                continue
            url = filled(path)
            if method == "GET":
                answer = client.get(url)
                assert answer.status_code == 303, (url, answer.text[:300])
                assert answer.headers["location"] == f"/admin/login?next={quote(url)}"
                htmx = client.get(url, headers={"HX-Request": "true"})
                assert htmx.status_code == 401, url
                assert htmx.headers["hx-redirect"].startswith("/admin/login?next=")
            else:
                answer = client.post(url, data={"csrf": "forged"})
                assert answer.status_code in (401, 403), (url, answer.status_code)
            assert answer.headers["cache-control"] == "no-store", url
            walked += 1
    assert walked > 10


def test_every_post_needs_the_session_token(console: Console) -> None:
    """A signed-in owner's POST without the token, with a wrong one or from another site: 403."""
    subscribe_readers(console.app, ["reader@example.net"])
    stored = console.app.ingest(FIXTURES / "brief-mixed.txt", "brief", approve=True).stored
    assert stored is not None
    run_id = console.app.sending.plan(stored.id)
    posts = [path for method, path in console_routes(console) if method == "POST"]
    posts = [p for p in posts if ("POST", p) not in OPEN]
    with console.client() as client:
        console.login(client, Role.OWNER)
        token = csrf_of(client.get("/admin").text)
        for path in posts:
            url = filled(path).replace("/1/", f"/{stored.id}/", 1)
            if "/runs/" in path:
                url = filled(path).replace("/1/", f"/{run_id}/", 1)
            for data, headers in (
                ({}, {}),
                ({"csrf": "0" * 64}, {}),
                ({"csrf": token}, {"origin": "https://evil.example.com"}),
                ({"csrf": token}, {"sec-fetch-site": "cross-site"}),
            ):
                answer = client.post(url, data=data, headers=headers)
                assert answer.status_code == 403, (url, data, headers, answer.text[:300])
        # Still signed in, nothing was sent, the run is as it was.
        assert client.get("/admin").status_code == 200
    assert console.app.sending.counts(run_id)["delivered"] == 0
    assert console.app.sending.show(run_id).summary.status != "paused"
    assert console.sink.messages == []


@pytest.mark.parametrize("role", [Role.VIEWER, Role.EDITOR])
def test_viewers_and_editors_cannot_send_pause_or_cancel(console: Console, role: Role) -> None:
    """With a valid token, a viewer's or editor's send / pause / cancel is refused (403)."""
    subscribe_readers(console.app, ["reader@example.net"])
    stored = console.app.ingest(FIXTURES / "brief-mixed.txt", "brief", approve=True).stored
    assert stored is not None
    run_id = console.app.sending.plan(stored.id)
    routes = set(console_routes(console))
    with console.client() as client:
        console.login(client, role)
        token = csrf_of(client.get("/admin").text)
        targets = [f"/admin/runs/{run_id}/pause", f"/admin/runs/{run_id}/cancel"]
        if ("POST", "/admin/issues/{issue_id}/send") in routes:
            targets.append(f"/admin/issues/{stored.id}/send")
        for url in targets:
            answer = client.post(url, data={"csrf": token})
            assert answer.status_code == 403, (url, answer.text[:300])
            assert "needs the owner role" in answer.text
    assert console.app.sending.counts(run_id)["delivered"] == 0
    assert console.sink.messages == []


def test_no_get_changes_anything(console: Console) -> None:
    """Every GET an owner can make, ids filled with rows that exist, writes no row, mails nobody.

    Link scanners and prefetching browsers fetch what they see; only a POST may act. The one
    row a GET writes is the audit entry of an export: who took the readers' data is recorded.
    """
    populate(console)
    gets = [path for method, path in console_routes(console) if method == "GET"]
    with console.client() as client:
        console.login(client, Role.OWNER)
        before, mails = snapshot(console.app), len(console.sink.messages)
        for path in gets:
            url = filled(path).replace("/static/x", "/static/console.css")
            answer = client.get(url)
            assert answer.status_code in (200, 303), (path, answer.status_code, answer.text[:300])
    after = snapshot(console.app)
    added = set(after.pop("audit_entries")) - set(before.pop("audit_entries"))
    assert after == before
    assert all("exported" in entry for entry in added), added
    assert len(console.sink.messages) == mails
