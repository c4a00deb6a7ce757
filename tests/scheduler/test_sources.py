"""Sources: each entry or file is ingested once; a change updates a draft, never a sent issue.

A real HTTP server on loopback (pytest-httpserver) plays the publisher; the sink is the
application's own ingest (`briefmail.services.sources`), on SQLite and PostgreSQL.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import html
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import time_machine
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from briefmail.app import Briefmail
from briefmail.settings import SourceSettings
from scheduler.editions import IssueStatus, StoredIssue, change_status, history
from scheduler.revisions import Edits
from scheduler.sources import SourceEntry, SourceState, due
from tests.conftest import FIXTURES

NOTES = [
    (
        "Memory prices rise for a fourth quarter",
        "Three memory makers told customers this week that contract prices for server DRAM "
        "will rise again next quarter, the fourth increase in a row.",
    ),
    (
        "Why prices keep climbing",
        "Demand from data centres building out inference capacity has outrun new fabrication "
        "lines, which take two years to bring online. Buyers who signed annual contracts last "
        "spring are now paying well above what they budgeted for.",
    ),
    (
        "Who feels it first",
        "Smaller cloud providers without long-term supply deals are the most exposed. Several "
        "said they would pass the cost on to customers renting graphics servers by the hour.",
    ),
]


def article(title: str, extra: str = "") -> str:
    """An entry's full HTML body: an article of three sections, in our own words."""
    parts = [f"<p>{html.escape(NOTES[0][1])} {html.escape(title)}.</p>"]
    parts += [f"<h2>{html.escape(h)}</h2><p>{html.escape(p)}</p>" for h, p in NOTES[1:]]
    if extra:
        parts.append(f"<p>{html.escape(extra)}</p>")
    return "".join(parts)


@dataclass
class Item:
    """One entry the test publisher serves."""

    guid: str
    title: str
    day: dt.date
    body: str | None = None
    link: str | None = None
    summary: str = "A short teaser."


@dataclass
class Publisher:
    """A feed served by a real HTTP server, honouring If-None-Match like a real one."""

    server: HTTPServer
    items: list[Item] = field(default_factory=list)
    status: int = 200
    broken: bytes | None = None
    requests: list[Request] = field(default_factory=list)

    @property
    def url(self) -> str:
        """The feed's address."""
        return self.server.url_for("/feed.xml")

    def rss(self) -> bytes:
        """The feed document, newest entry first."""
        items = []
        for item in sorted(self.items, key=lambda i: i.day, reverse=True):
            content = (
                f"<content:encoded><![CDATA[{item.body}]]></content:encoded>" if item.body else ""
            )
            link = item.link or f"https://publisher.example.com/{item.guid}"
            items.append(
                f"<item><title>{html.escape(item.title)}</title><link>{link}</link>"
                f'<guid isPermaLink="false">{item.guid}</guid>'
                f"<pubDate>{item.day:%a, %d %b %Y} 07:00:00 GMT</pubDate>"
                f"<description>{html.escape(item.summary)}</description>{content}</item>"
            )
        return (
            '<?xml version="1.0"?><rss version="2.0" '
            'xmlns:content="http://purl.org/rss/1.0/modules/content/"><channel>'
            "<title>Publisher</title><link>https://publisher.example.com/</link>"
            f"<description>notes</description>{''.join(items)}</channel></rss>"
        ).encode()

    def handle(self, request: Request) -> Response:
        """Answer the feed: 304 when the client has this version, else the feed (or a fault)."""
        self.requests.append(request)
        if self.status != 200:
            return Response("fault", status=self.status)
        body = self.broken if self.broken is not None else self.rss()
        etag = '"' + hashlib.sha256(body).hexdigest()[:16] + '"'
        if request.headers.get("If-None-Match") == etag:
            return Response(status=304)
        return Response(body, headers={"ETag": etag}, content_type="application/rss+xml")


