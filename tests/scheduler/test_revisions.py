"""An editor's changes to a stored issue: each recorded, re-hashed, refused once it was sent."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import pytest
from sqlalchemy.orm import Session, sessionmaker

from mailer.content import GENERAL, Issue, Story
from mailer.topics import Taxonomy, UnknownTopic
from scheduler import ledger
from scheduler.editions import (
    IssueStateError,
    IssueStatus,
    Stored,
    StoredIssue,
    change_status,
    history,
    load_issue,
    retag_issue,
    store_issue,
)
from scheduler.revisions import (
    EditError,
    Edits,
    apply_edits,
    drop_story,
    move_story,
    set_preheader,
    set_story_topics,
    set_subject,
    set_title,
)
from subscribers.models import NewsletterList

ACTOR = "cli:editor"
DAY = dt.date(2026, 7, 1)
TITLES = ("Foundry ships a new chip", "Lab releases a model", "Start-up raises a round")
TOPICS = ("chips", "models", "funding")


def brief() -> Issue:
    """Three stories, tagged chips, models and funding."""
    stories = tuple(
        Story(n, title, f"summary of {title}", source="Wire", topics=(topic,))
        for n, (title, topic) in enumerate(zip(TITLES, TOPICS, strict=True), start=1)
    )
    return Issue(f"Brief — {DAY}", DAY, stories)


def stored(
    session: Session, newsletter: NewsletterList, status: IssueStatus = IssueStatus.DRAFT
) -> StoredIssue:
    """The three-story brief, stored on the list with ``status``."""
    row, _ = store_issue(session, newsletter, brief(), status=status, actor=ACTOR)
    return row


def sent(session: Session, newsletter: NewsletterList) -> StoredIssue:
    """The brief, approved and then sent."""
    row = stored(session, newsletter, IssueStatus.APPROVED)
    change_status(session, row, IssueStatus.SENT, ACTOR)
    return row


def edits_of(session: Session, row: StoredIssue) -> list[tuple[str, str, object, object]]:
    """The issue's history after ingest and status moves: (action, field, before, after)."""
    return [
        (c.action, c.field, c.before, c.after)
        for c in history(session, row.id)
        if c.field not in ("status", "content")
    ]


def titles(row: StoredIssue) -> list[str]:
    """The stories' titles in their stored order."""
    return [s.title for s in row.stories]


class TestFields:
    def test_a_new_title_is_stored_recorded_and_rehashed(
        self, sessions: sessionmaker[Session], newsletter: NewsletterList
    ) -> None:
        """set_title changes the title, records before and after, and changes the digest."""
        with sessions() as session:
            row = stored(session, newsletter)
            old_hash, old_title = row.content_hash, row.title
            change = set_title(session, row, "  Corrected\nbrief  ", ACTOR)
            session.commit()
            assert change is not None and change.actor == ACTOR and change.action == "edit"
            assert row.title == "Corrected brief"
            assert row.content_hash != old_hash
            assert edits_of(session, row) == [("edit", "title", old_title, "Corrected brief")]

    def test_an_empty_title_is_refused(
        self, sessions: sessionmaker[Session], newsletter: NewsletterList
    ) -> None:
        """A blank title is an EditError naming the issue, and changes nothing."""
        with sessions() as session:
            row = stored(session, newsletter)
            with pytest.raises(EditError, match=f"^issue {row.id}: the title cannot be empty$"):
                set_title(session, row, "  ", ACTOR)
            assert row.title == f"Brief — {DAY}"

    def test_subject_and_preheader_are_set_and_cleared_back_to_the_default(
        self, sessions: sessionmaker[Session], newsletter: NewsletterList
    ) -> None:
        """A subject and preheader are stored; "" puts None back; each step is recorded."""
        with sessions() as session:
            row = stored(session, newsletter)
            set_subject(session, row, "Chips, models, money", ACTOR)
            set_preheader(session, row, "Three stories today", ACTOR)
            assert row.to_issue().subject_line == "Chips, models, money"
            set_subject(session, row, "", ACTOR)
            set_preheader(session, row, None, ACTOR)
            assert (row.subject, row.preheader) == (None, None)
            assert row.to_issue().subject_line == row.title
            assert edits_of(session, row) == [
                ("edit", "subject", None, "Chips, models, money"),
                ("edit", "preheader", None, "Three stories today"),
                ("edit", "subject", "Chips, models, money", None),
                ("edit", "preheader", "Three stories today", None),
            ]

    def test_the_same_value_records_nothing(
        self, sessions: sessionmaker[Session], newsletter: NewsletterList
    ) -> None:
        """Setting a field to what it already is returns None and adds no history."""
        with sessions() as session:
            row = stored(session, newsletter)
            assert set_title(session, row, row.title, ACTOR) is None
            assert set_subject(session, row, "", ACTOR) is None
            assert edits_of(session, row) == []

    def test_an_edited_issue_is_not_taken_for_its_file_at_re_ingest(
        self, sessions: sessionmaker[Session], newsletter: NewsletterList
    ) -> None:
        """After an edit, storing the original content again is an update, not a no-op."""
        with sessions() as session:
            row = stored(session, newsletter)
            set_title(session, row, "Corrected", ACTOR)
            _, outcome = store_issue(session, newsletter, brief())
            assert outcome == Stored.UPDATED


