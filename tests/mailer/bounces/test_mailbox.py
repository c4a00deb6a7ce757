"""Where reports are kept: mailer/bounces/mailbox.py's read_messages."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from mailer.bounces import BounceError, parse_report, read_messages
from tests.mailer.bounces.reports import BOUNCES, COMPLAINT, GONE, fixture


def mbox_of(names: list[str]) -> bytes:
    """An mboxrd file holding the fixtures, with a body line that needs ">From " quoting."""
    out = b""
    for name in names:
        body = fixture(name).replace(b"Today's brief.", b">From the desk: today's brief.")
        out += b"From MAILER-DAEMON Wed Jul  1 07:00:12 2026\n" + body + b"\n"
    return out


class TestReadMessages:
    """Every container a bounce mailbox comes in, and errors that name the path."""

    def test_single_eml(self) -> None:
        """An .eml file is one message, its source the path."""
        path = BOUNCES / "qmail.eml"
        assert list(read_messages(path)) == [(str(path), path.read_bytes())]

    def test_directory_of_eml_files(self, tmp_path: Path) -> None:
        """A directory gives its .eml files in name order and skips anything else."""
        for name in ("b.eml", "a.EML"):
            (tmp_path / name).write_bytes(fixture("qmail.eml"))
        (tmp_path / "notes.txt").write_text("not a message")
        (tmp_path / "sub").mkdir()
        sources = [source for source, _ in read_messages(tmp_path)]
        assert sources == [str(tmp_path / "a.EML"), str(tmp_path / "b.eml")]

    def test_maildir(self, tmp_path: Path) -> None:
        """A Maildir gives the messages in cur/ then new/, skipping tmp/ and dot files."""
        for folder in ("cur", "new", "tmp"):
            (tmp_path / folder).mkdir()
        shutil.copy(BOUNCES / "postfix-hard.eml", tmp_path / "cur" / "1782889212.M1P2.mx:2,S")
        shutil.copy(BOUNCES / "yahoo-arf.eml", tmp_path / "new" / "1782983695.M3P4.mx")
        shutil.copy(BOUNCES / "qmail.eml", tmp_path / "tmp" / "1782983696.M5P6.mx")
        (tmp_path / "new" / ".lock").write_text("")
        messages = list(read_messages(tmp_path))
        assert [source for source, _ in messages] == [
            str(tmp_path / "cur" / "1782889212.M1P2.mx:2,S"),
            str(tmp_path / "new" / "1782983695.M3P4.mx"),
        ]
        reasons = [event.reason for _, data in messages for event in parse_report(data)]
        assert reasons == [GONE, COMPLAINT]

    def test_mbox(self, tmp_path: Path) -> None:
        """An mbox gives each message as "path#N", unquoted, and each parses as its fixture does."""
        names = ["exim-dsn.eml", "out-of-office.eml", "yahoo-arf.eml"]
        path = tmp_path / "bounces.mbox"
        path.write_bytes(mbox_of(names))
        messages = list(read_messages(path))
        assert [source for source, _ in messages] == [f"{path}#1", f"{path}#2", f"{path}#3"]
        assert b">From the desk" not in messages[0][1]
        assert b"\nFrom the desk: today's brief." in messages[0][1]
        events = [parse_report(data, source=source) for source, data in messages]
        assert [[(e.reason, e.recipient, e.source) for e in found] for found in events] == [
            [(GONE, "ex.colleague@example.com", f"{path}#1")],
            [],
            [(COMPLAINT, "annoyed.reader@example.com", f"{path}#3")],
        ]

    def test_mbox_message_ends_without_the_separator_line(self, tmp_path: Path) -> None:
        """The blank line mbox puts between messages is not part of the message."""
        path = tmp_path / "one.mbox"
        path.write_bytes(b"From x Wed Jul  1 07:00:12 2026\nSubject: a\n\nbody\n\n")
        assert list(read_messages(path)) == [(f"{path}#1", b"Subject: a\n\nbody\n")]

    def test_empty_directory_gives_nothing(self, tmp_path: Path) -> None:
        """An empty drop folder is not an error: there are simply no bounces today."""
        assert list(read_messages(tmp_path)) == []

    def test_missing_path(self, tmp_path: Path) -> None:
        """A path that does not exist is a BounceError that names it."""
        path = tmp_path / "nope.eml"
        with pytest.raises(BounceError) as caught:
            list(read_messages(path))
        assert str(caught.value) == f"{path}: No such file or directory"
        assert caught.value.path == str(path)

    def test_unreadable_path(self, tmp_path: Path) -> None:
        """A path that cannot be opened is a BounceError that names it."""
        (tmp_path / "file").write_text("x")
        path = tmp_path / "file" / "inside.eml"
        with pytest.raises(BounceError, match=re.escape(f"{path}: Not a directory")):
            list(read_messages(path))

    @pytest.mark.parametrize(
        ("content", "reason"),
        [
            (b"\x89PNG\r\n\x1a\n\x00\x00", "not an e-mail message, mbox or Maildir"),
            (b"just some notes\n", "not an e-mail message, mbox or Maildir"),
            (b"", "empty file"),
        ],
    )
    def test_unrecognised_file(self, tmp_path: Path, content: bytes, reason: str) -> None:
        """A file that is neither a message nor an mbox is a BounceError naming it."""
        path = tmp_path / "thing.eml"
        path.write_bytes(content)
        with pytest.raises(BounceError) as caught:
            list(read_messages(path))
        assert str(caught.value) == f"{path}: {reason}"

    def test_directory_without_messages(self, tmp_path: Path) -> None:
        """A directory holding files but no .eml files, and no cur/ or new/, is a BounceError."""
        (tmp_path / "notes.txt").write_text("x")
        with pytest.raises(BounceError, match=re.escape(f"{tmp_path}: no .eml files")):
            list(read_messages(tmp_path))