@pytest.fixture
def publisher(httpserver: HTTPServer) -> Publisher:
    """A feed with nothing in it yet, served on loopback."""
    feed = Publisher(httpserver)
    httpserver.expect_request("/feed.xml").respond_with_handler(feed.handle)
    return feed


Sourced = Callable[..., Briefmail]


@pytest.fixture
def sourced(app: Briefmail) -> Iterator[Sourced]:
    """The test app with one [[sources]] table (keyword arguments as in briefmail.toml)."""
    opened: list[Briefmail] = []

    def make(**source: object) -> Briefmail:
        settings = app.settings.model_copy(
            update={"sources": [SourceSettings.model_validate({"list": "brief", **source})]}
        )
        configured = Briefmail(settings)
        opened.append(configured)
        return configured

    yield make
    for configured in opened:
        configured.close()


def issue_row(app: Briefmail, issue_id: int) -> StoredIssue:
    """The stored issue with this id, stories loaded."""
    with app.sessions() as session:
        row = session.get(StoredIssue, issue_id)
        assert row is not None
        _ = row.stories
        return row


class TestFeeds:
    """A feed's entries become issues once each."""

    def test_a_new_entry_is_ingested_once_as_a_draft(
        self, publisher: Publisher, sourced: Sourced
    ) -> None:
        """The first poll stores the entry as a draft; the next one passes it over."""
        publisher.items.append(Item("n-1", "Memory note", dt.date(2026, 7, 3), article("one")))
        app = sourced(url=publisher.url, name="notes")
        (first,) = app.sources.poll()
        assert first.status == "ok"
        (entry,) = first.entries
        assert entry.action == "stored" and entry.issue_id is not None
        row = issue_row(app, entry.issue_id)
        assert row.status == IssueStatus.DRAFT
        assert row.date == dt.date(2026, 7, 3)
        assert row.title == "Memory note"
        (again,) = app.sources.poll()
        assert again.status == "not modified" and again.entries == []
        assert publisher.requests[-1].headers["If-None-Match"]

    def test_a_feed_that_gains_an_entry_ingests_only_the_new_one(
        self, publisher: Publisher, sourced: Sourced
    ) -> None:
        """Entries seen before are counted as seen; only the new one is stored."""
        publisher.items.append(Item("n-1", "Memory note", dt.date(2026, 7, 3), article("one")))
        app = sourced(url=publisher.url)
        app.sources.poll()
        publisher.items.append(Item("n-2", "Foundry note", dt.date(2026, 7, 4), article("two")))
        (report,) = app.sources.poll()
        assert report.seen == 1
        assert [(e.key, e.action) for e in report.entries] == [("n-2", "stored")]
        assert len(app.content.issues()) == 2

    def test_an_auto_source_approves_and_its_history_names_it(
        self, publisher: Publisher, sourced: Sourced
    ) -> None:
        """approve = "auto" stores the issue approved, recorded as the source's doing."""
        publisher.items.append(Item("n-1", "Memory note", dt.date(2026, 7, 3), article("one")))
        app = sourced(url=publisher.url, name="wire", approve="auto")
        (report,) = app.sources.poll()
        issue_id = report.entries[0].issue_id
        assert issue_id is not None
        assert issue_row(app, issue_id).status == IssueStatus.APPROVED
        with app.sessions() as session:
            actors = {change.actor for change in history(session, issue_id)}
        assert actors == {"source:wire"}

    def test_a_teaser_entry_is_read_from_its_page_with_real_links(
        self, publisher: Publisher, sourced: Sourced, httpserver: HTTPServer
    ) -> None:
        """An entry with only a summary is ingested from the page it links to."""
        page = (FIXTURES / "html" / "brief.html").read_bytes()
        httpserver.expect_request("/posts/brief").respond_with_data(page, content_type="text/html")
        link = httpserver.url_for("/posts/brief")
        publisher.items.append(Item("b-1", "The brief", dt.date(2026, 7, 1), link=link))
        app = sourced(url=publisher.url)
        (report,) = app.sources.poll()
        (entry,) = report.entries
        assert entry.action == "stored", entry.reason
        assert entry.issue_id is not None
        row = issue_row(app, entry.issue_id)
        assert row.format == "brief"
        assert any(story.url and story.url.startswith("http") for story in row.stories)

    def test_a_changed_entry_updates_its_draft_in_place(
        self, publisher: Publisher, sourced: Sourced
    ) -> None:
        """A corrected entry (even its title) updates the issue it made; no second issue."""
        item = Item("n-1", "Memory note", dt.date(2026, 7, 3), article("one"))
        publisher.items.append(item)
        app = sourced(url=publisher.url)
        (first,) = app.sources.poll()
        item.title, item.body = "Memory note, corrected", article("one", "A correction follows.")
        (second,) = app.sources.poll()
        assert [(e.action, e.issue_id) for e in second.entries] == [
            ("updated", first.entries[0].issue_id)
        ]
        assert len(app.content.issues()) == 1
        assert issue_row(app, first.entries[0].issue_id or 0).title == "Memory note, corrected"

    def test_a_changed_entry_never_changes_a_sent_issue(
        self, publisher: Publisher, sourced: Sourced
    ) -> None:
        """Once the issue is sent, a changed entry is skipped with the reason, and logged."""
        item = Item("n-1", "Memory note", dt.date(2026, 7, 3), article("one"))
        publisher.items.append(item)
        app = sourced(url=publisher.url, approve="auto")
        (first,) = app.sources.poll()
        issue_id = first.entries[0].issue_id
        assert issue_id is not None
        with app.sessions() as session:
            row = session.get(StoredIssue, issue_id)
            assert row is not None
            change_status(session, row, IssueStatus.SENT, "test")
            session.commit()
        item.body = article("one", "An update after sending.")
        (second,) = app.sources.poll()
        (entry,) = second.entries
        assert entry.action == "skipped"
        assert entry.reason == f"issue {issue_id} was sent; a sent issue is never changed"
        assert "An update after sending" not in str(issue_row(app, issue_id).stories[-1].summary)

    def test_an_editors_edits_are_not_overwritten_by_a_changed_entry(
        self, publisher: Publisher, sourced: Sourced
    ) -> None:
        """Once an editor edited the draft, the entry's change is skipped, naming the editor."""
        item = Item("n-1", "Memory note", dt.date(2026, 7, 3), article("one"))
        publisher.items.append(item)
        app = sourced(url=publisher.url)
        (first,) = app.sources.poll()
        issue_id = first.entries[0].issue_id or 0
        app.revisions.edit(issue_id, Edits(title="Memory prices: a fourth rise"))
        item.body = article("one", "The publisher's own fix.")
        (second,) = app.sources.poll()
        (entry,) = second.entries
        assert entry.action == "skipped"
        assert entry.reason is not None and entry.reason.startswith(
            f"issue {issue_id} was edited by {app.actor}"
        )
        assert issue_row(app, issue_id).title == "Memory prices: a fourth rise"

    def test_a_withdrawn_issue_is_not_brought_back_by_its_entry(
        self, publisher: Publisher, sourced: Sourced
    ) -> None:
        """An auto source's changed entry leaves an editor's withdrawal alone."""
        item = Item("n-1", "Memory note", dt.date(2026, 7, 3), article("one"))
        publisher.items.append(item)
        app = sourced(url=publisher.url, approve="auto")
        (first,) = app.sources.poll()
        issue_id = first.entries[0].issue_id or 0
        app.content.withdraw(issue_id)
        item.body = article("one", "A later change.")
        (second,) = app.sources.poll()
        assert second.entries[0].action == "skipped"
        assert issue_row(app, issue_id).status == IssueStatus.WITHDRAWN


