"""Delivery status notifications (RFC 3464) and ARF abuse reports: mailer/bounces/dsn.py."""

from __future__ import annotations

import pytest

from mailer.bounces import parse_report
from mailer.replies import Reason
from tests.mailer.bounces.reports import (
    COMPLAINT,
    EXPIRED,
    FULL,
    GONE,
    POLICY,
    SENDER,
    UNKNOWN,
    arf,
    dsn,
    fixture,
    only,
)


class TestDiagnostics:
    """A DSN's diagnostic and status are the server's words, cleaned."""

    def test_diagnostic_is_the_servers_text_without_its_type(self) -> None:
        """Diagnostic-Code loses its "smtp;" type; a folded multi-line reply becomes one line."""
        assert only("postfix-hard.eml").diagnostic == (
            "550 5.1.1 <no.such.reader@example.net>: Recipient address rejected: "
            "User unknown in virtual mailbox table"
        )
        gmail = only("gmail-nosuchuser.eml").diagnostic
        assert gmail is not None
        assert gmail.startswith(
            "550-5.1.1 The email account that you tried to reach does not exist"
        )
        assert gmail.endswith(" - gsmtp")

    def test_unspecific_status_takes_the_code_from_the_diagnostic(self) -> None:
        """Exim's DSN says Status: 5.0.0; the 5.1.1 in its Diagnostic-Code is what is reported."""
        assert b"Status: 5.0.0" in fixture("exim-dsn.eml")
        assert only("exim-dsn.eml").status == "5.1.1"

    def test_missing_diagnostic_comes_from_the_text(self) -> None:
        """Without a Diagnostic-Code, the human-readable line about the recipient is read."""
        block = "Final-Recipient: rfc822; reader@example.net\nAction: error\nStatus: 5.0.0"
        data = dsn(block).replace(b"It failed.", b"reader@example.net: 550 Denied by policy")
        [event] = parse_report(data)
        assert (event.reason, event.diagnostic) == (
            POLICY,
            "reader@example.net: 550 Denied by policy",
        )


class TestClassification:
    """Each DSN recipient block gets the reason `mailer.replies.classify_status` reads in it."""

    @pytest.mark.parametrize("action", ["delayed", "delivered", "relayed", "expanded"])
    def test_actions_other_than_failed_give_no_event(self, action: str) -> None:
        """Only Action: failed is a bounce; delay warnings and success notices are not."""
        block = f"Final-Recipient: rfc822; reader@example.net\nAction: {action}\nStatus: 4.4.1"
        assert parse_report(dsn(block)) == []

    def test_one_event_per_failed_recipient(self) -> None:
        """A DSN about several recipients gives an event for each failed one, in order."""
        events = parse_report(
            dsn(
                "Final-Recipient: rfc822; a@example.net\nAction: failed\nStatus: 5.1.1",
                "Final-Recipient: rfc822; b@example.net\nAction: delayed\nStatus: 4.4.1",
                "Final-Recipient: rfc822; c@example.net\nAction: failed\nStatus: 5.7.1",
            )
        )
        assert [(e.recipient, e.reason) for e in events] == [
            ("a@example.net", GONE),
            ("c@example.net", POLICY),
        ]
        assert {e.message_id for e in events} == {"<run1.42.abc@news.example.org>"}

    @pytest.mark.parametrize(
        ("fields", "reason", "status"),
        [
            ("Status: 5.2.2\nDiagnostic-Code: smtp; 552 5.2.2 Mailbox full", FULL, "5.2.2"),
            ("Diagnostic-Code: smtp; 550 5.1.1 User unknown", GONE, "5.1.1"),
            ("Diagnostic-Code: smtp; 452 Too many recipients", EXPIRED, None),
            ("Diagnostic-Code: smtp; 550 No such user", GONE, None),
            ("Status: 5.0.0\nDiagnostic-Code: smtp; 552 Mailbox is full", FULL, "5.0.0"),
            ("Status: 5.0.0\nDiagnostic-Code: smtp; 550 user over quota", FULL, "5.0.0"),
            ("Status: 4.0.0\nDiagnostic-Code: smtp; 550 5.1.1 unknown", EXPIRED, "4.0.0"),
            ("Status: 5.0.0\nDiagnostic-Code: smtp; 550 Denied by policy", POLICY, "5.0.0"),
            ("Status: 5.1.8\nDiagnostic-Code: smtp; 553 Sender address rejected", SENDER, "5.1.8"),
            ("Status: 5.0.0 (mailbox quota exceeded)", FULL, "5.0.0"),
            ("Status: 5.0.0", UNKNOWN, "5.0.0"),
            (
                "Status: 5.0.0\nDiagnostic-Code: X-Postfix; 550 user unknown (in reply to end of "
                "DATA command)",
                UNKNOWN,
                "5.0.0",
            ),
            ("", UNKNOWN, None),
        ],
    )
    def test_failed_recipient(self, fields: str, reason: Reason, status: str | None) -> None:
        """Policy, sender, quota and expiry are never gone; a bare 5.0.0 or nothing is unknown."""
        block = f"Final-Recipient: rfc822; reader@example.net\nAction: failed\n{fields}"
        [event] = parse_report(dsn(block))
        assert (event.reason, event.status) == (reason, status)

    @pytest.mark.parametrize(
        ("action", "reason"),
        [("failure", GONE), ("error", GONE), ("Failed", GONE), ("expired", EXPIRED)],
    )
    def test_non_standard_actions(self, action: str, reason: Reason) -> None:
        """Action "failure" and OpenSMTPD's "error" are failed; "expired" is the relay giving up."""
        block = f"Final-Recipient: rfc822; reader@example.net\nAction: {action}\nStatus: 5.1.1"
        assert [e.reason for e in parse_report(dsn(block))] == [reason]

    def test_block_without_recipient(self) -> None:
        """A failed block naming nobody gives an event, with the only X-Failed-Recipients."""
        block = "Action: failed\nStatus: 5.1.1"
        [nobody] = parse_report(dsn(block))
        assert (nobody.recipient, nobody.reason, nobody.verp_token) == (None, GONE, "42.tok")
        [named] = parse_report(dsn(block, top="X-Failed-Recipients: reader@example.net\n"))
        assert named.recipient == "reader@example.net"

    def test_quoted_local_part_is_kept(self) -> None:
        """A quoted local part is reported as written, quotes and space included."""
        block = 'Final-Recipient: rfc822; "john smith"@example.net\nAction: failed\nStatus: 5.1.1'
        assert [e.recipient for e in parse_report(dsn(block))] == ['"john smith"@example.net']

    def test_global_delivery_status(self) -> None:
        """message/global-delivery-status (RFC 6533) is read like delivery-status, UTF-8 and all."""
        block = "Final-Recipient: utf-8; 读者@example.cn\nAction: failed\nStatus: 5.1.1"
        data = dsn(block).replace(b"message/delivery-status", b"message/global-delivery-status")
        assert [(e.recipient, e.reason) for e in parse_report(data)] == [("读者@example.cn", GONE)]

    def test_forwarded_dsn_is_read_inside_its_wrapper(self) -> None:
        """A DSN forwarded inside message/rfc822 gives the inner report's events."""
        block = "Final-Recipient: rfc822; reader@example.net\nAction: failed\nStatus: 5.7.1"
        wrapped = (
            b"To: bounces+9.fwd@news.example.org\nMessage-ID: <fwd@example.net>\n"
            b'Content-Type: multipart/mixed; boundary="W"\n\n--W\nContent-Type: text/plain\n\n'
            b"FYI\n\n--W\nContent-Type: message/rfc822\n\n" + dsn(block) + b"\n--W--\n"
        )
        [event] = parse_report(wrapped)
        assert (event.recipient, event.reason) == ("reader@example.net", POLICY)
        assert (event.report_id, event.verp_token) == ("<fwd@example.net>", "9.fwd")
        assert event.message_id == "<run1.42.abc@news.example.org>"

    def test_repeated_blocks_give_one_event_per_recipient(self) -> None:
        """A relay that repeats a recipient's block gives one event for it."""
        block = "Final-Recipient: rfc822; reader@example.net\nAction: failed\nStatus: 5.1.1"
        assert len(parse_report(dsn(block, block))) == 1

    def test_failed_with_a_success_status_gives_no_event(self) -> None:
        """A contradictory "Action: failed" with Status 2.0.0 is not a bounce."""
        block = "Final-Recipient: rfc822; reader@example.net\nAction: failed\nStatus: 2.0.0"
        assert parse_report(dsn(block)) == []

    def test_original_recipient_wins_over_final_recipient(self) -> None:
        """The address as we sent it (Original-Recipient) is reported, not a forwarding target."""
        block = (
            "Original-Recipient: rfc822;reader@example.net\n"
            "Final-Recipient: rfc822; reader.forwarded@example.com\nAction: failed\nStatus: 5.1.1"
        )
        assert [e.recipient for e in parse_report(dsn(block))] == ["reader@example.net"]


