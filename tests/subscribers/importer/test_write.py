"""Writing an import: all or nothing, and an import consent event per created or changed row."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from mailer.topics import Taxonomy
from subscribers.importer.write import (
    NewSubscription,
    change_subscriptions,
    consent_detail,
    create_subscriptions,
)
from subscribers.models import (
    Cadence,
    ConsentAction,
    ConsentEvent,
    ConsentSource,
    NewsletterList,
    SubscriptionStatus,
    address_hash,
)
from subscribers.service import subscribe
from tests.subscribers.importer.support import (
    HEADER,
    event_count,
    good_rows,
    refused,
    run,
    stored,
    write,
)


class TestAllOrNothing:
    def test_one_bad_row_among_a_thousand_leaves_the_database_unchanged(
        self,
        sessions: sessionmaker[Session],
        newsletter: NewsletterList,
        taxonomy: Taxonomy,
        tmp_path: Path,
    ) -> None:
        """A single bad row fails the file, names its line, and nothing at all is written."""
        with sessions() as session:
            subscribe(session, newsletter, "reader3@example.net", taxonomy=taxonomy)
            session.commit()
        before, events_before = stored(sessions, newsletter), event_count(sessions)
        rows = good_rows(1000)
        rows.insert(700, "not-an-address,Bad Row,confirmed,daily,UTC,7,chips,website,")
        path = write(tmp_path, HEADER + "\n" + "\n".join(rows) + "\n")
        failed = refused(sessions, newsletter, path, taxonomy)
        assert [(e.line, e.email) for e in failed.errors] == [(702, "not-an-address")]
        assert "line 702: not-an-address (invalid e-mail address" in str(failed)
        assert stored(sessions, newsletter) == before
        assert event_count(sessions) == events_before

    def test_a_status_change_the_transition_table_refuses_fails_the_file(
        self,
        sessions: sessionmaker[Session],
        newsletter: NewsletterList,
        taxonomy: Taxonomy,
        tmp_path: Path,
    ) -> None:
        """Confirmed cannot go back to pending, and bounced is never imported into a new row."""
        with sessions() as session:
            subscribe(session, newsletter, "c@example.net", taxonomy=taxonomy, confirmed=True)
            session.commit()
        path = write(
            tmp_path,
            "email,status\nc@example.net,pending\nn@example.net,bounced\nok@example.net,\n",
        )
        failed = refused(sessions, newsletter, path, taxonomy)
        assert [str(e) for e in failed.errors] == [
            "line 2: c@example.net (a confirmed subscription cannot become pending"
            " (leave status empty to keep it))",
            "line 3: n@example.net (status bounced comes only from bounces"
            " (use pending, confirmed or unsubscribed))",
        ]
        assert [row[0] for row in stored(sessions, newsletter)] == ["c@example.net"]


class TestConsent:
    def test_created_and_changed_subscriptions_get_an_import_event(
        self,
        sessions: sessionmaker[Session],
        newsletter: NewsletterList,
        taxonomy: Taxonomy,
        tmp_path: Path,
    ) -> None:
        """Each created or changed row records source import with its consent source and time."""
        with sessions() as session:
            subscribe(session, newsletter, "same@example.net", taxonomy=taxonomy)
            session.commit()
        events_before = event_count(sessions)
        path = write(
            tmp_path,
            "email,consent_source,consent_at\n"
            "new@example.net,spring fair,2026-04-02T15:30:00\n"
            "same@example.net,,\n",
        )
        run(sessions, newsletter, path, taxonomy)
        with sessions() as session:
            events = session.scalars(
                select(ConsentEvent).where(ConsentEvent.id > events_before)
            ).all()
            assert [(e.action, e.source, e.list_id) for e in events] == [
                (ConsentAction.IMPORT, ConsentSource.IMPORT, newsletter.id)
            ]
            assert json.loads(events[0].detail or "") == {
                "consent_source": "spring fair",
                "consent_at": "2026-04-02T15:30:00+00:00",
            }


class TestBulkWriter:
    def test_new_subscriptions_are_written_with_topics_and_consent(
        self, sessions: sessionmaker[Session], newsletter: NewsletterList
    ) -> None:
        """create_subscriptions stores subscriber, subscription, topics and an import event."""
        person = NewSubscription(
            key=address_hash("ana@example.net"),
            email="ana@example.net",
            subscriber_id=None,
            person=("Ana", "Europe/Berlin"),
            status=SubscriptionStatus.CONFIRMED,
            cadence=Cadence.WEEKLY,
            send_hour=18,
            topics=("chips", "policy"),
            detail=consent_detail("fair", dt.datetime(2026, 5, 1, 10, 0)),
        )
        with sessions() as session:
            create_subscriptions(session, newsletter.id, [person])
            session.commit()
        assert stored(sessions, newsletter) == [
            (
                "ana@example.net",
                "Ana",
                "Europe/Berlin",
                "confirmed",
                "weekly",
                18,
                ("chips", "policy"),
            )
        ]
        with sessions() as session:
            event = session.scalars(select(ConsentEvent)).one()
            assert (event.action, event.source) == (ConsentAction.IMPORT, ConsentSource.IMPORT)
            assert json.loads(event.detail or "") == {
                "consent_source": "fair",
                "consent_at": "2026-05-01T10:00:00+00:00",
            }

    def test_nothing_to_write_issues_no_statement(
        self, sessions: sessionmaker[Session], newsletter: NewsletterList
    ) -> None:
        """Empty lists of creates and changes are a no-op, not an empty executemany error."""
        with sessions() as session:
            create_subscriptions(session, newsletter.id, [])
            change_subscriptions(session, newsletter.id, [], dt.datetime.now(dt.UTC))
            session.commit()
        assert stored(sessions, newsletter) == []
        assert event_count(sessions) == 0

    def test_the_consent_detail_is_json_with_a_zone(self) -> None:
        """consent_detail writes the source as JSON (quotes escaped) and a naive time as UTC."""
        assert json.loads(consent_detail('say "yes"', None)) == {
            "consent_source": 'say "yes"',
            "consent_at": None,
        }
        aware = dt.datetime(2026, 1, 2, 3, 4, tzinfo=dt.timezone(dt.timedelta(hours=8)))
        assert json.loads(consent_detail("web", aware))["consent_at"] == "2026-01-02T03:04:00+08:00"
