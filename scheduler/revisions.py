"""An editor's changes to a stored issue: title, subject, preheader, topics, stories' places.

Each operation works in the session passed in (the caller commits, so several edits are one
transaction), records one IssueChange (who, when, which field, before and after) and recomputes
the row's ``content_hash``, so re-ingesting the original file is seen as different content and
not as "already stored".

A sent issue is never changed: readers have it as it was sent. A draft, an approved and a
withdrawn issue may be edited, and each keeps its status: an editor's correction of an approved
issue does not take it off the schedule (as with a scheduled post in Ghost), and withdrawing an
issue is how an editor pulls it to fix it before approving it again, so a withdrawn issue must
take edits. The issue's key is left alone, so a re-ingest of its file still finds it.

Story numbers are 1-based places as `briefmail issues show` prints them. In one `apply_edits`,
every number means the place before the command: topics are set, then the story is moved (its
new place counted among all the stories), then one is dropped; the stories are numbered 1…n again.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from mailer.content import GENERAL, cap_subject, header_text
from mailer.topics import Taxonomy, UnknownTopic
from scheduler.editions import (
    IssueChange,
    IssueStateError,
    IssueStatus,
    StoredIssue,
    StoredStory,
    content_hash,
    record_change,
)
from scheduler.ledger import Run, RunStatus

__all__ = [
    "EditError",
    "Edits",
    "UnknownStoryTopic",
    "apply_edits",
    "drop_story",
    "move_story",
    "require_editable",
    "set_preheader",
    "set_story_topics",
    "set_subject",
    "set_title",
]


class EditError(IssueStateError):
    """The issue as it stands cannot take this edit (no such story, its last story, …)."""


class UnknownStoryTopic(UnknownTopic):
    """A story was given a topic the taxonomy does not define; names the story and the topic."""

    def __init__(self, place: int, unknown: Sequence[str], valid: Sequence[str]) -> None:
        super().__init__(unknown, valid)
        self.args = (f"story {place}: {self.args[0]}",)


@dataclass(frozen=True, slots=True)
class Edits:
    """What one command changes; None (or an empty tuple) leaves that part alone.

    ``subject`` and ``preheader`` given as "" go back to the default (None): the title, and the
    preview text made from the story titles.
    """

    title: str | None = None
    subject: str | None = None
    preheader: str | None = None
    #: (story place, its topics); no topics: the story is `general`.
    topics: tuple[int, tuple[str, ...]] | None = None
    drop: int | None = None
    #: (story place, the place it moves to).
    move: tuple[int, int] | None = None

    @property
    def empty(self) -> bool:
        """True when nothing would change."""
        return all(
            value is None
            for value in (
                self.title,
                self.subject,
                self.preheader,
                self.topics,
                self.drop,
                self.move,
            )
        )


def require_editable(session: Session, row: StoredIssue) -> None:
    """Refuse (IssueStateError) to change an issue a run has sent or is sending."""
    live = session.scalar(
        select(Run.id).where(Run.issue_id == row.id, Run.status != RunStatus.CANCELLED).limit(1)
    )
    if row.status == IssueStatus.SENT or live is not None:
        raise IssueStateError(f"issue {row.id} was sent; a sent issue is never changed")


def _settle(row: StoredIssue) -> None:
    """The row's digest again after its content changed (see the module docstring)."""
    row.content_hash = content_hash(row.to_issue())


def _edit_text(
    session: Session, row: StoredIssue, field: str, value: str | None, actor: str
) -> IssueChange | None:
    """Set title, subject or preheader as an editor typed it, as one header-safe line."""
    require_editable(session, row)
    cleaned = cap_subject(header_text(value or "")) or None
    if cleaned is None and field == "title":
        raise EditError(f"issue {row.id}: the title cannot be empty")
    before = getattr(row, field)
    if cleaned == before:
        return None
    setattr(row, field, cleaned)
    _settle(row)
    return record_change(session, row, actor, "edit", field, before, cleaned)


def set_title(session: Session, row: StoredIssue, title: str, actor: str) -> IssueChange | None:
    """Give the issue a new title (not empty); the change, or None when it is the same."""
    return _edit_text(session, row, "title", title, actor)


def set_subject(
    session: Session, row: StoredIssue, subject: str | None, actor: str
) -> IssueChange | None:
    """Set the Subject line; empty or None: the title again. None when nothing changed."""
    return _edit_text(session, row, "subject", subject, actor)


def set_preheader(
    session: Session, row: StoredIssue, preheader: str | None, actor: str
) -> IssueChange | None:
    """Set the inbox preview text; empty or None: made from the stories again."""
    return _edit_text(session, row, "preheader", preheader, actor)


def _story(row: StoredIssue, place: int) -> StoredStory:
    """The story at a 1-based place; EditError naming the range when there is none."""
    count = len(row.stories)
    if not 1 <= place <= count:
        raise EditError(
            f"story {place}: the issue has {count} {'story' if count == 1 else 'stories'}"
        )
    return row.stories[place - 1]


