"""The public archive: each list's sent issues as published, their web versions and feeds.

Served in-process by the real FastAPI app over httpx's ASGI transport, on a migrated database.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import AsyncIterator
from dataclasses import replace
from html.parser import HTMLParser

import feedparser
import httpx
import pytest
from sqlalchemy import delete, select, update

from briefmail.app import Briefmail
from briefmail.web import create_web
from mailer.content import Issue, Story
from mailer.render import HTML_LIMIT
from scheduler.editions import IssueStatus, StoredIssue, StoredStory, store_issue
from scheduler.ledger import Run
from subscribers.lists import create_list, get_list
from tests.mailer.cases import (
    HOSTILE,
    LONG_LINKS,
    NEWSLETTER,
    hostile_stories,
    ten_story_brief,
    week_digest,
)

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


def brief(day: int, title: str | None = None) -> Issue:
    """The ten-story brief of 2026-07-``day`` (its own issue: the date is in its key)."""
    issue = ten_story_brief()
    return replace(issue, title=title or f"Brief of July {day}", date=dt.date(2026, 7, day))


def weekly_list(app: Briefmail) -> None:
    """A second list, "weekly", beside the default one."""
    with app.sessions() as session:
        create_list(session, "weekly", "Weekly Test", "Weekly <weekly@news.example.org>")
        session.commit()


def status(app: Briefmail, issue_id: int) -> IssueStatus:
    with app.sessions() as session:
        row = session.get(StoredIssue, issue_id)
        assert row is not None
        return IssueStatus(row.status)


def tags(html: str) -> set[str]:
    """The element names in an HTML fragment."""
    found: set[str] = set()

    class Tags(HTMLParser):
        def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
            found.add(tag)

    Tags().feed(html)
    return found


def linked(page: str, href: str, text: str) -> bool:
    """Whether the page has a link to ``href`` reading ``text`` (styles may sit in between)."""
    return re.search(rf'<a href="{re.escape(href)}"[^>]*>{re.escape(text)}</a>', page) is not None


async def pages(client: httpx.AsyncClient, *paths: str) -> list[int]:
    """The status code of each page."""
    return [(await client.get(path)).status_code for path in paths]


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

    async def test_the_footer_is_for_anyone(
        self, app: Briefmail, client: httpx.AsyncClient
    ) -> None:
        """The web version names the list, links to subscribe and its archive, and to no reader."""
        issue_id = store(app, brief(1))
        app.sending.plan(issue_id)
        page = (await client.get(f"/archive/{issue_id}")).text
        lowered = page.lower()
        for personal in ("unsubscribe", "because you subscribed", "stories for you", "slot"):
            assert personal not in lowered
        assert linked(page, f"{BASE_URL}/subscribe", "Subscribe")
        assert linked(page, f"{BASE_URL}/archive", "All issues of Test Brief")
        assert page.count("Why it matters:") == 10


class TestPublished:
    async def test_only_sent_issues_are_shown(
        self, app: Briefmail, client: httpx.AsyncClient
    ) -> None:
        """Drafts, approved and withdrawn issues answer 404 and are in neither index nor feed."""
        sent, approved, draft, withdrawn = (store(app, brief(d)) for d in (1, 2, 3, 4))
        app.sending.plan(sent)
        with app.sessions() as session:
            session.execute(
                update(StoredIssue).where(StoredIssue.id == draft).values(status="draft")
            )
            session.commit()
        app.content.withdraw(withdrawn)
        hidden = (approved, draft, withdrawn)
        for issue_id in hidden:
            assert await pages(
                client, f"/archive/{issue_id}", f"/lists/brief/archive/{issue_id}"
            ) == [404, 404]
        assert await pages(client, f"/archive/{sent}") == [200]
        index = (await client.get("/archive")).text
        feed = feedparser.parse((await client.get("/feed.xml")).text)
        assert "Brief of July 1" in index
        assert [e.title for e in feed.entries] == ["Brief of July 1"]
        for day in (2, 3, 4):
            assert f"Brief of July {day}" not in index

    async def test_a_cancelled_issue_leaves_until_it_is_sent_again(
        self, app: Briefmail, client: httpx.AsyncClient
    ) -> None:
        """Cancelling an issue's only run takes it out; its next send puts it back."""
        issue_id = store(app, brief(1))
        run_id = app.sending.plan(issue_id)
        assert await pages(client, f"/archive/{issue_id}") == [200]
        app.sending.cancel(run_id)
        assert status(app, issue_id) == IssueStatus.APPROVED
        assert await pages(client, f"/archive/{issue_id}") == [404]
        assert "Brief of July 1" not in (await client.get("/archive")).text
        app.sending.plan(issue_id)
        assert await pages(client, f"/archive/{issue_id}", "/lists/brief/archive") == [200, 200]
        assert "Brief of July 1" in (await client.get("/archive")).text

    async def test_an_issue_withdrawn_after_a_cancel_stays_out(
        self, app: Briefmail, client: httpx.AsyncClient
    ) -> None:
        """An issue once sent, cancelled and then withdrawn is not in the archive or its feed."""
        issue_id = store(app, brief(1))
        app.sending.cancel(app.sending.plan(issue_id))
        app.content.withdraw(issue_id)
        assert await pages(client, f"/archive/{issue_id}") == [404]
        assert feedparser.parse((await client.get("/feed.xml")).text).entries == []


