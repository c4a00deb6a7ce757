"""`briefmail serve`: the web face and the scheduler in one process, stopped cleanly by a signal."""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable
from types import FrameType

from briefmail.app import Briefmail
from scheduler.jobs import JobInfo, describe_jobs

__all__ = ["serve"]


def serve(
    app: Briefmail,
    *,
    host: str,
    port: int,
    web: bool = True,
    jobs: bool = True,
    announce: Callable[[JobInfo], None] = lambda job: None,
) -> None:
    """Run the web app and/or the scheduler until SIGTERM or SIGINT, then stop cleanly.

    A clean stop means: the web server drains its requests, and a send started by a job runs to
    its end (every outcome recorded) before the process exits 0.
    """
    import uvicorn

    from briefmail.web import create_web

    if not (web or jobs):
        raise ValueError("nothing to run: enable the web app, the scheduler, or both")
    stop = threading.Event()

    def request_stop(signum: int, frame: FrameType | None) -> None:
        # uvicorn restores this handler and re-raises the signal once it has shut down; taking
        # it here (instead of the default "terminate now") lets the scheduler finish below.
        stop.set()

    previous = {sig: signal.signal(sig, request_stop) for sig in (signal.SIGTERM, signal.SIGINT)}
    if jobs and app.settings.webhooks:
        # A missing secret stops the start with one line; registering the webhooks now means
        # events from this moment on reach them, not only after the first delivery round.
        app.webhooks.check()
        app.webhooks.sync()
    scheduler = app.sending.scheduler() if jobs else None
    try:
        if scheduler is not None:
            for job in describe_jobs(scheduler):
                announce(job)
            scheduler.start()
        if web:
            # log_config=None: uvicorn keeps the handlers configure_logging gave its loggers
            # (one format for the whole process) instead of installing its own.
            uvicorn.run(create_web(app), host=host, port=port, log_level="info", log_config=None)
        else:
            stop.wait()
    finally:
        if scheduler is not None:
            scheduler.shutdown(wait=True)
        for sig, handler in previous.items():
            signal.signal(sig, handler)
