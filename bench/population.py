"""The bench's readers: a seeded, realistic population, written in bulk as the importer would.

30% of readers take every topic, the rest one to three topics of skewed popularity; 80% read
daily; nine time zones, a handful of send hours. `people` draws them (the same ones for the same
seed); `create_subscribers` writes them with the importer's bulk writer, row for row what
`briefmail subscribers import` writes, and `check_setup` proves that on a sample. Used by
bench/send.py, bench/plan.py and bench/import_subscribers.py.
"""

from __future__ import annotations

import datetime as dt
import functools
import itertools
import random
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import NamedTuple

from sqlalchemy import Engine, text
from sqlalchemy.orm import Session

from mailer.topics import Taxonomy, default_taxonomy
from subscribers.db import make_engine
from subscribers.importer.write import NewSubscription, consent_detail, create_subscriptions
from subscribers.models import Cadence, SubscriptionStatus, address_hash

FIRST = ["li", "wei", "anna", "james", "maria", "yuki", "omar", "sofia", "chen", "lena", "raj"]
LAST = ["wang", "smith", "müller", "garcia", "tanaka", "zhang", "okafor", "rossi", "kim", "ng"]
DOMAINS = [
    "gmail.com",
    "outlook.com",
    "qq.com",
    "163.com",
    "proton.me",
    "yahoo.co.jp",
    "example.org",
    "news.example.net",
    "fastmail.fm",
    "uni-heidelberg.de",
]
ZONES = [
    "UTC",
    "Asia/Shanghai",
    "Asia/Tokyo",
    "Europe/Berlin",
    "Europe/London",
    "America/New_York",
    "America/Los_Angeles",
    "Asia/Singapore",
    "Australia/Sydney",
]
HOURS = [6, 7, 7, 7, 8, 12, 18]
SOURCES = ["website", "website", "website", "import", "conference 2026", "partner newsletter"]
#: Relative popularity of each topic among readers who choose topics (the taxonomy's ids).
TOPIC_POPULARITY = {
    "models": 30,
    "chips": 22,
    "policy": 14,
    "funding": 10,
    "infrastructure": 9,
    "business": 7,
    "research": 5,
    "robotics": 3,
}
#: How many topics a reader chooses (0: every topic), and how often.
TOPIC_COUNTS = {0: 30, 1: 35, 2: 22, 3: 13}
DAILY_SHARE = 0.8


class Person(NamedTuple):
    """One generated subscriber, as a row of an import file would describe them."""

    email: str
    name: str | None
    cadence: Cadence
    timezone: str
    send_hour: int
    topics: tuple[str, ...]
    consent_source: str
    consent_at: str | None


def topic_sets(taxonomy: Taxonomy) -> dict[tuple[str, ...], float]:
    """Every topic set a reader may hold, with its probability (the empty set: every topic).

    A reader picks a size from TOPIC_COUNTS, then that many topics one after another by
    TOPIC_POPULARITY without replacement; summing over the orders gives each set's chance, so
    one weighted draw per reader does the same.
    """
    unknown = set(TOPIC_POPULARITY) ^ set(taxonomy.ids)
    if unknown:
        raise SystemExit(f"TOPIC_POPULARITY is out of date with the taxonomy: {sorted(unknown)}")
    sizes = sum(TOPIC_COUNTS.values())
    chances: dict[tuple[str, ...], float] = {}
    for size, weight in TOPIC_COUNTS.items():
        for order in itertools.permutations(TOPIC_POPULARITY, size):
            chance, left = weight / sizes, sum(TOPIC_POPULARITY.values())
            for topic in order:
                chance *= TOPIC_POPULARITY[topic] / left
                left -= TOPIC_POPULARITY[topic]
            key = taxonomy.validate(order)  # sorted, as the importer stores them
            chances[key] = chances.get(key, 0.0) + chance
    return chances


def people(count: int, seed: int, chunk: int = 10_000) -> Iterator[Person]:
    """``count`` distinct subscribers, the same ones for the same seed.

    Each attribute is drawn for a chunk of people at once (one ``choices`` call each), which
    keeps 1,000,000 people to seconds. Whole chunks are always drawn, so the first N people are
    the same whatever ``count`` is.
    """
    rng = random.Random(seed)
    sets = topic_sets(default_taxonomy())
    topic_choices, topic_weights = list(sets), list(itertools.accumulate(sets.values()))
    names = [
        (f"{first}.{last.replace('ü', 'ue')}", f"{first.title()} {last.title()}")
        for first in FIRST
        for last in LAST
    ]
    days = [f"2026-{m:02d}-{d:02d}T09:30:00+00:00" for m in range(1, 7) for d in range(1, 29)]
    consent_times: list[str | None] = [None, *days]
    consent_weights = [0.2] + [0.8 / len(days)] * len(days)
    cadences = [Cadence.DAILY, Cadence.WEEKLY]
    cadence_weights = [DAILY_SHARE, 1 - DAILY_SHARE]
    for start in range(0, count, chunk):
        k = chunk
        columns = zip(
            range(start, min(start + k, count)),
            rng.choices(names, k=k),
            rng.choices((True, False), (70, 30), k=k),
            rng.choices(DOMAINS, k=k),
            rng.choices(cadences, cadence_weights, k=k),
            rng.choices(ZONES, k=k),
            rng.choices(HOURS, k=k),
            rng.choices(topic_choices, cum_weights=topic_weights, k=k),
            rng.choices(SOURCES, k=k),
            rng.choices(consent_times, consent_weights, k=k),
            strict=False,  # the last chunk stops with the range
        )
        for n, (local, display), named, domain, cadence, zone, hour, topics, source, at in columns:
            yield Person(
                f"{local}{n}@{domain}",
                display if named else None,
                cadence,
                zone,
                hour,
                topics,
                source,
                at,
            )