class TestTopics:
    def test_topics_are_set_sorted_locked_and_recorded(
        self, sessions: sessionmaker[Session], newsletter: NewsletterList, taxonomy: Taxonomy
    ) -> None:
        """A story gets exactly the topics given, sorted; it is locked; the change is recorded."""
        with sessions() as session:
            row = stored(session, newsletter)
            old_hash = row.content_hash
            set_story_topics(session, row, 2, ["Policy", "models"], taxonomy, ACTOR)
            session.commit()
            story = row.stories[1]
            assert (story.topics, story.topics_locked) == (["models", "policy"], True)
            assert row.content_hash != old_hash
            assert edits_of(session, row) == [
                ("edit", "story 2 topics", ["models"], ["models", "policy"])
            ]

    def test_no_topics_make_the_story_general(
        self, sessions: sessionmaker[Session], newsletter: NewsletterList, taxonomy: Taxonomy
    ) -> None:
        """An empty topic list stores `general`, so the story still reaches every reader."""
        with sessions() as session:
            row = stored(session, newsletter)
            set_story_topics(session, row, 1, [], taxonomy, ACTOR)
            assert row.stories[0].topics == [GENERAL]

    def test_an_unknown_topic_is_named_with_the_valid_ones(
        self, sessions: sessionmaker[Session], newsletter: NewsletterList, taxonomy: Taxonomy
    ) -> None:
        """A topic the taxonomy lacks is refused, naming the story, the topic and the valid ids."""
        with sessions() as session:
            row = stored(session, newsletter)
            valid = ", ".join((*taxonomy.ids, GENERAL))
            with pytest.raises(UnknownTopic) as raised:
                set_story_topics(session, row, 3, ["chips", "crypto"], taxonomy, ACTOR)
            assert str(raised.value) == f"story 3: unknown topic crypto (valid topics: {valid})"
            assert (row.stories[2].topics, row.stories[2].topics_locked) == (["funding"], False)

    def test_locked_topics_survive_a_retag(
        self, sessions: sessionmaker[Session], newsletter: NewsletterList, taxonomy: Taxonomy
    ) -> None:
        """`retag_issue` keeps the topics an editor set and tags the other stories again."""
        with sessions() as session:
            row = stored(session, newsletter)
            set_story_topics(session, row, 1, ["robotics"], taxonomy, ACTOR)
            set_story_topics(session, row, 2, ["robotics"], taxonomy, ACTOR)
            row.stories[1].topics_locked = False  # as if set by tagging, not by an editor
            session.commit()
            retag_issue(session, row, taxonomy)
            session.commit()
            reloaded = load_issue(session, row.id)
            assert reloaded.stories[0].topics == ["robotics"]
            assert reloaded.stories[1].topics != ["robotics"]


