"""Send speed at scale: N subscribers, one DKIM-signed daily brief, a real SMTP sink on loopback.

    python bench/send.py [--subscribers 10000] [--connections N] [--workers 1 | auto | 2,4,1]
                         [--dkim rsa|ed25519|none] [--seed 7] [--keep DIR] [--check-setup]
                         [--sink PATH] [--note TEXT] [--no-record]

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

The limit, also in the same run, after the baseline: Postfix's smtp-source (bench/smtp_source.py,
from the sink's own package) pushing as many messages, each as large as that signed message,
over as many sessions as the send's connections (workers × connections). The ratio to it comes
first; the ratio to smtplib, whose own per-message cost is high, beside it.

With several worker counts (`--workers 2,4,1`) the subscribers are set up once and the issue is
sent once per count, every run forgotten in between (so each send plans again); the baseline
runs once, after the first send, smtp-source after every send (its sessions are that send's), and
each count's table and JSON line print as it ends.

The sink counts what it receives; the run fails unless it got exactly what each side sent.
Prints a table, then one JSON line, and appends the run to bench/results/send.json (unless
--no-record or a count is off); `python -m bench.results` then rewrites bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from bench.baseline import baseline, prebuilt_message, signing_ms
from bench.brief import DOMAIN, ISSUE, SENDER, write_config
from bench.database import BenchDatabase, bench_database
from bench.floor import Floor
from bench.population import check_setup, create_subscribers, people
from bench.processes import Measured, run_cli, run_measured
from bench.record import record
from bench.smtp_sink import SinkBinary, SmtpSink, locate
from bench.smtp_source import locate_source, push
from briefmail.settings import SmtpSettings
from scheduler.pool import worker_count
from subscribers.db import make_engine
from subscribers.models import NewsletterList

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
    #: smtp-source, after the baseline: as many messages of the same size over as many
    #: sessions as this send's connections (workers × connections); seconds and received.
    source_seconds: float
    sink_source: int
    #: One DKIM signature of the baseline's message on one core, ms (None: not signed).
    signing_ms: float | None
    #: 1-minute load average before the send and after the baseline (others' work skews both).
    load: tuple[float, float]
    #: CPU per message of the send, the sink and smtp-source, and the floor they make.
    floor: Floor

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
    def source_rate(self) -> float:
        """Messages per second of smtp-source: the limit of this machine and sink."""
        return self.delivered / self.source_seconds if self.source_seconds else 0.0

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
        if self.sink_source != self.delivered:
            found.append(
                f"sink received {self.sink_source} from smtp-source, which sent {self.delivered}"
            )
        return found

    def as_json(self) -> dict[str, object]:
        """The JSON line."""
        return {
            "subscribers": self.subscribers,
            "seconds": round(self.send.seconds, 3),
            "msgs_per_s": round(self.rate, 1),
            "smtp_source_msgs_per_s": round(self.source_rate, 1),
            "ratio_smtp_source": _ratio(self.rate, self.source_rate),
            "baseline_msgs_per_s": round(self.baseline_rate, 1),
            "ratio": _ratio(self.rate, self.baseline_rate),
            "delivered": self.delivered,
            "message_bytes": self.message_bytes,
            "connections": self.connections * self.workers,
            "baseline_connections": self.baseline_connections,
            "dkim_sign_ms": None if self.signing_ms is None else round(self.signing_ms, 3),
            "peak_rss_mb": round(self.peak_rss_kb / 1024, 1),
            "database": self.database,
            "workers": self.workers,
            "planning_seconds": self.report.get("planning_seconds"),
            "database_mb": round(self.database_bytes / 2**20, 1),
            "process_peak_rss_mb": self.process_peaks_mb(),
            "variants_rendered": self.report.get("variants_rendered"),
            **self.floor.as_json(),
        }


def _ratio(top: float, bottom: float) -> float | None:
    return round(top / bottom, 4) if bottom else None


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


def _set_up_briefmail(args: argparse.Namespace, folder: Path, url: str, port: int) -> int:
    """Key, config, `briefmail init` and the issue ingested, all through the CLI; its id."""
    config = folder / "briefmail.toml"
    if args.dkim != "none":
        keygen = ["dkim", "keygen", "--domain", DOMAIN, "--selector", "bench"]
        run_cli(folder, *keygen, "--algorithm", args.dkim, "--out", "dkim.key")
    write_config(config, port, args.connections, args.dkim != "none", url)
    run_cli(folder, "--config", str(config), "init")
    (folder / "issue.txt").write_text(ISSUE, encoding="utf-8")
    ingested = run_cli(
        folder, "--config", str(config), "ingest", "issue.txt", "--approve", "--json"
    )
    return int(json.loads(ingested)["id"])


def _create_subscribers(args: argparse.Namespace, database: BenchDatabase) -> float:
    """The subscribers, in bulk SQL into the list `init` made; the seconds it took."""
    engine = make_engine(database.url)
    with Session(engine) as session:
        list_id = session.scalar(select(NewsletterList.id).where(NewsletterList.slug == "bench"))
    assert list_id is not None, "briefmail init created no list 'bench'"
    _note(f"creating {args.subscribers:,} subscribers")
    started = time.perf_counter()
    created = create_subscribers(engine, list_id, people(args.subscribers, args.seed))
    database.after_bulk_load(engine)
    setup_seconds = time.perf_counter() - started
    engine.dispose()
    assert created == args.subscribers
    return setup_seconds


def _send(
    folder: Path, issue_id: int, workers: str, sink: SmtpSink
) -> tuple[Measured, dict[str, Any], int, dict[str, int]]:
    """One timed `briefmail send`: the process, its report, what the sink got, the skipped."""
    cli = ["--config", str(folder / "briefmail.toml")]
    before = sink.received()
    send_args = [*cli, "send", str(issue_id), "--json"]
    if workers != "1":
        send_args += ["--workers", workers]
    _note(f"briefmail {' '.join(send_args)}")
    send = run_measured(folder, *send_args)
    report: dict[str, Any] = json.loads(send.stdout) if send.returncode == 0 else {}
    delivered = int(report.get("delivered", 0))
    sink_send = sink.wait_for(before + delivered) - before
    skipped: dict[str, int] = {}
    if report:
        # The send's JSON counts only what it sent; the reasons for skipping are the run's.
        run = run_cli(folder, *cli, "runs", "show", str(report["run_id"]), "--json")
        skipped = dict(json.loads(run).get("skipped") or {})
    return send, report, sink_send, skipped


def _baseline(
    folder: Path, issue_id: int, sink: SmtpSink, count: int, connections: int
) -> tuple[float, int, int, int, int, float | None]:
    """smtplib pushing ``count`` copies of one real message: seconds, count, received, size.

    Then the connections, and one DKIM signature of that message in ms (None: no key).
    """
    _note(f"baseline: {count:,} messages, smtplib over {connections} connections")
    message = prebuilt_message(folder / "briefmail.toml", issue_id)
    before = sink.received()
    seconds = baseline(sink.host, sink.port, message, count, connections)
    sink_baseline = sink.wait_for(before + count) - before
    key = folder / "dkim.key"
    signing = signing_ms(key, DOMAIN, message) if key.exists() else None
    return seconds, count, sink_baseline, message.size, connections, signing


def _source(
    binary: SinkBinary, sink: SmtpSink, size: int, count: int, sessions: int
) -> tuple[float, int, float, float]:
    """smtp-source pushing ``count`` messages of ``size`` bytes: seconds, what the sink got.

    Then the CPU seconds of smtp-source and of the sink while it pushed.
    """
    _note(f"smtp-source: {count:,} messages of {size:,} bytes over {sessions} sessions")
    before, sink_cpu = sink.received(), sink.cpu_seconds()
    pushed = push(locate_source(binary), sink.host, sink.port, size, count, sessions)
    received = sink.wait_for(before + count) - before
    return pushed.seconds, received, pushed.cpu_seconds, sink.cpu_seconds() - sink_cpu


def measure(args: argparse.Namespace, folder: Path, binary: SinkBinary) -> Iterator[Result]:
    """Set up once; for each worker count a send (the baseline after the first); the figures."""
    most = args.connections * max(worker_count(w) for w in args.workers)
    with (
        bench_database(args.database, folder) as database,
        SmtpSink(binary, folder, max_connections=max(256, 2 * most)) as sink,
    ):
        _note(f"working in {folder}; {' '.join(sink.command)}")
        # SQLite's URL is relative to the config, as an operator would write it.
        url = database.url if database.kind != "sqlite" else "sqlite:///bench.db"
        issue_id = _set_up_briefmail(args, folder, url, sink.port)
        setup_seconds = _create_subscribers(args, database)
        baseline_figures: tuple[float, int, int, int, int, float | None] | None = None
        for turn, given in enumerate(args.workers):
            workers = worker_count(given)
            if turn:
                reset_runs(database.url)
            load_before, sink_cpu = os.getloadavg()[0], sink.cpu_seconds()
            send, report, sink_send, skipped = _send(folder, issue_id, given, sink)
            sink_cpu = sink.cpu_seconds() - sink_cpu
            delivered = int(report.get("delivered", 0))
            # Each worker process opens its own pool: the sender holds workers × connections.
            sessions = args.connections * workers
            if baseline_figures is None:
                baseline_figures = _baseline(folder, issue_id, sink, delivered, sessions)
            source = _source(binary, sink, baseline_figures[3], delivered, sessions)
            load_after = os.getloadavg()[0]
            floor = Floor.measured(
                delivered,
                (send.seconds, source[0]),
                (send.cpu_seconds, sink_cpu, source[2], source[3]),
                send.process_cpu_s,
                baseline_figures[5],
            )
            yield Result(
                database=args.database,
                database_bytes=_database_bytes(database),
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
                signing_ms=baseline_figures[5],
                source_seconds=source[0],
                sink_source=source[1],
                load=(load_before, load_after),
                floor=floor,
            )


def _database_bytes(database: BenchDatabase) -> int:
    """The database's size on disk once the send is over."""
    engine = make_engine(database.url)
    try:
        return database.size_bytes(engine)
    finally:
        engine.dispose()