class TestPerList:
    async def test_each_list_has_its_own_archive(
        self, app: Briefmail, client: httpx.AsyncClient
    ) -> None:
        """A list's archive lists its own sent issues and links to them under its address."""
        weekly_list(app)
        daily = store(app, brief(1, "Daily one"))
        weekly = store(app, replace(week_digest(app.taxonomy), title="Weekly one"), "weekly")
        for issue_id in (daily, weekly):
            app.sending.plan(issue_id)
        page = (await client.get("/lists/weekly/archive")).text
        assert f'href="{BASE_URL}/lists/weekly/archive/{weekly}"' in page
        assert "Weekly one" in page and "Daily one" not in page
        assert "<title>Weekly Test — past issues</title>" in page
        short = (await client.get("/archive")).text
        assert f'href="{BASE_URL}/archive/{daily}"' in short and "Weekly one" not in short
        issue = (await client.get(f"/lists/weekly/archive/{weekly}")).text
        assert linked(issue, f"{BASE_URL}/lists/weekly/archive", "All issues of Weekly Test")
        assert f'href="{BASE_URL}/lists/weekly/archive/{weekly}#' in issue

    async def test_an_issue_of_another_list_is_not_found(
        self, app: Briefmail, client: httpx.AsyncClient
    ) -> None:
        """Under a list's address another list's issue is 404; /archive/{id} serves either."""
        weekly_list(app)
        daily, weekly = store(app, brief(1)), store(app, brief(1), "weekly")
        for issue_id in (daily, weekly):
            app.sending.plan(issue_id)
        assert await pages(
            client,
            f"/lists/weekly/archive/{daily}",
            f"/lists/brief/archive/{weekly}",
            f"/lists/brief/archive/{daily}",
            f"/archive/{weekly}",
        ) == [404, 404, 200, 200]
        # The e-mails of every list link to /archive/{id}; its footer leads to the issue's list.
        page = (await client.get(f"/archive/{weekly}")).text
        assert linked(page, f"{BASE_URL}/lists/weekly/archive", "All issues of Weekly Test")
        canonical = f'<link rel="canonical" href="{BASE_URL}/lists/weekly/archive/{weekly}">'
        assert canonical in page
        assert canonical in (await client.get(f"/lists/weekly/archive/{weekly}")).text
        short = f'<link rel="canonical" href="{BASE_URL}/archive/{daily}">'
        assert short in (await client.get(f"/lists/brief/archive/{daily}")).text

    async def test_unknown_lists_and_ids_are_not_found(
        self, app: Briefmail, client: httpx.AsyncClient
    ) -> None:
        """An unknown slug, a non-numeric or huge id answers a 404 page, never a 500 or 422."""
        issue_id = store(app, brief(1))
        app.sending.plan(issue_id)
        codes = await pages(
            client,
            "/lists/nope/archive",
            f"/lists/nope/archive/{issue_id}",
            "/lists/nope/feed.xml",
            "/archive/abc",
            "/archive/99999999999999999999999",
            "/archive/2147483648",
            "/archive/" + "9" * 5000,
            "/archive/²",
            "/lists/brief/archive/-1",
        )
        assert codes == [404] * 9
        page = await client.get("/lists/%3Cscript%3E/archive")
        assert page.status_code == 404 and "<script>" not in page.text

    async def test_the_index_links_every_feed_and_keeps_dates_whole(
        self, app: Briefmail, client: httpx.AsyncClient
    ) -> None:
        """The index names its own feed first, then the other lists'; dates do not wrap."""
        weekly_list(app)
        app.sending.plan(store(app, brief(1)))
        page = (await client.get("/lists/weekly/archive")).text
        feeds = re.findall(r'<link rel="alternate" type="application/atom\+xml"[^>]*>', page)
        assert f'href="{BASE_URL}/lists/weekly/feed.xml"' in feeds[0]
        assert any(f'href="{BASE_URL}/lists/brief/feed.xml"' in f for f in feeds[1:])
        assert ".date, time, .nowrap { white-space: nowrap; }" in page
        short = (await client.get("/archive")).text
        assert re.search(r'<time class="date" datetime="2026-07-01">Wednesday, 1 July', short)
        assert re.search(rf'<link [^>]*title="Test Brief" href="{BASE_URL}/feed.xml">', short)


