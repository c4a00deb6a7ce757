"""The standard reports: delivery status notifications (RFC 3464) and abuse reports (ARF).

- a DSN is ``multipart/report; report-type=delivery-status`` with a ``message/delivery-status``
  (or ``message/global-delivery-status``, RFC 6533) part holding one header block per
  recipient. A block whose Action is ``failed`` — or the non-standard ``failure``, ``error``
  (OpenSMTPD) or ``expired`` — is one event; ``delayed``, ``delivered``, ``relayed`` and
  ``expanded`` are none. The recipient is Original-Recipient (the address as we sent it), else
  Final-Recipient, else the report's only X-Failed-Recipients address; a block naming nobody
  still gives an event, matched by the report's VERP token. Without a Diagnostic-Code the
  human-readable part's line about the recipient is the diagnostic (OpenSMTPD writes only
  "Status: 5.0.0" in its blocks, and the reason in the text).
- an ARF report (RFC 5965) is ``multipart/report; report-type=feedback-report``: one complaint
  per Original-Rcpt-To (else per To of the returned message, else one naming nobody), unless
  its Feedback-Type is missing, ``not-spam`` or ``auth-failure``.
"""

from __future__ import annotations

import re
from email.message import Message
from email.parser import HeaderParser
from email.policy import compat32

from mailer.bounces.events import BounceEvent, Report
from mailer.bounces.plain import diagnostic_near, readable_text
from mailer.bounces.text import (
    address,
    addresses,
    first,
    header,
    headers,
    part_text,
    untyped,
)
from mailer.replies import Reason, classify_status

__all__ = [
    "STATUS_TYPES",
    "complaints",
    "delivery_failures",
    "field_blocks",
    "report_parts",
    "returned_headers",
]

#: The content types of a DSN's machine-readable part.
STATUS_TYPES = ("message/delivery-status", "message/global-delivery-status")
_RETURNED = ("message/rfc822", "message/global", "text/rfc822-headers", "message/global-headers")
_NO_COMPLAINT = frozenset({"not-spam", "auth-failure"})
#: DSN actions that say the message will never arrive, as the standard and others spell them.
_FAILED = {"failed": "failed", "failure": "failed", "error": "failed", "expired": "expired"}


def report_parts(msg: Message) -> list[Message]:
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


def returned_headers(parts: list[Message]) -> Message | None:
    """The headers of the original message the report returns, if it returns any."""
    for part in parts:
        kind = part.get_content_type()
        if kind not in _RETURNED:
            continue
        payload = part.get_payload() if part.is_multipart() else None
        if isinstance(payload, list) and payload and isinstance(payload[0], Message):
            return payload[0]
        return HeaderParser(policy=compat32).parsestr(part_text(part), headersonly=True)
    return None


def field_blocks(part: Message) -> list[Message]:
    """The header blocks of a message/delivery-status or message/feedback-report part."""
    if part.is_multipart():
        # The stdlib parses delivery-status into one Message per block, and any other message/*
        # into one Message whose body holds the blocks after the first.
        blocks = [block for block in part.get_payload() if isinstance(block, Message)]
        texts = [part_text(block) for block in blocks if not block.is_multipart()]
    else:
        blocks, texts = [], [part_text(part)]
    for text in texts:
        for chunk in re.split(r"\r?\n[ \t]*\r?\n", text):
            if chunk.strip():
                blocks.append(HeaderParser(policy=compat32).parsestr(chunk.lstrip("\r\n")))
    return blocks


def complaints(report: Report, part: Message) -> list[BounceEvent]:
    """ARF: one complaint per complaining recipient (or one with no recipient)."""
    blocks = field_blocks(part)
    fields = blocks[0] if blocks else Message()
    feedback_type = header(fields, "Feedback-Type")
    if feedback_type is None or feedback_type.lower() in _NO_COMPLAINT:
        return []  # Feedback-Type is required (RFC 5965): without it this is no ARF report
    recipients: list[str | None] = list(addresses(headers(fields, "Original-Rcpt-To")))
    if not recipients and report.returned is not None:
        recipients = list(addresses(headers(report.returned, "To")))
    reporter = untyped(header(fields, "Reporting-MTA")) or header(fields, "User-Agent")
    return [
        report.event(
            Reason.COMPLAINT,
            recipient,
            diagnostic=feedback_type.lower(),
            reporter=reporter,
            verp_from=headers(fields, "Original-Mail-From"),
        )
        for recipient in recipients or [None]
    ]


def delivery_failures(report: Report, parts: list[Message]) -> list[BounceEvent]:
    """DSN: one event per recipient block whose Action says the message failed."""
    blocks = [block for part in parts for block in field_blocks(part)]
    reporter = untyped(first(blocks, "Reporting-MTA"))
    original = first(blocks, "X-Original-Message-ID")
    failed = addresses(headers(report.msg, "X-Failed-Recipients"))
    text: str | None = None
    events = []
    for block in blocks:
        action = _FAILED.get((header(block, "Action") or "").lower().split(" ")[0])
        if action is None:
            continue  # the per-message block, a delay warning, a success notice
        recipient = (
            address(header(block, "Original-Recipient"))
            or address(header(block, "Final-Recipient"))
            or (failed[0] if len(failed) == 1 else None)
        )
        status = header(block, "Status")
        comment = re.search(r"\((.+)\)", status or "")
        diagnostic = untyped(header(block, "Diagnostic-Code")) or (comment[1] if comment else None)
        if diagnostic is None and recipient is not None:
            text = readable_text(report) if text is None else text
            diagnostic = diagnostic_near(text, recipient)
        verdict = classify_status(status, diagnostic, action=action)
        if verdict is None:
            continue
        events.append(
            report.event(
                verdict.reason,
                recipient,
                status=verdict.status,
                diagnostic=diagnostic,
                message_id=original,
                reporter=reporter,
            )
        )
    return events
