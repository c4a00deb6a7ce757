"""Bounces and complaints: a report some mail server sent back → one BounceEvent per recipient.

Three kinds of report arrive at the VERP bounce address (``bounces+TOKEN@domain``) or the
feedback-loop address, and each becomes zero or more events:

- a delivery status notification (DSN, RFC 3464): ``multipart/report; report-type=delivery-status``
  with a ``message/delivery-status`` part holding one header block per recipient;
- an abuse report (ARF, RFC 5965): ``multipart/report; report-type=feedback-report`` with a
  ``message/feedback-report`` part, sent when a reader presses "this is spam";
- the plain-text bounces some MTAs still send instead of a DSN: qmail's QSBMF ("Hi. This is the
  qmail-send program") and Exim's older format ("This message was created automatically by mail
  delivery software", one indented block per failed address).

How a report is classified; "status" is the enhanced status code (RFC 3463) from the Status field,
else the first one in the server's reply text. The first matching row wins:

    report                               condition                                    event
    -----------------------------------  -------------------------------------------  ---------
    ARF                                  no Feedback-Type, or not-spam, auth-failure  none
    ARF                                  any other Feedback-Type (abuse, fraud, …)    COMPLAINT
    DSN recipient block                  Action delayed, delivered, relayed, expanded none
    DSN block with Action failed, or a   status 2.x.x                                 none
    recipient of a qmail / Exim bounce   status 4.x.x                                 SOFT
                                         status 5.2.2, 5.2.3 (mailbox full, too big)  SOFT
                                         status 5.3.x, 5.6.x (the receiving system or
                                         the message's content, not the address)      SOFT
                                         status 5.4.7 (delivery time expired)         SOFT
                                         status 5.7.x (policy, spam, authentication)  SOFT
                                         the text says mailbox full, over quota,
                                         queue too long or retry timeout exceeded     SOFT
                                         any other 5.x.x (5.1.1 user unknown, …)      HARD
                                         no status; SMTP reply code 4xx               SOFT
                                         no status; reply code 5xx, or none at all    HARD
    anything else: auto-replies, out-of-office, unknown formats, garbage              none

Only HARD means "this address does not exist": mailbox full and policy rejections are temporary
in practice, and suppressing a reader for them would lose a real reader. A DSN whose Status is an
unspecific X.0.0 (Exim always writes 5.0.0) takes the more specific code of the same class from
its Diagnostic-Code, when there is one.

The report is untrusted input. `parse_report` never raises on a message, however malformed: an
unrecognised one gives ``[]``. Every string it returns has its line breaks and control characters
folded to spaces, undecodable bytes replaced, and at most 1000 characters, so a value can go
straight into a log line or a database column.
"""

from __future__ import annotations

import enum
import functools
import hashlib
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from email import message_from_bytes
from email.message import Message
from email.parser import HeaderParser
from email.policy import compat32
from email.utils import getaddresses, parseaddr
from pathlib import Path
from typing import BinaryIO

__all__ = [
    "BounceError",
    "BounceEvent",
    "BounceKind",
    "kind_of_status",
    "parse_report",
    "read_messages",
]

#: The longest string any BounceEvent field holds.
MAX_FIELD = 1000


class BounceKind(enum.StrEnum):
    """What a report says about a recipient: gone for good, failing for now, or complaining."""

    HARD = "hard"
    SOFT = "soft"
    COMPLAINT = "complaint"


@dataclass(frozen=True, slots=True)
class BounceEvent:
    """One recipient's failure or complaint, as one report states it.

    ``report_id`` is shared by every event of one report, so (report_id, recipient) is the key
    for processing a report once. ``verp_token`` comes from the address the report was delivered
    to, else (ARF) Original-Mail-From, else the Return-Path of the returned original message.
    ``message_id`` comes from the returned headers, else the DSN's X-Original-Message-ID or the
    copy in a plain-text bounce, else the report's In-Reply-To.
    """

    kind: BounceKind
    recipient: str | None
    status: str | None
    diagnostic: str | None
    verp_token: str | None
    message_id: str | None
    reporter: str | None
    report_id: str
    source: str


