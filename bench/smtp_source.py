"""Postfix's smtp-source: the practical limit of a machine and a sink, measured beside a sender.

smtp-source is Postfix's own load generator, a C SMTP client in the same Debian package as
smtp-sink (bench/smtp_sink.py unpacks both into ``bench/.cache/postfix/root/usr/sbin``; they
share the private libraries of ``usr/lib/postfix``). `push` runs it as::

    smtp-source -d -s SESSIONS -l BYTES -m COUNT -f FROM -t TO HOST:PORT

``-d`` keeps each session open from one message to the next (as briefmail's pool does),
``-s`` is the number of sessions at once, ``-m`` the messages over all of them and ``-l`` the
size of each message's body. It builds its messages once, so what it measures is the sink, the
kernel's loopback and the SMTP dialogue: what no sender on this machine can beat.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path
from typing import NamedTuple

from bench.smtp_sink import SinkBinary, SinkError

__all__ = ["Pushed", "locate_source", "push"]

#: The envelope smtp-source uses (any address does: the sink discards everything).
FROM = "source@bench.example.org"
TO = "reader@bench.example.net"


def locate_source(sink: SinkBinary) -> SinkBinary:
    """smtp-source beside the sink (same package, same libraries), else the system's."""
    beside = sink.path.with_name("smtp-source")
    if beside.exists():
        return SinkBinary(beside, sink.env, sink.origin)
    system = shutil.which("smtp-source") or (
        "/usr/sbin/smtp-source" if Path("/usr/sbin/smtp-source").exists() else None
    )
    if system is None:
        raise SinkError(
            f"no smtp-source beside {sink.path} nor on the PATH: it comes with smtp-sink in "
            "Debian's postfix package (delete bench/.cache/postfix to fetch it again)"
        )
    return SinkBinary(Path(system), {}, "system")


def command(
    binary: SinkBinary, host: str, port: int, size: int, count: int, sessions: int
) -> list[str]:
    """The smtp-source command line for ``count`` messages of ``size`` bytes."""
    return [
        str(binary.path),
        "-d",
        "-s",
        str(sessions),
        "-l",
        str(size),
        "-m",
        str(count),
        "-f",
        FROM,
        "-t",
        TO,
        f"{host}:{port}",
    ]


class Pushed(NamedTuple):
    """What one smtp-source run took: wall seconds and its own CPU seconds (user + system)."""

    seconds: float
    cpu_seconds: float


def push(binary: SinkBinary, host: str, port: int, size: int, count: int, sessions: int) -> Pushed:
    """Wall and CPU seconds for smtp-source to send ``count`` messages over ``sessions`` sessions.

    Its CPU is the cost of pushing the bytes, the SMTP dialogue and the syscalls included, with
    no message to make: the part of a sender's work that no sender can avoid.
    """
    started = time.perf_counter()
    process = subprocess.Popen(
        command(binary, host, port, size, count, sessions),
        env={**os.environ, **binary.env},
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    assert process.stderr is not None
    # Its stderr is a few lines at most: read to the end, then reap it with its rusage.
    error = process.stderr.read().decode(errors="replace")
    process.stderr.close()
    _, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - started
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        raise SinkError(f"smtp-source exited with {process.returncode}: {error.strip()}")
    return Pushed(seconds, usage.ru_utime + usage.ru_stime)
