"""Postfix's smtp-sink on loopback: a C SMTP server that accepts and discards mail, fast.

    python -m bench.smtp_sink [--port 2525]      # fetch if needed, run until Ctrl-C

Benchmarks need a sink much faster than the sender they measure (aiosmtpd tops out near 350
messages per second and would measure itself). smtp-sink comes from Debian's ``postfix``
package without installing the MTA: ``apt-get download postfix`` into ``bench/.cache/postfix``,
``dpkg-deb -x``, then run the unpacked ``usr/sbin/smtp-sink``. Its RUNPATH is /usr/lib/postfix,
so the unpacked copy (and its sibling ``smtp-source``, the load generator bench/smtp_source.py
runs) gets its private libraries (libpostfix-util.so, libpostfix-global.so) from
the package's ``usr/lib/postfix`` through LD_LIBRARY_PATH.

The sink runs as ``smtp-sink -c [-u nobody] 127.0.0.1:PORT BACKLOG``: it announces PIPELINING
(and 8BITMIME, DSN, ENHANCEDSTATUSCODES), writes nothing to disk (no ``-d``/``-D``), and with
``-c`` prints ``sess=N quit=N mesg=N`` followed by a CR to stdout each time a message's final
"." arrives, before its reply, and at every QUIT or session end. stdout goes to a file, and
`SmtpSink.received` reads the last counter in it, so counting costs the benchmark nothing.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

from bench.processes import cpu_seconds

__all__ = ["CACHE", "SinkBinary", "SinkError", "SmtpSink", "locate"]

#: Downloads and unpacked packages; the folder ignores itself in git (it writes its .gitignore).
CACHE = Path(__file__).resolve().parent / ".cache"
_COUNTERS = re.compile(rb"sess=(\d+) quit=(\d+) mesg=(\d+)")


class SinkError(RuntimeError):
    """smtp-sink cannot be found, fetched or started; the message says what to do."""


@dataclass(frozen=True)
class SinkBinary:
    """An smtp-sink executable and the environment it runs in."""

    path: Path
    #: Extra environment (LD_LIBRARY_PATH for an unpacked package).
    env: dict[str, str] = field(default_factory=dict)
    #: Where it came from, for the report: "given", "cache", "system" or "fetched".
    origin: str = "given"


def locate(explicit: Path | None = None, cache: Path = CACHE) -> SinkBinary:
    """An smtp-sink to run: the given path, the cached unpacked package, the system's, or fetch."""
    if explicit is not None:
        binary = SinkBinary(explicit, _library_env(explicit), "given")
    elif (unpacked := _unpacked(cache)).exists():
        binary = SinkBinary(unpacked, _library_env(unpacked), "cache")
    elif system := shutil.which("smtp-sink") or _existing(Path("/usr/sbin/smtp-sink")):
        binary = SinkBinary(Path(system), {}, "system")
    else:
        path = _fetch(cache)
        binary = SinkBinary(path, _library_env(path), "fetched")
    _check_libraries(binary)
    return binary


def _existing(path: Path) -> str | None:
    return str(path) if path.exists() else None


def _unpacked(cache: Path) -> Path:
    return cache / "postfix" / "root" / "usr" / "sbin" / "smtp-sink"


def _library_env(binary: Path) -> dict[str, str]:
    """LD_LIBRARY_PATH for postfix's private libraries, when they sit beside an unpacked copy."""
    private = binary.parent.parent / "lib" / "postfix"  # usr/sbin/smtp-sink -> usr/lib/postfix
    if not private.is_dir():
        return {}
    inherited = os.environ.get("LD_LIBRARY_PATH")
    return {"LD_LIBRARY_PATH": f"{private}:{inherited}" if inherited else str(private)}


def _fetch(cache: Path) -> Path:
    """Download Debian's postfix package (not installing it) and unpack it into the cache."""
    apt, dpkg = shutil.which("apt-get"), shutil.which("dpkg-deb")
    if apt is None or dpkg is None:
        raise SinkError(
            "smtp-sink not found and no apt-get/dpkg-deb to fetch it: install postfix "
            "(it provides /usr/sbin/smtp-sink) or pass the path of an smtp-sink binary"
        )
    folder = cache / "postfix"
    folder.mkdir(parents=True, exist_ok=True)
    ignore = cache / ".gitignore"
    if not ignore.exists():
        ignore.write_text("# Written by bench/smtp_sink.py: downloads, never committed.\n*\n")
    for old in folder.glob("postfix_*.deb"):
        old.unlink()
    # Root downloads unsandboxed into a folder _apt cannot write to; apt warns and carries on.
    done = subprocess.run(
        [apt, "download", "postfix"], cwd=folder, capture_output=True, text=True, check=False
    )
    packages = sorted(folder.glob("postfix_*.deb"))
    if done.returncode != 0 or not packages:
        raise SinkError(
            f"apt-get download postfix failed (exit {done.returncode}; try apt-get update):\n"
            f"{done.stderr.strip()}"
        )
    root = folder / "root"
    shutil.rmtree(root, ignore_errors=True)
    subprocess.run([dpkg, "-x", str(packages[-1]), str(root)], check=True)
    path = _unpacked(cache)
    if not path.exists():
        raise SinkError(f"{packages[-1].name} holds no usr/sbin/smtp-sink")
    return path