class BounceError(Exception):
    """A path could not be read as bounce messages; names the path and the reason."""

    def __init__(self, path: str | Path, reason: str) -> None:
        self.path = str(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}")


# --- classification -----------------------------------------------------------------------------

_STATUS = re.compile(r"(?<![\d.])([245])\.(\d{1,3})\.(\d{1,3})(?![\d.]*\d)")
# A basic SMTP reply code at the start of the text or after a space or colon, as servers write
# "550 ..." or "550-..."; only used when no enhanced status code is anywhere to be found.
_REPLY_CODE = re.compile(r"(?:^|[\s:])([245]\d\d)(?:[\s-]|$)")
# 5.x.x codes that are about the receiving system or the message, not about the address.
_SOFT_PERMANENT = re.compile(r"5\.(2\.[23]|3\.\d+|4\.7|6\.\d+|7\.\d+)")
# Wording that means "temporary" whatever code came with it.
_TEMPORARY_TEXT = re.compile(
    r"mailbox (?:is )?full|over ?quota|quota exceeded|exceeded (?:the |their )?(?:storage|quota)"
    r"|insufficient (?:system )?storage|queue too long|retry time ?out exceeded",
    re.IGNORECASE,
)


def kind_of_status(status: str) -> BounceKind | None:
    """HARD or SOFT for an enhanced status code ("5.1.1" → HARD), None for 2.x.x or not a code."""
    match = _STATUS.fullmatch(status.strip())
    if match is None or match[1] == "2":
        return None
    if match[1] == "4" or _SOFT_PERMANENT.fullmatch(_normal_status(match)):
        return BounceKind.SOFT
    return BounceKind.HARD


def _normal_status(match: re.Match[str]) -> str:
    """The matched code without leading zeros: 5.01.1 → 5.1.1."""
    return ".".join(str(int(group)) for group in match.groups())


def _find_status(text: str | None) -> str | None:
    """The first enhanced status code in a server's text, if any."""
    match = _STATUS.search(text or "")
    return _normal_status(match) if match else None


def _failure(status: str | None, text: str | None) -> tuple[BounceKind | None, str | None]:
    """Kind and status for a recipient the reporting MTA declared failed (the table's middle)."""
    found = _find_status(text)
    if status is None:
        status = found
    elif status.endswith(".0.0") and found and found[0] == status[0]:
        status = found  # "5.0.0" says nothing; "550 5.1.1 user unknown" does
    if status is not None:
        kind = kind_of_status(status)
    else:
        code = _REPLY_CODE.search(text or "")
        kind = BounceKind.SOFT if code and code[1][0] == "4" else BounceKind.HARD
    if kind is BounceKind.HARD and _TEMPORARY_TEXT.search(text or ""):
        kind = BounceKind.SOFT
    return kind, status


# --- untrusted text -----------------------------------------------------------------------------

# C0 and C1 controls, DEL and Unicode line breaks: no returned string may contain them.
_CONTROLS = re.compile(r"[\x00-\x20\x7f-\x9f\u2028\u2029]+")
# Characters never found in a usable address or message id: space, controls, delimiters, U+FFFD.
_ATOM = r"[^\s\x00-\x1f\x7f-\x9f\u2028\u2029\ufffd@<>()\[\],;:\"]"
_ADDRESS = re.compile(rf"{_ATOM}{{1,64}}@{_ATOM}{{1,255}}")
_MESSAGE_ID = re.compile(r"<[^<>\s\x00-\x1f\x7f-\x9f\u2028\u2029\ufffd]{1,995}>")
_TYPED = re.compile(r"\s*[A-Za-z][A-Za-z0-9.+-]{0,30}\s*;\s*")


def _clean(value: str | None) -> str | None:
    """Untrusted text made safe to store: one line, no controls, valid Unicode, capped."""
    if value is None:
        return None
    try:
        # Raw 8-bit bytes reach us as surrogate escapes; most are UTF-8 in practice.
        value = value.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    except UnicodeError:
        value = value.encode("utf-8", "replace").decode("utf-8")
    value = _CONTROLS.sub(" ", value).strip()
    return value[:MAX_FIELD].rstrip() or None


def _header(msg: Message, name: str) -> str | None:
    """The first value of a header, cleaned, or None."""
    return next(iter(_headers(msg, name)), None)


