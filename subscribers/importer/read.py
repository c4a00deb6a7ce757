"""Reading an import file: its columns, its lines (UTF-8, any line ending) and its CSV rows.

A refused line (not UTF-8, a NUL byte) is reported as a RowError naming its line and reading
goes on, so one pass reports every problem; a file that cannot be read, a header that is wrong
or a broken quote stops the read with ImportFailed. The spreadsheet guard (`neutralise`,
`restore`) lives here too: export writes cells with it, the row checks read them with it.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "COLUMNS",
    "FORMULA_START",
    "ImportFailed",
    "Lines",
    "RowError",
    "estimate_rows",
    "neutralise",
    "read_records",
    "restore",
]

#: Every column a file may have, in the order export_csv writes them.
COLUMNS = (
    "email",
    "name",
    "status",
    "cadence",
    "timezone",
    "send_hour",
    "topics",
    "consent_source",
    "consent_at",
)


_SHOWN = 5  # errors quoted in an ImportFailed message


@dataclass(frozen=True)
class RowError:
    """One problem with one line of an import file."""

    line: int
    email: str | None
    reason: str

    def __str__(self) -> str:
        """``line 7: bad@ (reason)``, or ``line 7: reason`` when the row has no address."""
        if self.email:
            return f"line {self.line}: {self.email} ({self.reason})"
        return f"line {self.line}: {self.reason}"


class ImportFailed(Exception):
    """A file was refused and nothing was written; ``errors`` names every bad line."""

    def __init__(self, path: str | Path, errors: Sequence[RowError]) -> None:
        self.path = Path(path)
        self.errors = list(errors)
        count = len(self.errors)
        shown = "\n".join(f"  {error}" for error in self.errors[:_SHOWN])
        more = f"\n  … and {count - _SHOWN} more" if count > _SHOWN else ""
        noun = "error" if count == 1 else "errors"
        super().__init__(f"{self.path}: {count} {noun}, nothing imported\n{shown}{more}")


#: Checks a header row (its first line, its cells) and returns what is wrong with it.
HeaderCheck = Callable[[int, list[str]], list[RowError]]


def estimate_rows(path: Path) -> int:
    """How many data rows the file has, roughly (for progress), read at disk speed."""
    # Counting newlines reads the file at disk speed; quoted cells spanning lines make it an
    # overestimate, which only matters to a progress bar. Errors are left to the real read.
    try:
        with path.open("rb") as stream:
            newlines = sum(chunk.count(b"\n") for chunk in iter(lambda: stream.read(1 << 20), b""))
    except OSError:
        return 0
    return max(newlines - 1, 0)


class Lines:
    """The file's physical lines, decoded; a refused line is reported and parsing goes on.

    Lines end at LF, CRLF or a lone CR, as with ``open(newline="")``, which the csv module wants.
    """

    def __init__(self, path: Path, errors: list[RowError]) -> None:
        self.path = path
        self.errors = errors
        #: How many refused lines (not UTF-8, or holding a NUL byte) have been handed out so far.
        self.bad = 0

    def __iter__(self) -> Iterator[str]:
        number = 0
        try:
            with self.path.open("rb") as stream:
                for raw in stream:
                    undecodable = False
                    try:
                        text = raw.decode("utf-8")
                    except UnicodeDecodeError as exc:
                        undecodable = True
                        line = number + 1 + raw.count(b"\r", 0, exc.start)
                        reason = f"not UTF-8 (byte 0x{raw[exc.start]:02x}); save the file as UTF-8"
                        self.errors.append(RowError(line, None, reason))
                        text = raw.decode("utf-8", errors="replace")
                    if number == 0:
                        text = text.removeprefix("\ufeff")
                    pieces = _LONE_CR.split(text) if "\r" in text[:-2] else (text,)
                    for piece in pieces:
                        if not piece:
                            continue
                        number += 1
                        if undecodable:
                            self.bad += 1
                        elif "\x00" in piece:  # no database stores it in text; binary files have it
                            self.bad += 1
                            reason = "contains a NUL byte (is this a CSV file?)"
                            self.errors.append(RowError(number, None, reason))
                        yield piece
        except OSError as exc:
            reason = f"cannot read the file: {exc.strerror or exc}"
            raise ImportFailed(self.path, [RowError(1, None, reason)]) from exc


_LONE_CR = re.compile(r"(?<=\r)(?!\n)")


def read_records(
    path: Path, errors: list[RowError], check_header: HeaderCheck
) -> Iterator[tuple[int, list[str]]]:
    """Yield (first line, cells) of each data row, after ``check_header`` accepts the header."""
    lines = Lines(path, errors)
    reader = csv.reader(lines, strict=True)
    end = 0
    header_seen = False
    while True:
        start, bad_before = end + 1, lines.bad
        try:
            cells = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            errors.append(RowError(start, None, f"not valid CSV: {exc}"))
            # After a broken quote the rest of the file cannot be split into rows reliably.
            raise ImportFailed(path, sorted(errors, key=lambda e: e.line)) from None
        end = reader.line_num
        if not any(cell.strip() for cell in cells):
            continue  # blank lines (and rows of empty cells) are ignored
        if lines.bad > bad_before and header_seen:
            continue  # a refused line, already reported: its cells mean nothing
        if not header_seen:
            header_seen = True
            header_errors = check_header(start, cells)
            if errors or header_errors:
                raise ImportFailed(path, errors + header_errors)
            continue
        yield start, cells
    if not header_seen:
        errors.append(
            RowError(1, None, "the file is empty; it needs a header with an email column")
        )
        raise ImportFailed(path, errors)


#: What a spreadsheet takes for the start of a formula (OWASP's list).
FORMULA_START = frozenset("=+-@\t\r")
_NEUTRALISED = re.compile(r"'*[=+\-@\t\r]")


def neutralise(cell: str) -> str:
    """A cell a spreadsheet shows as text: a ``'`` before one it would run as a formula."""
    return "'" + cell if _NEUTRALISED.match(cell) else cell


def restore(cell: str) -> str:
    """The cell ``neutralise`` was given: the ``'`` it added taken off again."""
    return cell[1:] if cell[:1] == "'" and _NEUTRALISED.match(cell, 1) else cell
