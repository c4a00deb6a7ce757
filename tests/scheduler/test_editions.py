"""Stored issues (keys, idempotence, replace) and weekly digests (dedupe, grouping, once)."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace

import pytest
from sqlalchemy.orm import Session, sessionmaker

from mailer.content import GENERAL, Format, Issue, Story
from mailer.topics import Taxonomy
from scheduler import ledger
from scheduler.digests import DigestError, assemble_digest, build_digest, parse_week
from scheduler.editions import IssueAlreadySent, Stored, store_issue
from subscribers.lists import create_list
from subscribers.models import NewsletterList

MONDAY = dt.date(2026, 6, 22)


def story(n: int, title: str, *topics: str, source: str = "Wire", url: str | None = None) -> Story:
    return Story(n, title, f"summary of {title}", source=source, url=url, topics=topics)


def daily(day: int, *stories: Story) -> Issue:
    date = MONDAY + dt.timedelta(days=day)
    return Issue(f"Brief — {date}", date, tuple(stories))


@pytest.fixture
def newsletter(sessions: sessionmaker[Session]) -> NewsletterList:
    with sessions() as session:
        created = create_list(session, "brief", "Test Brief", "Brief <b@news.example.org>")
        session.commit()
        return created


class TestStore:
    def test_same_content_is_a_no_op_and_changes_update_in_place(
        self, sessions: sessionmaker[Session], newsletter: NewsletterList
    ) -> None:
        """Identical content says unchanged; changed content keeps the id and replaces stories."""
        issue = daily(0, story(1, "A", "chips"), story(2, "B", "models"))
        with sessions() as session:
            first, created = store_issue(session, newsletter, issue)
            again, unchanged = store_issue(session, newsletter, issue)
            changed = replace(issue, stories=issue.stories[:1])
            updated_row, updated = store_issue(session, newsletter, changed)
            session.commit()
            assert (created, unchanged, updated) == (
                Stored.CREATED,
                Stored.UNCHANGED,
                Stored.UPDATED,
            )
            assert first.id == again.id == updated_row.id
            assert [s.title for s in updated_row.stories] == ["A"]

    def test_a_sent_issue_changes_only_with_replace(
        self, sessions: sessionmaker[Session], newsletter: NewsletterList
    ) -> None:
        """Once a run sent an issue, changed content is refused unless replace_sent is given."""
        issue = daily(0, story(1, "A", "chips"))
        with sessions() as session:
            row, _ = store_issue(session, newsletter, issue)
            ledger.open_run(session, newsletter.id, "daily", issue.date.isoformat(), row.id)
            changed = replace(issue, title="Corrected")
            with pytest.raises(IssueAlreadySent, match=f"issue {row.id} .* pass --replace"):
                store_issue(session, newsletter, changed)
            _, outcome = store_issue(session, newsletter, changed, replace_sent=True)
            assert outcome == Stored.UPDATED and row.title == "Corrected"


class TestDigest:
    def test_duplicates_across_days_appear_once_with_their_first_date(
        self, taxonomy: Taxonomy
    ) -> None:
        """Same address, or near-identical title from one source, is one story; dates are kept."""
        week = [
            daily(
                0,
                story(1, "Foundry opens new fab line", "chips", url="https://x.org/fab"),
                story(2, "Lab releases reasoning model", "models"),
            ),
            daily(
                1,
                story(
                    1, "Foundry Opens New Fab Line!", "chips", "business", url="https://x.org/fab"
                ),
                story(2, "Lab Releases Reasoning Model", "models", "research"),
            ),
            daily(2, story(1, "Lab releases reasoning model", "models", source="Other Wire")),
        ]
        digest = assemble_digest(week, MONDAY, "Weekly", taxonomy)
        titles = [(s.title, s.published, s.source) for s in digest.stories]
        assert titles == [
            ("Lab releases reasoning model", "2026-06-22", "Wire"),
            ("Lab releases reasoning model", "2026-06-24", "Other Wire"),
            ("Foundry opens new fab line", "2026-06-22", "Wire"),
        ]
        assert digest.stories[0].topics == ("models", "research")
        assert digest.stories[2].topics == ("business", "chips")
        assert (digest.format, digest.date, digest.period_end) == (
            Format.DIGEST,
            MONDAY,
            dt.date(2026, 6, 28),
        )

    def test_groups_put_the_most_covered_topic_first_and_general_last(
        self, taxonomy: Taxonomy
    ) -> None:
        """Each story sits under its most-covered topic; groups are ordered by coverage."""
        week = [
            daily(
                0,
                story(1, "Note", GENERAL),
                story(2, "P1", "policy"),
                story(3, "C1", "chips", "policy"),
                story(4, "C2", "chips"),
                story(5, "C3", "chips"),
            )
        ]
        digest = assemble_digest(week, MONDAY, "Weekly", taxonomy)
        assert [(s.position, s.title, s.group) for s in digest.stories] == [
            (1, "C1", "chips"),
            (2, "C2", "chips"),
            (3, "C3", "chips"),
            (4, "P1", "policy"),
            (5, "Note", GENERAL),
        ]

    def test_building_a_week_twice_gives_one_digest(
        self, sessions: sessionmaker[Session], newsletter: NewsletterList, taxonomy: Taxonomy
    ) -> None:
        """build_digest stores the digest once; building again reports it unchanged."""
        with sessions() as session:
            store_issue(session, newsletter, daily(0, story(1, "A", "chips")))
            store_issue(session, newsletter, daily(3, story(1, "B", "models")))
            store_issue(session, newsletter, daily(7, story(1, "next week", "models")))
            first, created = build_digest(session, newsletter, "2026-W26", taxonomy)
            second, unchanged = build_digest(session, newsletter, "2026-w26", taxonomy)
            assert (created, unchanged) == (Stored.CREATED, Stored.UNCHANGED)
            assert first.id == second.id
            assert [s.title for s in first.stories] == ["A", "B"]
            assert first.title == "Test Brief — Week of 22–28 June 2026"

    def test_bad_weeks(
        self, sessions: sessionmaker[Session], newsletter: NewsletterList, taxonomy: Taxonomy
    ) -> None:
        """Malformed or empty weeks are refused with a message naming them."""
        assert parse_week("2026-W26") == (MONDAY, dt.date(2026, 6, 28))
        with pytest.raises(DigestError, match="expected an ISO week"):
            parse_week("June")
        with pytest.raises(DigestError, match="does not exist"):
            parse_week("2026-W60")
        with sessions() as session, pytest.raises(DigestError, match="no daily issues"):
            build_digest(session, newsletter, "2026-W26", taxonomy)
