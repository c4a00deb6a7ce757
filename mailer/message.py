"""MIME assembly: a rendered variant plus one recipient's details → bytes ready for SMTP.

Newsletters and notices (confirm, welcome, goodbye) are built here alike and signed by the same
`DkimSigner`. Every list message carries List-Id and Feedback-ID; all but a transactional one
(the confirmation request) also carry List-Unsubscribe, one-click List-Unsubscribe-Post (RFC
8058) and Precedence: bulk. The confirmation is a one-to-one message the reader has just asked
for: it offers no unsubscribe from a list they are not on, and is marked Auto-Submitted
(RFC 3834, so vacation responders stay quiet) instead of bulk, which some filters file away or
delay, and a confirmation that arrives late or in the wrong folder breaks double opt-in.

A rendered variant that carries images (the list's logo, `Rendered.inline_images`) sends its
HTML as multipart/related: multipart/alternative [text/plain, multipart/related [text/html,
image/*]], each image base64 with the Content-ID its ``cid:`` reference names. Those parts are
the same for every copy of the variant, so they are encoded once, with the rest of the body.
What a message costs on the wire (`html_size`, `inline_size`) is measured here too: the renderer
keeps each newsletter under Gmail's clip by it. `Slot` names the per-reader links filled here.

Header values go through the stdlib's `email.policy.SMTP`, which refuses CR/LF inside a value and
encodes non-ASCII (RFC 2047), so a subject or name from content can never inject a header.

Recipients' addresses go out as the wire needs them (`wire_address`): an internationalised
domain as its A-label (``bücher.de`` → ``xn--bcher-kva.de``), which every relay takes; a local
part that is not ASCII only over SMTPUTF8 (RFC 6531), which the message then asks for and a
relay that does not offer it refuses before anything is sent. An address that cannot be put on
the wire at all raises `AddressNotUsable`, and only that recipient's delivery fails.
"""

from __future__ import annotations

import base64
import datetime as dt
import enum
import hashlib
import html as html_lib
import secrets
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from email import quoprimime
from email.headerregistry import Address
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime, parseaddr
from typing import TYPE_CHECKING

import idna

from mailer.brand import Logo
from mailer.dkim import DkimSigner, Unsigned, canonical_lines

if TYPE_CHECKING:  # mailer.render measures its HTML with this module's html_size
    from mailer.render import Rendered

__all__ = [
    "SLOT_URL_LENGTH",
    "AddressNotUsable",
    "ListHeaders",
    "MessageTemplate",
    "OutgoingMessage",
    "Slot",
    "UnsignedMessage",
    "build_message",
    "display_name",
    "domain_of",
    "html_size",
    "inline_size",
    "make_message_id",
    "wire_address",
]

#: The length a filled-in per-subscriber link is counted at when measuring (real ones are about
#: 150 characters: base URL, path and a signed token).
SLOT_URL_LENGTH = 200
#: Room for an inline image's part headers and the multipart/related frame around the HTML.
_IMAGE_PART_HEADERS = 600


class Slot(enum.StrEnum):
    """Per-subscriber values left as placeholders in a rendered variant.

    The placeholders are plain ASCII words so they pass through Jinja escaping, MJML and the CSS
    inliner unchanged, and cannot occur in real content by accident.
    """

    UNSUBSCRIBE_URL = "briefmail-slot-unsubscribe-url"
    PREFERENCES_URL = "briefmail-slot-preferences-url"


def html_size(html: str, url_length: int = SLOT_URL_LENGTH) -> int:
    """Bytes of the HTML part as sent, each slot counted as a link of ``url_length`` characters.

    As sent means quoted-printable with CRLF line ends, the way `MessageTemplate` encodes it:
    every "=" and every byte of a non-ASCII character takes three, and soft line breaks add
    about 4%. Whichever size a mail client compares with its clipping limit, the decoded HTML
    or the message as received, it is no larger than this.
    """
    slots = sum(html.count(slot.value) * (url_length - len(slot.value)) for slot in Slot)
    encoded = quoprimime.body_encode(html.encode("utf-8").decode("latin-1"), maxlinelen=76)
    return len(encoded) + encoded.count("\n") + slots


