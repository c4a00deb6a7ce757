"""Sender processes: a run sent by N processes the library starts, and signals that stop a send.

`send(..., workers=N)` starts N processes with multiprocessing's 'spawn' context (a fresh
interpreter each: no inherited threads, locks or database connections). Each opens the
application through a picklable ``opener`` the application passes in (scheduler does not import
briefmail), claims from the run under its own lease like any `briefmail worker`, and sends back
the figures only it knows (what it sent, rendered, took over or lost) through a pipe. Where the
run stands is read from the ledger afterwards, never from what a process printed.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import signal
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import TYPE_CHECKING, Protocol

from scheduler.outcomes import OWN_FIGURES, SendInterrupted

if TYPE_CHECKING:
    from mailer.transport import Transport
    from scheduler.dispatch import Dispatcher

__all__ = [
    "MAX_WORKERS",
    "Opener",
    "SenderSide",
    "Stoppable",
    "WorkerResult",
    "run_senders",
    "stop_on_signals",
    "worker_count",
]

#: The most sender processes one send starts.
MAX_WORKERS = 64


def usable_cores() -> int:
    """The cores this process may run on (its CPU affinity), not every core of the machine.

    A container or ``taskset`` may leave a process fewer cores than the machine has.
    """
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def worker_count(text: str) -> int:
    """``--workers``: a number from 1 to `MAX_WORKERS`, or "auto" for every core this may use.

    "auto" is `usable_cores`. ValueError otherwise.
    """
    if text.strip().lower() == "auto":
        return min(usable_cores(), MAX_WORKERS)
    try:
        count = int(text)
    except ValueError:
        raise ValueError(f"{text!r}: a number of sender processes, or auto") from None
    if not 1 <= count <= MAX_WORKERS:
        raise ValueError(f"{count}: between 1 and {MAX_WORKERS} sender processes, or auto")
    return count


class SenderSide(Protocol):
    """What a sender process opens: the send path and a transport (briefmail's application)."""

    def dispatcher(self) -> Dispatcher:
        """The send path, wired to the database and renderer."""
        ...

    def transport(self, connections: int | None = None) -> Transport:
        """A fresh transport to the relay."""
        ...

    def close(self) -> None:
        """Release what it opened."""
        ...


#: Opens a SenderSide in a new process: a top-level function or a functools.partial of one, with
#: picklable arguments (settings), so that it can be sent to a spawned process.
Opener = Callable[[], SenderSide]


class Stoppable(Protocol):
    """A sender that can be asked to stop cleanly."""

    def request_stop(self, reason: str = "interrupted") -> None:
        """Claim nothing more, record what is in flight, then return."""
        ...


@dataclass(frozen=True, slots=True)
class WorkerResult:
    """What one sender process reports: its own figures, or why it failed."""

    figures: dict[str, int]
    #: Why it stopped early (a signal, the run paused or paused itself); None: it finished.
    stopped: str | None = None
    interrupted: bool = False
    #: Why the process failed (SendInterrupted's or an error's message, or its exit code).
    problem: str | None = None


def _sender(
    opener: Opener, run_id: int, retry_for: float, workers: int, results: Connection
) -> None:
    """A sender process's life: open the application, send what the run owes, report, close."""
    try:
        side = opener()
    except Exception as exc:  # reported to the parent, which says it in one line
        results.send(WorkerResult({}, problem=f"{type(exc).__name__}: {exc}"))
        return
    try:
        dispatcher = side.dispatcher()
        dispatcher.senders = workers  # they share the cores: none is left to sign apart
        transport = side.transport()

        async def send() -> WorkerResult:
            try:
                with stop_on_signals(dispatcher, second_stops_at_once=False):
                    report = await dispatcher.resume(run_id, transport, retry_for=retry_for)
            finally:
                await transport.close()
            own = {key: int(getattr(report, key)) for key in OWN_FIGURES}
            return WorkerResult(own, report.stopped, report.interrupted)

        results.send(asyncio.run(send()))
    except SendInterrupted as exc:
        results.send(WorkerResult({}, problem=str(exc)))
    except Exception as exc:
        results.send(WorkerResult({}, problem=f"{type(exc).__name__}: {exc}"))
    finally:
        side.close()
        results.close()


async def run_senders(
    opener: Opener,
    run_id: int,
    workers: int,
    retry_for: float,
    stop_requested: Callable[[], str | None],
) -> list[WorkerResult]:
    """Send a planned run in ``workers`` processes and wait for all; what each reported.

    When ``stop_requested`` says so (SIGTERM or Ctrl-C reached this process), each process is
    sent SIGTERM: it stops cleanly like a single sender, recording what is in flight.
    """
    context = multiprocessing.get_context("spawn")
    started = []
    for _ in range(workers):
        receiver, sender = context.Pipe(duplex=False)
        process = context.Process(
            target=_sender, args=(opener, run_id, retry_for, workers, sender), daemon=False
        )
        process.start()
        sender.close()  # the child holds its end; ours closes so a dead child reads as EOF
        started.append((process, receiver))
    stopping = False
    while any(process.is_alive() for process, _ in started):
        if not stopping and stop_requested() is not None:
            stopping = True
            for process, _ in started:
                if process.is_alive() and process.pid is not None:
                    process.terminate()
        await asyncio.sleep(0.1)
    return [_result(number, workers, *pair) for number, pair in enumerate(started, 1)]


def _result(
    number: int, workers: int, process: multiprocessing.process.BaseProcess, pipe: Connection
) -> WorkerResult:
    """One process's report, or a problem naming it when it sent none (killed, crashed)."""
    process.join()
    try:
        result = pipe.recv() if pipe.poll() else None
    except EOFError:
        result = None
    finally:
        pipe.close()
    if isinstance(result, WorkerResult):
        if result.problem is not None:
            return WorkerResult({}, problem=f"worker {number}/{workers}: {result.problem}")
        return result
    return WorkerResult({}, problem=f"worker {number}/{workers}: exit code {process.exitcode}")


@contextmanager
def stop_on_signals(sender: Stoppable, *, second_stops_at_once: bool = True) -> Iterator[None]:
    """While sending: SIGINT or SIGTERM stops the send cleanly; a second one stops it at once.

    The first signal asks the sender to stop (nothing more is claimed, the messages in flight
    are answered and recorded, within the SMTP timeout); its handler is then removed, so
    pressing Ctrl-C again interrupts as Python always does. A sender process of a pool keeps
    its handler: Ctrl-C reaches it from the terminal and the parent's SIGTERM follows, and
    neither may cut its messages in flight short.
    """
    loop = asyncio.get_running_loop()
    signals = (signal.SIGINT, signal.SIGTERM)

    def stop(sig: signal.Signals) -> None:
        if second_stops_at_once:
            for each in signals:
                loop.remove_signal_handler(each)
        sender.request_stop(f"stopped by {sig.name}")

    for sig in signals:
        loop.add_signal_handler(sig, stop, sig)
    try:
        yield
    finally:
        for sig in signals:
            loop.remove_signal_handler(sig)
