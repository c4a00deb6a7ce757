"""Sends the web face starts: each in a thread of the web process, after the request answered.

The API's ``POST /api/v1/issues/{id}/send`` and the console's "Send now" and "Resume" plan or
unpause the run in the request (so it can answer the run's id, and a draft is refused at once)
and leave the sending to a background thread with its own event loop and SMTP pool: the
request never waits for the send. Nothing is lost if the web
process stops mid-send: every outcome is in the ledger as it happens, and `briefmail runs
resume`, a worker or the scheduler's send job carries on with what the run still owes. Any
number of senders may share a run (claims), so a second one started for the same run (the
scheduler's tick, a retry) sends nobody twice.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable, Coroutine
from typing import Any

__all__ = ["BackgroundSends"]

log = logging.getLogger("briefmail.web")

Job = Callable[[], Coroutine[Any, Any, object]]


class BackgroundSends:
    """The sends running in this process, one thread each; tests wait for them with `wait`."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        self._keys: dict[object, threading.Thread] = {}
        #: How many background sends ended with an error (each is logged).
        self.failed = 0

    def start(self, name: str, job: Job, *, key: object = None) -> None:
        """Run ``job()`` (a coroutine: the send) in a new thread; returns at once.

        With a ``key``, a job whose key is still running is not started again: a second press
        of "Send now" while the run sends needs no second sender.
        """
        thread = threading.Thread(target=self._run, args=(name, job), name=name, daemon=True)
        with self._lock:
            if key is not None:
                running = self._keys.get(key)
                if running is not None and running.is_alive():
                    return
                self._keys[key] = thread
            self._threads = [t for t in self._threads if t.is_alive()]
            self._threads.append(thread)
        thread.start()

    def _run(self, name: str, job: Job) -> None:
        try:
            asyncio.run(job())
        except Exception:  # the request has its answer; the ledger says where the run stands
            with self._lock:
                self.failed += 1
            log.exception("%s failed; `briefmail runs resume` carries on", name)

    @property
    def running(self) -> int:
        """How many sends are still running."""
        with self._lock:
            return sum(1 for t in self._threads if t.is_alive())

    def wait(self, timeout: float = 30.0) -> bool:
        """Wait until every send started so far has ended; False if some still run at timeout."""
        deadline = time.monotonic() + timeout
        with self._lock:
            threads = list(self._threads)
        for thread in threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        return not any(t.is_alive() for t in threads)
