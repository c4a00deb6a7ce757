"""Logs: JSON lines with run and delivery ids off a terminal, plain text on one."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest

from briefmail.app import Briefmail
from briefmail.ops.logs import configure_logging
from mailer.testing import SmtpSink
from tests.conftest import FIXTURES, subscribe_readers


@pytest.fixture
def stream() -> Iterator[io.StringIO]:
    """Where briefmail's logger writes during a test; restored afterwards."""
    logger = logging.getLogger("briefmail")
    saved = (logger.handlers[:], logger.level, logger.propagate)
    buffer = io.StringIO()
    yield buffer
    logger.handlers[:], logger.level, logger.propagate = saved


@pytest.mark.smtp_faults(refuse={"gone@example.net": (550, "5.1.1 No such user")})
async def test_a_send_logs_json_lines_with_run_and_delivery_ids(
    app: Briefmail, smtp_sink: SmtpSink, stream: io.StringIO
) -> None:
    """Not a terminal: each record is one JSON object; a refusal (at INFO) names its delivery."""
    configure_logging(logging.INFO, stream)
    subscribe_readers(app, ["a@example.net", "gone@example.net"])
    stored = app.content.ingest(FIXTURES / "brief-mixed.txt", "brief", approve=True).stored
    assert stored is not None
    await app.send_issue(stored.id)
    records = [json.loads(line) for line in stream.getvalue().splitlines()]
    refusal = next(r for r in records if r.get("delivery_id"))
    assert refusal["level"] == "info" and "550 5.1.1 No such user" in refusal["message"]
    finished = next(r for r in records if r.get("run_id"))
    assert finished["message"].startswith("run 1: sent 2 (delivered 1, deferred 0, failed 1")
    assert {"time", "level", "logger", "message"} <= set(finished)


def test_a_terminal_gets_plain_lines(stream: io.StringIO) -> None:
    """json_lines=False (what a terminal gets): the level, the logger and the message."""
    configure_logging(logging.INFO, stream, json_lines=False)
    logging.getLogger("briefmail.jobs").info("hello %s", "there", extra={"run_id": 3})
    assert stream.getvalue() == "INFO briefmail.jobs: hello there\n"
