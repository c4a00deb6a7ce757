"""Bounces and complaints: a report some mail server sent back → one BounceEvent per recipient.

Reports arrive at the VERP bounce address (``bounces+TOKEN@domain``) or the feedback-loop
address. Each is read as the first of these it is (modules of this package):

    format                                                    read by   events
    --------------------------------------------------------  --------  ------------------------
    ARF abuse report (RFC 5965)                               dsn       complaint per recipient
    DSN (RFC 3464, also message/global-delivery-status)       dsn       one per failed block
    a DSN or ARF forwarded inside message/rfc822              dsn       as the inner report
    Amazon SES notification (JSON, bare or in SNS's envelope) ses       one per recipient
    qmail, Yahoo, Exim plain text                             plain     one per failed address
    any format flufl.bounce detects (Postfix, Sendmail,       plain     one per failed address
    Exchange, GroupWise, …)
    anything else: auto-replies, warnings, garbage                      none

Gmail, Microsoft 365 / Outlook.com, Postfix, Sendmail, OpenSMTPD and SES's e-mail feedback send
DSNs; their wording is what `mailer.replies.classify_status` reads. Every event carries the
recipient (Original-Recipient before Final-Recipient, a quoted local part kept), the status,
the server's words, and its `Reason`:

    gone       mailbox or domain does not exist          suppresses
    complaint  the reader marked the message as spam     suppresses
    full, temporary, expired                             count towards the soft-bounce limit
    policy, sender, content                              our side's problem: never the reader's
    unknown                                              a failure nothing above explains

The report is untrusted input. `parse_report` never raises on a message, however malformed: an
unrecognised one gives ``[]``. Every string it returns is one line of valid Unicode of at most
1000 characters (`mailer.bounces.text`), so it can go straight into a log line or a column.
"""

from __future__ import annotations

import hashlib
from email import message_from_bytes
from email.message import Message
from email.policy import compat32

from mailer.bounces.dsn import (
    STATUS_TYPES,
    complaints,
    delivery_failures,
    report_parts,
    returned_headers,
)
from mailer.bounces.events import BounceEvent, Report
from mailer.bounces.mailbox import BounceError, read_messages
from mailer.bounces.plain import plain_failures
from mailer.bounces.ses import ses_notifications
from mailer.bounces.text import MAX_FIELD, header, message_id

__all__ = ["MAX_FIELD", "BounceError", "BounceEvent", "parse_report", "read_messages"]

#: How many message/rfc822 wrappers deep a forwarded report is still looked for.
_FORWARD_DEPTH = 3


def parse_report(
    data: bytes, *, source: str = "<bytes>", verp_prefix: str = "bounces"
) -> list[BounceEvent]:
    """The bounce or complaint events in one raw message; [] when it is neither."""
    if not verp_prefix:
        raise ValueError("verp_prefix must not be empty")
    try:
        msg = message_from_bytes(data, policy=compat32)
        parts = report_parts(msg)
        report_id = message_id(header(msg, "Message-ID"))
        report = Report(
            msg=msg,
            parts=parts,
            returned=returned_headers(parts),
            report_id=report_id or "sha256:" + hashlib.sha256(data).hexdigest(),
            source=source,
            verp_prefix=verp_prefix,
        )
        events = _read(report, depth=0)
    except RecursionError:
        # The stdlib parser recurses once per nested multipart; only a hostile message nests
        # a thousand deep, and it is no report.
        return []
    # One event per recipient: some relays repeat a block for every alias that reached it.
    unique: dict[str | None, BounceEvent] = {}
    for event in events:
        unique.setdefault(event.recipient.lower() if event.recipient else None, event)
    return list(unique.values())


def _read(report: Report, depth: int) -> list[BounceEvent]:
    """ARF, else DSN, else a DSN or ARF forwarded inside, else SES's JSON, else plain text."""
    for part in report.parts:
        if part.get_content_type() == "message/feedback-report":
            return complaints(report, part)
    statuses = [part for part in report.parts if part.get_content_type() in STATUS_TYPES]
    if statuses:
        return delivery_failures(report, statuses)
    if depth < _FORWARD_DEPTH and (inner := _forwarded(report)) is not None:
        return _read(inner, depth + 1)
    found = ses_notifications(report)
    if found is not None:
        return found
    return plain_failures(report)


def _forwarded(report: Report) -> Report | None:
    """The report inside a message/rfc822 part (a bounce forwarded as an attachment), if any."""
    for part in report.parts:
        if part.get_content_type() not in ("message/rfc822", "message/global"):
            continue
        payload = part.get_payload() if part.is_multipart() else None
        if not (isinstance(payload, list) and payload and isinstance(payload[0], Message)):
            continue
        inner = payload[0]
        parts = report_parts(inner)
        kinds = {p.get_content_type() for p in parts}
        if kinds & {*STATUS_TYPES, "message/feedback-report"}:
            return Report(
                msg=inner,
                parts=parts,
                returned=returned_headers(parts),
                report_id=report.report_id,
                source=report.source,
                verp_prefix=report.verp_prefix,
                envelopes=(*report.envelopes, report.msg),
            )
    return None