def _note(text: str) -> None:
    """Progress on stderr (stdout is the table and the JSON line)."""
    print(f"[{time.strftime('%H:%M:%S')}] {text}", file=sys.stderr, flush=True)


def _print_heading(result: Result) -> None:
    """What was run, on what, and how busy the machine was (a blank line after)."""
    workers = f"{result.workers} worker{'s' if result.workers != 1 else ''}"
    print(
        f"briefmail send · {result.subscribers:,} subscribers · "
        f"{result.connections} connections per sender · {workers} · {result.database} · "
        f"DKIM {result.dkim} · smtp-sink ({result.sink.origin})"
    )
    cpus = os.cpu_count() or 1
    # Others' work on the machine slows both sides: say so beside the figures it skews.
    busy = max(result.load) > cpus
    print(
        f"{cpus} CPUs · load average {result.load[0]:.1f} before the send, "
        f"{result.load[1]:.1f} after the baseline"
        + ("  (BUSY MACHINE: figures are noisy)" if busy else "")
        + "\n"
    )


def _print_steps(result: Result) -> None:
    """The timed steps, with their seconds and rates."""
    rows: list[tuple[str, str, str]] = [
        (
            "setup: subscribers (bulk SQL)",
            f"{result.setup_seconds:.2f}",
            f"{result.subscribers / result.setup_seconds:,.0f}/s",
        ),
        (
            "send: plan + render + send (CLI)",
            f"{result.send.seconds:.2f}",
            f"{result.rate:,.0f} msg/s",
        ),
    ]
    engine_seconds = result.report.get("seconds")
    if engine_seconds is not None:
        rows.append(("  as `send --json` reports it", f"{engine_seconds:.2f}", ""))
    rows.append(
        (
            f"baseline: smtplib × {result.baseline_connections} threads",
            f"{result.baseline_seconds:.2f}",
            f"{result.baseline_rate:,.0f} msg/s",
        )
    )
    rows.append(
        (
            f"limit: smtp-source × {result.connections * result.workers} sessions",
            f"{result.source_seconds:.2f}",
            f"{result.source_rate:,.0f} msg/s",
        )
    )
    print(f"{'step':<36}{'seconds':>9}{'rate':>16}")
    for step, seconds, rate in rows:
        print(f"{step:<36}{seconds:>9}{rate:>16}")


