"""Amazon SES notifications: the JSON a bounce or complaint topic sends, delivered by e-mail.

SES reports through SNS, and an SNS e-mail subscription delivers each notification as a message
whose body is the JSON — bare (``{"notificationType": "Bounce", …}``, or ``"eventType"`` from a
configuration set) or inside SNS's envelope (``{"Type": "Notification", "Message": "{…}"}``).
A bounce gives one event per ``bouncedRecipients`` entry, classified from its ``status`` and
``diagnosticCode`` like any DSN block, else from SES's ``bounceSubType``; a complaint gives one
per ``complainedRecipients`` entry unless its ``complaintFeedbackType`` is ``not-spam``. The VERP
token comes from ``mail.source`` (our envelope sender), the Message-ID from the original's
``commonHeaders``.
"""

from __future__ import annotations

import json
from typing import Any

from mailer.bounces.events import BounceEvent, Report
from mailer.bounces.text import address, clean, part_text, untyped
from mailer.replies import Reason, classify_status

__all__ = ["ses_notifications"]

#: SES's own words for a bounce without a status code.
_SUB_TYPES = {
    "noemail": Reason.GONE,
    "suppressed": Reason.GONE,  # on SES's list for bouncing as nonexistent recently
    "onaccountsuppressionlist": Reason.POLICY,  # our own account's list: our side's doing
    "mailboxfull": Reason.FULL,
    "messagetoolarge": Reason.CONTENT,
    "contentrejected": Reason.CONTENT,
    "attachmentrejected": Reason.CONTENT,
}


def _notification(report: Report) -> dict[str, Any] | None:
    """The SES notification a message's body holds, if it holds one."""
    body = next((p for p in report.parts if p.get_content_maintype() == "text"), None)
    text = part_text(body).strip() if body is not None else ""
    if not text.startswith("{") or len(text) > 1_000_000:
        return None
    try:
        data = json.loads(text)
        if isinstance(data, dict) and isinstance(data.get("Message"), str):
            data = json.loads(data["Message"])  # SNS's envelope
    except (ValueError, RecursionError):
        return None
    return data if isinstance(data, dict) else None


def _dict(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _list(value: object) -> list[dict[str, Any]]:
    return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []


def _text(value: object) -> str | None:
    return clean(value) if isinstance(value, str) else None


def ses_notifications(report: Report) -> list[BounceEvent] | None:
    """The events of an SES notification; None when the message is not one."""
    data = _notification(report)
    if data is None:
        return None
    kind = str(data.get("notificationType") or data.get("eventType") or "").lower()
    mail = _dict(data.get("mail"))
    source = [value] if (value := _text(mail.get("source"))) else []
    message_id = _text(_dict(mail.get("commonHeaders")).get("messageId"))
    if kind == "complaint":
        complaint = _dict(data.get("complaint"))
        feedback = (_text(complaint.get("complaintFeedbackType")) or "abuse").lower()
        if feedback == "not-spam":
            return []
        return [
            report.event(
                Reason.COMPLAINT,
                address(_text(one.get("emailAddress"))),
                diagnostic=feedback,
                message_id=message_id,
                reporter=_text(complaint.get("userAgent")) or "amazonses.com",
                verp_from=source,
            )
            for one in _list(complaint.get("complainedRecipients"))
        ]
    if kind != "bounce":
        return None
    bounce = _dict(data.get("bounce"))
    permanent = str(bounce.get("bounceType") or "").lower() == "permanent"
    sub_type = str(bounce.get("bounceSubType") or "").lower()
    events = []
    for one in _list(bounce.get("bouncedRecipients")):
        status = _text(one.get("status"))
        diagnostic = untyped(_text(one.get("diagnosticCode")))
        verdict = classify_status(status, diagnostic, action=_text(one.get("action")) or "failed")
        if verdict is None:
            continue
        reason = verdict.reason
        if status is None and diagnostic is None:
            reason = _SUB_TYPES.get(sub_type, Reason.UNKNOWN if permanent else Reason.TEMPORARY)
        events.append(
            report.event(
                reason,
                address(_text(one.get("emailAddress"))),
                status=verdict.status,
                diagnostic=diagnostic or (f"SES {sub_type}" if sub_type else None),
                message_id=message_id,
                reporter=untyped(_text(bounce.get("reportingMTA"))) or "amazonses.com",
                verp_from=source,
            )
        )
    return events
