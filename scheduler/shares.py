"""Shares of a run: which deliveries a sender process takes, and the lock that proves it alive.

`briefmail send --workers N` splits a run into N shares by delivery id (``id % N``), one sender
process each, so the processes never touch the same row. A delivery left `sending` means "a
sender died with this message in flight" only if no live sender owns it; the share lock makes
that knowable. Each sender holds an OS file lock for its share beside the SQLite database for as
long as it runs; the kernel drops the lock the moment the process dies, `kill -9` included. A
second sender for a share that is being sent is refused instead of sending it twice.

Senders working on one run at the same time must agree on N: a sender that asks for a different
split while any share of the current one is held is refused too (the run-level lock makes the
check and the change of N one step).
"""

from __future__ import annotations

import fcntl
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Engine

__all__ = ["Share", "ShareBusy", "hold_share", "lock_directory", "release_run_locks"]


@dataclass(frozen=True, slots=True)
class Share:
    """Share ``part`` of ``parts``: the deliveries whose id modulo ``parts`` is ``part``."""

    part: int = 0
    parts: int = 1

    def __post_init__(self) -> None:
        if self.parts < 1 or not 0 <= self.part < self.parts:
            raise ValueError(f"share {self.part + 1}/{self.parts}: need 1 <= K <= N in K/N")

    def __str__(self) -> str:
        return f"{self.part + 1}/{self.parts}"


class ShareBusy(RuntimeError):
    """Another live process is sending this share of the run (or the run with another split)."""


def lock_directory(engine: Engine) -> Path:
    """Where the share locks of a database live: a folder beside the SQLite file."""
    if engine.dialect.name != "sqlite":
        raise ValueError(
            f"shares are for SQLite; senders on {engine.dialect.name} claim under leases "
            "(scheduler/claims.py)"
        )
    database = engine.url.database
    if database in (None, "", ":memory:"):
        raise ValueError("sending needs a database file, not an in-memory database")
    return Path(f"{database}.locks")


def _try_lock(path: Path) -> int | None:
    """An exclusive non-blocking lock on ``path``: the open descriptor, or None if held."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    return fd


def _unlock(fd: int) -> None:
    fcntl.flock(fd, fcntl.LOCK_UN)
    os.close(fd)


@contextmanager
def hold_share(engine: Engine, run_id: int, share: Share) -> Iterator[None]:
    """Hold the lock of one share of a run while sending it; ShareBusy if someone else does."""
    folder = lock_directory(engine)
    # Private like the database beside it: the lock files name the runs being sent.
    folder.mkdir(mode=0o700, exist_ok=True)
    run_lock = folder / f"run{run_id}.lock"
    fd = os.open(run_lock, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        # The run-level lock is held only while the split is checked and the share taken.
        fcntl.flock(fd, fcntl.LOCK_EX)
        recorded = os.pread(fd, 32, 0).decode().strip()
        if recorded and int(recorded) != share.parts:
            _check_split_idle(folder, run_id, int(recorded), share)
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(share.parts).encode(), 0)
        mine = _try_lock(folder / f"run{run_id}-{share.part}of{share.parts}.lock")
        if mine is None:
            raise ShareBusy(f"run {run_id}: share {share} is being sent by another process")
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)
    try:
        yield
    finally:
        _unlock(mine)


def _check_split_idle(folder: Path, run_id: int, parts: int, wanted: Share) -> None:
    """Refuse a new split while any share of the recorded one is still held."""
    for part in range(parts):
        fd = _try_lock(folder / f"run{run_id}-{part}of{parts}.lock")
        if fd is None:
            raise ShareBusy(
                f"run {run_id} is being sent in {parts} shares; "
                f"wait for it or use --workers {parts} (asked for {wanted.parts})"
            )
        _unlock(fd)


def release_run_locks(engine: Engine, run_id: int) -> None:
    """Remove a finished run's lock files (nothing is left to send, so nobody needs them)."""
    folder = lock_directory(engine)
    for path in folder.glob(f"run{run_id}[.-]*lock"):
        path.unlink(missing_ok=True)
    if folder.exists() and not any(folder.iterdir()):
        shutil.rmtree(folder, ignore_errors=True)