@functools.cache
def _consent_detail(source: str, at: str | None) -> str:
    """The ConsentEvent detail the importer records for a row with these consent cells."""
    return consent_detail(source, dt.datetime.fromisoformat(at) if at else None)


def _subscription(person: Person) -> NewSubscription:
    """The confirmed subscription `import_csv` plans for this person as a new address."""
    return NewSubscription(
        key=address_hash(person.email),
        email=person.email,
        subscriber_id=None,
        person=(person.name, person.timezone),
        status=SubscriptionStatus.CONFIRMED,
        cadence=person.cadence,
        send_hour=person.send_hour,
        topics=person.topics,
        detail=_consent_detail(person.consent_source, person.consent_at),
    )


def _batches(items: Iterable[Person], size: int) -> Iterator[list[Person]]:
    batch: list[Person] = []
    for item in items:
        batch.append(item)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def create_subscribers(
    engine: Engine, list_id: int, population: Iterable[Person], batch_size: int = 20_000
) -> int:
    """Write confirmed subscriptions through the importer's bulk writer; the count written.

    Per person: a subscriber, a confirmed subscription, one TopicChoice per chosen topic and an
    ``import`` ConsentEvent, by `subscribers.importer.write.create_subscriptions`, the
    statements `import_csv` writes new addresses with (its row checks and database comparison
    skipped: the people are generated valid and new). Each batch is a transaction, so memory
    stays O(batch); `check_setup` holds the rows equal to the importer's.
    """
    written = 0
    with engine.connect() as connection:
        if engine.dialect.name == "sqlite":
            # For this connection only: random-order inserts into the unique email and
            # email_hash indexes at 1M rows want more than SQLite's default 2 MB page cache
            # (the bench's memory, not the send's), and throwaway rows need no fsync at each
            # WAL checkpoint.
            connection.exec_driver_sql("PRAGMA cache_size=-131072")
            connection.exec_driver_sql("PRAGMA synchronous=OFF")
            connection.commit()
        for batch in _batches(population, batch_size):
            with connection.begin():
                create_subscriptions(connection, list_id, [_subscription(p) for p in batch])
            written += len(batch)
    return written


#: What check_setup compares: every column of the four tables but the timestamps' values.
_DUMPS = (
    "SELECT id, email, email_hash, name, timezone, length(token_key), "
    "created_at IS NOT NULL FROM subscribers ORDER BY id",
    "SELECT id, subscriber_id, list_id, status, cadence, send_hour, "
    "created_at IS NOT NULL, updated_at IS NOT NULL "
    "FROM subscriptions ORDER BY id",
    "SELECT subscription_id, topic FROM topic_choices ORDER BY 1, 2",
    "SELECT id, subscriber_id, list_id, action, source, ip, user_agent, "
    "wording, detail, created_at IS NOT NULL FROM consent_events ORDER BY id",
)


def write_csv(path: Path, count: int, seed: int) -> None:
    """The people of ``people(count, seed)`` as an import file, every one confirmed."""
    import csv

    from subscribers.importer import COLUMNS

    with path.open("w", encoding="utf-8", newline="") as stream:
        writer = csv.writer(stream)
        writer.writerow(COLUMNS)
        for p in people(count, seed):
            writer.writerow(
                (
                    p.email,
                    p.name or "",
                    "confirmed",
                    p.cadence.value,
                    p.timezone,
                    p.send_hour,
                    "|".join(p.topics),
                    p.consent_source,
                    p.consent_at or "",
                )
            )


def _setup_rows(
    folder: Path, how: str, count: int, seed: int, sender: str
) -> dict[str, list[tuple[object, ...]]]:
    """The four tables after writing the people ``how``: "importer" (the CSV) or "bulk"."""
    from briefmail.migrate import upgrade
    from subscribers.importer import import_csv
    from subscribers.lists import create_list

    engine = make_engine(f"sqlite:///{folder / how}.db")
    upgrade(engine)
    with Session(engine) as session:
        newsletter = create_list(session, "bench", "Bench Brief", sender)
        session.commit()
        if how == "importer":
            import_csv(session, newsletter, folder / "people.csv", taxonomy=default_taxonomy())
            session.commit()
        list_id = newsletter.id
    if how == "bulk":
        create_subscribers(engine, list_id, people(count, seed), batch_size=97)
    with engine.connect() as connection:
        dump = {query: [tuple(row) for row in connection.execute(text(query))] for query in _DUMPS}
    engine.dispose()
    return dump


def check_setup(folder: Path, count: int, seed: int, sender: str) -> None:
    """SystemExit unless bulk setup writes what `import_csv` writes for the same people."""
    folder.mkdir(parents=True, exist_ok=True)
    write_csv(folder / "people.csv", count, seed)
    importer, bulk = (_setup_rows(folder, how, count, seed, sender) for how in ("importer", "bulk"))
    for query, rows in importer.items():
        if rows != bulk[query]:
            differ = next(
                (pair for pair in zip(rows, bulk[query], strict=False) if pair[0] != pair[1]),
                (len(rows), len(bulk[query])),
            )
            raise SystemExit(f"bulk setup differs from the importer in\n  {query}\n  {differ}")
    print(f"setup check: {count} people, bulk rows == importer rows in all four tables")
