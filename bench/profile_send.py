"""Where a sender's milliseconds go: py-spy on one `briefmail send` of a kept bench folder.

    python -m bench.send -n 12000 --keep /tmp/b12k          # set up once (and measure)
    python -m bench.profile_send /tmp/b12k [--rate 250] [--out bench/results/profile-X.txt]
                                 [--tree CHECKOUT] [--title TEXT]

It starts a fresh smtp-sink, points the folder's config at it, forgets the folder's runs (so the
send plans and sends the whole issue again) and runs the send under ``py-spy record --idle``
(wall-clock samples of the main thread, waiting included). Each sample is put in the first
category, in the order of `CATEGORIES`, that one of its frames matches, and each category's
share is shown as seconds and as milliseconds per delivered message. Needs py-spy
(``pip install py-spy``) and, as root or with ptrace allowed, nothing else.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path

from bench.processes import briefmail_command, clean_env
from bench.send import reset_runs
from bench.smtp_sink import SmtpSink, locate

__all__ = ["CATEGORIES", "categorise", "main"]

#: (label, pattern any frame of a sample may match), first match wins: an import inside the
#: send counts as an import, a token made while filling a message as a token.
CATEGORIES: tuple[tuple[str, re.Pattern[str]], ...] = tuple(
    (label, re.compile(pattern))
    for label, pattern in (
        ("imports", r"<frozen importlib\._bootstrap"),
        ("rendering variants (once each)", r"render_issue|mjml|css_inline|jinja2"),
        ("planning", r"scheduler/planning\.py"),
        (
            "DKIM: RSA signature + header canonicalisation",
            r"(signature|prepare|sign_digest) \(mailer/dkim\.py",
        ),
        ("link tokens (subscribers/tokens.py)", r"subscribers/tokens\.py|itsdangerous"),
        ("message fill (headers, QP lines, body hash)", r"fill(_unsigned)? \(mailer/message\.py"),
        ("DKIM: signing process round trips", r"mailer/signing\.py"),
        (
            "factory.message (Message-ID, VERP, URLs)",
            r"(message|unsigned) \(scheduler/messages\.py",
        ),
        ("ledger: claim + record (SQL)", r"scheduler/(ledger|claims)\.py|sqlalchemy"),
        ("SMTP session + pool", r"mailer/transport/"),
        ("waiting (event loop idle)", r"select \(selectors\.py|_run_once .*select"),
        ("event loop and tasks", r"asyncio/"),
    )
)


def categorise(stack: str) -> str:
    """The category of one sampled stack (frames joined by ";"), or "other"."""
    for label, pattern in CATEGORIES:
        if pattern.search(stack):
            return label
    return "other"


def _waiting(stack: str) -> bool:
    """A sample whose innermost frame waits in the selector (the loop had nothing to do)."""
    return re.search(r"select \(selectors\.py[^;]*$", stack) is not None


def summarise(raw: Path, rate: int, delivered: int) -> list[tuple[str, float, float]]:
    """(category, seconds, ms per message) of the main thread's samples, largest first.

    py-spy labels a thread "thread (ID): NAME" or, in some samples, "thread (ID)": the samples
    are counted by ID. The main thread is the one named MainThread (else the busiest): with
    --idle, an idle thread (asyncio's waitpid watcher, its resolver pool) has as many.
    """
    threads: dict[str, Counter[str]] = {}
    main_id = ""
    for line in raw.read_text(encoding="utf-8", errors="replace").splitlines():
        stack, _, count = line.rpartition(" ")
        if not count.isdigit():
            continue
        thread, _, frames = stack.partition(";")
        ident = thread.partition(")")[0]
        main_id = ident if thread.endswith(": MainThread") else main_id
        kind = "waiting (event loop idle)" if _waiting(frames) else categorise(frames)
        threads.setdefault(ident, Counter())[kind] += int(count)
    busiest = max(threads.values(), key=lambda c: sum(c.values()), default=Counter())
    main = threads.get(main_id, busiest)
    return [
        (label, samples / rate, samples / rate * 1000 / max(delivered, 1))
        for label, samples in main.most_common()
    ]


def _point_at_sink(folder: Path, port: int) -> Path:
    config = folder / "briefmail.toml"
    text = re.sub(r"(?m)^port = \d+$", f"port = {port}", config.read_text(encoding="utf-8"))
    config.write_text(text, encoding="utf-8")
    return config


def profile(folder: Path, rate: int, tree: Path | None) -> tuple[dict[str, object], Path]:
    """Send the folder's issue again under py-spy; the send's report and the raw samples.

    ``tree``: a checkout (a `git worktree` of some commit) whose code the send runs instead.
    """
    spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    raw = Path(tempfile.mkdtemp(prefix="profile-send-")) / "raw.txt"
    with SmtpSink(locate(), raw.parent) as sink:
        config = _point_at_sink(folder, sink.port)
        reset_runs(f"sqlite:///{folder / 'bench.db'}")
        command = [spy, "record", "--idle", "--threads", "--nonblocking", "--function"]
        command += ["--rate", str(rate), "--format", "raw", "--output", str(raw), "--"]
        command += [briefmail_command(), "--config", str(config), "send", "1", "--json"]
        env = clean_env() | ({"PYTHONPATH": str(tree)} if tree else {})
        done = subprocess.run(
            command, cwd=folder, env=env, capture_output=True, text=True, check=False
        )
    if done.returncode != 0:
        raise SystemExit(f"py-spy or the send failed ({done.returncode}):\n{done.stderr}")
    (raw.parent / "send.out").write_text(done.stdout, encoding="utf-8")
    return _report(raw.parent), raw


def _report(folder: Path) -> dict[str, object]:
    """The send's JSON report among py-spy's own lines on the same stdout."""
    out = (folder / "send.out").read_text(encoding="utf-8")
    report, _ = json.JSONDecoder().raw_decode(out[out.index("\n{") + 1 :])
    return dict(report)


def main() -> None:
    """Profile one send of a kept bench folder and print (and optionally write) the summary."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", type=Path, help="a folder kept by `bench.send --keep`")
    parser.add_argument("--rate", type=int, default=250, help="samples per second")
    parser.add_argument("--out", type=Path, help="also write the summary to this file")
    parser.add_argument("--title", default="", help="a first line for the summary")
    parser.add_argument("--tree", type=Path, help="run the send from this checkout's code")
    parser.add_argument(
        "--samples", type=Path, help="summarise the raw.txt and send.out in this folder again"
    )
    args = parser.parse_args()
    if args.samples:
        report, raw = _report(args.samples), args.samples / "raw.txt"
    else:
        report, raw = profile(args.folder.resolve(), args.rate, args.tree)
    delivered = int(str(report.get("delivered", 0)))
    seconds = float(str(report.get("seconds", 0.0)))
    rows = summarise(raw, args.rate, delivered)
    lines = [args.title] if args.title else []
    lines.append(
        f"{delivered:,} messages in {seconds:.1f} s ({delivered / seconds:,.0f} msg/s under "
        f"py-spy at {args.rate} Hz, --idle: wall clock of the main thread)"
    )
    lines.append(f"{'category':<50}{'seconds':>9}{'ms/msg':>9}{'share':>8}")
    total = sum(row[1] for row in rows) or 1.0
    for label, secs, per_message in rows:
        lines.append(f"{label:<50}{secs:>9.2f}{per_message:>9.3f}{secs / total:>8.1%}")
    lines.append(f"{'all samples':<50}{total:>9.2f}{total * 1000 / max(delivered, 1):>9.3f}")
    text = "\n".join(lines) + "\n"
    print(text, end="")
    if args.out:
        with args.out.open("a", encoding="utf-8") as out:
            out.write(text + "\n")
    print(f"raw samples: {raw}", file=sys.stderr)


if __name__ == "__main__":
    main()