class TestStories:
    def test_a_dropped_story_leaves_the_rest_numbered_from_one(
        self, sessions: sessionmaker[Session], newsletter: NewsletterList
    ) -> None:
        """Dropping story 1 deletes it, renumbers the others 1…n and records its title."""
        with sessions() as session:
            row = stored(session, newsletter)
            old_hash = row.content_hash
            drop_story(session, row, 1, ACTOR)
            session.commit()
            reloaded = load_issue(session, row.id)
            assert titles(reloaded) == list(TITLES[1:])
            assert [s.position for s in reloaded.stories] == [1, 2]
            assert reloaded.content_hash != old_hash
            assert edits_of(session, row) == [("drop", "story 1", TITLES[0], None)]

    def test_the_last_story_is_never_dropped(
        self, sessions: sessionmaker[Session], newsletter: NewsletterList
    ) -> None:
        """An issue keeps at least one story: dropping its only one is refused."""
        with sessions() as session:
            row = stored(session, newsletter)
            drop_story(session, row, 3, ACTOR)
            drop_story(session, row, 1, ACTOR)
            with pytest.raises(EditError, match="^story 1: it is the issue's only story"):
                drop_story(session, row, 1, ACTOR)
            assert titles(row) == [TITLES[1]]

    def test_a_moved_story_takes_its_place_and_keeps_its_row(
        self, sessions: sessionmaker[Session], newsletter: NewsletterList
    ) -> None:
        """Story 3 moved to 1 comes first, the others follow, and every story keeps its id."""
        with sessions() as session:
            row = stored(session, newsletter)
            ids = {s.title: s.id for s in row.stories}
            move_story(session, row, 3, 1, ACTOR)
            session.commit()
            reloaded = load_issue(session, row.id)
            assert titles(reloaded) == [TITLES[2], TITLES[0], TITLES[1]]
            assert [s.position for s in reloaded.stories] == [1, 2, 3]
            assert {s.title: s.id for s in reloaded.stories} == ids
            assert [s.position for s in reloaded.to_issue().stories] == [1, 2, 3]
            assert edits_of(session, row) == [("move", "story 3 place", 3, 1)]

    @pytest.mark.parametrize("place", [0, 4, 12])
    def test_a_story_out_of_range_names_the_range(
        self, sessions: sessionmaker[Session], newsletter: NewsletterList, place: int
    ) -> None:
        """A place the issue does not have is refused with how many stories it has."""
        with sessions() as session:
            row = stored(session, newsletter)
            with pytest.raises(EditError, match=f"^story {place}: the issue has 3 stories$"):
                move_story(session, row, 1, place, ACTOR)
            with pytest.raises(EditError, match=f"^story {place}: the issue has 3 stories$"):
                drop_story(session, row, place, ACTOR)


