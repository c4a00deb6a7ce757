"""The web version of a sent issue: what compact e-mails and contents lists link to.

Served in-process by the real FastAPI app over httpx's ASGI transport, on a migrated database.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

import httpx
import pytest

from briefmail.app import Briefmail
from briefmail.web import create_web
from mailer.content import Issue
from mailer.render import HTML_LIMIT
from scheduler.editions import store_issue
from subscribers.lists import create_list, get_list
from tests.mailer.cases import LONG_LINKS, NEWSLETTER, week_digest

BASE_URL = "https://news.example.org"


@pytest.fixture
async def client(app: Briefmail) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=create_web(app), client=("203.0.113.7", 50000))
    async with httpx.AsyncClient(transport=transport, base_url=BASE_URL) as c:
        yield c


def store(app: Briefmail, issue: Issue, slug: str | None = None) -> int:
    """Store an issue on a list (the default one unless ``slug``) and return its id."""
    with app.sessions() as session:
        newsletter = get_list(session, slug or app.settings.newsletter.slug)
        row, _ = store_issue(session, newsletter, issue)
        session.commit()
        return row.id


def ids(html: str) -> set[str]:
    return set(re.findall(r'\bid="([^"]+)"', html))


class TestWebVersion:
    async def test_every_link_of_the_compact_mail_has_its_target(
        self, app: Briefmail, client: httpx.AsyncClient
    ) -> None:
        """Each story and topic anchor the compact e-mail links to is an id in the web version."""
        digest = week_digest(app.taxonomy)
        issue_id = store(app, digest)
        await app.send_issue(issue_id)
        page_url = f"{BASE_URL}/archive/{issue_id}"
        mail = app.renderer.render_issue(
            digest,
            digest.stories,
            NEWSLETTER,
            topics=[],
            cadence="weekly",
            archive_url=page_url,
        ).fill(LONG_LINKS)
        assert mail.compact
        targets = set(re.findall(rf'href="{re.escape(page_url)}#([^"]+)"', mail.html))
        assert {f"story-{n}" for n in range(1, 71)} <= targets
        assert any(t.startswith("topic-") for t in targets)
        page = (await client.get(f"/archive/{issue_id}")).text
        assert targets <= ids(page)

    async def test_the_web_version_is_never_shortened(
        self, app: Briefmail, client: httpx.AsyncClient
    ) -> None:
        """The web version of a seventy-story digest shows every story in full, however long."""
        issue_id = store(app, week_digest(app.taxonomy))
        await app.send_issue(issue_id)
        page = (await client.get(f"/archive/{issue_id}")).text
        assert len(page.encode()) > HTML_LIMIT
        assert page.count("Why it matters:") == 70
        assert "short version" not in page

    async def test_the_contents_list_stays_on_the_page(
        self, app: Briefmail, client: httpx.AsyncClient
    ) -> None:
        """The web version's contents list links to headings of the same page."""
        issue_id = store(app, week_digest(app.taxonomy))
        await app.send_issue(issue_id)
        page = (await client.get(f"/archive/{issue_id}")).text
        contents = re.findall(rf'href="{re.escape(BASE_URL)}/archive/{issue_id}#([^"]+)"', page)
        assert contents and set(contents) <= ids(page)

    async def test_a_sent_issue_of_another_list_is_served(
        self, app: Briefmail, client: httpx.AsyncClient
    ) -> None:
        """Every list's sent issues have a web version, since every list's e-mails link to it."""
        with app.sessions() as session:
            create_list(session, "weekly", "Weekly Test", "Weekly <weekly@news.example.org>")
            session.commit()
        issue_id = store(app, week_digest(app.taxonomy), "weekly")
        assert (await client.get(f"/archive/{issue_id}")).status_code == 404
        await app.send_issue(issue_id)
        page = await client.get(f"/archive/{issue_id}")
        assert page.status_code == 200 and "Weekly Test" in page.text
