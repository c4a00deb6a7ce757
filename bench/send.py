"""Send speed at scale: N subscribers, one DKIM-signed daily brief, a real SMTP sink on loopback.

    python bench/send.py [--subscribers 10000] [--connections 4] [--workers 1 | 2,4,1]
                         [--dkim rsa|ed25519|none] [--seed 7] [--keep DIR] [--check-setup]
                         [--sink PATH]

In a working folder (temporary unless --keep DIR) it starts Postfix's smtp-sink on loopback (see
bench/smtp_sink.py), generates a DKIM key with `briefmail dkim keygen`, writes a config, runs
`briefmail init` and ingests a 10-story daily brief. It then creates N confirmed subscribers over
a seeded, realistic mix (30% every topic, the rest 1-3 topics of skewed popularity; 80% daily;
the issue has no robotics story, so robotics-only readers are skipped as "no matching story"),
writing with bulk SQL exactly the rows `briefmail subscribers import` writes (--check-setup
proves it on a sample), and times `briefmail send ISSUE --json` in a subprocess: plan, render
each variant once, send, record. Its peak RSS comes from os.wait4 on that process (the largest
of it and any worker it waited for; the sum over all of them is sampled from /proc as well).

The baseline, timed in the same run over the same sink and number of connections (each worker
has its own pool, so workers × connections): as many messages as the send delivered, pushed by
the simplest sender there is — stdlib smtplib.SMTP.sendmail in one thread per connection — all
copies of one real signed message of the issue (the every-topic variant, the most common one)
with only the recipient (envelope and To:) changed.

With several worker counts (`--workers 2,4,1`) the subscribers are set up once and the issue is
sent once per count, every run forgotten in between (so each send plans again); the baseline
runs once, after the first send, and each count's table and JSON line print as it ends.

The sink counts what it receives; the run fails unless it got exactly what each side sent.
Prints a table, then one JSON line.
"""

from __future__ import annotations

import argparse
import functools
import itertools
import json
import os
import random
import shutil
import signal
import smtplib
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple, cast

from database import bench_database
from smtp_sink import SinkBinary, SmtpSink, locate
from sqlalchemy import Engine, Table, func, select, text
from sqlalchemy.orm import Session

from mailer.topics import Taxonomy, default_taxonomy
from subscribers.db import Base, make_engine
from subscribers.models import (
    Cadence,
    ConsentAction,
    ConsentEvent,
    ConsentSource,
    NewsletterList,
    Subscriber,
    Subscription,
    SubscriptionStatus,
    TopicChoice,
    address_hash,
    new_token_key,
)

# --- the population ----------------------------------------------------------------------------

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
        raise SystemExit(f"bench/send.py is out of date: {table.name} has no {sorted(unknown)}")
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


def check_setup(folder: Path, count: int, seed: int) -> None:
    """SystemExit unless bulk setup writes what `import_csv` writes for the same people."""
    import csv

    from scheduler.migrate import upgrade
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
            newsletter = create_list(session, "bench", "Bench Brief", SENDER)
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


# --- the issue and the config ------------------------------------------------------------------

SENDER = "Bench Brief <brief@bench.example.org>"
DOMAIN = "bench.example.org"

