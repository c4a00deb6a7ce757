"""bench/processes.py: the CPU and memory of the processes a bench runs, read from /proc."""

from __future__ import annotations

import os
import subprocess
import sys
import time

from bench.processes import cpu_seconds


def test_cpu_seconds_counts_a_process_that_works_and_not_one_that_sleeps() -> None:
    """A process that spins 0.3 s has used about that; a sleeping one hardly any; a gone one 0."""
    spin = "import time\nend = time.process_time() + 0.3\nwhile time.process_time() < end: pass\n"
    spinning = subprocess.Popen([sys.executable, "-c", spin + "time.sleep(30)"])
    sleeping = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        deadline = time.monotonic() + 30
        while cpu_seconds(spinning.pid) < 0.3 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert 0.3 <= cpu_seconds(spinning.pid) < 5
        assert cpu_seconds(sleeping.pid) < cpu_seconds(spinning.pid) - 0.2
    finally:
        for process in (spinning, sleeping):
            process.kill()
            process.wait()
    assert cpu_seconds(spinning.pid) == 0.0  # reaped: /proc has it no more
    assert cpu_seconds(os.getpid()) > 0
