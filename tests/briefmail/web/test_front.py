"""The front pages (``/`` and ``/lists/{slug}``) and the styled error pages, over ASGI.

Served in-process by the real FastAPI app on a migrated database, as tests/briefmail/web/
test_archive.py does; the same pages in Chromium are in test_public_browser.py.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

import httpx
import pytest

from briefmail.app import Briefmail
from briefmail.web import create_web
from tests.briefmail.web.test_archive import BASE_URL, brief, store, weekly_list

HTML = {"accept": "text/html,application/xhtml+xml"}


@pytest.fixture
async def client(app: Briefmail) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=create_web(app), client=("203.0.113.7", 50000))
    async with httpx.AsyncClient(transport=transport, base_url=BASE_URL) as c:
        yield c


def sent(app: Briefmail, day: int, slug: str | None = None) -> int:
    """Store the brief of July ``day`` on a list and plan its run: it is sent, so published."""
    issue_id = store(app, brief(day), slug)
    app.sending.plan(issue_id)
    return issue_id


class TestListFrontPage:
    async def test_before_any_issue_it_names_the_list_and_asks_for_the_address(
        self, client: httpx.AsyncClient
    ) -> None:
        """No issue yet: the list's name, the form's first step, and a word on what comes."""
        page = (await client.get("/")).text
        assert re.search(r"<h1>Test Brief</h1>", page)
        assert 'name="step" value="address"' in page and 'type="email"' in page
        assert "first issue of Test Brief is on its way" in page

    async def test_the_newest_sent_issue_is_shown_in_full(
        self, app: Briefmail, client: httpx.AsyncClient
    ) -> None:
        """The newest sent issue's stories are on the page, the approved one is not."""
        sent(app, 1)
        newest = sent(app, 2)
        store(app, brief(3))  # approved, not sent: not on the web before it is in inboxes
        page = (await client.get("/lists/brief")).text
        issue = brief(2)
        for story in issue.stories:
            assert story.title in page
        assert f'href="/archive/{newest}"' in page and "Brief of July 3" not in page
        assert re.search(r'<ul class="issues">.*Brief of July 1', page, re.S)

    async def test_tagged_stories_carry_pills_and_untagged_none(
        self, app: Briefmail, client: httpx.AsyncClient
    ) -> None:
        """Each story shows its topics' labels; a story on no topic shows no pill list."""
        sent(app, 1)
        page = (await client.get("/")).text
        stories = page.split('<section class="story">')[1:]
        issue = brief(1)
        for story, html in zip(issue.stories, stories, strict=True):
            tagged = [t for t in story.topics if t != "general"]
            assert ('class="pills"' in html) == bool(tagged), story.title
            for topic in tagged:
                assert f"<li>{app.taxonomy.label(topic)}</li>" in html

    async def test_the_feeds_are_linked(self, app: Briefmail, client: httpx.AsyncClient) -> None:
        """The page links its Atom feed in its head, for feed readers."""
        page = (await client.get("/")).text
        assert re.search(r'<link rel="alternate" type="application/atom\+xml"[^>]*/feed\.xml', page)


class TestPublisherFrontPage:
    async def test_several_lists_are_each_shown(
        self, app: Briefmail, client: httpx.AsyncClient
    ) -> None:
        """With two lists, / lists both with their newest issue; one form chooses among them."""
        weekly_list(app)
        sent(app, 5, "weekly")
        page = (await client.get("/")).text
        assert "Our newsletters" in page
        assert 'href="/lists/weekly"' in page and 'href="/lists/brief"' in page
        assert page.count('name="lists"') == 2
        weekly = (await client.get("/lists/weekly")).text
        assert "<h1>Weekly Test</h1>" in weekly and "Brief of July 5" in weekly

    async def test_an_unknown_list_is_a_styled_404(self, client: httpx.AsyncClient) -> None:
        """/lists/nope: 404, a page that says so and leads to the front page."""
        answer = await client.get("/lists/nope")
        assert answer.status_code == 404 and "No such newsletter" in answer.text
        assert 'href="/"' in answer.text


class TestErrorPages:
    async def test_a_browser_gets_a_page_an_api_client_json(
        self, client: httpx.AsyncClient
    ) -> None:
        """An unknown path: a styled page for a browser, JSON for others and under /api."""
        page = await client.get("/no/such/page", headers=HTML)
        assert page.status_code == 404 and page.headers["content-type"].startswith("text/html")
        assert "Page not found" in page.text and "the front page" in page.text
        plain = await client.get("/no/such/page")
        assert plain.status_code == 404 and plain.json() == {"detail": "Not Found"}
        api = await client.get("/api/v1/no-such", headers=HTML)
        assert api.status_code == 404 and api.headers["content-type"].startswith("application/json")

    async def test_a_malformed_form_is_a_page_for_a_browser(
        self, client: httpx.AsyncClient
    ) -> None:
        """A send hour that is no number: 400 and a page, not FastAPI's JSON, for a browser."""
        answer = await client.post("/subscribe", data={"send_hour": "soon"}, headers=HTML)
        assert answer.status_code == 400 and "not filled in as expected" in answer.text