def _check_libraries(binary: SinkBinary) -> None:
    """SinkError naming any shared library the dynamic linker cannot find."""
    ldd = shutil.which("ldd")
    if ldd is None:
        return
    done = subprocess.run(
        [ldd, str(binary.path)],
        env={**os.environ, **binary.env},
        capture_output=True,
        text=True,
        check=False,
    )
    missing = [line.split()[0] for line in done.stdout.splitlines() if "not found" in line]
    if missing:
        raise SinkError(
            f"{binary.path} cannot load {', '.join(missing)}; postfix's own libraries are in "
            "its usr/lib/postfix, the others come from Debian packages (apt-get install the "
            "ones providing them, e.g. libdb5.3, libnsl2, libicu72)"
        )


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        port: int = probe.getsockname()[1]
        return port


class SmtpSink:
    """smtp-sink listening on loopback for the life of a ``with`` block; counts what it gets.

    Messages are counted by the sink itself (``-c``), so ``received()`` is what actually arrived,
    whoever sent it. The counter file lives in ``folder``.
    """

    def __init__(
        self,
        binary: SinkBinary,
        folder: Path,
        *,
        host: str = "127.0.0.1",
        port: int | None = None,
        backlog: int = 1024,
        max_connections: int = 256,
        hard_reject: tuple[str, ...] = (),
    ) -> None:
        self.binary = binary
        #: SMTP commands smtp-sink refuses with a 5xx (its ``-f``), e.g. ("mail",): a real MTA
        #: refusing our envelope sender, for the tests of whose fault a refusal is.
        self.hard_reject = hard_reject
        self.host = host
        self.port = port or free_port(host)
        self.backlog = backlog
        self.max_connections = max_connections
        self.counters = folder / "smtp-sink.counters"
        self.errors = folder / "smtp-sink.stderr"
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def command(self) -> list[str]:
        """The command line the sink runs with."""
        # -u is required (and only allowed) when started as root: it drops to that user after
        # binding the socket.
        user = ["-u", "nobody"] if os.geteuid() == 0 else []
        reject = ["-f", ",".join(self.hard_reject)] if self.hard_reject else []
        return [
            str(self.binary.path),
            "-c",
            *user,
            *reject,
            "-m",
            str(self.max_connections),
            f"{self.host}:{self.port}",
            str(self.backlog),
        ]

    def start(self) -> SmtpSink:
        """Start the sink and wait until it accepts connections."""
        if os.geteuid() == 0:
            try:
                pwd.getpwnam("nobody")
            except KeyError:
                raise SinkError("running as root, smtp-sink needs a user 'nobody'") from None
        with self.counters.open("wb") as out, self.errors.open("wb") as err:
            self._process = subprocess.Popen(
                self.command,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=err,
                env={**os.environ, **self.binary.env},
            )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise SinkError(
                    f"smtp-sink exited with {self._process.returncode}: "
                    f"{self.errors.read_text(errors='replace').strip()}"
                )
            try:
                with socket.create_connection((self.host, self.port), timeout=1):
                    return self
            except OSError:
                time.sleep(0.02)
        self.stop()
        raise SinkError(f"smtp-sink did not listen on {self.host}:{self.port} within 10 s")

    def received(self) -> int:
        """Messages the sink has received so far (its last ``mesg=`` counter)."""
        try:
            with self.counters.open("rb") as stream:
                stream.seek(max(0, stream.seek(0, os.SEEK_END) - 256))
                tail = stream.read()
        except FileNotFoundError:
            return 0
        found = _COUNTERS.findall(tail)
        return int(found[-1][2]) if found else 0

    def cpu_seconds(self) -> float:
        """User + system CPU seconds the running sink has used so far."""
        return cpu_seconds(self._process.pid) if self._process is not None else 0.0

    def wait_for(self, count: int, timeout: float = 5.0) -> int:
        """The received count once it reaches ``count``, or whatever it is after ``timeout``."""
        deadline = time.monotonic() + timeout
        while (seen := self.received()) < count and time.monotonic() < deadline:
            time.sleep(0.02)
        return seen

    def stop(self) -> None:
        """Stop the sink (SIGTERM, then SIGKILL after 5 s)."""
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    def __enter__(self) -> SmtpSink:
        """Start the sink."""
        return self.start()

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        """Stop the sink, whatever happened in the block."""
        self.stop()


def main() -> None:
    """Run a sink in the foreground and print its counters when stopped."""
    import tempfile

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=None, help="default: a free port")
    parser.add_argument("--sink", type=Path, default=None, help="an smtp-sink binary to use")
    args = parser.parse_args()
    binary = locate(args.sink)
    # Stop cleanly (and stop the sink) on SIGTERM, and on SIGINT even when started in the
    # background, where the shell has told this process to ignore it.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    with tempfile.TemporaryDirectory(prefix="smtp-sink-") as tmp:
        sink = SmtpSink(binary, Path(tmp), port=args.port)
        with sink:
            print(f"{' '.join(sink.command)}  ({binary.origin}; Ctrl-C stops)", flush=True)
            with contextlib.suppress(KeyboardInterrupt):
                signal.pause()
        print(f"\nreceived {sink.received()} messages")


if __name__ == "__main__":
    main()
