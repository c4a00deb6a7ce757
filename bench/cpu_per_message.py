"""CPU per message of one `briefmail send`, for checkouts of different commits, side by side.

    git worktree add --detach /tmp/wt-a COMMIT_A; git worktree add --detach /tmp/wt-b COMMIT_B
    python -m bench.cpu_per_message /tmp/b12k /tmp/wt-a /tmp/wt-b /tmp/wt-a /tmp/wt-b

A folder kept by `bench.send --keep` is sent again (its runs forgotten first) once per tree
given, in that order, each time with that tree's code first on PYTHONPATH, into one fresh
smtp-sink. For each send it prints the wall-clock rate and the send process's CPU time
(user + system from os.wait4) per delivered message. On a machine shared with other work the
rate swings with the load; CPU per message barely does, so it is what tells two commits apart.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import tempfile
import time
from pathlib import Path

from bench.processes import briefmail_command, clean_env
from bench.send import reset_runs
from bench.smtp_sink import SmtpSink, locate


def send_once(folder: Path, tree: Path, workers: str = "1") -> str:
    """Send the folder's issue again with ``tree``'s code; one line of figures.

    With ``workers`` other than 1 the CPU includes the sender processes' (the send process
    waits for them, and Linux adds a waited-for child's usage to its parent's).
    """
    reset_runs(f"sqlite:///{folder / 'bench.db'}")
    started = time.perf_counter()
    process = subprocess.Popen(
        [briefmail_command(), "--config", str(folder / "briefmail.toml"), "send", "1", "--json"]
        + (["--workers", workers] if workers != "1" else []),
        cwd=folder,
        env=clean_env() | {"PYTHONPATH": str(tree)},
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert process.stdout is not None
    out = process.stdout.read()
    _, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - started
    if status != 0:
        raise SystemExit(f"{tree}: the send failed (wait status {status})")
    delivered = int(json.loads(out)["delivered"])
    per = 1000 / max(delivered, 1)
    cpu = usage.ru_utime + usage.ru_stime
    return (
        f"{tree}: {delivered:,} in {wall:.1f} s = {delivered / wall:,.0f} msg/s; CPU "
        f"{cpu * per:.3f} ms/msg (user {usage.ru_utime * per:.3f}, sys {usage.ru_stime * per:.3f})"
    )


def main() -> None:
    """Send the kept folder once per tree given and print each send's figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", type=Path, help="a folder kept by `bench.send --keep`")
    parser.add_argument("trees", type=Path, nargs="+", help="checkouts, in the order to run")
    parser.add_argument("--workers", default="1", help="`send --workers` (default 1)")
    args = parser.parse_args()
    folder = args.folder.resolve()
    config = folder / "briefmail.toml"
    with SmtpSink(locate(), Path(tempfile.mkdtemp(prefix="cpu-per-message-"))) as sink:
        text = config.read_text(encoding="utf-8")
        config.write_text(re.sub(r"(?m)^port = \d+$", f"port = {sink.port}", text), "utf-8")
        for tree in args.trees:
            print(send_once(folder, tree.resolve(), args.workers), flush=True)


if __name__ == "__main__":
    main()