def _valid_topics(place: int, topics: Sequence[str], taxonomy: Taxonomy) -> list[str]:
    """Topic ids checked against the taxonomy, sorted; none (or only `general`): `general`."""
    chosen = {t.strip().lower() for t in topics if t.strip()}
    unknown = chosen - {*taxonomy.ids, GENERAL}
    if unknown:
        raise UnknownStoryTopic(place, sorted(unknown), (*taxonomy.ids, GENERAL))
    # `general` beside real topics would add nothing: such a story reaches those readers anyway.
    real = sorted(chosen - {GENERAL})
    return real or [GENERAL]


def set_story_topics(
    session: Session,
    row: StoredIssue,
    place: int,
    topics: Sequence[str],
    taxonomy: Taxonomy,
    actor: str,
) -> IssueChange | None:
    """Give a story exactly these topics, locked so `topics retag` keeps them.

    No topics means `general` (the story goes to every reader alongside their own stories): a
    story without any topic would reach only readers of every topic.
    """
    require_editable(session, row)
    story = _story(row, place)
    wanted = _valid_topics(place, topics, taxonomy)
    before = list(story.topics)
    story.topics_locked = True
    if wanted == before:
        return None
    story.topics = wanted
    _settle(row)
    return record_change(session, row, actor, "edit", f"story {place} topics", before, wanted)


def _renumber(session: Session, row: StoredIssue, order: list[StoredStory]) -> None:
    """Store ``order`` as the stories' places 1…n.

    UNIQUE(issue_id, position) holds after every statement, so the places go out of the way
    (negative) before they take their new values.
    """
    for n, story in enumerate(order, start=1):
        story.position = -n
    session.flush()
    for n, story in enumerate(order, start=1):
        story.position = n
    row.stories[:] = order
    session.flush()


def drop_story(
    session: Session, row: StoredIssue, place: int, actor: str, *, shown_as: int | None = None
) -> IssueChange:
    """Take the story at ``place`` out of the issue (never its last one); renumber the rest.

    ``shown_as``: the number the editor knew it by, for the history, when an earlier edit of
    the same command moved it.
    """
    require_editable(session, row)
    story = _story(row, place)
    if len(row.stories) == 1:
        raise EditError(f"story {place}: it is the issue's only story and cannot be dropped")
    order = [s for s in row.stories if s is not story]
    row.stories.remove(story)
    session.flush()  # the dropped row goes before the others take its place
    _renumber(session, row, order)
    _settle(row)
    field = f"story {shown_as or place}"
    return record_change(session, row, actor, "drop", field, story.title, None)


def move_story(
    session: Session, row: StoredIssue, place: int, to: int, actor: str
) -> IssueChange | None:
    """Move the story at ``place`` to place ``to``; the others close up. None if it stays."""
    require_editable(session, row)
    story = _story(row, place)
    _story(row, to)  # the target place must exist too
    if to == place:
        return None
    order = [s for s in row.stories if s is not story]
    order.insert(to - 1, story)
    _renumber(session, row, order)
    _settle(row)
    return record_change(session, row, actor, "move", f"story {place} place", place, to)


def _check_combination(edits: Edits) -> None:
    """Refuse edits of one command that contradict each other."""
    dropped = edits.drop
    if dropped is None:
        return
    if edits.topics is not None and edits.topics[0] == dropped:
        raise EditError(f"story {dropped} is dropped, so its topics cannot be set too")
    if edits.move is not None and edits.move[0] == dropped:
        raise EditError(f"story {dropped} is dropped, so it cannot be moved too")


def apply_edits(
    session: Session, row: StoredIssue, edits: Edits, taxonomy: Taxonomy, actor: str
) -> list[IssueChange]:
    """Apply every edit of one command to the issue; the changes made, in order.

    Nothing is committed: the caller commits them together or, on any error, none of them.
    """
    require_editable(session, row)
    _check_combination(edits)
    if edits.topics is not None:
        _story(row, edits.topics[0])
    if edits.move is not None:
        _story(row, edits.move[0])
        _story(row, edits.move[1])
    # The dropped story, found by its place before any move renumbers the stories.
    dropped = _story(row, edits.drop) if edits.drop is not None else None
    changes = [
        set_title(session, row, edits.title, actor) if edits.title is not None else None,
        set_subject(session, row, edits.subject, actor) if edits.subject is not None else None,
        set_preheader(session, row, edits.preheader, actor)
        if edits.preheader is not None
        else None,
    ]
    if edits.topics is not None:
        place, topics = edits.topics
        changes.append(set_story_topics(session, row, place, topics, taxonomy, actor))
    if edits.move is not None:
        changes.append(move_story(session, row, *edits.move, actor))
    if dropped is not None:
        place = row.stories.index(dropped) + 1
        changes.append(drop_story(session, row, place, actor, shown_as=edits.drop))
    session.flush()
    return [change for change in changes if change is not None]
