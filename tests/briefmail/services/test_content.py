"""The content service: lists, ingest, issues, digests, previews and topics, without a terminal."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from briefmail.app import Briefmail
from briefmail.branding import ListSettings
from mailer.ingest import IngestError
from scheduler.digests import DigestError
from scheduler.editions import (
    IssueStateError,
    IssueStatus,
    Stored,
    StoredIssue,
    UnknownIssue,
    history,
)
from subscribers.lists import UnknownList
from tests.conftest import FIXTURES

BRIEF = FIXTURES / "brief-mixed.txt"


def brief_on(day: dt.date, tmp_path: Path) -> Path:
    """The sample brief, dated ``day`` (a different issue per day)."""
    text = BRIEF.read_text(encoding="utf-8").replace("2026-07-01", day.isoformat())
    text = text.replace("July 1, 2026", f"{day:%B} {day.day}, {day.year}")
    dated = tmp_path / f"brief-{day.isoformat()}.txt"
    dated.write_text(text, encoding="utf-8")
    return dated


class TestLists:
    def test_a_new_list_sends_from_the_configured_address_and_is_listed(
        self, app: Briefmail
    ) -> None:
        """A list added without a sender uses [newsletter] from, and appears in lists()."""
        created = app.content.add_list("weekly", "Weekly Brief")
        assert created.from_address == app.settings.newsletter.from_
        assert [one.slug for one in app.content.lists()] == ["brief", "weekly"]
        assert created.as_json()["slug"] == "weekly"


class TestLifecycle:
    def test_approve_then_withdraw_is_listed_and_recorded(self, app: Briefmail) -> None:
        """A draft is approved then withdrawn; issues() shows the status and history the actor."""
        result = app.content.ingest(BRIEF)
        assert result.issue_id is not None
        assert app.content.issues()[0].as_json()["status"] == "draft"
        assert app.content.approve(result.issue_id).status == "approved"
        assert app.content.withdraw(result.issue_id).status == "withdrawn"
        assert app.content.issues()[0].as_json()["status"] == "withdrawn"
        with app.sessions() as session:
            changes = [(c.actor, c.after) for c in history(session, result.issue_id)]
        assert changes[-2:] == [(app.actor, "approved"), (app.actor, "withdrawn")]

    def test_withdrawing_an_unknown_issue_is_refused(self, app: Briefmail) -> None:
        """Withdrawing an id that is not stored raises UnknownIssue (the CLI's clear error)."""
        with pytest.raises(UnknownIssue):
            app.content.withdraw(999)

    def test_a_sent_issue_cannot_be_withdrawn(self, app: Briefmail) -> None:
        """Once sent, an issue stays in the archive: withdraw raises IssueStateError."""
        result = app.content.ingest(BRIEF, approve=True)
        with app.sessions() as session:
            row = session.get(StoredIssue, result.issue_id)
            assert row is not None
            row.status = IssueStatus.SENT
            session.commit()
        with pytest.raises(IssueStateError, match="sent"):
            app.content.withdraw(row.id)


class TestTitles:
    def test_a_shouting_near_miss_title_is_fixed_and_the_subject_templated(
        self, app: Briefmail, tmp_path: Path
    ) -> None:
        """'TEST BRIEF+' is stored as the list's name, and [lists.brief] subject fills Subject."""
        app.settings.lists["brief"] = ListSettings(subject="{list}: {top_story} ({stories})")
        loud = tmp_path / "loud.txt"
        text = BRIEF.read_text(encoding="utf-8").replace("Test Brief —", "TEST BRIEF+ —", 1)
        loud.write_text(text, encoding="utf-8")
        result = app.content.ingest(loud)
        assert result.issue_id is not None
        stored = app.content.issue(result.issue_id).issue
        assert stored.title == "Test Brief — 2026-07-01"
        first = stored.stories[0].title
        assert stored.subject_line == f"Test Brief: {first} ({len(stored.stories)})"


class TestIngestAndIssues:
    def test_ingest_stores_on_the_default_list_and_lists_it(self, app: Briefmail) -> None:
        """Without a list slug an issue goes to [newsletter] slug; issues() and issue() show it."""
        result = app.content.ingest(BRIEF, approve=True)
        assert result.outcome == Stored.CREATED
        assert result.issue_id is not None
        [summary] = app.content.issues()
        assert (summary.id, summary.stories) == (result.issue_id, len(result.issue.stories))
        assert summary.as_json()["date"] == result.issue.date.isoformat()
        view = app.content.issue(result.issue_id)
        assert view.as_json() | result.as_json() == view.as_json()  # the ingest shape, and more
        assert (view.status, view.approved_by) == ("approved", app.actor)

    def test_a_dry_run_stores_nothing(self, app: Briefmail) -> None:
        """A dry run parses and tags, has no id, and leaves the list empty."""
        result = app.content.ingest(BRIEF, dry_run=True)
        assert (result.issue_id, result.outcome) == (None, None)
        assert result.issue.stories
        assert app.content.issues() == []

    def test_a_bad_file_stores_nothing(self, app: Briefmail, tmp_path: Path) -> None:
        """A file that does not parse raises IngestError and stores no issue."""
        bad = tmp_path / "bad.txt"
        bad.write_text("Brief — 2026-07-01\n1. T\n  • Summary: x\n3. U\n  • Summary: y\n")
        with pytest.raises(IngestError):
            app.content.ingest(bad, approve=True)
        assert app.content.issues() == []

    def test_an_issue_of_another_list_is_unknown_here(self, app: Briefmail) -> None:
        """issue() looks only on the named list; an unknown list is named as such."""
        stored = app.content.ingest(BRIEF, approve=True).issue_id
        assert stored is not None
        app.content.add_list("other", "Other")
        with pytest.raises(UnknownIssue):
            app.content.issue(stored, "other")
        with pytest.raises(UnknownList):
            app.content.issues("nowhere")


class TestDigest:
    def test_last_weeks_digest_is_built_once(self, app: Briefmail, tmp_path: Path) -> None:
        """The default week is last week; building it again finds the stored digest unchanged."""
        app.content.ingest(brief_on(dt.date(2026, 6, 23), tmp_path), approve=True)
        app.content.ingest(brief_on(dt.date(2026, 6, 25), tmp_path), approve=True)
        today = dt.date(2026, 7, 1)  # last week is 2026-W26
        first = app.content.digest(today=today)
        again = app.content.digest("2026-W26")
        assert (first.outcome, again.outcome) == (Stored.CREATED, Stored.UNCHANGED)
        assert first.id == again.id
        assert first.groups
        assert "Week of 22–28 June 2026" in first.issue.title

    def test_a_week_without_dailies_is_refused(self, app: Briefmail) -> None:
        """A digest of a week with no daily issue raises DigestError naming the week."""
        with pytest.raises(DigestError, match="2026-W10"):
            app.content.digest("2026-W10")


class TestPreviewAndTopics:
    def test_preview_writes_the_three_parts_it_reports(
        self, app: Briefmail, tmp_path: Path
    ) -> None:
        """A preview writes HTML, text and .eml, and reports the HTML's size in bytes."""
        issue_id = app.content.ingest(BRIEF, approve=True).issue_id
        assert issue_id is not None
        written = app.content.preview(issue_id, html_path=tmp_path / "p.html")
        assert [p.name for p in written.paths] == ["p.html", "p.txt", "p.eml"]
        assert written.html_bytes == (tmp_path / "p.html").stat().st_size
        assert written.as_json()["topics"] == []

    def test_variants_cover_the_issues_topics_when_nobody_subscribed(self, app: Briefmail) -> None:
        """With no audience, the variants are "every topic" and one per topic in the issue."""
        result = app.content.ingest(BRIEF, approve=True)
        assert result.issue_id is not None
        variants = app.content.variants(result.issue_id)
        assert variants[0].topics == ()
        assert {v.topics[0] for v in variants[1:]} <= set(result.issue.topics)

    def test_topics_are_the_taxonomys(self, app: Briefmail) -> None:
        """topics() lists every topic of the configured taxonomy, in its order."""
        assert [t.id for t in app.content.topics()] == list(app.taxonomy.ids)

    def test_explain_and_retag_cover_every_story(self, app: Briefmail) -> None:
        """explain() has one entry per story; retag with the same taxonomy changes none."""
        result = app.content.ingest(BRIEF, approve=True)
        assert result.issue_id is not None
        explained = app.content.explain(result.issue_id)
        assert [s.title for s in explained] == [s.title for s in result.issue.stories]
        [retagged] = app.content.retag(None)
        assert retagged.as_json() == {
            "id": result.issue_id,
            "changed": 0,
            "stories": len(result.issue.stories),
        }


class TestStages:
    def test_issues_filter_by_stage_and_scheduled_is_its_own(
        self, app: Briefmail, tmp_path: Path
    ) -> None:
        """A scheduled issue is listed as "scheduled", not "approved"; a draft as "draft"."""
        draft = app.content.ingest(brief_on(dt.date(2026, 7, 1), tmp_path))
        approved = app.content.ingest(brief_on(dt.date(2026, 7, 2), tmp_path), approve=True)
        assert draft.issue_id is not None and approved.issue_id is not None
        soon = dt.date.today() + dt.timedelta(days=3)
        app.revisions.schedule(approved.issue_id, f"{soon} 07:00", "UTC")
        assert [i.id for i in app.content.issues(stage="scheduled")] == [approved.issue_id]
        assert app.content.issues(stage="approved") == []
        assert [i.id for i in app.content.issues(stage="draft")] == [draft.issue_id]
        [line] = app.content.issues(stage="scheduled")
        assert line.send_at == dt.datetime.combine(soon, dt.time(7), dt.UTC)
        with pytest.raises(ValueError, match="^stage: unknown 'late'"):
            app.content.issues(stage="late")

    def test_approve_and_withdraw_name_the_operator(self, app: Briefmail) -> None:
        """`approve(actor=…)` and `withdraw(actor=…)` record the operator, and approved_by."""
        result = app.content.ingest(BRIEF)
        assert result.issue_id is not None
        app.content.approve(result.issue_id, actor="console:e@example.org")
        app.content.withdraw(result.issue_id, actor="console:f@example.org")
        view = app.content.issue(result.issue_id)
        assert view.approved_by == "console:e@example.org"
        assert [c.actor for c in view.history[-2:]] == [
            "console:e@example.org",
            "console:f@example.org",
        ]


class TestConsoleLookups:
    def test_list_of_names_the_issues_list_and_refuses_an_unknown_id(self, app: Briefmail) -> None:
        """list_of answers the slug of the issue's own list; an unknown id is UnknownIssue."""
        app.content.add_list("weekly", "Weekly Brief")
        result = app.content.ingest(BRIEF, "weekly")
        assert result.issue_id is not None
        assert app.content.list_of(result.issue_id) == "weekly"
        with pytest.raises(UnknownIssue):
            app.content.list_of(999)

    def test_a_refused_paste_names_the_upload_not_a_temporary_file(self, app: Briefmail) -> None:
        """ingest_text's IngestError carries the given file name and the line."""
        with pytest.raises(IngestError, match=r"^notes\.txt:1: ") as refused:
            app.content.ingest_text("[server]\nport = 8080\nhost = x\n", filename="notes.txt")
        assert refused.value.path == "notes.txt"
        assert app.content.issues() == []

    def test_variant_renders_one_topic_set(self, app: Briefmail) -> None:
        """variant() renders only the stories of the chosen topics, writing nothing."""
        result = app.content.ingest(BRIEF)
        assert result.issue_id is not None
        shown = app.content.variant(result.issue_id, None, ["chips"])
        assert shown.topics == ("chips",)
        assert "Foundry Starts Volume Output" in shown.rendered.html
        assert "Open-Weight Reasoning Model" not in shown.rendered.html
