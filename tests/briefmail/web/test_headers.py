"""The reader-facing pages' security headers, their one script, and the faces that keep their own.

Checked over ASGI for every kind of public answer, and in Chromium (Debian's package): under the
policy, the subscribe page's script still pre-fills the browser's time zone.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from briefmail.app import Briefmail
from briefmail.web.headers import PUBLIC_HEADERS, SCRIPT_PATH
from tests.briefmail.web.test_public import Client, csrf_of
from tests.briefmail.web.test_public_browser import Site
from tests.briefmail.web.test_public_browser import site as site  # the fixture


@pytest.fixture
async def client(app: Briefmail) -> AsyncIterator[Client]:
    async with Client(app) as c:
        yield c


async def test_public_answers_carry_the_policy(client: Client) -> None:
    """A page, the archive, its feed, a 404, /healthz: CSP, no framing, referrer, nosniff."""
    for path in ("/subscribe", "/archive", "/feed.xml", "/healthz", "/no-such-page"):
        answer = await client.get(path)
        for name, value in PUBLIC_HEADERS.items():
            assert answer.headers.get(name) == value, (path, name)
    policy = PUBLIC_HEADERS["content-security-policy"]
    assert "script-src 'self';" in policy and "unsafe-inline'; img-src" in policy
    assert "frame-ancestors 'none'" in policy


async def test_the_subscribe_page_has_no_inline_script(client: Client) -> None:
    """Its one script is a file of ours; the script is served with an ETag and revalidates."""
    page = await choices_page(client)
    assert f'<script src="{SCRIPT_PATH}" defer></script>' in page
    assert "<script>" not in page
    script = await client.get(SCRIPT_PATH)
    assert script.status_code == 200
    assert script.headers["content-type"].startswith("text/javascript")
    again = await client.get(SCRIPT_PATH, headers={"if-none-match": script.headers["etag"]})
    assert again.status_code == 304


async def choices_page(client: Client) -> str:
    """The subscribe form's second step (the choices, with the time zone), as a browser gets it."""
    first = (await client.get("/subscribe")).text
    data = {"step": "address", "email": "a@example.net", "lists": "brief", "csrf": csrf_of(first)}
    return (await client.post("/subscribe", data=data)).text


async def test_the_console_and_the_api_keep_their_own(client: Client) -> None:
    """/admin keeps the console's policy; /api/docs (Swagger UI's scripts) gets none of ours."""
    login = await client.get("/admin/login")
    assert "script-src 'self'" in login.headers["content-security-policy"]
    assert login.headers["content-security-policy"] != PUBLIC_HEADERS["content-security-policy"]
    docs = await client.get("/api/docs")
    assert docs.headers.get("content-security-policy") != PUBLIC_HEADERS["content-security-policy"]


def test_the_time_zone_is_still_prefilled_under_the_policy(browser: Any, site: Site) -> None:
    """In Chromium set to Asia/Tokyo, the served script picks the zone the CSP lets it run."""
    context = browser.new_context(timezone_id="Asia/Tokyo")
    page = context.new_page()
    try:
        answer = page.goto(f"{site.base}/subscribe")
        assert answer is not None and "content-security-policy" in answer.headers
        page.fill("#email", "reader@example.net")
        page.click("button[type=submit]")
        page.wait_for_function("document.getElementById('timezone').value !== 'UTC'")
        assert page.input_value("#timezone") == "Asia/Tokyo"
    finally:
        context.close()