def inline_size(images: Sequence[Logo]) -> int:
    """Bytes the images add to a message: base64 in 76-character CRLF lines, plus part headers."""
    encoded = [-(-len(image.data) // 3) * 4 for image in images]
    return sum(n + 2 * -(-n // 76) + _IMAGE_PART_HEADERS for n in encoded)


@dataclass(frozen=True, slots=True)
class OutgoingMessage:
    """What a transport sends: the SMTP envelope and the message bytes."""

    mail_from: str
    rcpt_to: str
    data: bytes
    message_id: str
    #: The recipient's local part is not ASCII: the transaction needs SMTPUTF8 (RFC 6531).
    smtputf8: bool = False


class AddressNotUsable(ValueError):
    """An address that cannot be written in SMTP or a header (its delivery fails alone)."""


def wire_address(address: str) -> tuple[str, bool]:
    """The address as SMTP and the To header carry it, and whether it needs SMTPUTF8.

    The domain becomes its A-label (IDNA 2008 with UTS #46 mapping); the local part is kept
    as it is, so a non-ASCII one needs SMTPUTF8. Line breaks and controls are never usable.
    """
    local, at, domain = address.rpartition("@")
    if not at or not local or not domain:
        raise AddressNotUsable(f"not an address: {address!r}")
    if any(ord(c) < 32 or ord(c) == 127 or c in "<>\u2028\u2029\u0085" for c in address):
        raise AddressNotUsable(f"an address may not contain line breaks or controls: {address!r}")
    if not domain.isascii():
        try:
            domain = idna.encode(domain, uts46=True).decode("ascii")
        except idna.IDNAError as exc:
            raise AddressNotUsable(f"the domain of {address!r} is not a valid IDN: {exc}") from None
    return f"{local}@{domain}", not local.isascii()


@dataclass(frozen=True, slots=True)
class ListHeaders:
    """The headers that make a message a list message (RFC 2369, 2919, 8058) for one recipient.

    ``unsubscribe_url`` None makes it transactional (the confirmation request): List-Id and
    Feedback-ID, but no List-Unsubscribe, List-Unsubscribe-Post or Precedence: bulk.
    """

    list_id: str
    unsubscribe_url: str | None
    unsubscribe_mailto: str | None
    feedback_id: str


def domain_of(address: str) -> str:
    """The domain of an address, which may carry a display name ("Name <a@b.org>" → "b.org")."""
    _, addr = parseaddr(address)
    _, at, domain = addr.rpartition("@")
    if not at or not domain:
        raise ValueError(f"no domain in address {address!r}")
    return domain.lower()


def display_name(address: str) -> str:
    """The display name of an address ("China AI Brief <a@b.org>" → "China AI Brief"), or ""."""
    return parseaddr(address)[0]


def make_message_id(domain: str, local: str | None = None) -> str:
    """A globally unique Message-ID on the sending domain."""
    return f"<{local or secrets.token_hex(12)}@{domain}>"


class MessageTemplate:
    """One variant's message, built once; `fill` makes each recipient's copy cheaply.

    The constant headers (From, Subject, List-Id, …, the multipart Content-Type) are encoded by
    the stdlib once. Quoted-printable and DKIM's relaxed canonicalisation both work line by
    line, so the body is kept as runs of constant lines, encoded once, around the few lines
    that hold a slot (the unsubscribe and preferences links); the DKIM body hash up to the first
    such line is computed once too. Per recipient only those lines are filled and encoded, the
    header lines written and the hash finished: no parsing, folding or re-encoding of 50 KB of
    HTML per message. Inline images (the logo, base64) are constant pieces, encoded once here.
    `build_message` is this class used once, and a test checks the bytes against an encoding of
    the whole filled body.

    ``transactional`` (with a ``list_id``): the confirmation request, which names its list but
    carries no List-Unsubscribe, List-Unsubscribe-Post or Precedence: bulk (see the module).
    """

    def __init__(
        self,
        rendered: Rendered,
        *,
        sender: str,
        list_id: str | None = None,
        feedback_id: str | None = None,
        dkim: DkimSigner | None = None,
        transactional: bool = False,
    ) -> None:
        self.rendered = rendered
        self.dkim = dkim
        # Derived from the content, so one variant always gives the same bytes; it cannot occur
        # inside the parts, where quoted-printable writes every "=" as "=3D".
        digest = hashlib.sha256(f"{rendered.subject}\0{rendered.text}\0{rendered.html}".encode())
        self.boundary = f"==briefmail-{digest.hexdigest()[:24]}=="
        #: Whether each copy carries List-Unsubscribe (a list message that is not transactional).
        self.unsubscribes = list_id is not None and not transactional
        head = EmailMessage(policy=SMTP)
        name, addr = parseaddr(sender)
        head["From"] = Address(display_name=name, addr_spec=addr) if name else addr
        head["Subject"] = rendered.subject
        if list_id is not None:
            head["List-Id"] = list_id
            if transactional:
                head["Auto-Submitted"] = "auto-generated"
            else:
                head["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
                head["Precedence"] = "bulk"
            if feedback_id:
                head["Feedback-ID"] = feedback_id
        head["MIME-Version"] = "1.0"
        head["Content-Type"] = f'multipart/alternative; boundary="{self.boundary}"'
        self._head = head.as_bytes().split(b"\r\n\r\n", 1)[0] + b"\r\n"
        self._signing = dkim.below(self._head) if dkim is not None else None
        self._pieces: tuple[bytes | _PersonalLine, ...] = (
            f"--{self.boundary}\r\n{_TEXT_HEAD.format('plain')}".encode(),
            *_encode_part(rendered.text, html=False),
            *self._html_pieces(rendered),
            f"--{self.boundary}--\r\n".encode(),
        )
        # DKIM: the canonical body up to the first personal line is hashed once; after it,
        # constant pieces keep their canonical form and only personal lines are canonicalised.
        # The last piece is a constant, non-empty line, so the end-of-body rule never applies.
        personal = [i for i, p in enumerate(self._pieces) if isinstance(p, _PersonalLine)]
        self._first_personal = personal[0] if personal else len(self._pieces)
        self._prefix_hash = hashlib.sha256()
        for piece in self._pieces[: self._first_personal]:
            assert isinstance(piece, bytes)
            self._prefix_hash.update(canonical_lines(piece))
        self._canonical = tuple(
            canonical_lines(p) if isinstance(p, bytes) else None
            for p in self._pieces[self._first_personal :]
        )

    def _html_pieces(self, rendered: Rendered) -> list[bytes | _PersonalLine]:
        """The HTML alternative: the part alone, or with its images in a multipart/related."""
        html_part = [_TEXT_HEAD.format("html").encode(), *_encode_part(rendered.html, html=True)]
        if not rendered.inline_images:
            return [f"--{self.boundary}\r\n".encode(), *html_part]
        # Its own boundary, as constant as the outer one; no image or part can contain it.
        related = self.boundary.replace("briefmail-", "briefmail-related-")
        return [
            f"--{self.boundary}\r\nContent-Type: multipart/related; "
            f'boundary="{related}"; type="text/html"\r\n\r\n--{related}\r\n'.encode(),
            *html_part,
            *(f"--{related}\r\n".encode() + _image_part(i) for i in rendered.inline_images),
            f"--{related}--\r\n".encode(),
        ]

    def fill(
        self,
        *,
        to: str,
        message_id: str,
        return_path: str,
        slots: Mapping[Slot, str] | None = None,
        unsubscribe_url: str | None = None,
        unsubscribe_mailto: str | None = None,
        date: dt.datetime | None = None,
    ) -> OutgoingMessage:
        """One recipient's message: their headers and links filled in, DKIM-signed if set up.

        AddressNotUsable when ``to`` cannot be written on the wire (see `wire_address`).
        """
        unsigned = self.fill_unsigned(
            to=to,
            message_id=message_id,
            return_path=return_path,
            slots=slots,
            unsubscribe_url=unsubscribe_url,
            unsubscribe_mailto=unsubscribe_mailto,
            date=date,
        )
        return self.sign(unsigned)

    def sign(self, unsigned: UnsignedMessage) -> OutgoingMessage:
        """A message of this template's, signed here (as it is, if DKIM is not set up)."""
        if unsigned.pending is None or self.dkim is None:
            return unsigned.message
        return unsigned.signed(self.dkim.sign_digest(unsigned.pending.digest))

    def fill_unsigned(
        self,
        *,
        to: str,
        message_id: str,
        return_path: str,
        slots: Mapping[Slot, str] | None = None,
        unsubscribe_url: str | None = None,
        unsubscribe_mailto: str | None = None,
        date: dt.datetime | None = None,
    ) -> UnsignedMessage:
        """`fill` up to the DKIM signature, which the caller has made elsewhere (`signed`)."""
        to, smtputf8 = wire_address(to)
        lines = [
            ("To", to),
            ("Date", format_datetime(date) if date else _date_now()),
            ("Message-ID", message_id),
        ]
        if not self.unsubscribes and unsubscribe_url is not None:
            raise ValueError("this message carries no List-Unsubscribe")
        if self.unsubscribes:
            if unsubscribe_url is None:
                raise ValueError("a list message needs its List-Unsubscribe URL")
            value = f"<{unsubscribe_url}>"
            if unsubscribe_mailto:
                value += f", <{unsubscribe_mailto}>"
            lines.append(("List-Unsubscribe", value))
        for name, value in lines:
            # Built by us from checked values, but checked again: no value can start a header.
            # Only an SMTPUTF8 recipient may stand in a header as UTF-8 (RFC 6532).
            if "\r" in value or "\n" in value or not (value.isascii() or name == "To"):
                raise AddressNotUsable(f"{name}: a header value may not contain a line break")
        own = "".join(f"{name}: {value}\r\n" for name, value in lines).encode("utf-8")
        filled = slots or {}
        body = [p if isinstance(p, bytes) else p.encode(filled) for p in self._pieces]
        pending = None
        if self._signing is not None:
            body_hash = self._prefix_hash.copy()
            for piece, canonical in zip(body[self._first_personal :], self._canonical, strict=True):
                body_hash.update(canonical if canonical is not None else canonical_lines(piece))
            pending = self._signing.prepare(own, body_hash.digest())
        return UnsignedMessage(
            mail_from=return_path,
            rcpt_to=to,
            message_id=message_id,
            smtputf8=smtputf8,
            parts=(own, self._head, b"\r\n", *body),
            pending=pending,
        )


@dataclass(frozen=True, slots=True)
class UnsignedMessage:
    """A filled message whose DKIM-Signature line waits for a signature made elsewhere.

    The message is kept in its pieces until it is complete, so that its ~50 KB are joined
    once, with the signature line on top, not joined and then copied behind the line.
    """

    mail_from: str
    rcpt_to: str
    message_id: str
    smtputf8: bool
    #: The message's bytes in order, without the DKIM-Signature line.
    parts: tuple[bytes, ...]
    #: The line's tags and the digest to sign; None: the message is not signed at all.
    pending: Unsigned | None

    @property
    def message(self) -> OutgoingMessage:
        """The message as it stands, without a DKIM-Signature line."""
        return self._outgoing(self.parts)

    def signed(self, signature: bytes) -> OutgoingMessage:
        """The message with its DKIM-Signature line (made of ``signature``) on top."""
        if self.pending is None:
            raise ValueError("this message is not DKIM-signed")
        return self._outgoing((self.pending.line(signature), *self.parts))

    def _outgoing(self, parts: tuple[bytes, ...]) -> OutgoingMessage:
        return OutgoingMessage(
            mail_from=self.mail_from,
            rcpt_to=self.rcpt_to,
            data=b"".join(parts),  # the one copy of the whole message
            message_id=self.message_id,
            smtputf8=self.smtputf8,
        )


_last_date: tuple[int, str] = (0, "")


def _date_now() -> str:
    """The Date header of now, formatted once a second (it has no finer field)."""
    global _last_date
    second = int(time.time())
    if _last_date[0] != second:
        _last_date = (second, format_datetime(dt.datetime.fromtimestamp(second, dt.UTC)))
    return _last_date[1]


@dataclass(frozen=True, slots=True)
class _PersonalLine:
    """A line of a part that holds a slot: filled and encoded for each recipient."""

    line: str
    html: bool

    def encode(self, slots: Mapping[Slot, str]) -> bytes:
        """The line with its slots filled, quoted-printable encoded, ending with CRLF."""
        line = self.line
        for slot, value in slots.items():
            line = line.replace(slot.value, html_lib.escape(value) if self.html else value)
        return _quoted_printable_line(line) + b"\r\n"


_TEXT_HEAD = (
    'Content-Type: text/{}; charset="utf-8"\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n'
)


def _image_part(image: Logo) -> bytes:
    """An inline image as a MIME part: its Content-ID, shown inline, base64 in 76-column lines."""
    encoded = base64.encodebytes(image.data).decode("ascii").replace("\n", "\r\n")
    name = "logo." + image.mime.removeprefix("image/")
    return (
        f"Content-Type: {image.mime}\r\nContent-Transfer-Encoding: base64\r\n"
        f"Content-ID: <{image.cid}>\r\n"
        f'Content-Disposition: inline; filename="{name}"\r\n\r\n{encoded}'
    ).encode("ascii")


def _encode_part(text: str, *, html: bool) -> list[bytes | _PersonalLine]:
    """A part as runs of constant lines (encoded once) and the lines that hold a slot.

    Quoted-printable encodes each line on its own, so encoding runs of lines separately and
    joining them gives exactly the encoding of the whole part.
    """
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    pieces: list[bytes | _PersonalLine] = []
    run: list[str] = []
    for line in lines:
        if any(slot.value in line for slot in Slot):
            if run:
                pieces.append(_quoted_printable("\n".join(run)) + b"\r\n")
                run = []
            pieces.append(_PersonalLine(line, html))
        else:
            run.append(line)
    if run:
        pieces.append(_quoted_printable("\n".join(run)) + b"\r\n")
    return pieces


def _quoted_printable(text: str) -> bytes:
    """UTF-8 text as quoted-printable lines of at most 76 characters, CRLF line ends."""
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    body = "\n".join(lines).encode("utf-8").decode("latin-1")
    encoded = quoprimime.body_encode(body, maxlinelen=76)
    return encoded.replace("\n", "\r\n").encode("ascii")


def _quoted_printable_line(line: str) -> bytes:
    """`_quoted_printable` of one line, byte for byte, without the stdlib's per-character map.

    A personal line (a link with the reader's token) is encoded for every message; when it is
    printable ASCII, only "=" needs quoting, and the stdlib's wrapping is done here on it.
    """
    if not (line.isascii() and line.isprintable()):
        return _quoted_printable(line)
    line = line.replace("=", "=3D")
    lines, start, last = [], 0, len(line) - 77
    while start <= last:  # quoprimime.body_encode's soft breaks, never inside an "=XX"
        stop = start + 75
        if line[stop - 2] == "=":
            lines.append(line[start : stop - 1])
            start = stop - 2
        elif line[stop - 1] == "=":
            lines.append(line[start:stop])
            start = stop - 1
        else:
            lines.append(line[start:stop] + "=")
            start = stop
    if line.endswith(" "):  # a space ending a line is quoted, as the stdlib quotes it
        room = start - last
        ending = "=20" if room >= 3 else (" =\r\n" if room == 2 else "=\r\n=20")
        lines.append(line[start:-1] + ending)
    else:
        lines.append(line[start:])
    return "\r\n".join(lines).encode("ascii")


def build_message(
    rendered: Rendered,
    *,
    sender: str,
    to: str,
    list_headers: ListHeaders | None,
    return_path: str,
    message_id: str,
    date: dt.datetime | None = None,
    dkim: DkimSigner | None = None,
) -> OutgoingMessage:
    """Assemble a multipart/alternative (text + HTML) message for one recipient.

    With ``list_headers`` it is a list message (List-Id, Feedback-ID and, unless it has no
    unsubscribe URL, one-click unsubscribe and Precedence: bulk); without, a bare message.
    """
    template = MessageTemplate(
        rendered,
        sender=sender,
        list_id=list_headers.list_id if list_headers else None,
        feedback_id=list_headers.feedback_id if list_headers else None,
        dkim=dkim,
        transactional=list_headers is not None and list_headers.unsubscribe_url is None,
    )
    return template.fill(
        to=to,
        message_id=message_id,
        return_path=return_path,
        unsubscribe_url=list_headers.unsubscribe_url if list_headers else None,
        unsubscribe_mailto=list_headers.unsubscribe_mailto if list_headers else None,
        date=date,
    )
