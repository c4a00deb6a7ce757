"""/admin/operators over HTTP: owners add, re-role and remove operators; tokens made, revoked."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager

import httpx

from briefmail.accounts.models import Role
from tests.briefmail.web.console.conftest import PASSWORD, Console, csrf_of


def post_form(client: httpx.Client, path: str, page: str, **data: str) -> httpx.Response:
    """POST a console form with the CSRF token of the page it is on."""
    return client.post(path, data={"csrf": csrf_of(page), **data})


@contextmanager
def signed_in(console: Console, role: Role = Role.OWNER) -> Iterator[httpx.Client]:
    """A client signed in as the operator of this role, closed afterwards."""
    with console.client() as client:
        console.login(client, role)
        yield client


class TestOperatorsPage:
    def test_only_owners_see_it(self, console: Console) -> None:
        """An editor gets the styled 403; a browser without a session goes to the sign-in."""
        with console.client() as anonymous:
            answer = anonymous.get("/admin/operators")
            assert answer.status_code == 303
            assert answer.headers["location"].startswith("/admin/login?next=")
        with signed_in(console, Role.EDITOR) as editor:
            refused = editor.get("/admin/operators")
            assert refused.status_code == 403 and "This needs the owner role" in refused.text
            page = editor.get("/admin/audit")
            assert page.status_code == 403

    def test_add_change_role_and_remove(self, console: Console) -> None:
        """Each form changes the operator, says so once, and is audited as the signed-in owner."""
        with signed_in(console) as client:
            page = client.get("/admin/operators")
            assert page.status_code == 200 and "owner@example.org" in page.text
            added = post_form(
                client,
                "/admin/operators/add",
                page.text,
                email="Ada@Example.org",
                role="viewer",
                password=PASSWORD,
            )
            assert (added.status_code, added.headers["location"]) == (303, "/admin/operators")
            shown = client.get("/admin/operators")
            assert "Added ada@example.org (viewer)." in shown.text
            assert PASSWORD not in shown.text
            assert console.app.operators.get("ada@example.org").role is Role.VIEWER
            changed = post_form(
                client, "/admin/operators/role", shown.text, email="ada@example.org", role="editor"
            )
            assert changed.status_code == 303
            assert console.app.operators.get("ada@example.org").role is Role.EDITOR
            removed = post_form(
                client, "/admin/operators/remove", shown.text, email="ada@example.org"
            )
            assert removed.status_code == 303
            assert "Removed ada@example.org" in client.get("/admin/operators").text
        assert [op.email for op in console.app.operators.list()] == ["owner@example.org"]
        entries = console.app.audit.entries(action="operator")
        assert [e.action for e in entries] == [
            "operator.remove",
            "operator.role",
            "operator.add",
            "operator.add",
        ]
        assert {e.actor for e in entries[:3]} == {"console:owner@example.org"}
        assert {e.ip for e in entries[:3]} == {"127.0.0.1"}

    def test_refusals_show_the_page_again_with_the_reason(self, console: Console) -> None:
        """A short password (400) keeps the address typed; the last owner (409) stays."""
        with signed_in(console) as client:
            page = client.get("/admin/operators").text
            short = post_form(
                client,
                "/admin/operators/add",
                page,
                email="ada@example.org",
                role="editor",
                password="short",
            )
            assert short.status_code == 400
            assert "password: needs at least 10 characters" in short.text
            assert 'value="ada@example.org"' in short.text
            last = post_form(client, "/admin/operators/remove", page, email="owner@example.org")
            assert last.status_code == 409 and "the last owner" in last.text
            demote = post_form(
                client, "/admin/operators/role", page, email="owner@example.org", role="viewer"
            )
            assert demote.status_code == 409
            unknown = post_form(client, "/admin/operators/remove", page, email="x@example.org")
            assert unknown.status_code == 400 and "is not an operator" in unknown.text
            forged = client.post(
                "/admin/operators/remove", data={"csrf": "forged", "email": "owner@example.org"}
            )
            assert forged.status_code == 403
        assert [op.email for op in console.app.operators.list()] == ["owner@example.org"]

    def test_a_token_is_shown_once_then_listed_and_revoked(self, console: Console) -> None:
        """The new token appears on the POST's answer only; it verifies until it is revoked."""
        with signed_in(console) as client:
            page = client.get("/admin/operators").text
            created = post_form(client, "/admin/operators/tokens", page, name="cms", scope="write")
            assert created.status_code == 200
            found = re.search(
                r'id="token-value" class="token" readonly value="(bm_[^"]+)"', created.text
            )
            assert found is not None
            raw = found.group(1)
            token = console.app.tokens.verify(raw)
            assert token is not None and token.created_by == "console:owner@example.org"
            listing = client.get("/admin/operators").text
            assert raw not in listing and token.prefix in listing and "active" in listing
            revoked = post_form(client, f"/admin/operators/tokens/{token.id}/revoke", listing)
            assert revoked.status_code == 303
            assert "revoked" in client.get("/admin/operators").text
            assert console.app.tokens.verify(raw) is None
            bad = post_form(client, "/admin/operators/tokens", listing, name="x", scope="root")
            assert bad.status_code == 400 and "scope: &#39;root&#39; is not a scope" in bad.text
            missing = post_form(client, "/admin/operators/tokens/999/revoke", listing)
            assert missing.status_code == 400 and "no API token has id 999" in missing.text
