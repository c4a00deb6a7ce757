"""MIME assembly: a rendered variant plus one recipient's details → bytes ready for SMTP.

Header values go through the stdlib's `email.policy.SMTP`, which refuses CR/LF inside a value and
encodes non-ASCII (RFC 2047), so a subject or name from content can never inject a header.
"""

from __future__ import annotations

import datetime as dt
import secrets
from dataclasses import dataclass
from email.headerregistry import Address
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime, parseaddr

from mailer.dkim import DkimSigner
from mailer.render import Rendered

__all__ = [
    "ListHeaders",
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
    msg = EmailMessage(policy=SMTP)
    name, addr = parseaddr(sender)
    msg["From"] = Address(display_name=name, addr_spec=addr) if name else addr
    msg["To"] = to
    msg["Subject"] = rendered.subject
    msg["Date"] = format_datetime(date or dt.datetime.now(dt.UTC))
    msg["Message-ID"] = message_id
    if list_headers is not None:
        msg["List-Id"] = list_headers.list_id
        unsubscribe = f"<{list_headers.unsubscribe_url}>"
        if list_headers.unsubscribe_mailto:
            unsubscribe += f", <{list_headers.unsubscribe_mailto}>"
        msg["List-Unsubscribe"] = unsubscribe
        msg["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
        msg["Precedence"] = "bulk"
        msg["Feedback-ID"] = list_headers.feedback_id
    msg.set_content(rendered.text, subtype="plain", charset="utf-8", cte="quoted-printable")
    msg.add_alternative(rendered.html, subtype="html", charset="utf-8", cte="quoted-printable")
    for part in msg.iter_parts():
        # The stdlib stamps MIME-Version on the part it converts; it belongs on the top only.
        del part["MIME-Version"]
    data = msg.as_bytes()
    if dkim is not None:
        data = dkim.sign(data)
    return OutgoingMessage(mail_from=return_path, rcpt_to=to, data=data, message_id=message_id)
