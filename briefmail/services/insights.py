"""The figures the console's dashboard and run pages show, each one query (or a few) deep.

Next sends by time zone (scheduled issues, what open runs still hold back until a reader's
local hour, and when the next daily brief reaches each zone's readers), the last runs,
subscriber growth and churn per day from the consent log, readers per topic, a run's rate, and
each list at a glance. Read-only: nothing here writes.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from scheduler.editions import IssueStatus, StoredIssue
from scheduler.ledger import OPEN, Delivery, DeliveryStatus, Run, RunStatus, count_by_status
from scheduler.timing import local_send_time
from subscribers.db import as_utc, utcnow
from subscribers.models import (
    ConsentAction,
    ConsentEvent,
    NewsletterList,
    Subscriber,
    Subscription,
    SubscriptionStatus,
    TopicChoice,
)
from subscribers.rules import Cadence

if TYPE_CHECKING:
    from briefmail.app import Briefmail

__all__ = [
    "DayFigures",
    "Growth",
    "Insights",
    "ListGlance",
    "NextSend",
    "RunGlance",
    "RunProgress",
    "TopicReaders",
]

#: Consent events that add a reader, and those that lose one.
_CONFIRMED_BY_OPERATOR = "confirmed by the operator"
_LEAVES = (ConsentAction.UNSUBSCRIBE, ConsentAction.BOUNCE, ConsentAction.COMPLAINT)
#: The statuses a progress bar counts as finished.
_DONE = (DeliveryStatus.DELIVERED, DeliveryStatus.FAILED, DeliveryStatus.CANCELLED)


@dataclass(frozen=True, slots=True)
class NextSend:
    """A send still to come: when (UTC and local), in which zone, to how many, and why."""

    at: dt.datetime
    zone: str
    readers: int | None
    what: str
    issue_id: int | None = None
    run_id: int | None = None

    @property
    def local(self) -> dt.datetime:
        """The instant in its zone."""
        return self.at.astimezone(_zone(self.zone))


@dataclass(frozen=True, slots=True)
class RunGlance:
    """A run with its deliveries by status, for the dashboard's outcome bars."""

    id: int
    issue_id: int
    title: str
    kind: str
    period: str
    status: str
    created_at: dt.datetime
    counts: dict[str, int]

    @property
    def total(self) -> int:
        """Deliveries planned."""
        return sum(self.counts.values())


@dataclass(frozen=True, slots=True)
class RunProgress:
    """Where a run stands now: counts, finished share, and its rate over the last minute."""

    run_id: int
    status: str
    counts: dict[str, int]
    per_second: float
    pause_reason: str | None

    @property
    def total(self) -> int:
        """Deliveries planned."""
        return sum(self.counts.values())

    @property
    def finished(self) -> int:
        """Deliveries with a final outcome (delivered, failed or cancelled)."""
        return sum(self.counts.get(str(s), 0) for s in _DONE)

    @property
    def open(self) -> int:
        """Deliveries still owed (pending, deferred or being sent)."""
        return sum(self.counts.get(str(s), 0) for s in OPEN)

    @property
    def percent(self) -> int:
        """The finished share, 0-100 (a run of no deliveries is complete)."""
        if self.total == 0:
            return 100
        return int(100 * self.finished / self.total)


@dataclass(frozen=True, slots=True)
class DayFigures:
    """One day of the list's audience: readers gained, lost, and active at its end."""

    day: dt.date
    joined: int
    left: int
    active: int


@dataclass(frozen=True, slots=True)
class Growth:
    """Subscriber growth and churn per day over a window."""

    days: list[DayFigures]

    @property
    def joined(self) -> int:
        """Readers gained in the window."""
        return sum(d.joined for d in self.days)

    @property
    def left(self) -> int:
        """Readers lost in the window (unsubscribed, bounced, complained)."""
        return sum(d.left for d in self.days)

    @property
    def churn(self) -> float:
        """Readers lost as a share of those active at the window's start (0 when none)."""
        start = self.days[0].active - self.days[0].joined + self.days[0].left if self.days else 0
        return self.left / start if start > 0 else 0.0


@dataclass(frozen=True, slots=True)
class TopicReaders:
    """A topic and how many confirmed readers chose it."""

    topic: str
    label: str
    readers: int


@dataclass(frozen=True, slots=True)
class ListGlance:
    """A list with its subscriptions by status and its newest issue."""

    slug: str
    name: str
    from_address: str
    counts: dict[str, int]
    latest_id: int | None = None
    latest_title: str | None = None
    latest_status: str | None = None
    latest_date: dt.date | None = None
    archive_url: str = ""


