"""/admin/webhooks served for real: each webhook's events, attempts and a test button for owners.

The page reads the outbox that a real receiver on loopback answered; a browser (Debian's
Chromium) checks the page at 375 and 1280 px with axe-core, screenshots in test-artifacts/.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from briefmail.accounts.models import Role
from briefmail.settings import WebhookSettings
from mailer.testing import SmtpSink
from tests.briefmail.web.console.conftest import Console, axe_violations, csrf_of, served
from tests.conftest import ARTIFACTS, subscribe_readers
from tests.scheduler.test_webhooks import SECRET, Receiver
from tests.scheduler.test_webhooks import receiver as receiver  # the fixture


@pytest.fixture
def hooked(
    database_url: str, smtp_sink: SmtpSink, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Console]:
    """A served console whose app tells "crm" (/ok) and "broken" (/fail) of every event."""
    monkeypatch.setenv("HOOK_SECRET", SECRET.decode())
    hooks = [
        WebhookSettings(url=receiver.url(path), name=name, secret_env="HOOK_SECRET")
        for path, name in (("/ok", "crm"), ("/fail", "broken"))
    ]
    with served(database_url, smtp_sink, webhooks=hooks) as console:
        console.app.webhooks.sync()
        yield console


def _section(html: str, name: str) -> str:
    """The card of one webhook on the page."""
    found = re.search(rf"<h2 id=\"webhook-\d+\">{name}</h2>(.*?)</section>", html, re.S)
    assert found is not None, f"no card for {name}"
    return found.group(1)


def test_each_webhook_shows_its_events_states_and_answers(
    hooked: Console, receiver: Receiver
) -> None:
    """A viewer sees delivered and retrying events, the last answer and the next retry."""
    subscribe_readers(hooked.app, ["ada@example.net"])
    hooked.app.webhooks.deliver()
    with hooked.client() as client:
        hooked.login(client, Role.VIEWER)
        page = client.get("/admin/webhooks")
    assert page.status_code == 200
    crm, broken = _section(page.text, "crm"), _section(page.text, "broken")
    assert "subscriber.confirmed" in crm and 'status-ok">delivered' in crm and "HTTP 204" in crm
    assert 'status-warn">pending' in broken and "HTTP 500" in broken
    assert re.search(r"<dt>Pending</dt><dd>1</dd>", broken)
    row = re.search(r'<tr id="delivery-\d+">(.*?)</tr>', broken, re.S)
    assert row is not None and re.search(
        r"<td>\d{4}-\d\d-\d\d \d\d:\d\d", row.group(1).split("</details>")[-1]
    )
    assert "Send test event" not in page.text  # owners only
    assert SECRET.decode() not in page.text


def test_an_owner_sends_a_test_event_and_it_is_audited(hooked: Console, receiver: Receiver) -> None:
    """The button POSTs a signed webhook.test; the flash says the answer; the audit log has it."""
    with hooked.client() as client:
        owner = hooked.login(client, Role.OWNER)
        page = client.get("/admin/webhooks")
        assert page.text.count("Send test event") == 2
        sent = client.post(
            "/admin/webhooks/test",
            data={"csrf": csrf_of(page.text), "webhook": receiver.url("/ok")},
        )
        assert sent.status_code == 303
        after = client.get(sent.headers["location"])
        assert "crm: test event delivered (HTTP 204)." in after.text
        failing = client.post(
            "/admin/webhooks/test",
            data={"csrf": csrf_of(page.text), "webhook": receiver.url("/fail")},
        )
        assert "test event not delivered: HTTP 500" in client.get(failing.headers["location"]).text
    (got,) = receiver.at("/ok")
    assert got.signed and got.event["type"] == "webhook.test"
    assert got.event["data"]["by"] == owner.actor
    entries = hooked.app.audit.entries(action="webhook.test")
    assert {(e.actor, e.target) for e in entries} == {
        (owner.actor, "webhook:crm"),
        (owner.actor, "webhook:broken"),
    }


def test_a_viewer_or_a_forged_form_cannot_send_a_test(hooked: Console, receiver: Receiver) -> None:
    """A viewer's POST gets the styled 403; a POST without the session's CSRF token is refused."""
    with hooked.client() as client:
        hooked.login(client, Role.VIEWER)
        page = client.get("/admin/webhooks")
        refused = client.post(
            "/admin/webhooks/test",
            data={"csrf": csrf_of(page.text), "webhook": receiver.url("/ok")},
        )
        assert refused.status_code == 403
    with hooked.client() as client:
        hooked.login(client, Role.OWNER)
        forged = client.post("/admin/webhooks/test", data={"csrf": "x", "webhook": "crm"})
        assert forged.status_code in (400, 403)
    with httpx.Client(base_url=hooked.base, follow_redirects=False) as anonymous:
        assert anonymous.get("/admin/webhooks").status_code == 303
    assert receiver.at("/ok") == []


def test_a_missing_secret_is_shown_not_a_crash(
    database_url: str, smtp_sink: SmtpSink, receiver: Receiver
) -> None:
    """A webhook whose secret_env is unset is listed with a warning; the page still answers."""
    hook = WebhookSettings(url=receiver.url("/ok"), name="crm", secret_env="UNSET_HOOK_SECRET")
    with served(database_url, smtp_sink, webhooks=[hook]) as console, console.client() as client:
        console.login(client, Role.OWNER)
        page = client.get("/admin/webhooks")
    assert page.status_code == 200
    assert "<code>UNSET_HOOK_SECRET</code> that holds this webhook" in page.text


def test_the_page_in_chromium_at_phone_and_desktop_widths(
    hooked: Console, receiver: Receiver, browser: Any
) -> None:
    """At 375 and 1280 px nothing overflows, the test button works, axe finds nothing serious."""
    subscribe_readers(hooked.app, ["ada@example.net"])
    # Playwright's loop runs in this thread: the round (asyncio.run) runs in another.
    delivering = threading.Thread(target=hooked.app.webhooks.deliver)
    delivering.start()
    delivering.join(30)
    ARTIFACTS.mkdir(exist_ok=True)
    for width in (375, 1280):
        # bypass_csp: only so the test can inject axe-core; the pages themselves run as served.
        page = browser.new_page(viewport={"width": width, "height": 900}, bypass_csp=True)
        try:
            hooked.login(page, Role.OWNER)
            page.goto(hooked.url("/admin/webhooks"))
            page.locator("form[action='/admin/webhooks/test'] button").first.click()
            page.wait_for_url(re.compile(r"/admin/webhooks$"))
            assert "test event delivered" in page.locator(".flash").first.inner_text()
            scroll = page.evaluate("() => document.documentElement.scrollWidth")
            assert scroll <= width + 1, f"the page scrolls sideways at {width} px"
            assert axe_violations(page) == []
            page.screenshot(
                path=str(Path(ARTIFACTS) / f"console-webhooks-{width}.png"), full_page=True
            )
        finally:
            page.close()
