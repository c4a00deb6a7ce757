"""FileTransport: writes each message as an .eml file, for previews and dry runs on disk."""

from __future__ import annotations

import os
import re
from pathlib import Path

from mailer.errors import ConnectionFailure
from mailer.message import OutgoingMessage
from mailer.transport import Accepted

__all__ = ["FileTransport"]

_UNSAFE = re.compile(r"[^A-Za-z0-9._@+-]")


class FileTransport:
    """Writes ``<directory>/<n>-<recipient>.eml``; each file appears whole or not at all."""

    def __init__(self, directory: str | Path) -> None:
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self._count = 0

    async def send(self, message: OutgoingMessage) -> Accepted:
        """Write the message atomically (temp file + rename)."""
        self._count += 1
        name = f"{self._count:06d}-{_UNSAFE.sub('_', message.rcpt_to)}.eml"
        target = self.directory / name
        partial = target.with_suffix(".eml.part")
        try:
            partial.write_bytes(message.data)
            os.replace(partial, target)
        except OSError as exc:
            raise ConnectionFailure(f"cannot write {target}: {exc.strerror or exc}") from exc
        return Accepted(250, f"written to {target}")

    async def close(self) -> None:
        """Nothing to release: every file is closed as soon as it is written."""
