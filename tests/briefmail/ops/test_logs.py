"""Logs: JSON lines with run and delivery ids off a terminal, plain text on one."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest

from briefmail.app import Briefmail
from briefmail.ops.logs import LOGGERS, configure_logging
from mailer.testing import SmtpSink
from tests.conftest import FIXTURES, subscribe_readers


@pytest.fixture
def stream() -> Iterator[io.StringIO]:
    """Where briefmail's (and uvicorn's) loggers write during a test; restored afterwards."""
    loggers = [logging.getLogger(name) for name in LOGGERS]
    saved = [(logger.handlers[:], logger.level, logger.propagate) for logger in loggers]
    buffer = io.StringIO()
    yield buffer
    for logger, (handlers, level, propagate) in zip(loggers, saved, strict=True):
        logger.handlers[:], logger.level, logger.propagate = handlers, level, propagate


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


def test_uvicorn_lines_share_the_format_and_lose_reader_tokens(stream: io.StringIO) -> None:
    """An access line is a JSON line with method, path and status; a link's token is cut."""
    configure_logging(logging.INFO, stream)
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        assert logging.getLogger(name).handlers == logging.getLogger("briefmail").handlers
    access = logging.getLogger("uvicorn.access")
    access.setLevel(logging.INFO)
    args = ("203.0.113.7:5000", "POST", "/unsubscribe/AbC.dEf-123?x=1", "1.1", 200)
    access.info('%s - "%s %s HTTP/%s" %d', *args)
    (line,) = [json.loads(text) for text in stream.getvalue().splitlines()]
    assert line["logger"] == "uvicorn.access"
    assert (line["method"], line["path"], line["status"]) == ("POST", "/unsubscribe/…?x=1", 200)
    assert "AbC.dEf-123" not in stream.getvalue()
    assert line["message"] == '203.0.113.7:5000 - "POST /unsubscribe/…?x=1 HTTP/1.1" 200'
