"""Logging for operators and for machines: plain lines on a terminal, JSON lines otherwise.

Under a process manager (systemd, a container) stderr is not a terminal, and every record
becomes one JSON object per line — time, level, logger, message and the ids a record carries
(``run_id``, ``delivery_id``, ``issue_id``, passed with ``extra=``) — so logs can be searched by
run or delivery without parsing prose. uvicorn's own loggers (its errors and its access log)
go through the same handler, so `briefmail serve` writes one format; an access line's path has
its reader token cut (``/unsubscribe/…``): a log is read by more people than a reader's inbox.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import re
import sys
from typing import TextIO

__all__ = ["IDS", "LOGGERS", "JsonFormatter", "configure_logging", "redact_path"]

#: The record attributes copied into JSON lines when a record has them.
IDS = ("run_id", "delivery_id", "issue_id", "list")
#: The loggers a `briefmail serve` process writes with: ours, and the web server's.
LOGGERS = ("briefmail", "uvicorn", "uvicorn.error", "uvicorn.access")
#: A reader's link token in a path: it would let whoever reads the log act for the reader.
_TOKEN_PATH = re.compile(r"^(/(?:confirm|preferences|unsubscribe)/)[^/?#\s]+")


def redact_path(path: str) -> str:
    """The path with a reader's link token replaced by "…" ("/unsubscribe/…")."""
    return _TOKEN_PATH.sub(r"\1…", path)


class _AccessRecords(logging.Filter):
    """uvicorn's access records with the path's token cut, and their parts as fields."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Rewrite the record's path (uvicorn passes client, method, path, version, status)."""
        args = record.args
        if record.name == "uvicorn.access" and isinstance(args, tuple) and len(args) == 5:
            client, method, path, version, status = args
            shown = redact_path(str(path))
            record.args = (client, method, shown, version, status)
            record.method, record.path, record.status = method, shown, status
        return True


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
        for key in (*IDS, "method", "path", "status"):
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
    handler.addFilter(_AccessRecords())
    for name in LOGGERS:
        logger = logging.getLogger(name)
        logger.handlers[:] = [handler]
        logger.propagate = False
    logging.getLogger("briefmail").setLevel(level)