class TestEntryFaults:
    """One bad entry fails alone; what is no issue is remembered, what failed is retried."""

    def test_a_page_that_is_no_issue_is_skipped_once_with_the_reason(
        self, publisher: Publisher, sourced: Sourced, httpserver: HTTPServer
    ) -> None:
        """A refused page is skipped and not fetched again while the entry is unchanged."""
        csv = b"id,name,price\n1,wafer,10\n2,die,4\n3,reel,7\n"
        httpserver.expect_request("/prices.csv").respond_with_data(csv, content_type="text/csv")
        publisher.items.append(
            Item("p-1", "Price list", dt.date(2026, 7, 3), link=httpserver.url_for("/prices.csv"))
        )
        publisher.items.append(Item("n-1", "Memory note", dt.date(2026, 7, 4), article("one")))
        app = sourced(url=publisher.url)
        (report,) = app.sources.poll()
        actions = {e.key: e.action for e in report.entries}
        assert actions == {"p-1": "skipped", "n-1": "stored"}
        skipped = next(e for e in report.entries if e.key == "p-1")
        assert skipped.reason and "not" in skipped.reason
        publisher.items.append(Item("n-2", "Foundry note", dt.date(2026, 7, 5), article("two")))
        (later,) = app.sources.poll()
        assert [e.key for e in later.entries] == ["n-2"]

    def test_an_unreachable_page_is_tried_again_next_poll(
        self, publisher: Publisher, sourced: Sourced, httpserver: HTTPServer
    ) -> None:
        """A 500 from the entry's page fails that entry; the next poll is not a 304 and retries."""
        pages = {"status": 500}
        body = (FIXTURES / "html" / "article.html").read_bytes()
        httpserver.expect_request("/posts/a").respond_with_handler(
            lambda request: Response(body if pages["status"] == 200 else b"down", pages["status"])
        )
        publisher.items.append(
            Item("a-1", "Edge note", dt.date(2026, 7, 9), link=httpserver.url_for("/posts/a"))
        )
        app = sourced(url=publisher.url)
        (first,) = app.sources.poll()
        assert first.entries[0].action == "failed"
        assert "500" in (first.entries[0].reason or "")
        pages["status"] = 200
        (second,) = app.sources.poll()
        assert second.status == "ok"
        assert second.entries[0].action == "stored"