class TestFeed:
    async def test_entries_carry_every_story(
        self, app: Briefmail, client: httpx.AsyncClient
    ) -> None:
        """Each entry's HTML content has every story's title, source, summary, why and link."""
        issue = brief(1)
        issue_id = store(app, issue)
        app.sending.plan(issue_id)
        feed = feedparser.parse((await client.get("/feed.xml")).text)
        assert not feed.bozo, feed.bozo_exception
        (entry,) = feed.entries
        content = entry.content[0]
        assert content.type == "text/html"
        for story in issue.stories:
            assert story.title in content.value
            assert story.summary.split(". ")[0] in content.value
            if story.url:
                assert f'href="{story.url}"' in content.value
        assert content.value.count("Why it matters:") == 10
        assert content.value.count("Example Wire") >= 10
        assert entry.link == f"{BASE_URL}/archive/{issue_id}"

    async def test_entries_are_dated_when_sent(
        self, app: Briefmail, client: httpx.AsyncClient
    ) -> None:
        """An entry's published and updated time is its run's start, not the issue's date."""
        issue_id = store(app, brief(1))
        run_id = app.sending.plan(issue_id)
        with app.sessions() as session:
            started = session.scalar(select(Run.created_at).where(Run.id == run_id))
        assert started is not None
        (entry,) = feedparser.parse((await client.get("/feed.xml")).text).entries
        published = dt.datetime(*entry.published_parsed[:6])
        assert published == started.replace(tzinfo=None, microsecond=0)
        assert entry.updated_parsed == entry.published_parsed

    async def test_each_list_has_its_own_feed(
        self, app: Briefmail, client: httpx.AsyncClient
    ) -> None:
        """A list's feed has its own id, links and entries; the short one is the default list's."""
        weekly_list(app)
        daily, weekly = (
            store(app, brief(1, "Daily one")),
            store(app, brief(2, "Weekly one"), "weekly"),
        )
        for issue_id in (daily, weekly):
            app.sending.plan(issue_id)
        short = feedparser.parse((await client.get("/feed.xml")).text)
        other = feedparser.parse((await client.get("/lists/weekly/feed.xml")).text)
        same = feedparser.parse((await client.get("/lists/brief/feed.xml")).text)
        assert [e.title for e in short.entries] == ["Daily one"]
        assert [e.title for e in other.entries] == ["Weekly one"]
        assert (short.feed.id, other.feed.id) == (
            f"{BASE_URL}/archive",
            f"{BASE_URL}/lists/weekly/archive",
        )
        assert same.feed.id == short.feed.id
        assert other.feed.title == "Weekly Test"
        assert other.entries[0].link == f"{BASE_URL}/lists/weekly/archive/{weekly}"
        assert same.entries[0].link == f"{BASE_URL}/lists/brief/archive/{daily}"
        links = {link.rel: link.href for link in other.feed.links}
        assert links == {
            "alternate": f"{BASE_URL}/lists/weekly/archive",
            "self": f"{BASE_URL}/lists/weekly/feed.xml",
        }

    async def test_markup_in_stories_stays_text(
        self, app: Briefmail, client: httpx.AsyncClient
    ) -> None:
        """Injected markup reaches the feed escaped: readers see it as text, never as a tag."""
        issue_id = store(app, replace(brief(1), stories=hostile_stories()))
        app.sending.plan(issue_id)
        body = (await client.get("/feed.xml")).text
        assert "<script>" not in body and "&lt;script&gt;" in body
        content = feedparser.parse(body).entries[0].content[0].value
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in content
        assert tags(content) <= {"h2", "p", "small", "div", "strong", "a"}


