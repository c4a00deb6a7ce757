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

from bench.smtp_sink import SinkBinary, SinkError

__all__ = ["locate_source", "push"]

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


def push(binary: SinkBinary, host: str, port: int, size: int, count: int, sessions: int) -> float:
    """Wall seconds for smtp-source to send ``count`` messages over ``sessions`` sessions."""
    started = time.perf_counter()
    done = subprocess.run(
        command(binary, host, port, size, count, sessions),
        env={**os.environ, **binary.env},
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        check=False,
    )
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise SinkError(f"smtp-source exited with {done.returncode}: {done.stderr.strip()}")
    return seconds