class TestComplaints:
    """An ARF report is a complaint per recipient, unless its type says otherwise."""

    def test_complaint_diagnostic_is_the_feedback_type(self) -> None:
        """An ARF complaint's diagnostic is its Feedback-Type, and it has no status."""
        event = only("yahoo-arf.eml")
        assert (event.diagnostic, event.status) == ("abuse", None)

    def test_complaint_recipient_prefers_original_rcpt_to(self) -> None:
        """ARF's Original-Rcpt-To names the complainer even when the returned To: is redacted."""
        assert only("aol-arf.eml").recipient == "complainer@example.net"
        assert b"To: redacted@example.net" in fixture("aol-arf.eml")

    @pytest.mark.parametrize("feedback_type", ["abuse", "fraud", "other", "virus", "ABUSE"])
    def test_feedback_types_that_are_complaints(self, feedback_type: str) -> None:
        """Abuse, fraud, virus and other reports are complaints; the type is given in lower case."""
        [event] = parse_report(arf(f"Feedback-Type: {feedback_type}\nVersion: 1"))
        assert (event.reason, event.diagnostic) == (COMPLAINT, feedback_type.lower())
        assert event.recipient == "reader@example.net"

    @pytest.mark.parametrize("feedback_type", ["not-spam", "auth-failure"])
    def test_feedback_types_that_are_not_complaints(self, feedback_type: str) -> None:
        """A "not spam" vote and a DMARC/DKIM authentication failure report are not complaints."""
        assert parse_report(arf(f"Feedback-Type: {feedback_type}\nVersion: 1")) == []

    def test_complaint_token_from_original_mail_from(self) -> None:
        """An ARF report sent to the feedback address takes its token from Original-Mail-From."""
        fields = "Feedback-Type: abuse\nOriginal-Mail-From: <bounces+77.fbl@news.example.org>"
        [event] = parse_report(arf(fields))
        assert event.verp_token == "77.fbl"

    def test_complaint_recipients_each_get_an_event(self) -> None:
        """Each Original-Rcpt-To is a complaint; a redacted report gives one with recipient None."""
        fields = (
            "Feedback-Type: abuse\nOriginal-Rcpt-To: a@example.net\nOriginal-Rcpt-To: b@example.net"
        )
        assert [e.recipient for e in parse_report(arf(fields))] == [
            "a@example.net",
            "b@example.net",
        ]
        [redacted] = parse_report(arf("Feedback-Type: abuse", original_to="undisclosed"))
        assert redacted.recipient is None
