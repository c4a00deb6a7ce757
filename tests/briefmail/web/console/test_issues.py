"""The console's issue pages through httpx against the served app, with signed-in operators.

The list by stage, a new issue pasted or uploaded (checked, stored, or refused naming the line,
nothing stored), the issue page with its stories, topics and evidence, every edit with and
without htmx, previews of each variant, the dry-run audience, a test copy caught by the SMTP
sink, approve, schedule, send now reaching the run's page, and what each role may not do.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import pytest

from briefmail.accounts.models import Role
from mailer.testing import SmtpSink
from tests.briefmail.web.console.conftest import Console, csrf_of, served
from tests.conftest import subscribe_readers

#: A daily brief of three stories, written for these tests (chips, models, funding).
BRIEF = """Console Brief — 2026-07-01

Posted on July 1, 2026 at 07:00 AM

Top Stories

1. Foundry Ships Its First Batch of Inference Accelerator Chips

  • Fab Ledger · 2026-07-01
  • Summary: A foundry delivered its first wafers of a semiconductor built for inference.
  • Why It Matters: More accelerator supply shortens the queue for hardware.
  • URL: https://example.com/foundry-batch

2. Lab Publishes Open Weights of a Language Model for Contracts

  • Model Notes · 2026-07-01
  • Summary: Researchers released the weights of a large language model that reads contracts.
  • Why It Matters: Open models let small firms build without paying per token.
  • URL: https://example.com/open-weights

3. Robot Start-up Raises a Series A Round From Two Funds

  • Capital Desk · 2026-07-01
  • Summary: A start-up closed a Series A round led by two venture capital funds.
  • Why It Matters: Investors still back young firms despite slow sales.
  • URL: https://example.com/series-a
"""
#: Configuration text, not an issue: the ingester refuses it.
NOT_AN_ISSUE = "[server]\nhost = 0.0.0.0\nport = 8080\nworkers = 4\n\n[log]\nlevel = info\n"


@pytest.fixture
def site(database_url: str, smtp_sink: SmtpSink) -> Iterator[Console]:
    """The served console (see the `console` fixture)."""
    with served(database_url, smtp_sink) as console:
        yield console


@contextmanager
def signed_in(site: Console, role: Role) -> Iterator[httpx.Client]:
    """An httpx client signed in as the site's operator of this role."""
    with site.client() as client:
        site.login(client, role)
        yield client


def stored(site: Console, *, approve: bool = False) -> int:
    """The test brief stored on the default list through the library; its id."""
    result = site.app.content.ingest_text(BRIEF, approve=approve)
    assert result.issue_id is not None
    return result.issue_id


def post(client: httpx.Client, path: str, data: dict[str, Any], **kwargs: Any) -> httpx.Response:
    """POST a form from the page at ``path``'s issue with the session's CSRF token."""
    page = client.get(kwargs.pop("page", "/admin/issues"))
    assert page.status_code == 200, page.text[:300]
    return client.post(path, data={"csrf": csrf_of(page.text), **data}, **kwargs)


def flash_of(client: httpx.Client, answer: httpx.Response) -> str:
    """Follow a 303 and return the page's flash message."""
    assert answer.status_code == 303, answer.text[:500]
    page = client.get(answer.headers["location"])
    found = re.search(r'class="flash flash-\w+"[^>]*>(.*?)</div>', page.text, re.S)
    assert found is not None, page.text[:500]
    return found.group(1)


class TestList:
    def test_issues_are_listed_per_list_and_filtered_by_stage(self, site: Console) -> None:
        """A draft and a scheduled issue are listed with their stage; ?stage= keeps one."""
        draft = stored(site)
        second = site.app.content.ingest_text(
            BRIEF.replace("2026-07-01", "2026-07-02"), approve=True
        ).issue_id
        assert second is not None
        soon = time.strftime("%Y-%m-%d", time.gmtime(time.time() + 3 * 86400))
        site.app.revisions.schedule(second, f"{soon} 07:00", "UTC")
        with signed_in(site, Role.VIEWER) as client:
            every = client.get("/admin/issues")
            assert every.status_code == 200
            assert f'href="/admin/issues/{draft}"' in every.text
            assert f'href="/admin/issues/{second}"' in every.text
            assert ">scheduled</span>" in every.text and ">draft</span>" in every.text
            drafts = client.get("/admin/issues", params={"stage": "draft", "list": "brief"})
            assert f"/admin/issues/{draft}" in drafts.text
            assert f"/admin/issues/{second}" not in drafts.text
            bad = client.get("/admin/issues", params={"stage": "late"})
            assert bad.status_code == 400 and "stage: one of draft" in bad.text
            assert client.get("/admin/issues", params={"list": "nope"}).status_code == 404


