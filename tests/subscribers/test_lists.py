"""Lists: slugs, default List-Ids, and helpful lookups."""

from __future__ import annotations

import pytest
from sqlalchemy.orm import Session, sessionmaker

from subscribers.lists import ListError, UnknownList, all_lists, create_list, get_list


def test_create_and_find(sessions: sessionmaker[Session]) -> None:
    """A new list gets an RFC 2919 List-Id on its sender's domain and is found by slug."""
    with sessions() as session:
        create_list(session, "ict-bulletin", "ICT Bulletin", "ICT <ict@News.Example.org>")
        session.commit()
        found = get_list(session, "ict-bulletin")
        assert found.list_id == "ICT Bulletin <ict-bulletin.news.example.org>"
        assert [n.slug for n in all_lists(session)] == ["ict-bulletin"]


@pytest.mark.parametrize(
    ("slug", "sender", "message"),
    [("Bad Slug", "a@b.org", "use lowercase"), ("ok", "nobody", "from 'nobody'")],
)
def test_bad_lists_are_refused(
    sessions: sessionmaker[Session], slug: str, sender: str, message: str
) -> None:
    """Malformed slugs and senders without a domain are refused with the field named."""
    with sessions() as session, pytest.raises(ListError, match=message):
        create_list(session, slug, "Name", sender)


def test_duplicate_slug_and_unknown_slug(sessions: sessionmaker[Session]) -> None:
    """A taken slug is refused; an unknown one lists the slugs that exist."""
    with sessions() as session:
        create_list(session, "brief", "Brief", "b@example.org")
        with pytest.raises(ListError, match="exists"):
            create_list(session, "brief", "Again", "b@example.org")
        with pytest.raises(UnknownList, match="no list 'nope' \\(known lists: brief\\)"):
            get_list(session, "nope")
