"""Benchmark results as data: each run of a bench appended to ``bench/results/<bench>.json``.

A bench calls `record` once per measurement, with the figures it prints::

    from bench.record import record

    record("render", {"briefmail_variant_ms": 11.8, "mjml_python_ms": 9.1})

Each file is a JSON list of runs, oldest first; a run is one object::

    {"bench": "render",
     "command": "python -m bench.render --repeat 30",   # as typed, rebuilt from sys.argv
     "time": "2026-07-14T09:30:00+00:00",               # UTC
     "commit": "c477f37",                               # git rev-parse --short HEAD
     "dirty": true,                                     # uncommitted changes to tracked files
     "cores": 2,                                        # os.cpu_count()
     "load": 0.4,                                       # 1-minute load average at the end
     "note": "busy",                                    # optional, free text
     "figures": {...}}                                  # what the bench measured, as given

Figures are whatever JSON the bench produces (numbers, strings, nested objects); their names
are the bench's own, and `bench.results` knows which to show in RESULTS.md. The file is
rewritten whole through a temporary file, so an interrupted run never leaves half a list.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shlex
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

__all__ = ["RESULTS", "current_command", "load_runs", "record"]

ROOT = Path(__file__).resolve().parent.parent
#: Where the runs are kept, one file per bench.
RESULTS = ROOT / "bench" / "results"


def record(
    bench: str,
    figures: Mapping[str, Any],
    command: str | None = None,
    *,
    note: str | None = None,
    folder: Path = RESULTS,
) -> dict[str, Any]:
    """Append one run of ``bench`` to ``folder/<bench>.json``; the run as written."""
    run: dict[str, Any] = {
        "bench": bench,
        "command": command if command is not None else current_command(),
        "time": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "commit": _git("rev-parse", "--short", "HEAD") or "unknown",
        "dirty": bool(_git("status", "--porcelain", "--untracked-files=no")),
        "cores": os.cpu_count() or 1,
        # Above the cores, other work shared the machine: the figures are noisy.
        "load": round(os.getloadavg()[0], 2),
        "figures": dict(figures),
    }
    if note:
        run["note"] = note
    if folder == RESULTS and "PYTEST_CURRENT_TEST" in os.environ:
        # The results are the repository's measurements; a test's run would join them.
        raise RuntimeError("a test must not record into bench/results: pass folder=")
    path = folder / f"{bench}.json"
    runs = [*load_runs(path), run]
    folder.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".json.tmp")
    partial.write_text(json.dumps(runs, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    partial.replace(path)
    return run


def load_runs(path: Path) -> list[dict[str, Any]]:
    """The runs kept in one results file, oldest first ([] when there is no file yet)."""
    if not path.exists():
        return []
    runs = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(runs, list):
        raise ValueError(f"{path}: a results file holds a JSON list of runs")
    return runs


def current_command() -> str:
    """This process's command line as typed: ``python -m bench.NAME ARGS`` or ``python FILE``."""
    spec = getattr(sys.modules.get("__main__"), "__spec__", None)
    start = ["python", "-m", spec.name] if spec is not None else ["python", sys.argv[0]]
    return shlex.join([*start, *sys.argv[1:]])


def _git(*args: str) -> str:
    # A copy of the tree without git (an unpacked sdist) still records its runs.
    try:
        done = subprocess.run(
            ["git", *args], cwd=ROOT, capture_output=True, text=True, check=True, timeout=30
        )
    except (OSError, subprocess.SubprocessError):
        return ""
    return done.stdout.strip()