class TestNewIssue:
    def test_check_shows_the_detection_and_stores_nothing(self, site: Console) -> None:
        """Check parses and tags pasted text, shows the format's reason, and stores nothing."""
        with signed_in(site, Role.EDITOR) as client:
            answer = post(
                client,
                "/admin/issues/new",
                {"text": BRIEF, "list": "brief", "format": "auto", "action": "check"},
                page="/admin/issues/new",
            )
        assert answer.status_code == 200
        assert "Checked — nothing stored" in answer.text
        assert "Read as <strong>brief</strong>" in answer.text
        assert "Foundry Ships Its First Batch" in answer.text
        assert site.app.content.issues() == []

    def test_pasted_text_is_stored_as_a_draft_with_the_reason(self, site: Console) -> None:
        """Storing pasted text makes a draft, says how it was read, and is audited."""
        with signed_in(site, Role.EDITOR) as client:
            answer = post(
                client,
                "/admin/issues/new",
                {"text": BRIEF, "list": "brief", "format": "auto", "action": "store"},
                page="/admin/issues/new",
            )
            [line] = site.app.content.issues()
            assert answer.headers["location"] == f"/admin/issues/{line.id}"
            flash = flash_of(client, answer)
        assert f"Issue {line.id} stored as a draft: read as brief (" in flash
        assert line.status == "draft" and line.stories == 3
        [entry] = site.app.audit.entries(action="issue.ingest")
        assert entry.actor == "console:editor@example.org"
        assert entry.target == f"issue:{line.id}" and entry.after is not None
        assert entry.after["format"] == "brief"

    def test_an_uploaded_file_is_stored_under_its_name(self, site: Console) -> None:
        """A multipart upload is read like a file of that name and stored."""
        with signed_in(site, Role.EDITOR) as client:
            page = client.get("/admin/issues/new")
            answer = client.post(
                "/admin/issues/new",
                data={"csrf": csrf_of(page.text), "list": "brief", "action": "store"},
                files={"file": ("console-brief.txt", BRIEF.encode(), "text/plain")},
            )
        assert answer.status_code == 303, answer.text[:500]
        [line] = site.app.content.issues()
        assert line.title == "Console Brief — 2026-07-01"
        [entry] = site.app.audit.entries(action="issue.ingest")
        assert entry.after is not None and entry.after["source"] == "console-brief.txt"

    def test_a_refused_text_names_the_line_and_stores_nothing(self, site: Console) -> None:
        """Text that is no issue is refused with the ingester's file:line reason; nothing stored."""
        with signed_in(site, Role.EDITOR) as client:
            answer = post(
                client,
                "/admin/issues/new",
                {"text": NOT_AN_ISSUE, "list": "brief", "action": "store"},
                page="/admin/issues/new",
            )
            empty = post(client, "/admin/issues/new", {"text": "  ", "list": "brief"})
        assert answer.status_code == 400
        assert re.search(r"Not stored:</strong> pasted\.txt:\d+: ", answer.text), answer.text
        assert "host = 0.0.0.0" in answer.text  # the text is kept in the form to fix it
        assert empty.status_code == 400 and "file or text: upload a file or paste" in empty.text
        assert site.app.content.issues() == []

    def test_an_unknown_list_is_refused_by_name(self, site: Console) -> None:
        """A list that does not exist is named in the refusal; nothing stored."""
        with signed_in(site, Role.EDITOR) as client:
            answer = post(client, "/admin/issues/new", {"text": BRIEF, "list": "nope"})
        assert answer.status_code == 400 and "nope" in answer.text
        assert site.app.content.issues() == []


class TestIssuePage:
    def test_each_story_shows_its_topics_and_evidence(self, site: Console) -> None:
        """Title, source and date, summary, why it matters, link, topics and matched words."""
        issue_id = stored(site)
        explained = site.app.content.explain(issue_id)
        with signed_in(site, Role.VIEWER) as client:
            page = client.get(f"/admin/issues/{issue_id}")
        assert page.status_code == 200
        text = page.text
        assert "Fab Ledger · 2026-07-01" in text
        assert "More accelerator supply shortens the queue" in text
        assert 'href="https://example.com/foundry-batch"' in text
        for story in explained:
            for item in story.evidence:
                assert item.describe().replace("'", "&#39;") in text
        assert ">chips</span>" in text
        assert "Set by an editor" not in text  # stored topics are what tagging found
        # A viewer reads: no edit forms, no actions.
        assert "/stories/1/topics" not in text and "/approve" not in text

    def test_an_unknown_issue_is_a_404_page(self, site: Console) -> None:
        """An id no list has is a styled 404."""
        with signed_in(site, Role.VIEWER) as client:
            answer = client.get("/admin/issues/999")
        assert answer.status_code == 404 and "no issue with id 999" in answer.text


