"""Export: every subscription of a list as an import file, so it imports back unchanged.

Each cell goes through `neutralise` (a spreadsheet must show it, not run it) and the consent
columns come back from the newest import, subscribe or confirm event of each subscriber.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
from collections.abc import Sequence
from pathlib import Path

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from subscribers.importer.diff import read_topics
from subscribers.importer.read import COLUMNS, neutralise
from subscribers.importer.write import IN, chunks
from subscribers.models import ConsentAction, ConsentEvent, NewsletterList, Subscriber, Subscription

__all__ = ["export_csv"]

_BATCH = 1000  # rows read from the database per step
_CONSENT_ACTIONS = (ConsentAction.IMPORT, ConsentAction.SUBSCRIBE, ConsentAction.CONFIRM)


def export_csv(session: Session, newsletter: NewsletterList, path: str | Path) -> int:
    """Write every subscription of the list as CSV (every column), by address; the row count."""
    # One sorted query, streamed in partitions: paging by address would make the database sort
    # the list again for every page.
    rows = session.execute(
        select(
            Subscriber.email,
            Subscriber.name,
            Subscriber.timezone,
            Subscription.id,
            Subscription.subscriber_id,
            Subscription.status,
            Subscription.cadence,
            Subscription.send_hour,
        )
        .join(Subscription, Subscription.subscriber_id == Subscriber.id)
        .where(Subscription.list_id == newsletter.id)
        .order_by(Subscriber.email)
        .execution_options(yield_per=_BATCH)
    )
    count = 0
    with Path(path).open("w", encoding="utf-8", newline="") as stream:
        writer = csv.writer(stream)
        writer.writerow(COLUMNS)
        for batch in rows.partitions():
            topics = read_topics(session, [row[3] for row in batch])
            consent = _latest_consent(session, newsletter.id, [row[4] for row in batch])
            for email, name, zone, subscription_id, subscriber_id, status, cadence, hour in batch:
                cells = (
                    email,
                    name or "",
                    status.value,
                    cadence.value,
                    zone,
                    str(hour),
                    "|".join(sorted(topics.get(subscription_id, ()))),
                    *consent.get(subscriber_id, ("", "")),
                )
                writer.writerow([neutralise(cell) for cell in cells])
            count += len(batch)
    return count


_CONSENT = (
    select(
        ConsentEvent.subscriber_id,
        ConsentEvent.source,
        ConsentEvent.detail,
        ConsentEvent.created_at,
    )
    .where(
        ConsentEvent.list_id == bindparam("list_id"),
        ConsentEvent.subscriber_id.in_(bindparam("values", expanding=True)),
        ConsentEvent.action.in_(_CONSENT_ACTIONS),
    )
    .order_by(ConsentEvent.id)
)


def _latest_consent(
    session: Session, list_id: int, subscriber_ids: Sequence[int]
) -> dict[int, tuple[str, str]]:
    """(consent_source, consent_at) of each subscriber's newest import/subscribe/confirm event."""
    found: dict[int, tuple[str, str]] = {}
    for chunk in chunks(subscriber_ids, IN):
        params = {"values": chunk, "list_id": list_id}
        for subscriber_id, source, detail, created_at in session.execute(_CONSENT, params):
            found[subscriber_id] = _consent_of(str(source), detail, created_at)
    return found


def _consent_of(source: str, detail: str | None, created_at: dt.datetime) -> tuple[str, str]:
    # Our imports store {"consent_source", "consent_at"}; other events (a web subscription, a
    # confirmation) were consented to where and when they happened.
    try:
        recorded = json.loads(detail or "")
    except ValueError:
        recorded = None
    if isinstance(recorded, dict) and isinstance(recorded.get("consent_source"), str):
        return recorded["consent_source"], str(recorded.get("consent_at") or "")
    when = created_at if created_at.tzinfo else created_at.replace(tzinfo=dt.UTC)
    return source, when.isoformat()