ISSUE = """\
Bench Brief — 2026-07-14

Posted on July 14, 2026 at 06:30 AM

Top Stories

1. Memory Maker Doubles HBM Output at Its Second Fab

  • Silicon Ledger · 2026-07-14
  • Summary: A memory-chip maker said its second plant now turns out twice as many HBM stacks \
as in spring, most of them bound for AI accelerator cards.
  • Why It Matters: High-bandwidth memory has been the tightest part of the accelerator supply \
chain all year.
  • URL: https://bench.example.org/stories/hbm-second-fab

2. Lab Publishes Open-Weight Model With a Million-Token Context Window

  • Model Watch · 2026-07-13
  • Summary: A research lab released open weights for a mid-sized reasoning model that reads a \
million tokens of context and runs on a single server.
  • Why It Matters: Long-context open models let smaller teams build document tools without \
paying for a hosted API.
  • URL: https://bench.example.org/stories/million-token-open-weights

3. Chatbot Makers Cut Prices as Usage Climbs

  • Market Pulse · 2026-07-13
  • Summary: Three chatbot providers lowered their per-token prices for the second time this \
quarter while reporting record daily users.
  • Why It Matters: A price war among large language model vendors squeezes margins but widens \
adoption.
  • URL: https://bench.example.org/stories/chatbot-price-cuts

4. Robot-Vision Start-up Raises a Series C Round

  • Capital Desk · 2026-07-12
  • Summary: A start-up selling inspection software for factories closed a Series C round led \
by a state guidance fund and two venture capital firms.
  • Why It Matters: Investors are still writing large cheques for applied AI with paying \
customers.
  • URL: https://bench.example.org/stories/series-c-inspection

5. Ministry Drafts Rules on Labelling Synthetic Media

  • Policy Notes · 2026-07-14
  • Summary: The ministry published draft regulations requiring visible labels and hidden \
watermarks on generated images, audio and video.
  • Why It Matters: Platforms will need compliance tooling before the rules take effect next \
year.
  • URL: https://bench.example.org/stories/synthetic-media-labels

6. Western Province Opens a Hydropower-Fed Data Centre Cluster

  • Grid & Compute · 2026-07-11
  • Summary: A cluster of data centres powered by hydropower opened in the west, adding \
computing power for training clusters with liquid cooling throughout.
  • Why It Matters: Cheap, clean electricity is drawing compute away from coastal cities.
  • URL: https://bench.example.org/stories/hydropower-data-centres

7. New Export Controls Reach Older Lithography Tools

  • Trade Wire · 2026-07-13
  • Summary: Export controls announced this week extend to several older lithography systems \
and spare parts used by foundries.
  • Why It Matters: Fabs that relied on servicing installed tools face longer repair times.
  • URL: https://bench.example.org/stories/lithography-export-controls

8. E-commerce Group Folds Its AI Unit Into the Cloud Business

  • Company Watch · 2026-07-12
  • Summary: A large e-commerce group moved its AI division under the cloud business and named \
a new chief executive for the combined unit.
  • Why It Matters: The reorganisation ties model work more closely to revenue from enterprise \
customers.
  • URL: https://bench.example.org/stories/ai-unit-reorganisation

9. University Team Shows Smaller Models Can Check Their Own Proofs

  • Research Digest · 2026-07-10
  • Summary: A university group published a paper showing that a compact model trained on \
formal proofs can verify its own reasoning steps on a standard benchmark.
  • Why It Matters: Self-checking could make small models dependable enough for maths and \
code review.
  • URL: https://bench.example.org/stories/self-checking-proofs

10. Editors' Note: A Shorter Brief on Friday

  • Editors · 2026-07-14
  • Summary: Friday's issue will be shorter than usual while the team attends a conference.
  • Why It Matters: Regular length returns on Monday.
  • URL: Read more
"""


def write_config(
    path: Path, port: int, connections: int, dkim: bool, database_url: str = "sqlite:///bench.db"
) -> None:
    """A briefmail.toml for the bench: its database, the sink as relay, the bench's key."""
    signing = f'[dkim]\ndomain = "{DOMAIN}"\nselector = "bench"\nkey_file = "dkim.key"\n'
    path.write_text(
        f"""\
[newsletter]
slug = "bench"
name = "Bench Brief"
from = "{SENDER}"
base_url = "https://{DOMAIN}"
postal_address = "Bench Brief, 1 Example Street, 10115 Berlin"

[database]
url = "{database_url}"

[smtp]
host = "127.0.0.1"
port = {port}
connections = {connections}

{signing if dkim else ""}""",
        encoding="utf-8",
    )


# --- running the CLI ---------------------------------------------------------------------------


def briefmail_command() -> str:
    """The `briefmail` script of this interpreter's environment."""
    beside = Path(sys.executable).with_name("briefmail")
    found = str(beside) if beside.exists() else shutil.which("briefmail")
    if found is None:
        raise SystemExit("no `briefmail` command: run `pip install -e .` in this environment")
    return found


def clean_env() -> dict[str, str]:
    """The environment without BRIEFMAIL_* variables, so only the bench's config counts."""
    return {k: v for k, v in os.environ.items() if not k.startswith("BRIEFMAIL_")}