class TestEdits:
    def test_heading_edit_without_js_redirects_and_is_recorded(self, site: Console) -> None:
        """Title and subject saved by a plain form; history and audit name the editor."""
        issue_id = stored(site)
        with signed_in(site, Role.EDITOR) as client:
            answer = post(
                client,
                f"/admin/issues/{issue_id}/heading",
                {"title": "Corrected Brief", "subject": "Today: chips", "preheader": ""},
            )
            assert flash_of(client, answer) == "title changed; subject changed"
        view = site.app.content.issue(issue_id)
        assert (view.issue.title, view.issue.subject) == ("Corrected Brief", "Today: chips")
        assert {c.actor for c in view.history[-2:]} == {"console:editor@example.org"}
        entry = site.app.audit.entries(action="issue.edit")[0]
        assert entry.before == {"subject": None} and entry.after == {"subject": "Today: chips"}

    def test_topic_move_and_drop_with_htmx_answer_the_fragment(self, site: Console) -> None:
        """htmx posts get the stories fragment back, renumbered, without the layout."""
        issue_id = stored(site)
        htmx = {"HX-Request": "true"}
        with signed_in(site, Role.EDITOR) as client:
            page = f"/admin/issues/{issue_id}"
            topics = post(
                client,
                f"/admin/issues/{issue_id}/stories/2/topics",
                {"topics": ["models", "policy"]},
                headers=htmx,
                page=page,
            )
            assert topics.status_code == 200
            assert topics.text.lstrip().startswith('<section id="stories"')
            assert "<html" not in topics.text and "story 2 topics changed" in topics.text
            assert topics.headers["hx-trigger"] == "issue-edited"  # previews fetch themselves
            previews = client.get(f"/admin/issues/{issue_id}/previews", headers=htmx)
            assert previews.text.lstrip().startswith('<section id="previews"')
            moved = post(
                client, f"/admin/issues/{issue_id}/stories/3/move", {"to": 1}, headers=htmx
            )
            assert moved.status_code == 200
            assert moved.text.index("Robot Start-up") < moved.text.index("Foundry Ships")
            dropped = post(client, f"/admin/issues/{issue_id}/stories/1/drop", {}, page=page)
            assert dropped.status_code == 303
        stories = site.app.content.issue(issue_id).issue.stories
        assert [s.title[:7] for s in stories] == ["Foundry", "Lab Pub"]
        assert stories[1].topics == ("models", "policy")
        tagged = site.app.content.explain(issue_id)[1].evidence
        assert "policy" not in {item.topic for item in tagged}
        assert "Set by an editor; tagging alone gives" in topics.text

    def test_a_refused_edit_shows_the_reason_and_changes_nothing(self, site: Console) -> None:
        """An unknown topic (htmx) or story (plain form) is named; the issue is as it was."""
        issue_id = stored(site)
        before = site.app.content.issue(issue_id)
        with signed_in(site, Role.EDITOR) as client:
            bad_topic = post(
                client,
                f"/admin/issues/{issue_id}/stories/1/topics",
                {"topics": ["crypto"]},
                headers={"HX-Request": "true"},
            )
            bad_story = post(client, f"/admin/issues/{issue_id}/stories/9/drop", {})
        assert bad_topic.status_code == 200 and "story 1: unknown topic crypto" in bad_topic.text
        assert bad_story.status_code == 400
        assert "story 9: the issue has 3 stories" in bad_story.text
        assert site.app.content.issue(issue_id) == before

    def test_an_edit_of_a_sent_issue_is_refused_with_the_library_message(
        self, site: Console
    ) -> None:
        """Once sent, an edit answers 409 with "a sent issue is never changed"."""
        issue_id = stored(site, approve=True)
        site.app.revisions.release(issue_id)
        with signed_in(site, Role.EDITOR) as client:
            answer = post(client, f"/admin/issues/{issue_id}/heading", {"title": "Too late"})
        assert answer.status_code == 409
        assert f"issue {issue_id} was sent; a sent issue is never changed" in answer.text
        assert site.app.content.issue(issue_id).issue.title == "Console Brief — 2026-07-01"


