"""People, the lists they subscribe to, and what they chose: cadence and topics.

Cadence and the default send hour are domain rules (`subscribers.rules`); Cadence is
re-exported here, beside the tables that store it.
"""

from __future__ import annotations

import datetime as dt
import enum
import hashlib
import secrets

from sqlalchemy import ForeignKey, String, Text, UniqueConstraint, func
from sqlalchemy.orm import Mapped, mapped_column, relationship

from subscribers.db import Base, string_enum
from subscribers.rules import DEFAULT_SEND_HOUR, Cadence

__all__ = [
    "Cadence",
    "ConsentAction",
    "ConsentEvent",
    "ConsentSource",
    "NewsletterList",
    "Subscriber",
    "Subscription",
    "SubscriptionStatus",
    "Suppression",
    "TopicChoice",
    "address_hash",
    "new_token_key",
]


class SubscriptionStatus(enum.StrEnum):
    """Where a subscription is in its life; only `confirmed` ones receive issues."""

    PENDING = "pending"
    CONFIRMED = "confirmed"
    UNSUBSCRIBED = "unsubscribed"
    BOUNCED = "bounced"
    COMPLAINED = "complained"


class NewsletterList(Base):
    """One newsletter a publisher runs (the daily brief, a weekly bulletin, ...)."""

    __tablename__ = "lists"

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    from_address: Mapped[str] = mapped_column(String(320))
    #: RFC 2919 List-Id value, e.g. "China AI Brief <brief.example.org>".
    list_id: Mapped[str] = mapped_column(String(400))
    created_at: Mapped[dt.datetime] = mapped_column(server_default=func.now())


def address_hash(email: str) -> str:
    """The hash a suppression is kept under: sha256 of the lowercased address."""
    return hashlib.sha256(email.strip().lower().encode("utf-8")).hexdigest()


def new_token_key() -> str:
    """A fresh per-subscriber key; rotating it revokes every link sent before."""
    return secrets.token_hex(8)


class Subscriber(Base):
    """A person, by normalised e-mail address."""

    __tablename__ = "subscribers"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(320), unique=True)
    #: address_hash(email): one person per address whatever its case, and the key audience
    #: queries use to honour suppressions.
    email_hash: Mapped[str] = mapped_column(String(64), index=True, unique=True)
    name: Mapped[str | None] = mapped_column(String(200))
    timezone: Mapped[str] = mapped_column(String(64), default="UTC")
    #: Signed into every link; rotated on erasure so old links stop working.
    token_key: Mapped[str] = mapped_column(String(32), default=new_token_key)
    created_at: Mapped[dt.datetime] = mapped_column(server_default=func.now())
    #: When the public pages last mailed this person a confirmation link (one an hour at most,
    #: whichever process serves the form: see subscribers.signup.claim_confirmation).
    confirmation_sent_at: Mapped[dt.datetime | None] = mapped_column(default=None)

    subscriptions: Mapped[list[Subscription]] = relationship(back_populates="subscriber")


class Subscription(Base):
    """A subscriber on one list: status, cadence and chosen topics (none chosen = every topic)."""

    __tablename__ = "subscriptions"
    __table_args__ = (UniqueConstraint("subscriber_id", "list_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    subscriber_id: Mapped[int] = mapped_column(ForeignKey("subscribers.id", ondelete="CASCADE"))
    list_id: Mapped[int] = mapped_column(ForeignKey("lists.id", ondelete="CASCADE"), index=True)
    status: Mapped[SubscriptionStatus] = mapped_column(string_enum(SubscriptionStatus))
    cadence: Mapped[Cadence] = mapped_column(string_enum(Cadence))
    #: Preferred local hour (0-23) for daily sends, in the subscriber's time zone.
    send_hour: Mapped[int] = mapped_column(default=DEFAULT_SEND_HOUR)
    created_at: Mapped[dt.datetime] = mapped_column(server_default=func.now())
    updated_at: Mapped[dt.datetime] = mapped_column(server_default=func.now())

    subscriber: Mapped[Subscriber] = relationship(back_populates="subscriptions")
    newsletter: Mapped[NewsletterList] = relationship()
    topic_choices: Mapped[list[TopicChoice]] = relationship(
        cascade="all, delete-orphan", order_by="TopicChoice.topic"
    )

    @property
    def topics(self) -> tuple[str, ...]:
        """Chosen topic ids, sorted; empty means every topic."""
        return tuple(choice.topic for choice in self.topic_choices)


class TopicChoice(Base):
    """One topic a subscription asked for."""

    __tablename__ = "topic_choices"

    subscription_id: Mapped[int] = mapped_column(
        ForeignKey("subscriptions.id", ondelete="CASCADE"), primary_key=True
    )
    topic: Mapped[str] = mapped_column(String(64), primary_key=True)


class ConsentAction(enum.StrEnum):
    """What a consent event records."""

    SUBSCRIBE = "subscribe"
    CONFIRM = "confirm"
    PREFERENCES = "preferences"
    UNSUBSCRIBE = "unsubscribe"
    IMPORT = "import"
    BOUNCE = "bounce"
    COMPLAINT = "complaint"


class ConsentSource(enum.StrEnum):
    """Where a change came from."""

    WEB = "web"
    IMPORT = "import"
    CLI = "cli"
    BOUNCE = "bounce"


class ConsentEvent(Base):
    """One change of a subscription, as evidence of consent (GDPR Art. 7)."""

    __tablename__ = "consent_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    subscriber_id: Mapped[int] = mapped_column(
        ForeignKey("subscribers.id", ondelete="CASCADE"), index=True
    )
    list_id: Mapped[int | None] = mapped_column(ForeignKey("lists.id", ondelete="CASCADE"))
    action: Mapped[ConsentAction] = mapped_column(string_enum(ConsentAction))
    source: Mapped[ConsentSource] = mapped_column(string_enum(ConsentSource))
    ip: Mapped[str | None] = mapped_column(String(64))
    user_agent: Mapped[str | None] = mapped_column(String(400))
    #: Version of the form wording the person agreed to (see subscribers/pages.py).
    wording: Mapped[str | None] = mapped_column(String(32))
    detail: Mapped[str | None] = mapped_column(String(400))
    created_at: Mapped[dt.datetime] = mapped_column(server_default=func.now())


class Suppression(Base):
    """An address that must never be mailed (hard bounce, complaint, erasure), kept as a hash.

    A suppression a bounce report caused keeps its evidence: the report's id and what the
    server said, so an operator can tell a real "no such user" from a misread report.
    """

    __tablename__ = "suppressions"

    id: Mapped[int] = mapped_column(primary_key=True)
    address_hash: Mapped[str] = mapped_column(String(64), unique=True)
    reason: Mapped[str] = mapped_column(String(32))
    #: The report (its Message-ID, or sha256 of its bytes) that caused it, if one did.
    report_id: Mapped[str | None] = mapped_column(String(200))
    #: The receiving server's words in that report ("550 5.1.1 user unknown").
    diagnostic: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(server_default=func.now())
