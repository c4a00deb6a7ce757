"""Signing in and out of /admin through the real form, over HTTP against the served app."""

from __future__ import annotations

from urllib.parse import quote

import httpx

from briefmail.accounts.models import Role
from briefmail.settings import ConsoleSettings
from briefmail.web.console.auth import LOGIN_COOKIE
from briefmail.web.console.ui import SESSION_COOKIE
from mailer.testing import SmtpSink, free_port
from tests.briefmail.web.console.conftest import PASSWORD, Console, console_app, csrf_of, serve


def sign_in(client: httpx.Client, email: str, password: str, **extra: str) -> httpx.Response:
    """Fetch the sign-in form and send it with these credentials."""
    form = client.get("/admin/login")
    return client.post(
        "/admin/login",
        data={"email": email, "password": password, "csrf": csrf_of(form.text), **extra},
    )


def session_cookie_header(response: httpx.Response) -> str:
    """The Set-Cookie header that carries the session."""
    found = [v for v in response.headers.get_list("set-cookie") if v.startswith(SESSION_COOKIE)]
    assert len(found) == 1, response.headers
    return found[0]


class TestSignIn:
    def test_the_right_password_signs_in_with_a_hardened_cookie(self, console: Console) -> None:
        """A correct sign-in answers 303 to the dashboard with an HttpOnly, Lax, expiring cookie."""
        operator = console.operator(Role.EDITOR)
        with console.client() as client:
            answer = sign_in(client, operator.email, PASSWORD)
            assert answer.status_code == 303
            assert answer.headers["location"] == "/admin"
            cookie = session_cookie_header(answer).lower()
            assert "httponly" in cookie and "samesite=lax" in cookie
            assert "max-age=43200" in cookie  # [console] session_hours = 12
            assert "path=/admin" in cookie
            assert "secure" not in cookie  # served over http here
            dashboard = client.get("/admin")
            assert dashboard.status_code == 200
            assert operator.email in dashboard.text

    def test_unknown_address_and_wrong_password_get_the_same_answer(self, console: Console) -> None:
        """Nobody can tell from the answer whether an address belongs to an operator."""
        operator = console.operator(Role.OWNER)
        with console.client() as client:
            wrong = sign_in(client, operator.email, "not the password at all")
            unknown = sign_in(client, "nobody@example.org", "not the password at all")
        assert wrong.status_code == unknown.status_code == 401
        message = "Wrong e-mail address or password."
        assert message in wrong.text and message in unknown.text
        assert SESSION_COOKIE not in wrong.headers.get("set-cookie", "")

    def test_too_many_failures_answer_429_with_the_same_page(self, console: Console) -> None:
        """After login_attempts failures: 429 with Retry-After, even for the right password."""
        operator = console.operator(Role.OWNER)
        with console.client() as client:
            for _ in range(console.app.settings.console.login_attempts):
                assert sign_in(client, operator.email, "wrong password here").status_code == 401
            throttled = sign_in(client, operator.email, PASSWORD)
        assert throttled.status_code == 429
        assert int(throttled.headers["retry-after"]) > 0
        assert "too many failed sign-ins" in throttled.text
        assert 'name="password"' in throttled.text

    def test_a_form_without_its_cookie_token_is_refused(self, console: Console) -> None:
        """The sign-in form's own CSRF: a token that does not match the cookie signs nobody in."""
        operator = console.operator(Role.OWNER)
        with console.client() as client:
            client.get("/admin/login")
            client.cookies.set(LOGIN_COOKIE, "x" * 32, path="/admin")
            forged = client.post(
                "/admin/login",
                data={"email": operator.email, "password": PASSWORD, "csrf": "0" * 64},
            )
        assert forged.status_code == 403
        assert "expired" in forged.text
        assert SESSION_COOKIE not in forged.headers.get("set-cookie", "")

    def test_a_cross_site_sign_in_is_refused(self, console: Console) -> None:
        """Even with a valid form token, a POST another site makes signs nobody in."""
        operator = console.operator(Role.OWNER)
        with console.client() as client:
            form = client.get("/admin/login")
            answer = client.post(
                "/admin/login",
                data={"email": operator.email, "password": PASSWORD, "csrf": csrf_of(form.text)},
                headers={"origin": "https://evil.example.com"},
            )
        assert answer.status_code == 403

    def test_missing_fields_are_named(self, console: Console) -> None:
        """An empty address or password gets the form back naming the field, not a 422."""
        with console.client() as client:
            answer = sign_in(client, "", "")
        assert answer.status_code == 400
        assert "email: enter your e-mail address" in answer.text