class TestSourceFaults:
    """A source that cannot be read says why, and the next poll tries again."""

    @pytest.mark.parametrize(
        ("fault", "reason"),
        [
            ({"status": 500}, "the server answered 500"),
            ({"broken": b"<html><body>Sign in to continue</body></html>"}, "not a feed"),
            (
                {"broken": b"<?xml version='1.0'?><rss version='2.0'><channel><item><title>"},
                "not a feed",
            ),
        ],
    )
    def test_a_failing_feed_is_recorded_on_the_source(
        self, publisher: Publisher, sourced: Sourced, fault: dict[str, object], reason: str
    ) -> None:
        """A 500 or a malformed feed: status error, the reason kept on the source, no issue."""
        for name, value in fault.items():
            setattr(publisher, name, value)
        app = sourced(url=publisher.url, name="notes")
        (report,) = app.sources.poll()
        assert report.status == "error"
        assert reason in (report.error or "")
        (info,) = app.sources.listing()
        assert info.error == report.error
        assert app.content.issues() == []
        publisher.status, publisher.broken = 200, None
        publisher.items.append(Item("n-1", "Memory note", dt.date(2026, 7, 3), article("one")))
        (healed,) = app.sources.poll()
        assert healed.status == "ok" and healed.entries[0].action == "stored"
        assert app.sources.listing()[0].error is None

    def test_a_feed_that_never_answers_times_out(self, sourced: Sourced) -> None:
        """A silent server is an error naming the timeout, within the source's timeout."""
        import socket

        with socket.socket() as silent:
            silent.bind(("127.0.0.1", 0))
            silent.listen(1)
            url = f"http://127.0.0.1:{silent.getsockname()[1]}/feed.xml"
            app = sourced(url=url, timeout_seconds=0.5)
            (report,) = app.sources.poll()
        assert report.status == "error"
        assert report.error == f"{url}: no answer within 0.5 s"

    def test_a_source_of_a_missing_list_is_an_error_not_a_crash(
        self, publisher: Publisher, sourced: Sourced
    ) -> None:
        """A source whose list does not exist reports it and polls nothing."""
        app = sourced(url=publisher.url, list="nope")
        (report,) = app.sources.poll()
        assert report.status == "error" and "nope" in (report.error or "")
        assert publisher.requests == []


