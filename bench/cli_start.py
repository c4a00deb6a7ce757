"""How long a `briefmail` command takes to start, against `python -c pass` in the same run.

    python -m bench.cli_start            # 7 timed runs of each command (after one warm-up)
    python -m bench.cli_start --runs 15

Each command runs as the operator types it (the `briefmail` console script beside this Python)
in a throwaway folder holding its own briefmail.toml and SQLite database, made by `briefmail
init` before timing. The figure is the median wall-clock time of a whole process, start to
exit; the ratio divides it by the median of `python -c pass`, measured in the same run, so a
busy machine shows in both. The figures are printed as a table and appended, as one run, to
bench/results/cli_start.json.
"""

from __future__ import annotations

import argparse
import os
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bench.record import RESULTS, record

__all__ = ["COMMANDS", "main", "measure"]

#: The commands issue 18 asks to start in under half a second; {n} makes each address new.
COMMANDS: dict[str, tuple[str, ...]] = {
    "--help": ("--help",),
    "issues list": ("issues", "list"),
    "subscribers add": ("subscribers", "add", "reader{n}@example.net"),
    "status": ("status",),
}
#: The target of the issue, in seconds.
TARGET = 0.5


def _briefmail() -> list[str]:
    """The `briefmail` console script installed beside this Python, else the same entry point."""
    script = Path(sys.executable).with_name("briefmail")
    if script.exists():
        return [str(script)]
    return [sys.executable, "-c", "from briefmail.cli import main; main()"]


def _timed(argv: Sequence[str], folder: Path) -> float:
    """Seconds one process takes from start to exit; it must succeed."""
    # The shell's BRIEFMAIL_* variables would point the command at another config or database.
    env = {k: v for k, v in os.environ.items() if not k.startswith("BRIEFMAIL_")}
    started = time.perf_counter()
    done = subprocess.run(argv, cwd=folder, env=env, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"{shlex.join(argv)} exited {done.returncode}:\n{done.stderr}")
    return elapsed


def _key(name: str) -> str:
    """A command's name as a figure's prefix: "issues list" -> "issues_list"."""
    return name.strip("-").replace(" -c ", "_").replace(" ", "_")


def measure(runs: int, folder: Path) -> dict[str, Any]:
    """Median and fastest start of python -c pass and of each command, and their ratios.

    The commands take turns, round after round, so a burst of load elsewhere falls on all of
    them alike; the first round warms the disk cache and is not counted.
    """
    briefmail = _briefmail()
    _timed([*briefmail, "init"], folder)
    names = ("python -c pass", *COMMANDS)
    times: dict[str, list[float]] = {name: [] for name in names}
    for n in range(runs + 1):
        for name in names:
            argv = [sys.executable, "-c", "pass"]
            if name in COMMANDS:
                argv = [*briefmail, *(part.format(n=n) for part in COMMANDS[name])]
            elapsed = _timed(argv, folder)
            if n:
                times[name].append(elapsed)
    baseline = statistics.median(times["python -c pass"])
    figures: dict[str, Any] = {"runs": runs, "target_s": TARGET}
    for name in names:
        figures[f"{_key(name)}_s"] = round(statistics.median(times[name]), 4)
        figures[f"{_key(name)}_min_s"] = round(min(times[name]), 4)
        figures[f"{_key(name)}_ratio"] = round(statistics.median(times[name]) / baseline, 1)
    return figures


def _table(figures: dict[str, Any]) -> str:
    """The figures as a Markdown table, one row per command."""
    lines = [
        "| command | median s | fastest s | × python -c pass | under 0.5 s |",
        "|---|---:|---:|---:|:---:|",
    ]
    for name in ("python -c pass", *COMMANDS):
        key = _key(name)
        median = figures[f"{key}_s"]
        under = "" if name not in COMMANDS else ("yes" if median < TARGET else "no")
        lines.append(
            f"| `{name}` | {median:.3f} | {figures[f'{key}_min_s']:.3f} | "
            f"{figures[f'{key}_ratio']:.1f} | {under} |"
        )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> None:
    """Measure, print the table and append the run to bench/results/cli_start.json."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7, help="timed runs per command")
    parser.add_argument("--out", type=Path, default=RESULTS, help="folder of results files")
    parser.add_argument("--note", help="free text kept with the run (e.g. 'busy machine')")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="briefmail-cli-start-") as folder:
        figures = measure(args.runs, Path(folder))
    print(_table(figures))
    record("cli_start", figures, note=args.note, folder=args.out)
    print(f"appended to {args.out / 'cli_start.json'}")


if __name__ == "__main__":
    main()