def _headers(msg: Message, name: str) -> list[str]:
    """Every non-empty value of a header, cleaned."""
    # raw_items, not get(): compat32 turns a value with 8-bit bytes into a Header object that
    # replaces each byte with U+FFFD, where _clean can still decode it as the UTF-8 it usually is.
    found = (_clean(str(value)) for key, value in msg.raw_items() if key.lower() == name.lower())
    return [value for value in found if value]


def _first(messages: Iterable[Message], name: str) -> str | None:
    """The first value of a header in any of several header blocks."""
    return next((value for msg in messages if (value := _header(msg, name))), None)


def _untyped(value: str | None) -> str | None:
    """A DSN field without its type: "smtp; 550 User unknown" → "550 User unknown"."""
    if value is None:
        return None
    match = _TYPED.match(value)
    return (value[match.end() :] if match else value).strip() or None


def _address(value: str | None) -> str | None:
    """The bare address in "rfc822; <a@b.org>", "Name <a@b.org>" or "a@b.org", else None."""
    value = _untyped(value)
    if value is None:
        return None
    address = parseaddr(value)[1].strip("<> ")
    return address if _ADDRESS.fullmatch(address) else None


def _addresses(values: Iterable[str]) -> list[str]:
    """Every valid address in some address-list header values, in order, each once."""
    found = (_address(address) for _, address in getaddresses(list(values)))
    return list(dict.fromkeys(address for address in found if address))


def _message_id(value: str | None) -> str | None:
    """The first <…> message id in a header value, else None."""
    match = _MESSAGE_ID.search(value or "")
    return match[0] if match else None


def _part_text(part: Message) -> str:
    """A leaf part's body: transfer encoding undone, decoded by its charset (else UTF-8)."""
    payload = part.get_payload(decode=True)
    if not isinstance(payload, bytes):
        return ""
    charset = part.get_content_charset() or "utf-8"
    try:
        return payload.decode(charset, "replace")
    except (LookupError, ValueError, TypeError):  # unknown charset, or a codec that is not text
        return payload.decode("utf-8", "replace")


# --- message structure --------------------------------------------------------------------------

_RETURNED = ("message/rfc822", "message/global", "text/rfc822-headers", "message/global-headers")


def _report_parts(msg: Message) -> list[Message]:
    """The report's parts in order, not descending into the returned original message."""
    found: list[Message] = []
    stack = [msg]
    while stack:
        part = stack.pop()
        found.append(part)
        # is_multipart() first: get_payload() of a leaf decodes by its charset and can raise.
        payload = part.get_payload() if part.is_multipart() else None
        if part.get_content_maintype() == "multipart" and isinstance(payload, list):
            stack.extend(p for p in reversed(payload) if isinstance(p, Message))
    return found


def _returned_headers(parts: list[Message]) -> Message | None:
    """The headers of the original message the report returns, if it returns any."""
    for part in parts:
        kind = part.get_content_type()
        if kind not in _RETURNED:
            continue
        payload = part.get_payload() if part.is_multipart() else None
        if isinstance(payload, list) and payload and isinstance(payload[0], Message):
            return payload[0]
        return HeaderParser(policy=compat32).parsestr(_part_text(part), headersonly=True)
    return None


def _field_blocks(part: Message) -> list[Message]:
    """The header blocks of a message/delivery-status or message/feedback-report part."""
    if part.is_multipart():
        # The stdlib parses delivery-status into one Message per block, and any other message/*
        # into one Message whose body holds the blocks after the first.
        blocks = [block for block in part.get_payload() if isinstance(block, Message)]
        texts = [_part_text(block) for block in blocks if not block.is_multipart()]
    else:
        blocks, texts = [], [_part_text(part)]
    for text in texts:
        for chunk in re.split(r"\r?\n[ \t]*\r?\n", text):
            if chunk.strip():
                blocks.append(HeaderParser(policy=compat32).parsestr(chunk.lstrip("\r\n")))
    return blocks


# --- the report ---------------------------------------------------------------------------------

_DELIVERY_HEADERS = ("Delivered-To", "X-Original-To", "Envelope-To", "X-Envelope-To", "To")
_NO_COMPLAINT = frozenset({"not-spam", "auth-failure"})