def _utc_day(column: Any, dialect: str) -> Any:
    """The UTC calendar day of a timestamp column, as SQL ("2026-07-01" or a date)."""
    if dialect == "postgresql":  # date() of a timestamptz would use the session's zone
        return func.date(func.timezone("UTC", column))
    return func.date(column)  # SQLite keeps the UTC time as text


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


class Insights:
    """Read-only figures for the console, from the ledger, the issues and the consent log."""

    def __init__(self, app: Briefmail) -> None:
        self.app = app

    def next_sends(self, now: dt.datetime | None = None, limit: int = 12) -> list[NextSend]:
        """What goes out next, soonest first: scheduled issues, held deliveries, daily hours."""
        now = now or utcnow()
        found: list[NextSend] = []
        with self.app.sessions() as session:
            for issue_id, title, at in session.execute(
                select(StoredIssue.id, StoredIssue.title, StoredIssue.send_at).where(
                    StoredIssue.status == IssueStatus.APPROVED, StoredIssue.send_at.is_not(None)
                )
            ):
                if at is None:
                    continue
                found.append(
                    NextSend(as_utc(at), "UTC", None, f"Issue {issue_id}: {title}", issue_id)
                )
            held = session.execute(
                select(
                    Delivery.run_id,
                    Subscriber.timezone,
                    func.min(Delivery.not_before),
                    func.count(),
                )
                .join(Subscriber, Subscriber.id == Delivery.subscriber_id)
                .join(Run, Run.id == Delivery.run_id)
                .where(
                    Run.status.in_((RunStatus.PLANNING, RunStatus.SENDING, RunStatus.PAUSED)),
                    Delivery.status.in_((DeliveryStatus.PENDING, DeliveryStatus.DEFERRED)),
                    Delivery.not_before.is_not(None),
                    Delivery.not_before > now,
                )
                .group_by(Delivery.run_id, Subscriber.timezone)
            )
            for run_id, zone, at, n in held:
                if at is None:
                    continue
                found.append(NextSend(as_utc(at), zone, n, f"Run {run_id}", run_id=run_id))
            found.extend(self._daily_hours(session, now))
        found.sort(key=lambda send: send.at)
        return found[:limit]

    def _daily_hours(self, session: Session, now: dt.datetime) -> list[NextSend]:
        """When tomorrow's (or today's) daily brief reaches each zone's readers."""
        rows = session.execute(
            select(Subscriber.timezone, Subscription.send_hour, func.count())
            .join(Subscription, Subscription.subscriber_id == Subscriber.id)
            .where(
                Subscription.status == SubscriptionStatus.CONFIRMED,
                Subscription.cadence == Cadence.DAILY,
            )
            .group_by(Subscriber.timezone, Subscription.send_hour)
        )
        sends = []
        for zone, hour, n in rows:
            today = now.astimezone(_zone(zone)).date()
            at = local_send_time(today, zone, hour)
            if at <= now:
                at = local_send_time(today + dt.timedelta(days=1), zone, hour)
            sends.append(NextSend(at, zone, n, f"Daily brief at {hour:02d}:00 local"))
        return sends

    def last_runs(self, limit: int = 8, *, before_id: int | None = None) -> list[RunGlance]:
        """The newest runs (older than run ``before_id``) with their deliveries by status."""
        query = select(Run, StoredIssue.title).join(StoredIssue, StoredIssue.id == Run.issue_id)
        if before_id is not None:
            query = query.where(Run.id < before_id)
        with self.app.sessions() as session:
            rows = session.execute(query.order_by(Run.id.desc()).limit(limit)).all()
            return [
                RunGlance(
                    run.id,
                    run.issue_id,
                    title,
                    run.kind,
                    run.period,
                    str(run.status),
                    as_utc(run.created_at),
                    count_by_status(session, run.id),
                )
                for run, title in rows
            ]

    def issue_title(self, issue_id: int) -> str:
        """An issue's title ("" when it is gone)."""
        with self.app.sessions() as session:
            return session.scalar(select(StoredIssue.title).where(StoredIssue.id == issue_id)) or ""

    def progress(self, run_id: int, window: float = 60.0) -> RunProgress:
        """A run's counts now and its outcomes per second over the last ``window`` seconds."""
        from scheduler.ledger import get_run

        since = utcnow() - dt.timedelta(seconds=window)
        with self.app.sessions() as session:
            run = get_run(session, run_id)
            recent = session.scalar(
                select(func.count()).where(
                    Delivery.run_id == run_id,
                    Delivery.status.in_(
                        (DeliveryStatus.DELIVERED, DeliveryStatus.FAILED, DeliveryStatus.DEFERRED)
                    ),
                    Delivery.updated_at >= since,
                )
            )
            return RunProgress(
                run_id,
                str(run.status),
                count_by_status(session, run_id),
                round((recent or 0) / window, 2),
                run.pause_reason if run.status == RunStatus.PAUSED else None,
            )

    def growth(self, days: int = 30, today: dt.date | None = None) -> Growth:
        """Readers gained and lost per day over the last ``days`` days, and active at each end."""
        today = today or utcnow().date()
        start = today - dt.timedelta(days=days - 1)
        since = dt.datetime.combine(start, dt.time(), tzinfo=dt.UTC)
        joined: Counter[dt.date] = Counter()
        left: Counter[dt.date] = Counter()
        with self.app.sessions() as session:
            # Counted in the database, per day and kind: a bulk import of 100,000 readers is
            # 100,000 events in the window, and they need not travel to Python to be counted.
            day_of = _utc_day(ConsentEvent.created_at, session.get_bind().dialect.name)
            by_operator = ConsentEvent.detail == _CONFIRMED_BY_OPERATOR
            for action, operator, day_text, count in session.execute(
                select(ConsentEvent.action, by_operator, day_of, func.count())
                .where(ConsentEvent.created_at >= since)
                .group_by(ConsentEvent.action, by_operator, day_of)
            ):
                day = dt.date.fromisoformat(str(day_text))
                if action == ConsentAction.CONFIRM or (
                    action in (ConsentAction.SUBSCRIBE, ConsentAction.IMPORT) and operator
                ):
                    joined[day] += count
                elif action in _LEAVES:
                    left[day] += count
            active = session.scalar(
                select(func.count()).where(Subscription.status == SubscriptionStatus.CONFIRMED)
            )
        # Walk back from today's count: the day before had what today has, less its changes.
        figures: list[DayFigures] = []
        running = active or 0
        for offset in range(days):
            day = today - dt.timedelta(days=offset)
            figures.append(DayFigures(day, joined[day], left[day], running))
            running = max(0, running - joined[day] + left[day])
        return Growth(list(reversed(figures)))

    def readers_per_topic(self) -> list[TopicReaders]:
        """Confirmed readers per topic, most read first (no choice means every topic)."""
        with self.app.sessions() as session:
            chosen: dict[str, int] = {
                topic: n
                for topic, n in session.execute(
                    select(TopicChoice.topic, func.count())
                    .join(Subscription, Subscription.id == TopicChoice.subscription_id)
                    .where(Subscription.status == SubscriptionStatus.CONFIRMED)
                    .group_by(TopicChoice.topic)
                )
            }
            everything = session.scalar(
                select(func.count())
                .select_from(Subscription)
                .where(
                    Subscription.status == SubscriptionStatus.CONFIRMED,
                    ~Subscription.topic_choices.any(),
                )
            )
        topics = [
            TopicReaders(topic.id, topic.label, chosen.get(topic.id, 0) + (everything or 0))
            for topic in self.app.taxonomy.topics
        ]
        return sorted(topics, key=lambda t: (-t.readers, t.label))

    def lists(self) -> list[ListGlance]:
        """Every list with its subscriptions by status and its newest issue."""
        base = self.app.settings.newsletter.base_url.rstrip("/")
        default = self.app.settings.newsletter.slug
        glances = []
        with self.app.sessions() as session:
            for row in session.scalars(select(NewsletterList).order_by(NewsletterList.slug)):
                counts = dict.fromkeys((s.value for s in SubscriptionStatus), 0)
                for status, n in session.execute(
                    select(Subscription.status, func.count())
                    .where(Subscription.list_id == row.id)
                    .group_by(Subscription.status)
                ):
                    counts[str(status)] = n
                latest = session.scalars(
                    select(StoredIssue)
                    .where(StoredIssue.list_id == row.id)
                    .order_by(StoredIssue.date.desc(), StoredIssue.id.desc())
                    .limit(1)
                ).first()
                archive = (
                    f"{base}/archive" if row.slug == default else f"{base}/lists/{row.slug}/archive"
                )
                glances.append(
                    ListGlance(
                        row.slug,
                        row.name,
                        row.from_address,
                        counts,
                        latest.id if latest else None,
                        latest.title if latest else None,
                        str(latest.status) if latest else None,
                        latest.date if latest else None,
                        archive,
                    )
                )
        return glances