class TestFolders:
    """A folder source ingests each settled file once, and a changed file again."""

    def test_files_are_ingested_once_and_changes_update_them(
        self, sourced: Sourced, tmp_path: Path
    ) -> None:
        """New files are stored, unchanged ones seen, a changed one updates its issue."""
        inbox = tmp_path / "inbox"
        inbox.mkdir()
        brief = inbox / "brief.txt"
        brief.write_bytes((FIXTURES / "brief-mixed.txt").read_bytes())
        (inbox / ".brief.txt.swp").write_bytes(b"editor state")
        (inbox / "notes.docx").write_bytes(b"PK\x03\x04")
        settled = time.time() - 60
        os.utime(brief, (settled, settled))
        app = sourced(folder=str(inbox))
        (first,) = app.sources.poll()
        assert [(e.key, e.action) for e in first.entries] == [("brief.txt", "stored")]
        (second,) = app.sources.poll()
        assert second.seen == 1 and second.entries == []
        text = brief.read_text(encoding="utf-8")
        brief.write_text(text.replace("Summary:", "Summary: Updated.", 1), encoding="utf-8")
        os.utime(brief, (settled + 1, settled + 1))
        (third,) = app.sources.poll()
        assert [(e.action, e.issue_id) for e in third.entries] == [
            ("updated", first.entries[0].issue_id)
        ]

    def test_a_file_still_being_written_waits_for_the_next_poll(
        self, sourced: Sourced, tmp_path: Path
    ) -> None:
        """A file modified in the last seconds is left for later, not read half-copied."""
        inbox = tmp_path / "inbox"
        inbox.mkdir()
        (inbox / "brief.txt").write_bytes((FIXTURES / "brief-mixed.txt").read_bytes())
        app = sourced(folder=str(inbox))
        (report,) = app.sources.poll()
        assert report.entries == [] and report.seen == 0

    def test_a_missing_folder_is_an_error(self, sourced: Sourced, tmp_path: Path) -> None:
        """A folder that is not there is the source's error, named."""
        app = sourced(folder=str(tmp_path / "gone"))
        (report,) = app.sources.poll()
        assert report.status == "error"
        assert report.error == f"{tmp_path / 'gone'}: no such folder"


class TestDue:
    """The scheduler's job polls each source only when its poll_minutes have passed."""

    def test_a_source_is_due_again_after_its_minutes(
        self, publisher: Publisher, sourced: Sourced
    ) -> None:
        """Polled now, it is not due for poll_minutes, then it is."""
        app = sourced(url=publisher.url, poll_minutes=10)
        start = dt.datetime(2026, 7, 3, 8, 0, tzinfo=dt.UTC)
        with time_machine.travel(start, tick=False) as clock:
            assert len(app.sources.poll(due_only=True)) == 1
            clock.move_to(start + dt.timedelta(minutes=5))
            assert app.sources.poll(due_only=True) == []
            clock.move_to(start + dt.timedelta(minutes=10))
            assert len(app.sources.poll(due_only=True)) == 1
        spec = app.sources.specs()[0]
        with app.sessions() as session:
            state = session.query(SourceState).one()
            assert not due(state, spec, start + dt.timedelta(minutes=12))
            assert session.query(SourceEntry).count() == 0