class TestPreviewsAndAudience:
    def test_each_variant_is_previewed_at_both_widths_in_a_sandbox(self, site: Console) -> None:
        """Two readers' topic sets make two variants, each framed at 375 and 600 px."""
        subscribe_readers(site.app, ["c@example.org"], topics=["chips"])
        subscribe_readers(site.app, ["m@example.org"], topics=["models"])
        issue_id = stored(site)
        with signed_in(site, Role.VIEWER) as client:
            page = client.get(f"/admin/issues/{issue_id}").text
            frames = re.findall(r'<iframe src="([^"]+)" width="(\d+)"[^>]*sandbox=""', page)
            html_frames = {(src, width) for src, width in frames if "format=html" in src}
            assert {width for _, width in html_frames} == {"375", "600"}
            assert len(html_frames) == 4
            chips = client.get(
                f"/admin/issues/{issue_id}/preview", params={"topics": "chips", "format": "html"}
            )
            models = client.get(f"/admin/issues/{issue_id}/preview", params={"topics": "models"})
            text = client.get(
                f"/admin/issues/{issue_id}/preview", params={"topics": "chips", "format": "text"}
            )
            nothing = client.get(
                f"/admin/issues/{issue_id}/preview", params={"topics": "robotics,general"}
            )
        assert chips.status_code == 200 and chips.headers["content-type"].startswith("text/html")
        assert "Foundry Ships" in chips.text and "Lab Publishes" not in chips.text
        assert "Lab Publishes" in models.text and "Foundry Ships" not in models.text
        assert chips.headers["x-frame-options"] == "SAMEORIGIN"
        assert "script-src" not in chips.headers["content-security-policy"]
        assert text.headers["content-type"].startswith("text/plain")
        assert "Foundry Ships" in text.text and "<html" not in text.text
        assert nothing.status_code in (200, 400)

    def test_the_audience_counts_readers_by_variant(self, site: Console) -> None:
        """The dry run's table: one reader per variant, nothing written."""
        subscribe_readers(site.app, ["c@example.org"], topics=["chips"])
        subscribe_readers(site.app, ["m@example.org", "n@example.org"], topics=["models"])
        issue_id = stored(site, approve=True)
        with signed_in(site, Role.VIEWER) as client:
            fragment = client.get(
                f"/admin/issues/{issue_id}/audience", headers={"HX-Request": "true"}
            )
            page = client.get(f"/admin/issues/{issue_id}/audience")
        assert fragment.status_code == 200 and "<html" not in fragment.text
        assert "3 readers would get it" in fragment.text
        rows = re.findall(r"<tr><td>([^<]+)</td><td class=\"num\">(\d+)</td>", fragment.text)
        assert ("models", "2") in rows and ("chips", "1") in rows
        assert page.status_code == 200 and "<html" in page.text
        assert site.app.sending.run_of(issue_id) is None


