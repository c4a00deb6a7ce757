"""What every source format shares: the error type and turning bytes into lines of text."""

from __future__ import annotations

import codecs
from dataclasses import dataclass
from pathlib import Path

__all__ = ["IngestError", "SourceText", "decode_source"]


class IngestError(Exception):
    """A source file could not be read as an issue; names the file and, when known, the line."""

    def __init__(self, path: str | Path, line: int | None, reason: str) -> None:
        self.path = str(path)
        self.line = line
        self.reason = reason
        where = f"{self.path}:{line}" if line is not None else self.path
        super().__init__(f"{where}: {reason}")


@dataclass(frozen=True, slots=True)
class SourceText:
    """Decoded source: its name (for errors) and its lines, without line endings."""

    path: str
    lines: tuple[str, ...]

    def error(self, line: int | None, reason: str) -> IngestError:
        """Build an IngestError for this source at 1-based ``line``."""
        return IngestError(self.path, line, reason)


# Byte-order marks decide the encoding outright; longest first so UTF-32 is not read as UTF-16.
_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)


def decode_source(data: bytes, path: str | Path) -> SourceText:
    """Decode a newsroom text file (BOM-marked UTF-8/16/32, else UTF-8, else GB18030)."""
    encoding = next((enc for bom, enc in _BOMS if data.startswith(bom)), None)
    candidates = [encoding] if encoding else ["utf-8", "gb18030"]
    for candidate in candidates:
        try:
            text = data.decode(candidate)
        except UnicodeDecodeError as exc:
            last = exc
            continue
        if "\x00" in text:
            raise IngestError(path, None, "file contains NUL bytes: is it UTF-16 without a BOM?")
        # splitlines() also splits on U+2028 and friends, which may sit inside a paragraph;
        # only real line endings end a line here.
        normalised = text.replace("\r\n", "\n").replace("\r", "\n")
        return SourceText(str(path), tuple(normalised.split("\n")))
    line = data[: last.start].count(b"\n") + 1
    raise IngestError(path, line, f"cannot decode text as {' or '.join(candidates)}: {last.reason}")
