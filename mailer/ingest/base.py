"""What every source format shares: the error type, decoding bytes, and text clean-up."""

from __future__ import annotations

import codecs
import datetime as dt
import re
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["Block", "IngestError", "SourceText", "blocks", "clean_text", "decode_source"]


class IngestError(Exception):
    """A source file could not be read as an issue; names the file and the line."""

    def __init__(self, path: str | Path, line: int, reason: str) -> None:
        self.path = str(path)
        self.line = line
        self.reason = reason
        super().__init__(f"{self.path}:{line}: {reason}")


@dataclass(frozen=True, slots=True)
class SourceText:
    """Decoded source: its name, its lines (without line endings) and the day it was received.

    The received day becomes the date of an issue whose format prints none (articles).
    """

    path: str
    lines: tuple[str, ...]
    received: dt.date = field(default_factory=dt.date.today)

    def error(self, line: int, reason: str) -> IngestError:
        """Build an IngestError for this source at 1-based ``line``."""
        return IngestError(self.path, line, reason)


@dataclass(frozen=True, slots=True)
class Block:
    """A run of non-blank lines: where it starts (1-based) and its stripped lines."""

    line: int
    lines: tuple[str, ...]

    @property
    def text(self) -> str:
        """The block's lines joined by single spaces."""
        return " ".join(self.lines)


def blocks(lines: tuple[str, ...] | list[str], first_line: int = 1) -> list[Block]:
    """Split lines into blocks separated by blank lines."""
    found: list[Block] = []
    current: list[str] = []
    start = first_line
    for number, raw in enumerate(lines, start=first_line):
        text = raw.strip()
        if text:
            if not current:
                start = number
            current.append(text)
        elif current:
            found.append(Block(start, tuple(current)))
            current = []
    if current:
        found.append(Block(start, tuple(current)))
    return found


# Byte-order marks decide the encoding outright; longest first so UTF-32 is not read as UTF-16.
_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)
# C0 controls other than tab, newline and carriage return never belong in an issue.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def decode_source(data: bytes, path: str | Path, received: dt.date | None = None) -> SourceText:
    """Decode a newsroom text file (BOM-marked UTF-8/16/32, else UTF-8, else GB18030)."""
    encoding = next((enc for bom, enc in _BOMS if data.startswith(bom)), None)
    candidates = [encoding] if encoding else ["utf-8", "gb18030"]
    last: UnicodeDecodeError | None = None
    for candidate in candidates:
        try:
            text = data.decode(candidate)
        except UnicodeDecodeError as exc:
            last = exc
            continue
        # splitlines() would also split on U+2028 and friends, which may sit inside a
        # paragraph; only real line endings end a line here.
        lines = tuple(text.replace("\r\n", "\n").replace("\r", "\n").split("\n"))
        for number, line in enumerate(lines, start=1):
            if match := _CONTROL.search(line):
                hint = " (is it UTF-16 without a byte-order mark?)" if "\x00" in line else ""
                raise IngestError(
                    path, number, f"control character U+{ord(match.group()):04X} in text{hint}"
                )
        return SourceText(str(path), lines, received or dt.date.today())
    assert last is not None
    where = data[: last.start].count(b"\n") + 1
    raise IngestError(
        path, where, f"cannot decode text as {' or '.join(candidates)}: {last.reason}"
    )


# "(?<!\s)": a search tries "\s*" once per run of spaces, from its start, not from each of its
# spaces (which is quadratic in the run's length); the matches are the same.
_CITATIONS = re.compile(r"(?:(?<!\s)\s*\[\d{1,3}(?:[-–,]\s*\d{1,3})*\])+")
_SPACES = re.compile(r"[ \t\u00a0]{2,}")


def clean_text(text: str) -> str:
    """Remove citation markers like ``[3][5]`` and collapse runs of spaces."""
    text = _CITATIONS.sub("", text)
    return _SPACES.sub(" ", text).strip()
