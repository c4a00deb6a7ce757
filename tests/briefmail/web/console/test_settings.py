"""/admin/settings over HTTP: every setting shown with secrets masked; the deliverability check."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from pydantic import SecretStr

from briefmail.accounts.models import Role
from briefmail.settings import DkimSettings, SmtpSettings, WebhookSettings
from briefmail.web.console.settings import MASK
from mailer.dkim import generate_key
from mailer.testing import SmtpSink, free_port
from tests.briefmail.web.console.conftest import Console, console_app, csrf_of, serve


@pytest.fixture
def configured(
    database_url: str, smtp_sink: SmtpSink, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Console]:
    """A served briefmail with an SMTP password, a DKIM key and a webhook with its secret."""
    key = tmp_path / "dkim.pem"
    key.write_bytes(generate_key("rsa"))
    monkeypatch.setenv("HOOK_SECRET", "hook-secret-value-123")
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    app = console_app(database_url, smtp_sink, base)
    settings = app.settings.model_copy(
        update={
            "smtp": SmtpSettings(
                host=smtp_sink.host,
                port=smtp_sink.port,
                username="relay-user",
                password=SecretStr("relay-password-456"),
            ),
            "dkim": DkimSettings(domain="example.org", selector="brief", key_file=key),
            "webhooks": [
                WebhookSettings(
                    url="https://hooks.example.net/services/T0/B0/tokenpart789",
                    secret_env="HOOK_SECRET",
                )
            ],
        }
    )
    app.close()
    app = type(app)(settings)
    server, thread = serve(app, port)
    try:
        yield Console(app, base, smtp_sink)
    finally:
        server.should_exit = True
        thread.join(10)
        app.close()


class TestSettingsPage:
    def test_every_setting_shows_and_no_secret_does(self, configured: Console) -> None:
        """Sections and values are listed; passwords, keys, hook paths and secrets are ••••."""
        with configured.client() as client:
            configured.login(client, Role.OWNER)
            page = client.get("/admin/settings")
        assert page.status_code == 200
        text = page.text
        for key in ("newsletter.from", "smtp.host", "smtp.username", "console.session_hours"):
            assert f"<code>{key}</code>" in text
        assert "relay-user" in text
        secret_key = configured.app.settings.secret()
        for secret in ("relay-password-456", "hook-secret-value-123", "tokenpart789", secret_key):
            assert secret not in text
        assert f"<td><code>smtp.password</code></td><td>{MASK}</td>" in text
        assert f"<td><code>secret_key</code></td><td>{MASK}</td>" in text
        assert f"https://hooks.example.net/{MASK}" in text
        assert f"webhooks[0].secret ($HOOK_SECRET)</code></td><td>{MASK} (set)" in text

    def test_the_dkim_record_and_alignment(self, configured: Console) -> None:
        """The TXT record to publish is the configured key's; the From domain aligns."""
        from mailer.dkim import dns_record

        signer = configured.app.dkim
        assert signer is not None
        name, value = dns_record(signer)
        with configured.client() as client:
            configured.login(client, Role.OWNER)
            text = client.get("/admin/settings").text
        assert value.startswith("v=DKIM1; k=rsa; p=")
        assert value in text and name == "brief._domainkey.example.org" and name in text
        assert "From domain news.example.org aligns with the signing domain d=example.org" in text

    def test_unconfigured_dkim_is_said_and_only_owners_look(self, console: Console) -> None:
        """Without [dkim] the page says messages go unsigned; an editor is refused."""
        with console.client() as client:
            console.login(client, Role.EDITOR)
            assert client.get("/admin/settings").status_code == 403
        with console.client() as client:
            console.login(client, Role.OWNER)
            text = client.get("/admin/settings").text
        assert "Not configured: messages go out unsigned." in text
        assert "the key file briefmail.secret is used" not in text  # the key is set here

    def test_the_one_click_self_test_unsubscribes_nobody(self, console: Console) -> None:
        """The check POSTs to our own /unsubscribe as a mail client would; no reader changes."""
        from tests.conftest import subscribe_readers

        subscribe_readers(console.app, ["reader@example.org"])
        with console.client() as client:
            console.login(client, Role.OWNER)
            page = client.get("/admin/settings").text
            checked = client.post("/admin/settings/check", data={"csrf": csrf_of(page)})
            forged = client.post("/admin/settings/check", data={"csrf": "forged"})
        assert checked.status_code == 200
        assert 'id="one-click-result"' in checked.text
        assert "answered a one-click POST at once: 400, plain text" in checked.text
        assert "no redirect, no cookie" in checked.text
        assert forged.status_code == 403
        profile = console.app.subscriber_profile("reader@example.org")
        assert [s["status"] for s in profile["subscriptions"]] == ["confirmed"]


def test_a_misaligned_signing_domain_is_a_problem(
    database_url: str, smtp_sink: SmtpSink, tmp_path: Path
) -> None:
    """A d= that is not the From domain or a parent of it fails alignment and the key check."""
    from briefmail.app import Briefmail
    from briefmail.web.console.settings import dkim_checks

    key = tmp_path / "dkim.pem"
    key.write_bytes(generate_key("rsa"))
    app = console_app(database_url, smtp_sink, "http://127.0.0.1:9")
    dkim = DkimSettings(domain="elsewhere.example", selector="s1", key_file=key)
    app.close()
    app = Briefmail(app.settings.model_copy(update={"dkim": dkim}))
    try:
        record, alignment = dkim_checks(app)
    finally:
        app.close()
    assert (record.ok, alignment.ok) == (False, False)
    assert "does not align" in record.detail
    assert "news.example.org does NOT align with the signing domain d=elsewhere.example" in (
        alignment.detail
    )


def test_an_unreachable_base_url_fails_the_check(database_url: str, smtp_sink: SmtpSink) -> None:
    """A base_url nothing answers at gives a failed check that names the address."""
    from briefmail.web.console.settings import one_click_check

    base = f"http://127.0.0.1:{free_port()}"
    app = console_app(database_url, smtp_sink, base)
    try:
        check = one_click_check(app, timeout=2)
    finally:
        app.close()
    assert check.ok is False and f"{base}/unsubscribe/… could not be reached" in check.detail


def test_passwords_in_addresses_are_masked() -> None:
    """A password in database.url or a source's url is ••••; the user and host stay readable."""
    from briefmail.settings import DatabaseSettings, SourceSettings, isolated_settings
    from briefmail.web.console.settings import setting_rows

    settings = isolated_settings(
        database=DatabaseSettings(url="postgresql+psycopg://brief:db-pass-1@db.internal/brief"),
        sources=[SourceSettings(list="brief", url="https://feed:feed-pass-2@feeds.example/x.xml")],
    )
    rows = dict(setting_rows(settings))
    assert rows["database.url"] == f"postgresql+psycopg://brief:{MASK}@db.internal/brief"
    assert rows["sources[0].url"] == f"https://feed:{MASK}@feeds.example/x.xml"
    assert rows["sources[0].list"] == "brief" and rows["smtp.password"] == "—"
    assert not any("pass-" in value for value in rows.values())
