"""What a report says about one recipient (`BounceEvent`), and what one report's events share."""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from email.message import Message

from mailer.bounces.text import clean, header, headers, message_id
from mailer.replies import Reason

__all__ = ["BounceEvent", "Report"]


@dataclass(frozen=True, slots=True)
class BounceEvent:
    """One recipient's failure or complaint, as one report states it.

    ``reason`` is whose fault the failure is (`mailer.replies.Reason`): only `gone` and
    `complaint` suppress. ``report_id`` is shared by every event of one report, so (report_id,
    recipient) is the key for processing a report once. ``verp_token`` comes from the address
    the report was delivered to, else (ARF) Original-Mail-From, else the Return-Path of the
    returned original message. ``message_id`` comes from the returned headers, else the DSN's
    X-Original-Message-ID or the copy in a plain-text bounce, else the report's In-Reply-To.
    """

    reason: Reason
    recipient: str | None
    status: str | None
    diagnostic: str | None
    verp_token: str | None
    message_id: str | None
    reporter: str | None
    report_id: str
    source: str

    @property
    def suppresses(self) -> bool:
        """Whether this event alone stops all mail to the recipient (gone, complaint)."""
        return self.reason.suppresses


_DELIVERY_HEADERS = ("Delivered-To", "X-Original-To", "Envelope-To", "X-Envelope-To", "To")


@functools.lru_cache(maxsize=8)
def _verp_pattern(prefix: str) -> re.Pattern[str]:
    """Matches `prefix+TOKEN@` as the start of an address, capturing TOKEN."""
    token = r"([A-Za-z0-9._=-]{1,200})"
    return re.compile(rf"(?<![^\s<,:;\"'(]){re.escape(prefix)}\+{token}@", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class Report:
    """One report being read: its message, its parts, and what every event of it shares."""

    msg: Message
    parts: list[Message]
    returned: Message | None
    report_id: str
    source: str
    verp_prefix: str
    #: The messages that carried this one (a DSN forwarded inside message/rfc822), outermost
    #: first: their delivery headers name our bounce address before the inner report's do.
    envelopes: tuple[Message, ...] = field(default=())

    def event(
        self,
        reason: Reason,
        recipient: str | None,
        *,
        status: str | None = None,
        diagnostic: str | None = None,
        message_id: str | None = None,
        reporter: str | None = None,
        verp_from: Iterable[str] = (),
    ) -> BounceEvent:
        """An event with this report's shared fields filled in."""
        return BounceEvent(
            reason=reason,
            recipient=recipient,
            status=status,
            diagnostic=clean(diagnostic),
            verp_token=self.verp_token(verp_from),
            message_id=self.message_id(message_id),
            reporter=clean(reporter),
            report_id=self.report_id,
            source=self.source,
        )

    def message_id(self, stated: str | None = None) -> str | None:
        """The Message-ID of the message the report is about (see BounceEvent)."""
        returned = self.returned
        return (
            message_id(header(returned, "Message-ID") if returned else None)
            or message_id(stated)
            or message_id(header(self.msg, "In-Reply-To"))
        )

    def verp_token(self, extra: Iterable[str] = ()) -> str | None:
        """The token of the first `prefix+TOKEN@` address the report names (see BounceEvent)."""
        carriers = (*self.envelopes, self.msg)
        values = [
            value for msg in carriers for name in _DELIVERY_HEADERS for value in headers(msg, name)
        ]
        values += extra
        if self.returned is not None:
            values += headers(self.returned, "Return-Path")
        pattern = _verp_pattern(self.verp_prefix)
        return next((match[1] for value in values if (match := pattern.search(value))), None)
