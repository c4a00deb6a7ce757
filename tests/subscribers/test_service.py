"""Subscribing and the audience queries: normalised, validated, and streamed in batches."""

from __future__ import annotations

import pytest
from sqlalchemy.orm import Session, sessionmaker

from mailer.topics import Taxonomy, UnknownTopic
from subscribers.models import Cadence, NewsletterList, SubscriptionStatus
from subscribers.service import (
    InvalidAddress,
    InvalidTimezone,
    NotSubscribed,
    list_subscriptions,
    normalise_email,
    subscribe,
    unsubscribe,
)


class TestSubscribe:
    def test_address_is_normalised_and_choices_stored(
        self, sessions: sessionmaker[Session], newsletter: NewsletterList, taxonomy: Taxonomy
    ) -> None:
        """The domain is lowercased; topics, cadence and zone are kept as chosen."""
        with sessions() as session:
            sub = subscribe(
                session,
                newsletter,
                " Reader@EXAMPLE.net ",
                taxonomy=taxonomy,
                topics=["policy", "chips"],
                cadence=Cadence.WEEKLY,
                timezone="Asia/Shanghai",
                confirmed=True,
            )
            session.commit()
            assert sub.subscriber.email == "Reader@example.net"
            assert sub.topics == ("chips", "policy")
            assert (sub.cadence, sub.status) == (Cadence.WEEKLY, SubscriptionStatus.CONFIRMED)
            assert sub.subscriber.timezone == "Asia/Shanghai"

    def test_subscribing_again_updates_instead_of_duplicating(
        self, sessions: sessionmaker[Session], newsletter: NewsletterList, taxonomy: Taxonomy
    ) -> None:
        """A second subscribe of one address replaces its choices; there is one subscription."""
        with sessions() as session:
            subscribe(session, newsletter, "a@example.net", taxonomy=taxonomy, topics=["chips"])
            subscribe(
                session,
                newsletter,
                "a@example.net",
                taxonomy=taxonomy,
                topics=["models"],
                confirmed=True,
            )
            session.commit()
            subs = list_subscriptions(session, newsletter)
            assert [(s.subscriber.email, s.topics, s.status) for s in subs] == [
                ("a@example.net", ("models",), SubscriptionStatus.CONFIRMED)
            ]

    @pytest.mark.parametrize(
        ("kwargs", "error", "message"),
        [
            (
                {"email": "not-an-address"},
                InvalidAddress,
                "invalid e-mail address 'not-an-address'",
            ),
            ({"topics": ["chips", "bogus"]}, UnknownTopic, "valid topics: chips"),
            ({"timezone": "Mars/Base"}, InvalidTimezone, "unknown time zone 'Mars/Base'"),
        ],
    )
    def test_bad_input_is_refused_before_anything_is_written(
        self,
        sessions: sessionmaker[Session],
        newsletter: NewsletterList,
        taxonomy: Taxonomy,
        kwargs: dict[str, object],
        error: type[Exception],
        message: str,
    ) -> None:
        """Invalid address, topic or zone raises a named error and stores nothing."""
        args: dict[str, object] = {"email": "ok@example.net", **kwargs}
        email = str(args.pop("email"))
        with sessions() as session:
            with pytest.raises(error, match=message):
                subscribe(session, newsletter, email, taxonomy=taxonomy, **args)  # type: ignore[arg-type]
            assert list_subscriptions(session, newsletter) == []

    def test_unsubscribe_keeps_the_record(
        self, sessions: sessionmaker[Session], newsletter: NewsletterList, taxonomy: Taxonomy
    ) -> None:
        """Unsubscribing marks the subscription; unknown addresses are reported."""
        with sessions() as session:
            subscribe(session, newsletter, "a@example.net", taxonomy=taxonomy, confirmed=True)
            assert unsubscribe(session, newsletter, "a@example.net").status == "unsubscribed"
            with pytest.raises(NotSubscribed, match="b@example.net is not subscribed"):
                unsubscribe(session, newsletter, "b@example.net")

    def test_normalise_email_keeps_unicode_local_parts(self) -> None:
        """Internationalised addresses are accepted (SMTPUTF8 is the relay's business)."""
        assert normalise_email("用户@例子.中国") == "用户@例子.中国"
