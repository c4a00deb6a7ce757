"""Running briefmail's CLI from a bench: its output, its wall time and its processes' memory.

`run_cli` runs a command and returns its stdout; `run_measured` runs the one being measured and
reports wall seconds, ru_maxrss and CPU seconds from wait4 on that very process, and each
process's own VmHWM and CPU seconds (the sender and every worker or child it starts) sampled
from /proc.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path


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
    return run_command(folder, [briefmail_command(), *args], f"briefmail {' '.join(args)}")


def run_command(folder: Path, command: list[str], name: str) -> str:
    """Run ``command`` in the folder, no BRIEFMAIL_* set; its stdout, or SystemExit naming it."""
    done = subprocess.run(
        command, cwd=folder, env=clean_env(), capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise SystemExit(f"{name} failed ({done.returncode}):\n{done.stderr}")
    return done.stdout


#: Clock ticks per second of /proc/PID/stat's CPU times.
_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds a live process has used so far (0.0 once it is gone)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0.0
    # The command in parentheses may hold spaces: the fields are counted after its ")".
    fields = stat.rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / _TICKS


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
    #: User + system CPU seconds from wait4: the process and every descendant it waited for.
    cpu_seconds: float = 0.0
    #: Each process's own CPU seconds by "pid command", as last sampled (up to 0.1 s early).
    process_cpu_s: dict[str, float] = field(default_factory=dict)


class TreeSampler(threading.Thread):
    """Samples the summed RSS of a process and its descendants from /proc until stopped."""

    def __init__(self, pid: int, every: float = 0.1) -> None:
        super().__init__(daemon=True)
        self.pid = pid
        self.every = every
        self.peak_kb = 0
        self.hwm_kb: dict[str, int] = {}
        self.cpu_s: dict[str, float] = {}
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
                    self.cpu_s[name] = max(self.cpu_s.get(name, 0.0), cpu_seconds(pid))
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
    # "briefmail ... send 1 --workers 2" is named by what follows the config options; the
    # sender processes it starts (multiprocessing's spawn) are named as such.
    name = " ".join(Path(words[1]).name if i == 1 else w for i, w in enumerate(words[1:4], 1))
    if "--multiprocessing-fork" in words:
        return rss, hwm, f"{pid} sender process"
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
        usage.ru_utime + usage.ru_stime,
        dict(sampler.cpu_s),
    )