class TestOddData:
    async def test_an_issue_with_no_stories_left(
        self, app: Briefmail, client: httpx.AsyncClient
    ) -> None:
        """A sent issue whose stories were all removed still has its page and feed entry."""
        issue_id = store(app, brief(1))
        app.sending.plan(issue_id)
        with app.sessions() as session:
            session.execute(delete(StoredStory).where(StoredStory.issue_id == issue_id))
            session.commit()
        page = await client.get(f"/archive/{issue_id}")
        assert page.status_code == 200 and "Brief of July 1" in page.text
        feed = feedparser.parse((await client.get("/feed.xml")).text)
        assert "no stories" in feed.entries[0].content[0].value
        assert await pages(client, "/archive", "/lists/brief/archive") == [200, 200]

    async def test_a_stored_value_the_renderer_refuses(
        self, app: Briefmail, client: httpx.AsyncClient
    ) -> None:
        """An issue whose stored format is no longer known is shown as a plain page of stories."""
        issue_id = store(app, brief(1))
        app.sending.plan(issue_id)
        with app.sessions() as session:
            session.execute(
                update(StoredIssue).where(StoredIssue.id == issue_id).values(format="zine")
            )
            session.commit()
        page = await client.get(f"/archive/{issue_id}")
        assert page.status_code == 200
        assert page.text.count("Why it matters:") == 10
        assert linked(page.text, f"{BASE_URL}/subscribe", "Subscribe")
        assert await pages(client, "/feed.xml") == [200]

    async def test_control_characters_and_markup_in_titles(
        self, app: Briefmail, client: httpx.AsyncClient
    ) -> None:
        """A title with markup or characters XML cannot carry is escaped, and the feed parses."""
        odd = Story(1, "Bell\x07 and " + HOSTILE, "Form\x0cfeed summary.", topics=("chips",))
        issue_id = store(app, replace(brief(1, "Title " + HOSTILE), stories=(odd,)))
        app.sending.plan(issue_id)
        index = (await client.get("/archive")).text
        page = (await client.get(f"/archive/{issue_id}")).text
        for html in (index, page):
            assert "<script>" not in html and "&lt;script&gt;" in html
        assert re.search(r"<title>\s*Title &lt;script&gt;alert\(1\)&lt;/script&gt;&quot;", page)
        response = await client.get("/feed.xml")
        feed = feedparser.parse(response.text)
        assert response.status_code == 200 and not feed.bozo, feed.get("bozo_exception")
        assert "Bell and" in feed.entries[0].content[0].value

    async def test_a_list_name_with_markup(self, app: Briefmail, client: httpx.AsyncClient) -> None:
        """A list's name is text in the archive's title, heading, footer links and feed."""
        with app.sessions() as session:
            create_list(session, "odd", "Odd " + HOSTILE, "Odd <odd@news.example.org>")
            session.commit()
        issue_id = store(app, brief(1), "odd")
        app.sending.plan(issue_id)
        index = (await client.get("/lists/odd/archive")).text
        page = (await client.get(f"/lists/odd/archive/{issue_id}")).text
        for html in (index, page):
            assert tags(html).isdisjoint({"script", "img"}) and "&lt;script&gt;" in html
        assert "<title>Odd &lt;script&gt;alert(1)&lt;/script&gt;&#34;&gt;" in index
        feed = feedparser.parse((await client.get("/lists/odd/feed.xml")).text)
        assert not feed.bozo and feed.feed.title == "Odd " + HOSTILE