class TestNext:
    def test_next_returns_to_the_page_asked_for(self, console: Console) -> None:
        """A page that sent the operator to sign in is where the sign-in leads back."""
        console.operator(Role.OWNER)
        with console.client() as client:
            asked = client.get("/admin?days=90")
            assert asked.status_code == 303
            login = asked.headers["location"]
            assert login == "/admin/login?next=" + quote("/admin?days=90")
            form = client.get(login)
            assert 'name="next" value="/admin?days=90"' in form.text
            answer = client.post(
                "/admin/login",
                data={
                    "email": "owner@example.org",
                    "password": PASSWORD,
                    "csrf": csrf_of(form.text),
                    "next": "/admin?days=90",
                },
            )
        assert answer.headers["location"] == "/admin?days=90"

    def test_next_never_leaves_the_console(self, console: Console) -> None:
        """An address elsewhere (or a public page) in next leads to the dashboard instead."""
        console.operator(Role.OWNER)
        for target in (
            "https://evil.example.com/admin",
            "//evil.example.com/admin",
            "/subscribe",
            "/admin\\..\\x",
            "/administrator",
        ):
            with console.client() as client:
                answer = sign_in(client, "owner@example.org", PASSWORD, next=target)
            assert answer.headers["location"] == "/admin", target


class TestSignOut:
    def test_sign_out_ends_the_session(self, console: Console) -> None:
        """Signing out takes the cookie back and is written to the audit log."""
        with console.client() as client:
            operator = console.login(client, Role.VIEWER)
            page = client.get("/admin")
            answer = client.post("/admin/logout", data={"csrf": csrf_of(page.text)})
            assert answer.status_code == 303
            assert answer.headers["location"] == "/admin/login"
            assert "max-age=0" in session_cookie_header(answer).lower()
            assert client.get("/admin").status_code == 303
        actions = [entry.action for entry in console.app.audit.entries(actor=operator.actor)]
        assert "logout" in actions

    def test_sign_out_without_the_token_is_refused(self, console: Console) -> None:
        """A sign-out POST without the session's CSRF token changes nothing."""
        with console.client() as client:
            console.login(client, Role.VIEWER)
            assert client.post("/admin/logout", data={}).status_code == 403
            assert client.get("/admin").status_code == 200


def test_the_cookie_is_secure_on_https(database_url: str, smtp_sink: SmtpSink) -> None:
    """Behind an https base_url the session cookie is Secure and lasts session_hours."""
    port = free_port()
    app = console_app(
        database_url,
        smtp_sink,
        "https://news.example.org",
        console=ConsoleSettings(session_hours=2),
    )
    server, thread = serve(app, port)
    try:
        app.operators.add("owner@example.org", Role.OWNER, PASSWORD)
        with httpx.Client(base_url=f"http://127.0.0.1:{port}") as client:
            # The cookies are Secure, so httpx keeps them from plain http: send them by hand.
            form = client.get("/admin/login")
            nonce = form.cookies[LOGIN_COOKIE]
            assert "secure" in form.headers["set-cookie"].lower()
            answer = client.post(
                "/admin/login",
                data={
                    "email": "owner@example.org",
                    "password": PASSWORD,
                    "csrf": csrf_of(form.text),
                },
                headers={"cookie": f"{LOGIN_COOKIE}={nonce}"},
            )
            assert answer.status_code == 303, answer.text[:300]
        cookie = session_cookie_header(answer).lower()
        assert "secure" in cookie and "max-age=7200" in cookie
    finally:
        server.should_exit = True
        thread.join(10)
        app.close()