@functools.lru_cache(maxsize=8)
def _verp_pattern(prefix: str) -> re.Pattern[str]:
    """Matches `prefix+TOKEN@` as the start of an address, capturing TOKEN."""
    token = r"([A-Za-z0-9._=-]{1,200})"
    return re.compile(rf"(?<![^\s<,:;\"'(]){re.escape(prefix)}\+{token}@", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class _Report:
    """What every event of one report shares."""

    msg: Message
    parts: list[Message]
    returned: Message | None
    report_id: str
    source: str
    verp_prefix: str

    def event(
        self,
        kind: BounceKind,
        recipient: str | None,
        *,
        status: str | None = None,
        diagnostic: str | None = None,
        message_id: str | None = None,
        reporter: str | None = None,
        verp_from: Iterable[str] = (),
    ) -> BounceEvent:
        """An event with this report's shared fields filled in."""
        returned = self.returned
        return BounceEvent(
            kind=kind,
            recipient=recipient,
            status=status,
            diagnostic=_clean(diagnostic),
            verp_token=self.verp_token(verp_from),
            message_id=_message_id(_header(returned, "Message-ID") if returned else None)
            or _message_id(message_id)
            or _message_id(_header(self.msg, "In-Reply-To")),
            reporter=_clean(reporter),
            report_id=self.report_id,
            source=self.source,
        )

    def verp_token(self, extra: Iterable[str]) -> str | None:
        """The token of the first `prefix+TOKEN@` address the report names (see BounceEvent)."""
        values = [value for name in _DELIVERY_HEADERS for value in _headers(self.msg, name)]
        values += extra
        if self.returned is not None:
            values += _headers(self.returned, "Return-Path")
        pattern = _verp_pattern(self.verp_prefix)
        return next((match[1] for value in values if (match := pattern.search(value))), None)


def _complaints(report: _Report, part: Message) -> list[BounceEvent]:
    """ARF: one COMPLAINT per complaining recipient (or one with no recipient)."""
    blocks = _field_blocks(part)
    fields = blocks[0] if blocks else Message()
    feedback_type = _header(fields, "Feedback-Type")
    if feedback_type is None or feedback_type.lower() in _NO_COMPLAINT:
        return []  # Feedback-Type is required (RFC 5965): without it this is no ARF report
    recipients: list[str | None] = list(_addresses(_headers(fields, "Original-Rcpt-To")))
    if not recipients and report.returned is not None:
        recipients = list(_addresses(_headers(report.returned, "To")))
    reporter = _untyped(_header(fields, "Reporting-MTA")) or _header(fields, "User-Agent")
    return [
        report.event(
            BounceKind.COMPLAINT,
            recipient,
            diagnostic=feedback_type.lower(),
            reporter=reporter,
            verp_from=_headers(fields, "Original-Mail-From"),
        )
        for recipient in recipients or [None]
    ]


def _delivery_failures(report: _Report, parts: list[Message]) -> list[BounceEvent]:
    """DSN: one event per recipient block whose Action is failed."""
    blocks = [block for part in parts for block in _field_blocks(part)]
    reporter = _first(blocks, "Reporting-MTA")
    original = _first(blocks, "X-Original-Message-ID")
    events = []
    for block in blocks:
        action = (_header(block, "Action") or "").lower()
        # "error" is not in RFC 3464, but OpenSMTPD writes it for "failed".
        if not action.startswith(("failed", "error")):
            continue
        diagnostic = _untyped(_header(block, "Diagnostic-Code"))
        kind, status = _failure(_find_status(_header(block, "Status")), diagnostic)
        if kind is None:
            continue
        recipient = _address(_header(block, "Original-Recipient")) or _address(
            _header(block, "Final-Recipient")
        )
        events.append(
            report.event(
                kind,
                recipient,
                status=status,
                diagnostic=diagnostic,
                message_id=original,
                reporter=_untyped(reporter),
            )
        )
    return events


_QMAIL_INTRO = re.compile(r"^Hi\. This is the qmail", re.MULTILINE)
_QMAIL_RECIPIENT = re.compile(r"<([^<>\s]*)>:\s*(.*)", re.DOTALL)
_EXIM_INTRO = "This message was created automatically by mail delivery software"
_EXIM_FAILED = re.compile(r"The following address(?:\(es\)|es)? failed:\s*$", re.MULTILINE)
_EXIM_RCPT = re.compile(r"after RCPT TO:\s*<([^<>\s]+)>", re.IGNORECASE)
_COPY_MESSAGE_ID = re.compile(r"^Message-ID:(.*)$", re.IGNORECASE | re.MULTILINE)


def _plain_failures(report: _Report) -> list[BounceEvent]:
    """qmail and Exim plain-text bounces: one event per failed address they list."""
    # The first text/plain part is where a plain-text bounce says what failed.
    plain = next((p for p in report.parts if p.get_content_type() == "text/plain"), None)
    text = _part_text(plain).replace("\r\n", "\n") if plain is not None else ""
    found: list[tuple[str | None, str]] = []
    if intro := _QMAIL_INTRO.search(text):
        # QSBMF: after the intro paragraph, one "<address>:" paragraph per recipient, until a
        # paragraph that starts with "-" (the copy of the message).
        for paragraph in re.split(r"\n[ \t]*\n", text[intro.start() :])[1:]:
            if paragraph.startswith("-"):
                break
            if match := _QMAIL_RECIPIENT.match(paragraph.strip()):
                found.append((_address(match[1]), match[2]))
    elif _EXIM_INTRO in text and (listing := _EXIM_FAILED.search(text)):
        found = _exim_blocks(text[listing.end() :])
        if not found:
            found = [
                (address, "") for address in _addresses(_headers(report.msg, "X-Failed-Recipients"))
            ]
    copy = _COPY_MESSAGE_ID.search(text)
    from_address = _address(_header(report.msg, "From"))
    events = []
    for recipient, diagnostic in found:
        kind, status = _failure(None, _clean(diagnostic))
        if kind is None:
            continue
        events.append(
            report.event(
                kind,
                recipient,
                status=status,
                diagnostic=diagnostic,
                message_id=copy[1] if copy else None,
                reporter=from_address.rpartition("@")[2] if from_address else None,
            )
        )
    return events


def _exim_blocks(text: str) -> list[tuple[str | None, str]]:
    """Exim's listing: "  address" lines, each followed by its deeper-indented reason."""
    found: list[tuple[str | None, list[str]]] = []
    for line in text.split("\n"):
        if not line.strip():
            continue
        if not line.startswith(" "):
            break  # "------ This is a copy of the message" or the end of the listing
        if not line.startswith("   ") and (address := _address(line)):
            found.append((address, []))
        elif found:
            found[-1][1].append(line.strip())
    blocks = []
    for address, lines in found:
        reason = " ".join(lines)
        rcpt = _EXIM_RCPT.search(reason)
        blocks.append((address or (_address(rcpt[1]) if rcpt else None), reason))
    return blocks


def parse_report(
    data: bytes, *, source: str = "<bytes>", verp_prefix: str = "bounces"
) -> list[BounceEvent]:
    """The bounce or complaint events in one raw message; [] when it is neither."""
    if not verp_prefix:
        raise ValueError("verp_prefix must not be empty")
    try:
        msg = message_from_bytes(data, policy=compat32)
        parts = _report_parts(msg)
    except RecursionError:
        # The stdlib parser recurses once per nested multipart; only a hostile message nests
        # a thousand deep, and it is no report.
        return []
    report_id = _message_id(_header(msg, "Message-ID"))
    report = _Report(
        msg=msg,
        parts=parts,
        returned=_returned_headers(parts),
        report_id=report_id or "sha256:" + hashlib.sha256(data).hexdigest(),
        source=source,
        verp_prefix=verp_prefix,
    )
    for part in parts:
        if part.get_content_type() == "message/feedback-report":
            return _complaints(report, part)
    statuses = [
        part
        for part in parts
        if part.get_content_type() in ("message/delivery-status", "message/global-delivery-status")
    ]
    if statuses:
        return _delivery_failures(report, statuses)
    return _plain_failures(report)


# --- reading mailboxes --------------------------------------------------------------------------

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