def run_cli(folder: Path, *args: str) -> str:
    """Run `briefmail ARGS` in the folder; its stdout, or SystemExit with its stderr."""
    done = subprocess.run(
        [briefmail_command(), *args],
        cwd=folder,
        env=clean_env(),
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise SystemExit(f"briefmail {' '.join(args)} failed ({done.returncode}):\n{done.stderr}")
    return done.stdout


@dataclass
class Measured:
    """A finished process: exit code, wall seconds, peak RSS, output."""

    returncode: int
    seconds: float
    #: ru_maxrss from wait4, in KiB: the largest of the process and any child it waited for.
    max_rss_kb: int
    #: The largest sum of RSS over the process and all its descendants, sampled every 0.1 s.
    tree_rss_kb: int
    #: Each process's own high-water mark (VmHWM, KiB), by "pid command", sampled every 0.1 s.
    process_hwm_kb: dict[str, int]
    stdout: str
    stderr: str


class TreeSampler(threading.Thread):
    """Samples the summed RSS of a process and its descendants from /proc until stopped."""

    def __init__(self, pid: int, every: float = 0.1) -> None:
        super().__init__(daemon=True)
        self.pid = pid
        self.every = every
        self.peak_kb = 0
        self.hwm_kb: dict[str, int] = {}
        self._halt = threading.Event()

    def run(self) -> None:
        """Sample until stop() is called."""
        while not self._halt.wait(self.every):
            total = 0
            for pid in self._tree():
                rss, hwm, name = _memory_kb(pid)
                total += rss
                if hwm:
                    self.hwm_kb[name] = max(self.hwm_kb.get(name, 0), hwm)
            self.peak_kb = max(self.peak_kb, total)

    def stop(self) -> None:
        """Stop sampling and wait for the thread."""
        self._halt.set()
        self.join()

    def _tree(self) -> list[int]:
        found, todo = [], [self.pid]
        while todo:
            pid = todo.pop()
            found.append(pid)
            for task in Path(f"/proc/{pid}/task").glob("*/children"):
                try:
                    todo.extend(int(child) for child in task.read_text().split())
                except OSError:
                    continue
        return found


def _memory_kb(pid: int) -> tuple[int, int, str]:
    """VmRSS and VmHWM of a process in KiB, and "pid command" naming it; zeros once it is gone."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
        command = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return 0, 0, ""
    fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
    try:
        rss, hwm = (int(fields[key].split()[0]) for key in ("VmRSS", "VmHWM"))
    except (KeyError, ValueError, IndexError):
        return 0, 0, ""
    words = [word.decode(errors="replace") for word in command if word]
    # "briefmail ... runs resume 1 --share 2/2" is named by what follows the config options.
    name = " ".join(Path(words[1]).name if i == 1 else w for i, w in enumerate(words[1:4], 1))
    for at, word in enumerate(words):
        if word in {"send", "runs", "worker"}:
            name = " ".join(words[at:]).replace(" --retry-for 0.0", "").replace(" --json", "")
            break
    return rss, hwm, f"{pid} {name}"


def _fork_not_vfork() -> None:
    """Run in the child between fork and exec: its presence alone rules out vfork."""


def run_measured(folder: Path, *args: str) -> Measured:
    """Run `briefmail ARGS`: wall seconds, and peak RSS from wait4 on that very process.

    Not RUSAGE_CHILDREN: it is the largest of *every* child waited for, the bench's other CLI
    calls included.
    """
    out, err = folder / "send.stdout", folder / "send.stderr"
    with out.open("wb") as stdout, err.open("wb") as stderr:
        started = time.perf_counter()
        # A no-op preexec_fn makes CPython fork() instead of vfork(). A vforked child shares the
        # bench's memory until exec, and exec records that memory's high-water mark as the
        # child's: ru_maxrss would start at the bench's own peak (218 MB after writing 1M
        # subscribers, more than the sender ever uses). Safe here: no other thread is running.
        assert threading.active_count() == 1, "fork with threads running"
        process = subprocess.Popen(
            [briefmail_command(), *args],
            cwd=folder,
            env=clean_env(),
            stdout=stdout,
            stderr=stderr,
            preexec_fn=_fork_not_vfork,
        )
        sampler = TreeSampler(process.pid)
        sampler.start()
        _, status, usage = os.wait4(process.pid, 0)
        seconds = time.perf_counter() - started
        process.returncode = os.waitstatus_to_exitcode(status)
        sampler.stop()
    return Measured(
        process.returncode,
        seconds,
        usage.ru_maxrss,
        sampler.peak_kb,
        dict(sampler.hwm_kb),
        out.read_text(encoding="utf-8"),
        err.read_text(encoding="utf-8", errors="replace"),
    )


# --- the baseline ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Prebuilt:
    """One real message, cut around its To: value so each copy gets its own recipient."""

    mail_from: str
    head: bytes
    tail: bytes

    def to(self, address: str) -> bytes:
        """The message addressed to ``address``."""
        return b"".join((self.head, address.encode("ascii"), self.tail))

    @property
    def size(self) -> int:
        """Bytes of one copy (with a 30-character address)."""
        return len(self.head) + 30 + len(self.tail)


def prebuilt_message(config: Path, issue_id: int) -> Prebuilt:
    """The every-topic variant of the issue, signed and filled for one subscriber by the library."""
    from scheduler.app import build_app
    from scheduler.dispatch import ALL_TOPICS
    from scheduler.editions import load_issue
    from scheduler.settings import load_settings

    app = build_app(load_settings(config))
    try:
        with app.sessions() as session:
            row = load_issue(session, issue_id)
            factory = app.dispatcher().factory(row, "daily", run_id=None)
            template = factory.template(ALL_TOPICS)
            message = factory.message(template, "reader@bench.example.net", 1, 1, new_token_key())
    finally:
        app.close()
    data = b"\r\n" + message.data  # so that a To: on the first line is found like any other
    end_of_head = data.find(b"\r\n\r\n")
    start = data.find(b"\r\nTo: ", 0, end_of_head)
    if start < 0:
        raise SystemExit("the library's message has no To: header line")
    value = start + len(b"\r\nTo: ")
    stop = data.find(b"\r\n", value)
    while data[stop + 2 : stop + 3] in (b" ", b"\t"):  # folded: the value goes on
        stop = data.find(b"\r\n", stop + 2)
    return Prebuilt(message.mail_from, data[2:value], data[stop:])


def baseline(host: str, port: int, message: Prebuilt, count: int, connections: int) -> float:
    """Seconds for smtplib to push ``count`` copies over ``connections`` threads, one each."""
    shares = [count // connections + (n < count % connections) for n in range(connections)]
    failures: list[BaseException] = []

    def push(worker: int, share: int) -> None:
        try:
            with smtplib.SMTP(host, port, timeout=30) as smtp:
                for n in range(share):
                    address = f"reader{worker}.{n}@bench.example.net"
                    smtp.sendmail(message.mail_from, [address], message.to(address))
        except BaseException as exc:  # reported by the main thread
            failures.append(exc)

    threads = [
        threading.Thread(target=push, args=(worker, share)) for worker, share in enumerate(shares)
    ]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    seconds = time.perf_counter() - started
    if failures:
        raise SystemExit(f"baseline sender failed: {failures[0]!r}")
    return seconds


# --- the run -----------------------------------------------------------------------------------


@dataclass
class Result:
    """Everything the table and the JSON line show."""

    subscribers: int
    connections: int
    workers: int
    dkim: str
    database: str
    database_bytes: int
    sink: SinkBinary
    setup_seconds: float
    send: Measured
    report: dict[str, Any]
    skipped: dict[str, int]
    sink_send: int
    baseline_seconds: float
    baseline_count: int
    sink_baseline: int
    message_bytes: int
    #: The baseline's connections (smtplib threads): those of the first send.
    baseline_connections: int
    #: 1-minute load average before the send and after the baseline (others' work skews both).
    load: tuple[float, float]

    @property
    def delivered(self) -> int:
        """Messages the send delivered."""
        return int(self.report.get("delivered", 0))

    @property
    def rate(self) -> float:
        """Messages per second of the send (wall clock of the whole CLI call)."""
        return self.delivered / self.send.seconds if self.send.seconds else 0.0

    def process_peaks_mb(self) -> dict[str, float]:
        """Each process's peak RSS in MB by its command (#2, #3 for workers alike)."""
        peaks: dict[str, float] = {}
        for name, kb in sorted(
            self.send.process_hwm_kb.items(), key=lambda i: int(i[0].split()[0])
        ):
            command = name.split(" ", 1)[1]
            key, n = command, 1
            while key in peaks:
                n += 1
                key = f"{command} #{n}"
            peaks[key] = round(kb / 1024, 1)
        return peaks

    @property
    def peak_rss_kb(self) -> int:
        """The largest peak RSS of any one process of the send (VmHWM, each its own).

        Not wait4's ru_maxrss: a forked child starts with its parent's resident pages counted
        until it execs, and exec records that as the child's peak — the bench's own memory
        (200 MB after writing 1M subscribers), not the sender's. VmHWM is per address space.
        """
        return max(self.send.process_hwm_kb.values(), default=self.send.max_rss_kb)

    @property
    def baseline_rate(self) -> float:
        """Messages per second of the baseline."""
        return self.baseline_count / self.baseline_seconds if self.baseline_seconds else 0.0

    @property
    def problems(self) -> list[str]:
        """What makes the figures untrustworthy (empty when all is well)."""
        found = []
        if self.send.returncode != 0:
            found.append(f"send exited with {self.send.returncode}: {self.send.stderr.strip()}")
        for key in ("deferred", "failed", "pending", "cancelled"):
            if self.report.get(key):
                found.append(f"send: {self.report[key]} {key}")
        if self.delivered != self.report.get("planned"):
            found.append(f"send: delivered {self.delivered} of {self.report.get('planned')}")
        if self.sink_send != self.delivered:
            found.append(
                f"sink received {self.sink_send} from the send, which says {self.delivered}"
            )
        if self.sink_baseline != self.baseline_count:
            found.append(
                f"sink received {self.sink_baseline} from the baseline, "
                f"which sent {self.baseline_count}"
            )
        return found

    def as_json(self) -> dict[str, object]:
        """The JSON line."""
        return {
            "subscribers": self.subscribers,
            "seconds": round(self.send.seconds, 3),
            "msgs_per_s": round(self.rate, 1),
            "baseline_msgs_per_s": round(self.baseline_rate, 1),
            "ratio": round(self.rate / self.baseline_rate, 4) if self.baseline_rate else None,
            "peak_rss_mb": round(self.peak_rss_kb / 1024, 1),
            "database": self.database,
            "workers": self.workers,
            "planning_seconds": self.report.get("planning_seconds"),
            "database_mb": round(self.database_bytes / 2**20, 1),
            "process_peak_rss_mb": self.process_peaks_mb(),
            "variants_rendered": self.report.get("variants_rendered"),
        }


def reset_runs(url: str) -> None:
    """Forget every run, so the next send plans and sends the issue again from nothing."""
    engine = make_engine(url)
    with engine.begin() as connection:
        if engine.dialect.name == "postgresql":
            connection.execute(text("TRUNCATE deliveries, runs CASCADE"))
        else:
            connection.execute(text("DELETE FROM bounce_records"))
            connection.execute(text("DELETE FROM deliveries"))
            connection.execute(text("DELETE FROM runs"))
    engine.dispose()


def measure(args: argparse.Namespace, folder: Path, binary: SinkBinary) -> Iterator[Result]:
    """Set up once; for each worker count a send (the baseline after the first); the figures."""
    config = folder / "briefmail.toml"
    most = args.connections * max(args.workers)
    with (
        bench_database(args.database, folder) as database,
        SmtpSink(binary, folder, max_connections=max(256, 2 * most)) as sink,
    ):
        _note(f"working in {folder}; {' '.join(sink.command)}")
        if args.dkim != "none":
            run_cli(
                folder,
                "dkim",
                "keygen",
                "--domain",
                DOMAIN,
                "--selector",
                "bench",
                "--algorithm",
                args.dkim,
                "--out",
                "dkim.key",
            )
        # SQLite's URL is relative to the config, as an operator would write it.
        url = database.url if database.kind != "sqlite" else "sqlite:///bench.db"
        write_config(config, sink.port, args.connections, args.dkim != "none", url)
        run_cli(folder, "--config", str(config), "init")
        (folder / "issue.txt").write_text(ISSUE, encoding="utf-8")
        ingested = json.loads(
            run_cli(folder, "--config", str(config), "ingest", "issue.txt", "--json")
        )
        issue_id = int(ingested["id"])

        engine = make_engine(database.url)
        with Session(engine) as session:
            list_id = session.scalar(
                select(NewsletterList.id).where(NewsletterList.slug == "bench")
            )
        assert list_id is not None, "briefmail init created no list 'bench'"
        _note(f"creating {args.subscribers:,} subscribers")
        started = time.perf_counter()
        created = create_subscribers(engine, list_id, people(args.subscribers, args.seed))
        database.after_bulk_load(engine)
        setup_seconds = time.perf_counter() - started
        engine.dispose()
        assert created == args.subscribers

        baseline_figures: tuple[float, int, int, int, int] | None = None
        for turn, workers in enumerate(args.workers):
            if turn:
                reset_runs(database.url)
            load_before = os.getloadavg()[0]
            before = sink.received()
            send_args = ["--config", str(config), "send", str(issue_id), "--json"]
            if workers > 1:
                send_args += ["--workers", str(workers)]
            _note(f"briefmail {' '.join(send_args)}")
            send = run_measured(folder, *send_args)
            report: dict[str, Any] = json.loads(send.stdout) if send.returncode == 0 else {}
            delivered = int(report.get("delivered", 0))
            sink_send = sink.wait_for(before + delivered) - before
            skipped: dict[str, int] = {}
            if report:
                run = json.loads(
                    run_cli(
                        folder,
                        "--config",
                        str(config),
                        "runs",
                        "show",
                        str(report["run_id"]),
                        "--json",
                    )
                )
                skipped = dict(run.get("skipped") or {})

            if baseline_figures is None:
                # Each worker process opens its own pool: the sender holds workers × connections.
                total = args.connections * workers
                _note(f"baseline: {delivered:,} messages, smtplib over {total} connections")
                message = prebuilt_message(config, issue_id)
                before = sink.received()
                seconds = baseline(sink.host, sink.port, message, delivered, total)
                sink_baseline = sink.wait_for(before + delivered) - before
                baseline_figures = (seconds, delivered, sink_baseline, message.size, total)
            load_after = os.getloadavg()[0]
            engine = make_engine(database.url)
            database_bytes = database.size_bytes(engine)
            engine.dispose()
            yield Result(
                database=args.database,
                database_bytes=database_bytes,
                subscribers=args.subscribers,
                connections=args.connections,
                workers=workers,
                dkim=args.dkim,
                sink=binary,
                setup_seconds=setup_seconds,
                send=send,
                report=report,
                skipped=skipped,
                sink_send=sink_send,
                baseline_seconds=baseline_figures[0],
                baseline_count=baseline_figures[1],
                sink_baseline=baseline_figures[2],
                message_bytes=baseline_figures[3],
                baseline_connections=baseline_figures[4],
                load=(load_before, load_after),
            )


def _note(text: str) -> None:
    """Progress on stderr (stdout is the table and the JSON line)."""
    print(f"[{time.strftime('%H:%M:%S')}] {text}", file=sys.stderr, flush=True)


def print_table(result: Result) -> None:
    """The figures, readable."""
    n = result.subscribers
    workers = f"{result.workers} worker{'s' if result.workers != 1 else ''}"
    print(
        f"briefmail send · {n:,} subscribers · {result.connections} connections per sender · "
        f"{workers} · {result.database} · "
        f"DKIM {result.dkim} · smtp-sink ({result.sink.origin})"
    )
    cpus = os.cpu_count() or 1
    busy = max(result.load) > cpus
    print(
        f"{cpus} CPUs · load average {result.load[0]:.1f} before the send, "
        f"{result.load[1]:.1f} after the baseline"
        + ("  (BUSY MACHINE: figures are noisy)" if busy else "")
        + "\n"
    )
    rows: list[tuple[str, str, str]] = [
        (
            "setup: subscribers (bulk SQL)",
            f"{result.setup_seconds:.2f}",
            f"{n / result.setup_seconds:,.0f}/s",
        ),
    ]
    engine_seconds = result.report.get("seconds")
    rows.append(
        (
            "send: plan + render + send (CLI)",
            f"{result.send.seconds:.2f}",
            f"{result.rate:,.0f} msg/s",
        )
    )
    if engine_seconds is not None:
        rows.append(("  as `send --json` reports it", f"{engine_seconds:.2f}", ""))
    rows.append(
        (
            f"baseline: smtplib × {result.baseline_connections} threads",
            f"{result.baseline_seconds:.2f}",
            f"{result.baseline_rate:,.0f} msg/s",
        )
    )
    print(f"{'step':<36}{'seconds':>9}{'rate':>16}")
    for step, seconds, rate in rows:
        print(f"{step:<36}{seconds:>9}{rate:>16}")
    ratio = result.rate / result.baseline_rate if result.baseline_rate else 0.0
    rss = result.peak_rss_kb / 1024
    tree = result.send.tree_rss_kb / 1024
    per_second = n / result.send.seconds
    skipped = sum(result.skipped.values())
    reasons = ", ".join(f"{k} {v:,}" for k, v in result.skipped.items())
    facts = [
        ("subscribers", f"{n:,}"),
        ("planned / delivered", f"{result.report.get('planned', 0):,} / {result.delivered:,}"),
        ("skipped", f"{skipped:,} ({reasons})" if reasons else f"{skipped:,}"),
        ("variants rendered", str(result.report.get("variants_rendered"))),
        (
            "sink received",
            f"{result.sink_send:,} from the send, {result.sink_baseline:,} from the baseline",
        ),
        ("message size (baseline)", f"{result.message_bytes:,} bytes (every-topic variant)"),
        (
            "ratio send / baseline",
            f"{ratio:.3f}   (target ≥ 0.5)  {'ok' if ratio >= 0.5 else 'MISSED'}",
        ),
        (
            "subscribers per second",
            f"{per_second:,.0f}   (target ≥ 1,667: 1M in 10 min)  "
            f"{'ok' if per_second >= 1_000_000 / 600 else 'MISSED'}",
        ),
        (
            "planning (in the send)",
            f"{result.report.get('planning_seconds', 0.0):.2f} s   (target 1M < 30 s)",
        ),
        ("database size", f"{result.database_bytes / 2**20:,.1f} MB ({result.database})"),
        (
            "peak RSS of one process",
            f"{rss:.1f} MB   (target ≤ 200)  {'ok' if rss <= 200 else 'MISSED'}",
        ),
        ("  wait4 ru_maxrss", f"{result.send.max_rss_kb / 1024:.1f} MB (counts a fork's parent)"),
        ("  all its processes (sampled)", f"{tree:.1f} MB"),
    ]
    facts += [
        (f"  {name}", f"{hwm / 1024:.1f} MB (VmHWM)")
        for name, hwm in sorted(result.send.process_hwm_kb.items())
    ]
    print()
    for label, value in facts:
        print(f"{label:<30}{value}" if len(label) < 30 else f"{label}  {value}")


def main() -> None:
    """Run the benchmark; exit 1 (after the JSON line) if any count is off."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subscribers", "-n", type=int, default=10_000)
    parser.add_argument(
        "--connections",
        type=int,
        default=4,
        help="[smtp] connections of each sender process; the baseline uses as many in all",
    )
    parser.add_argument(
        "--workers",
        type=worker_counts,
        default=[1],
        help="sender processes (`send --workers`, when above 1); several (2,4,1): one send "
        "each over the same subscribers, one baseline after the first",
    )
    parser.add_argument("--dkim", choices=("rsa", "ed25519", "none"), default="rsa")
    parser.add_argument(
        "--database",
        choices=("sqlite", "postgresql"),
        default="sqlite",
        help="SQLite beside the config, or a throwaway PostgreSQL cluster (Debian's package)",
    )
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--keep", type=Path, help="work in DIR (must be new or empty) and keep it")
    parser.add_argument("--sink", type=Path, help="an smtp-sink binary (default: fetch postfix)")
    parser.add_argument(
        "--check-setup",
        action="store_true",
        help="first prove on 1,000 people that bulk setup writes what the importer writes",
    )
    args = parser.parse_args()
    if args.subscribers < 1 or args.connections < 1 or min(args.workers) < 1:
        parser.error("--subscribers, --connections and --workers must be at least 1")
    binary = locate(args.sink)
    # On SIGTERM too, leave through the with-blocks, which stop the sink and remove the folder.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    with ExitStack() as stack:
        if args.keep:
            folder = args.keep.resolve()
            folder.mkdir(parents=True, exist_ok=True)
            if any(folder.iterdir()):
                parser.error(f"--keep {folder}: the folder is not empty")
        else:
            folder = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-send-")))
        if args.check_setup:
            check_setup(folder / "check-setup", min(args.subscribers, 1000), args.seed)
        problems = []
        for result in measure(args, folder, binary):
            print_table(result)
            for problem in result.problems:
                print(f"PROBLEM: {problem}", file=sys.stderr)
            problems += result.problems
            print(json.dumps(result.as_json()), flush=True)
        if args.keep:
            print(f"\nworking files kept in {folder}")
    if problems:
        raise SystemExit(1)


def worker_counts(text: str) -> list[int]:
    """`--workers 2` or `--workers 2,4,1`."""
    try:
        return [int(part) for part in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: a number, or numbers with commas") from None


if __name__ == "__main__":
    main()
