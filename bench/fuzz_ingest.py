"""Long fuzz run of the ingest properties: 10,000 examples per property (outside `make test`).

    python -m bench.fuzz_ingest

Runs tests/mailer/ingest/test_properties.py under the Hypothesis profile "long" and prints
Hypothesis' statistics (examples run per property, time spent), then a one-line JSON summary,
also recorded in bench/results/fuzz_ingest.json.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

from bench.record import record

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    """Run the properties with the long profile and report how many examples ran."""
    started = time.perf_counter()
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "tests/mailer/ingest/test_properties.py",
            "-q",
            "-p",
            "no:cacheprovider",
            "--hypothesis-show-statistics",
        ],
        cwd=ROOT,
        env={**os.environ, "HYPOTHESIS_PROFILE": "long"},
        capture_output=True,
        text=True,
        check=False,
    )
    print(result.stdout)
    examples = [
        int(n) for n in re.findall(r"generate phase.*?\n.*?\n\s*- (\d+) passing", result.stdout)
    ]
    figures = {
        "properties": len(examples),
        "examples": sum(examples),
        "failed": result.returncode != 0,
        "seconds": round(time.perf_counter() - started, 1),
    }
    print(json.dumps(figures))
    record("fuzz_ingest", figures)
    sys.exit(result.returncode)


if __name__ == "__main__":
    main()
