"""MIME assembly: a rendered variant plus one recipient's details → bytes ready for SMTP.

Header values go through the stdlib's `email.policy.SMTP`, which refuses CR/LF inside a value and
encodes non-ASCII (RFC 2047), so a subject or name from content can never inject a header.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from email import quoprimime
from email.headerregistry import Address
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime, parseaddr

from mailer.dkim import DkimSigner
from mailer.render import Rendered, Slot

__all__ = [
    "ListHeaders",
    "MessageTemplate",
    "OutgoingMessage",
    "build_message",
    "display_name",
    "domain_of",
    "make_message_id",
]


@dataclass(frozen=True, slots=True)
class OutgoingMessage:
    """What a transport sends: the SMTP envelope and the message bytes."""

    mail_from: str
    rcpt_to: str
    data: bytes
    message_id: str


@dataclass(frozen=True, slots=True)
class ListHeaders:
    """The headers that make a message a list message (RFC 2369, 2919, 8058) for one recipient."""

    list_id: str
    unsubscribe_url: str
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
    the stdlib once. Per recipient only To, Date, Message-ID and List-Unsubscribe are written,
    the slots of the rendered parts filled, and the two parts quoted-printable encoded: no
    per-message header parsing or folding, which is what makes a stdlib-built message cost
    milliseconds. `build_message` is this class used once, so both paths produce the same bytes.
    """

    def __init__(
        self,
        rendered: Rendered,
        *,
        sender: str,
        list_id: str | None = None,
        feedback_id: str | None = None,
        dkim: DkimSigner | None = None,
    ) -> None:
        self.rendered = rendered
        self.dkim = dkim
        # Derived from the content, so one variant always gives the same bytes; it cannot occur
        # inside the parts, where quoted-printable writes every "=" as "=3D".
        digest = hashlib.sha256(f"{rendered.subject}\0{rendered.text}\0{rendered.html}".encode())
        self.boundary = f"==briefmail-{digest.hexdigest()[:24]}=="
        self.is_list = list_id is not None
        head = EmailMessage(policy=SMTP)
        name, addr = parseaddr(sender)
        head["From"] = Address(display_name=name, addr_spec=addr) if name else addr
        head["Subject"] = rendered.subject
        if list_id is not None:
            head["List-Id"] = list_id
            head["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
            head["Precedence"] = "bulk"
            if feedback_id:
                head["Feedback-ID"] = feedback_id
        head["MIME-Version"] = "1.0"
        head["Content-Type"] = f'multipart/alternative; boundary="{self.boundary}"'
        self._head = head.as_bytes().split(b"\r\n\r\n", 1)[0] + b"\r\n"
        self._text_head = (
            f'--{self.boundary}\r\nContent-Type: text/plain; charset="utf-8"\r\n'
            "Content-Transfer-Encoding: quoted-printable\r\n\r\n"
        ).encode()
        self._html_head = (
            f'\r\n--{self.boundary}\r\nContent-Type: text/html; charset="utf-8"\r\n'
            "Content-Transfer-Encoding: quoted-printable\r\n\r\n"
        ).encode()
        self._tail = f"\r\n--{self.boundary}--\r\n".encode()

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
        """One recipient's message: their headers and links filled in, DKIM-signed if set up."""
        rendered = self.rendered.fill(slots) if slots else self.rendered
        lines = [
            ("To", to),
            ("Date", format_datetime(date or dt.datetime.now(dt.UTC))),
            ("Message-ID", message_id),
        ]
        if self.is_list:
            if unsubscribe_url is None:
                raise ValueError("a list message needs its List-Unsubscribe URL")
            value = f"<{unsubscribe_url}>"
            if unsubscribe_mailto:
                value += f", <{unsubscribe_mailto}>"
            lines.append(("List-Unsubscribe", value))
        for name, value in lines:
            # Built by us from checked values, but checked again: no value can start a header.
            if "\r" in value or "\n" in value or not value.isascii():
                raise ValueError(f"{name}: header values may not contain linefeed or non-ASCII")
        head = "".join(f"{name}: {value}\r\n" for name, value in lines).encode("ascii")
        data = b"".join(
            (
                head,
                self._head,
                b"\r\n",
                self._text_head,
                _quoted_printable(rendered.text),
                self._html_head,
                _quoted_printable(rendered.html),
                self._tail,
            )
        )
        if self.dkim is not None:
            data = self.dkim.sign(data)
        return OutgoingMessage(mail_from=return_path, rcpt_to=to, data=data, message_id=message_id)


def _quoted_printable(text: str) -> bytes:
    """UTF-8 text as quoted-printable lines of at most 76 characters, CRLF line ends."""
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    body = "\n".join(lines).encode("utf-8").decode("latin-1")
    encoded = quoprimime.body_encode(body, maxlinelen=76)
    return encoded.replace("\n", "\r\n").encode("ascii")


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

    With ``list_headers`` it is a list message (List-Id, one-click unsubscribe, Precedence:
    bulk, Feedback-ID); without, a one-to-one notice such as a confirmation request.
    """
    template = MessageTemplate(
        rendered,
        sender=sender,
        list_id=list_headers.list_id if list_headers else None,
        feedback_id=list_headers.feedback_id if list_headers else None,
        dkim=dkim,
    )
    return template.fill(
        to=to,
        message_id=message_id,
        return_path=return_path,
        unsubscribe_url=list_headers.unsubscribe_url if list_headers else None,
        unsubscribe_mailto=list_headers.unsubscribe_mailto if list_headers else None,
        date=date,
    )
