"""Where reports are kept: an .eml file, a directory of them, a Maildir or an mbox.

`read_messages` yields (source, bytes) per message, reading one message at a time, so a
mailbox of any size costs one message of memory. A path that cannot be read at all is a
`BounceError` naming it; a stray file inside a folder is simply a message with no events.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

__all__ = ["BounceError", "read_messages"]


class BounceError(Exception):
    """A path could not be read as bounce messages; names the path and the reason."""

    def __init__(self, path: str | Path, reason: str) -> None:
        self.path = str(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}")


_HEADER_LINE = re.compile(rb"[!-9;-~]+[ \t]*:")


def read_messages(path: Path) -> Iterator[tuple[str, bytes]]:
    """(source, bytes) of each message in an .eml file, a directory of them, a Maildir or an mbox.

    A source is the message's file path, with "#N" for the Nth message of an mbox. Files inside a
    directory or Maildir are taken as messages without a look: a stray one parses to no events
    rather than stopping a whole batch.
    """
    path = Path(path)
    if path.is_dir():
        yield from _read_directory(path)
        return
    try:
        with path.open("rb") as file:
            head = file.readline(1000)
            if head.startswith(b"From "):
                file.seek(0)
                yield from _split_mbox(path, file)
                return
            if not _HEADER_LINE.match(head):
                reason = "empty file" if not head else "not an e-mail message, mbox or Maildir"
                raise BounceError(path, reason)
            yield str(path), head + file.read()
    except OSError as exc:
        raise BounceError(path, exc.strerror or type(exc).__name__) from exc


def _read_directory(path: Path) -> Iterator[tuple[str, bytes]]:
    """Each message file of a Maildir (cur/, then new/) or each .eml file of a directory."""
    try:
        if (path / "cur").is_dir() or (path / "new").is_dir():
            files = [
                file
                for folder in (path / "cur", path / "new")
                if folder.is_dir()
                for file in sorted(folder.iterdir())
                if file.is_file() and not file.name.startswith(".")
            ]
        else:
            entries = sorted(path.iterdir())
            files = [file for file in entries if file.is_file() and file.suffix.lower() == ".eml"]
            if entries and not files:
                raise BounceError(path, "no .eml files, and not a Maildir (no cur/ or new/)")
    except OSError as exc:
        raise BounceError(path, exc.strerror or type(exc).__name__) from exc
    for file in files:
        try:
            data = file.read_bytes()
        except OSError as exc:
            raise BounceError(file, exc.strerror or type(exc).__name__) from exc
        yield str(file), data


def _split_mbox(path: Path, file: BinaryIO) -> Iterator[tuple[str, bytes]]:
    """The messages of an mbox, read one at a time: each starts at a "From " line after a blank."""
    number = 0
    lines: list[bytes] = []
    previous_blank = True
    for line in file:
        if previous_blank and line.startswith(b"From "):
            if number:
                yield f"{path}#{number}", _mbox_message(lines)
            number, lines, previous_blank = number + 1, [], False
            continue
        previous_blank = line in (b"\n", b"\r\n")
        lines.append(line)
    if number:
        yield f"{path}#{number}", _mbox_message(lines)


def _mbox_message(lines: list[bytes]) -> bytes:
    """One message's lines without the mbox separator blank line and ">From " quoting (mboxrd)."""
    if lines and lines[-1] in (b"\n", b"\r\n"):
        lines = lines[:-1]
    return b"".join(line[1:] if re.match(rb">+From ", line) else line for line in lines)