class TestStatus:
    def test_a_sent_issue_is_never_changed(
        self, sessions: sessionmaker[Session], newsletter: NewsletterList, taxonomy: Taxonomy
    ) -> None:
        """Every edit of a sent issue is refused with the same message, and nothing changes."""
        with sessions() as session:
            row = sent(session, newsletter)
            message = f"^issue {row.id} was sent; a sent issue is never changed$"
            edits: list[Callable[[], object]] = [
                lambda: set_title(session, row, "New", ACTOR),
                lambda: set_subject(session, row, "New", ACTOR),
                lambda: set_preheader(session, row, "New", ACTOR),
                lambda: set_story_topics(session, row, 1, ["models"], taxonomy, ACTOR),
                lambda: drop_story(session, row, 1, ACTOR),
                lambda: move_story(session, row, 1, 2, ACTOR),
            ]
            for edit in edits:
                with pytest.raises(IssueStateError, match=message):
                    edit()
            assert edits_of(session, row) == [] and titles(row) == list(TITLES)

    def test_an_issue_a_run_has_is_not_changed(
        self, sessions: sessionmaker[Session], newsletter: NewsletterList
    ) -> None:
        """An issue a live run is sending is refused even before its status says sent."""
        with sessions() as session:
            row = stored(session, newsletter, IssueStatus.APPROVED)
            ledger.open_run(session, newsletter.id, "daily", DAY.isoformat(), row.id)
            with pytest.raises(IssueStateError, match="was sent; a sent issue is never changed"):
                set_title(session, row, "New", ACTOR)

    @pytest.mark.parametrize(
        "status", [IssueStatus.DRAFT, IssueStatus.APPROVED, IssueStatus.WITHDRAWN]
    )
    def test_an_unsent_issue_keeps_its_status(
        self,
        sessions: sessionmaker[Session],
        newsletter: NewsletterList,
        status: IssueStatus,
    ) -> None:
        """A draft, an approved and a withdrawn issue take an edit and keep their status."""
        with sessions() as session:
            row = stored(session, newsletter, IssueStatus.APPROVED)
            change_status(session, row, status, ACTOR)
            set_title(session, row, "Corrected", ACTOR)
            session.commit()
            assert (row.status, row.title) == (status, "Corrected")


class TestApplyEdits:
    def test_every_edit_of_one_command_is_applied_in_order(
        self, sessions: sessionmaker[Session], newsletter: NewsletterList, taxonomy: Taxonomy
    ) -> None:
        """Fields, topics, a move and a drop apply together; numbers are the places before."""
        edits = Edits(
            title="Corrected",
            subject="Subject",
            topics=(3, ("policy",)),
            move=(1, 3),
            drop=2,
        )
        with sessions() as session:
            row = stored(session, newsletter)
            changes = apply_edits(session, row, edits, taxonomy, ACTOR)
            session.commit()
            reloaded = load_issue(session, row.id)
            assert titles(reloaded) == [TITLES[2], TITLES[0]]
            assert [s.position for s in reloaded.stories] == [1, 2]
            assert reloaded.stories[0].topics == ["policy"]
            assert [(c.action, c.field) for c in changes] == [
                ("edit", "title"),
                ("edit", "subject"),
                ("edit", "story 3 topics"),
                ("move", "story 1 place"),
                ("drop", "story 2"),
            ]
            assert changes[-1].before == TITLES[1]

    def test_nothing_is_applied_when_one_edit_is_bad(
        self, sessions: sessionmaker[Session], newsletter: NewsletterList, taxonomy: Taxonomy
    ) -> None:
        """A bad story number is refused before any edit of the command is made."""
        with sessions() as session:
            row = stored(session, newsletter)
            session.commit()
            before = row.content_hash
            with pytest.raises(EditError, match="^story 9: the issue has 3 stories$"):
                apply_edits(session, row, Edits(title="Corrected", drop=9), taxonomy, ACTOR)
            assert (row.title, row.content_hash) == (f"Brief — {DAY}", before)
            assert edits_of(session, row) == []

    def test_a_story_both_dropped_and_moved_is_refused(
        self, sessions: sessionmaker[Session], newsletter: NewsletterList, taxonomy: Taxonomy
    ) -> None:
        """Edits that contradict each other are refused, naming the story."""
        with sessions() as session:
            row = stored(session, newsletter)
            with pytest.raises(EditError, match="^story 2 is dropped, so it cannot be moved too$"):
                apply_edits(session, row, Edits(drop=2, move=(2, 1)), taxonomy, ACTOR)
            with pytest.raises(EditError, match="^story 2 is dropped, so its topics cannot"):
                apply_edits(session, row, Edits(drop=2, topics=(2, ())), taxonomy, ACTOR)

    def test_empty_edits_say_so(self) -> None:
        """Edits with nothing given are empty; any one field makes them not."""
        assert Edits().empty
        assert not Edits(subject="").empty