class TestActions:
    def test_a_test_copy_reaches_the_sink(self, site: Console) -> None:
        """An editor's test send mails one [TEST] copy of the variant; nothing recorded."""
        issue_id = stored(site)
        with signed_in(site, Role.EDITOR) as client:
            answer = post(
                client,
                f"/admin/issues/{issue_id}/test",
                {"to": "proof@example.org", "topics": "chips"},
            )
            assert "Test copy (chips) sent to proof@example.org" in flash_of(client, answer)
            refused = post(client, f"/admin/issues/{issue_id}/test", {"to": "not an address"})
        [message] = site.sink.messages
        assert message.rcpt_to == ("proof@example.org",)
        assert str(message.parsed()["Subject"]).startswith("[TEST] ")
        assert refused.status_code == 400
        assert site.app.sending.run_of(issue_id) is None
        [entry] = site.app.audit.entries(action="issue.test_send")
        assert entry.after == {"to": ["proof@example.org"], "topics": ["chips"]}

    def test_approve_then_schedule_and_unschedule(self, site: Console) -> None:
        """An editor approves; only an owner schedules (in a zone) and clears the schedule."""
        issue_id = stored(site)
        soon = time.strftime("%Y-%m-%d", time.gmtime(time.time() + 3 * 86400))
        with signed_in(site, Role.EDITOR) as editor:
            answer = post(editor, f"/admin/issues/{issue_id}/approve", {})
            assert flash_of(editor, answer) == f"Issue {issue_id} approved."
            refused = post(editor, f"/admin/issues/{issue_id}/schedule", {"at": f"{soon} 07:00"})
            assert refused.status_code == 403
        assert site.app.content.issue(issue_id).approved_by == "console:editor@example.org"
        with signed_in(site, Role.OWNER) as owner:
            past = post(owner, f"/admin/issues/{issue_id}/schedule", {"at": "2020-01-01 07:00"})
            assert past.status_code == 400 and "is in the past" in past.text
            answer = post(
                owner,
                f"/admin/issues/{issue_id}/schedule",
                {"at": f"{soon} 07:00", "zone": "Asia/Tokyo"},
            )
            assert f"Scheduled for {soon} 07:00 Asia/Tokyo" in flash_of(owner, answer)
            send_at = site.app.content.issue(issue_id).send_at
            assert send_at is not None and send_at.strftime("%H:%M") == "22:00"
            cleared = post(owner, f"/admin/issues/{issue_id}/unschedule", {})
            assert flash_of(owner, cleared) == "The scheduled send is cleared."
        assert site.app.content.issue(issue_id).send_at is None
        actions = [e.action for e in site.app.audit.entries() if e.action.startswith("issue.")]
        assert actions[:3] == ["issue.unschedule", "issue.schedule", "issue.approve"]

    def test_scheduling_a_draft_is_refused_with_the_library_message(self, site: Console) -> None:
        """A draft cannot be scheduled: 409 and the hint to approve it."""
        issue_id = stored(site)
        soon = time.strftime("%Y-%m-%d", time.gmtime(time.time() + 3 * 86400))
        with signed_in(site, Role.OWNER) as owner:
            answer = post(owner, f"/admin/issues/{issue_id}/schedule", {"at": f"{soon} 07:00"})
        assert answer.status_code == 409 and "cannot be scheduled: approve it first" in answer.text

    def test_send_now_plans_sends_and_opens_the_run_page(self, site: Console) -> None:
        """An owner's send now redirects to /admin/runs/ID; the run reaches every reader."""
        subscribe_readers(site.app, ["a@example.org", "b@example.org"], topics=["chips"])
        issue_id = stored(site, approve=True)
        with signed_in(site, Role.OWNER) as owner:
            answer = post(owner, f"/admin/issues/{issue_id}/send", {})
            assert answer.status_code == 303
            run_id = site.app.sending.run_of(issue_id)
            assert answer.headers["location"] == f"/admin/runs/{run_id}"
            deadline = time.monotonic() + 20
            while site.app.sending.counts(run_id or 0).get("delivered", 0) < 2:
                assert time.monotonic() < deadline, site.app.sending.counts(run_id or 0)
                time.sleep(0.05)
            runs_page = owner.get(answer.headers["location"])
        assert runs_page.status_code == 200  # the console shell's run page, from the ledger
        assert f"Issue {issue_id} is being sent." in runs_page.text  # the flash, shown there
        assert sorted(m.rcpt_to[0] for m in site.sink.messages) == [
            "a@example.org",
            "b@example.org",
        ]
        view = site.app.content.issue(issue_id)
        assert view.status == "sent" and view.history[-1].actor == "console:owner@example.org"
        [entry] = site.app.audit.entries(action="issue.send")
        assert entry.after == {"run_id": run_id}


class TestRoles:
    def test_a_viewer_cannot_edit_or_upload_and_an_editor_cannot_send(self, site: Console) -> None:
        """Viewers get 403 on edits and the new-issue form; editors on send and schedule."""
        issue_id = stored(site, approve=True)
        with signed_in(site, Role.VIEWER) as viewer:
            assert viewer.get("/admin/issues/new").status_code == 403
            edit = post(viewer, f"/admin/issues/{issue_id}/heading", {"title": "No"})
            approve = post(viewer, f"/admin/issues/{issue_id}/withdraw", {})
        assert edit.status_code == 403 and approve.status_code == 403
        with signed_in(site, Role.EDITOR) as editor:
            send = post(editor, f"/admin/issues/{issue_id}/send", {})
            page = editor.get(f"/admin/issues/{issue_id}").text
        assert send.status_code == 403
        assert "/send" not in page and "/schedule" not in page
        assert site.app.sending.run_of(issue_id) is None
        assert site.app.content.issue(issue_id).issue.title == "Console Brief — 2026-07-01"

    def test_without_a_session_nothing_answers(self, site: Console) -> None:
        """A page sends the browser to sign in; a POST without a session is refused."""
        issue_id = stored(site)
        with site.client() as client:
            page = client.get(f"/admin/issues/{issue_id}")
            preview = client.get(f"/admin/issues/{issue_id}/preview")
            edit = client.post(f"/admin/issues/{issue_id}/heading", data={"title": "No"})
        assert page.status_code == 303 and "/admin/login?next=" in page.headers["location"]
        assert preview.status_code == 303
        assert edit.status_code in (401, 403)
        assert site.app.content.issue(issue_id).issue.title == "Console Brief — 2026-07-01"
