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
import datetime as dt
import json
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

__all__ = ["COMMANDS", "main", "measure"]

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results" / "cli_start.json"
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


def measure(runs: int, folder: Path) -> dict[str, Any]:
    """Median and fastest start of python -c pass and of each command, one warm-up each."""
    briefmail = _briefmail()
    _timed([*briefmail, "init"], folder)
    counter = iter(range(1_000_000))
    argv: dict[str, list[str]] = {"python -c pass": [sys.executable, "-c", "pass"]}
    figures: dict[str, dict[str, float]] = {}
    for name in ("python -c pass", *COMMANDS):
        times = []
        for _ in range(runs + 1):  # the first run warms the disk cache and is not counted
            command = argv.get(name) or [
                *briefmail,
                *(part.format(n=next(counter)) for part in COMMANDS[name]),
            ]
            times.append(_timed(command, folder))
        counted = times[1:]
        figures[name] = {"median_s": statistics.median(counted), "min_s": min(counted)}
    baseline = figures["python -c pass"]["median_s"]
    for one in figures.values():
        one["ratio"] = one["median_s"] / baseline
    return {"runs": runs, "target_s": TARGET, "commands": figures}


def _table(figures: dict[str, Any]) -> str:
    """The figures as a Markdown table, one row per command."""
    lines = [
        "| command | median s | fastest s | × python -c pass | under 0.5 s |",
        "|---|---:|---:|---:|:---:|",
    ]
    for name, one in figures["commands"].items():
        under = "" if name == "python -c pass" else ("yes" if one["median_s"] < TARGET else "no")
        lines.append(
            f"| `{name}` | {one['median_s']:.3f} | {one['min_s']:.3f} | "
            f"{one['ratio']:.1f} | {under} |"
        )
    return "\n".join(lines)


def _git(*args: str) -> str:
    """A git command's output in the repository, or "" when git cannot answer."""
    try:
        done = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True)
    except OSError:
        return ""
    return done.stdout.strip() if done.returncode == 0 else ""


def _append(figures: dict[str, Any], path: Path) -> None:
    """Add this run to the JSON list of runs in ``path`` (the other benches' shape)."""
    runs: list[Any] = json.loads(path.read_text(encoding="utf-8")) if path.exists() else []
    runs.append(
        {
            "bench": "cli_start",
            "command": shlex.join(["python", "-m", "bench.cli_start", *sys.argv[1:]]),
            "time": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "commit": _git("rev-parse", "--short", "HEAD") or "unknown",
            "dirty": bool(_git("status", "--porcelain", "--untracked-files=no")),
            "cores": os.cpu_count() or 1,
            "load": round(os.getloadavg()[0], 2),
            "figures": figures,
        }
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    draft = path.with_suffix(".json.tmp")
    draft.write_text(json.dumps(runs, indent=2) + "\n", encoding="utf-8")
    draft.replace(path)  # whole or not at all: an interrupted run leaves the old list


def main(argv: Sequence[str] | None = None) -> None:
    """Measure, print the table and append the run to bench/results/cli_start.json."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7, help="timed runs per command")
    parser.add_argument("--out", type=Path, default=RESULTS, help="JSON file of runs")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="briefmail-cli-start-") as folder:
        figures = measure(args.runs, Path(folder))
    print(_table(figures))
    _append(figures, args.out)
    print(f"appended to {args.out}")


if __name__ == "__main__":
    main()