def _facts(result: Result) -> list[tuple[str, str]]:
    """The counts, the targets met or missed, and each process's memory: label and value."""
    n = result.subscribers
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
            f"{result.sink_send:,} from the send, {result.sink_baseline:,} from smtplib, "
            f"{result.sink_source:,} from smtp-source",
        ),
        ("message size (baseline)", f"{result.message_bytes:,} bytes (every-topic variant)"),
        *_ratios(result),
        *result.floor.facts(_goal(result.workers)),
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
    return facts + [
        (f"  {name}", f"{hwm / 1024:.1f} MB (VmHWM)")
        for name, hwm in sorted(result.send.process_hwm_kb.items())
    ]


def _goal(workers: int) -> float:
    """Issue 22's goals: one sender at 0.35 of smtp-source, every core together at 0.6."""
    return 0.35 if workers == 1 else 0.6


def _ratios(result: Result) -> list[tuple[str, str]]:
    """briefmail against smtp-source (the machine's limit) first, then against smtplib."""
    limit = result.rate / result.source_rate if result.source_rate else 0.0
    smtplib = result.rate / result.baseline_rate if result.baseline_rate else 0.0
    goal = _goal(result.workers)
    return [
        (
            "ratio send / smtp-source",
            f"{limit:.3f}   (goal ≥ {goal})  {'ok' if limit >= goal else 'MISSED'}",
        ),
        ("ratio send / smtplib", f"{smtplib:.3f}"),
        (
            "one DKIM signature",
            "unsigned" if result.signing_ms is None else f"{result.signing_ms:.3f} ms (one core)",
        ),
    ]


