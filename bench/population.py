"""The bench's readers: a seeded, realistic population, written in bulk as the importer would.

30% of readers take every topic, the rest one to three topics of skewed popularity; 80% read
daily; nine time zones, a handful of send hours. `people` draws them (the same ones for the same
seed); `create_subscribers` writes them with plain SQL, row for row what `briefmail subscribers
import` writes, and `check_setup` proves that on a sample. Used by bench/send.py and
bench/plan.py.
"""

from __future__ import annotations

import functools
import itertools
import json
import random
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import NamedTuple, cast

from sqlalchemy import Engine, Table, func, select, text
from sqlalchemy.orm import Session

from mailer.topics import Taxonomy, default_taxonomy
from subscribers.db import Base, make_engine
from subscribers.models import (
    Cadence,
    ConsentAction,
    ConsentEvent,
    ConsentSource,
    Subscriber,
    Subscription,
    SubscriptionStatus,
    TopicChoice,
    address_hash,
    new_token_key,
)

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


def _insert_sql(model: type[Base], columns: tuple[str, ...], mark: str = "?") -> str:
    """INSERT INTO table (columns) VALUES (?, ...) for an executemany of plain tuples."""
    table = cast(Table, model.__table__)
    unknown = set(columns) - set(table.c.keys())
    if unknown:
        raise SystemExit(f"bench/population.py is stale: {table.name} has no {sorted(unknown)}")
    marks = ", ".join([mark] * len(columns))
    return f"INSERT INTO {table.name} ({', '.join(columns)}) VALUES ({marks})"


_COLUMNS: tuple[tuple[type[Base], tuple[str, ...]], ...] = (
    (Subscriber, ("id", "email", "email_hash", "name", "timezone", "token_key")),
    (Subscription, ("id", "subscriber_id", "list_id", "status", "cadence", "send_hour")),
    (TopicChoice, ("subscription_id", "topic")),
    (ConsentEvent, ("subscriber_id", "list_id", "action", "source", "detail")),
)


@functools.cache
def _inserts(mark: str) -> tuple[str, ...]:
    """The four INSERT statements with the driver's placeholder."""
    return tuple(_insert_sql(model, columns, mark) for model, columns in _COLUMNS)


@functools.cache
def _consent_detail(source: str, at: str | None) -> str:
    """The ConsentEvent detail the importer records for a row (see importer._RowChecker)."""
    when = f'"{at}"' if at else "null"
    return f'{{"consent_source": {json.dumps(source, ensure_ascii=False)}, "consent_at": {when}}}'


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
    """Write confirmed subscriptions as `import_csv` does for new addresses, in bulk; the count.

    Per person: a subscriber (fresh token key), a confirmed subscription, one TopicChoice per
    chosen topic and an ``import`` ConsentEvent whose detail holds consent_source and
    consent_at; created_at and updated_at are the database's defaults, as for the importer.
    Plain SQL with tuples through the engine's connection (SQLite): the Core statements the
    importer uses spend more time building parameters than SQLite spends writing. Ids are the
    next free ones, given explicitly, so nothing is read back; each batch is a transaction,
    so memory stays O(batch). `check_setup` holds the rows equal to the importer's.
    """
    status, action, source = (
        SubscriptionStatus.CONFIRMED.value,
        ConsentAction.IMPORT.value,
        ConsentSource.IMPORT.value,
    )
    written = 0
    on_sqlite = engine.dialect.name == "sqlite"
    insert_subscriber, insert_subscription, insert_choice, insert_event = _inserts(
        "?" if on_sqlite else "%s"
    )
    with engine.connect() as connection:
        if on_sqlite:
            # For this connection only: random-order inserts into the unique email and
            # email_hash indexes at 1M rows want more than SQLite's default 2 MB page cache
            # (the bench's memory, not the send's), and throwaway rows need no fsync at each
            # WAL checkpoint.
            connection.exec_driver_sql("PRAGMA cache_size=-131072")
            connection.exec_driver_sql("PRAGMA synchronous=OFF")
        subscriber_id = connection.scalar(select(func.coalesce(func.max(Subscriber.id), 0))) or 0
        subscription_id = (
            connection.scalar(select(func.coalesce(func.max(Subscription.id), 0))) or 0
        )
        connection.commit()
        for batch in _batches(population, batch_size):
            subscribers: list[tuple[object, ...]] = []
            subscriptions: list[tuple[object, ...]] = []
            choices: list[tuple[object, ...]] = []
            events: list[tuple[object, ...]] = []
            for person in batch:
                subscriber_id += 1
                subscription_id += 1
                subscribers.append(
                    (
                        subscriber_id,
                        person.email,
                        address_hash(person.email),
                        person.name,
                        person.timezone,
                        new_token_key(),
                    )
                )
                subscriptions.append(
                    (
                        subscription_id,
                        subscriber_id,
                        list_id,
                        status,
                        person.cadence.value,
                        person.send_hour,
                    )
                )
                choices.extend((subscription_id, topic) for topic in person.topics)
                detail = _consent_detail(person.consent_source, person.consent_at)
                events.append((subscriber_id, list_id, action, source, detail))
            with connection.begin():
                connection.exec_driver_sql(insert_subscriber, subscribers)
                connection.exec_driver_sql(insert_subscription, subscriptions)
                if choices:
                    connection.exec_driver_sql(insert_choice, choices)
                connection.exec_driver_sql(insert_event, events)
            written += len(batch)
    return written


def check_setup(folder: Path, count: int, seed: int, sender: str) -> None:
    """SystemExit unless bulk setup writes what `import_csv` writes for the same people."""
    import csv

    from briefmail.migrate import upgrade
    from subscribers.importer import COLUMNS, import_csv
    from subscribers.lists import create_list

    folder.mkdir(parents=True, exist_ok=True)
    source = folder / "people.csv"
    with source.open("w", encoding="utf-8", newline="") as stream:
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
    dumps = []
    for how in ("importer", "bulk"):
        engine = make_engine(f"sqlite:///{folder / how}.db")
        upgrade(engine)
        with Session(engine) as session:
            newsletter = create_list(session, "bench", "Bench Brief", sender)
            session.commit()
            if how == "importer":
                import_csv(session, newsletter, source, taxonomy=default_taxonomy())
                session.commit()
            list_id = newsletter.id
        if how == "bulk":
            create_subscribers(engine, list_id, people(count, seed), batch_size=97)
        with engine.connect() as connection:
            dumps.append(
                {
                    query: [tuple(row) for row in connection.execute(text(query))]
                    for query in (
                        "SELECT id, email, email_hash, name, timezone, length(token_key), "
                        "created_at IS NOT NULL FROM subscribers ORDER BY id",
                        "SELECT id, subscriber_id, list_id, status, cadence, send_hour, "
                        "created_at IS NOT NULL, updated_at IS NOT NULL "
                        "FROM subscriptions ORDER BY id",
                        "SELECT subscription_id, topic FROM topic_choices ORDER BY 1, 2",
                        "SELECT id, subscriber_id, list_id, action, source, ip, user_agent, "
                        "wording, detail, created_at IS NOT NULL FROM consent_events ORDER BY id",
                    )
                }
            )
        engine.dispose()
    importer, bulk = dumps
    for query, rows in importer.items():
        if rows != bulk[query]:
            differ = next(
                (pair for pair in zip(rows, bulk[query], strict=False) if pair[0] != pair[1]),
                (len(rows), len(bulk[query])),
            )
            raise SystemExit(f"bulk setup differs from the importer in\n  {query}\n  {differ}")
    print(f"setup check: {count} people, bulk rows == importer rows in all four tables")
