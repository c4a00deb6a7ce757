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

from mailer.bounces.events import BounceEvent
from mailer.bounces.mailbox import BounceError, read_messages
from mailer.bounces.parse import parse_report
from mailer.bounces.text import MAX_FIELD

__all__ = ["MAX_FIELD", "BounceError", "BounceEvent", "parse_report", "read_messages"]
