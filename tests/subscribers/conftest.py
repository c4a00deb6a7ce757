"""Fixtures the tests of people and consent share."""

from __future__ import annotations

import pytest
from sqlalchemy.orm import Session, sessionmaker

from subscribers.lists import create_list
from subscribers.models import NewsletterList


@pytest.fixture
def newsletter(sessions: sessionmaker[Session]) -> NewsletterList:
    """A committed list ("brief") on the test database."""
    with sessions() as session:
        created = create_list(session, "brief", "Test Brief", "Brief <b@news.example.org>")
        session.commit()
        return created
