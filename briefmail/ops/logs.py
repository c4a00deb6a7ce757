"""Logging for operators and for machines: plain lines on a terminal, JSON lines otherwise.

Under a process manager (systemd, a container) stderr is not a terminal, and every record
becomes one JSON object per line — time, level, logger, message and the ids a record carries
(``run_id``, ``delivery_id``, ``issue_id``, passed with ``extra=``) — so logs can be searched by
run or delivery without parsing prose.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import sys
from typing import TextIO

__all__ = ["IDS", "JsonFormatter", "configure_logging"]

#: The record attributes copied into JSON lines when a record has them.
IDS = ("run_id", "delivery_id", "issue_id", "list")


class JsonFormatter(logging.Formatter):
    """One JSON object per record."""

    def format(self, record: logging.LogRecord) -> str:
        """The record as a single JSON line."""
        data: dict[str, object] = {
            "time": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key in IDS:
            if hasattr(record, key):
                data[key] = getattr(record, key)
        if record.exc_info:
            data["error"] = self.formatException(record.exc_info)
        return json.dumps(data, ensure_ascii=False, default=str)


def configure_logging(
    level: int = logging.WARNING, stream: TextIO | None = None, json_lines: bool | None = None
) -> None:
    """Send briefmail's logs to ``stream`` (stderr): JSON lines unless it is a terminal."""
    stream = stream or sys.stderr
    if json_lines is None:
        json_lines = not stream.isatty()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(
        JsonFormatter() if json_lines else logging.Formatter("%(levelname)s %(name)s: %(message)s")
    )
    logger = logging.getLogger("briefmail")
    logger.handlers[:] = [handler]
    logger.setLevel(level)
    logger.propagate = False