def print_table(result: Result) -> None:
    """The figures, readable."""
    _print_heading(result)
    _print_steps(result)
    print()
    # A label too long for its column keeps two spaces before the value instead.
    for label, value in _facts(result):
        print(f"{label:<30}{value}" if len(label) < 30 else f"{label}  {value}")


def _parser() -> argparse.ArgumentParser:
    """The bench's options."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subscribers", "-n", type=int, default=10_000)
    parser.add_argument(
        "--connections",
        type=int,
        # The bench sends with what an operator gets: `[smtp] connections`' default.
        default=SmtpSettings.model_fields["connections"].default,
        help="[smtp] connections of each sender process; the baseline uses as many in all",
    )
    parser.add_argument(
        "--workers",
        type=worker_counts,
        default=["1"],
        help="sender processes (`send --workers`, when not 1; auto: one per core); several "
        "(2,4,1): one send "
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
    parser.add_argument("--note", help="a note for the recorded run (bench/results/send.json)")
    parser.add_argument(
        "--no-record", action="store_true", help="do not append the run to bench/results"
    )
    parser.add_argument(
        "--check-setup",
        action="store_true",
        help="first prove on 1,000 people that bulk setup writes what the importer writes",
    )
    return parser


def main() -> None:
    """Run the benchmark; exit 1 (after the JSON line) if any count is off."""
    parser = _parser()
    args = parser.parse_args()
    if args.subscribers < 1 or args.connections < 1:
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
            check_setup(folder / "check-setup", min(args.subscribers, 1000), args.seed, SENDER)
        problems = []
        for result in measure(args, folder, binary):
            print_table(result)
            for problem in result.problems:
                print(f"PROBLEM: {problem}", file=sys.stderr)
            problems += result.problems
            print(json.dumps(result.as_json()), flush=True)
            if not args.no_record and not result.problems:
                record("send", result.as_json(), note=args.note)
        if args.keep:
            print(f"\nworking files kept in {folder}")
    if problems:
        raise SystemExit(1)


def worker_counts(text: str) -> list[str]:
    """`--workers 2`, `--workers auto` (one per core) or several: `--workers 2,4,auto,1`."""
    parts = [part.strip() for part in text.split(",")]
    try:
        for part in parts:
            worker_count(part)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return parts


if __name__ == "__main__":
    main()
