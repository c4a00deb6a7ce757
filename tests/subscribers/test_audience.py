"""Who a list reaches: confirmed, unsuppressed readers of the cadence, streamed in batches."""

from __future__ import annotations

from sqlalchemy.orm import Session, sessionmaker

from mailer.topics import Taxonomy
from subscribers.audience import audience_census, iter_audience
from subscribers.models import Cadence, NewsletterList
from subscribers.service import subscribe


class TestAudience:
    def test_streams_only_confirmed_subscribers_of_the_cadence_in_batches(
        self, sessions: sessionmaker[Session], newsletter: NewsletterList, taxonomy: Taxonomy
    ) -> None:
        """Batches follow id order, never repeat, and hold only confirmed daily subscribers."""
        with sessions() as session:
            for n in range(25):
                subscribe(
                    session,
                    newsletter,
                    f"r{n:02d}@example.net",
                    taxonomy=taxonomy,
                    topics=["chips"] if n % 2 else [],
                    cadence=Cadence.WEEKLY if n % 5 == 0 else Cadence.DAILY,
                    confirmed=n % 7 != 0,
                )
            session.commit()
            batches = list(iter_audience(session, newsletter.id, Cadence.DAILY, batch_size=4))
            census = audience_census(session, newsletter.id, Cadence.DAILY)
        members = [m for batch in batches for m in batch]
        assert all(len(batch) <= 4 for batch in batches)
        expected = [n for n in range(25) if n % 5 != 0 and n % 7 != 0]
        assert [m.email for m in members] == [f"r{n:02d}@example.net" for n in expected]
        assert members[0].topics == frozenset({"chips"})
        assert census == {"pending": 4, "cadence weekly": 4}
