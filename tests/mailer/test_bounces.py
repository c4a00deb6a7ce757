"""Bounce and complaint parsing: real-world report formats in, BounceEvents out, never a crash."""

from __future__ import annotations

import hashlib
import re
import shutil
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import mailer.bounces
from mailer.bounces import (
    BounceError,
    BounceEvent,
    parse_report,
    read_messages,
)
from mailer.replies import Reason
from tests.conftest import FIXTURES

BOUNCES = FIXTURES / "bounces"
GONE, FULL, COMPLAINT, EXPIRED = Reason.GONE, Reason.FULL, Reason.COMPLAINT, Reason.EXPIRED
POLICY, SENDER, UNKNOWN = Reason.POLICY, Reason.SENDER, Reason.UNKNOWN


def fixture(name: str) -> bytes:
    return (BOUNCES / name).read_bytes()


def parse(name: str) -> list[BounceEvent]:
    return parse_report(fixture(name), source=name)


def only(name: str) -> BounceEvent:
    """The single event a fixture must give."""
    events = parse(name)
    assert len(events) == 1, events
    return events[0]


def dsn(*recipient_blocks: str, top: str = "", report_type: str = "delivery-status") -> bytes:
    """A minimal DSN delivered to the VERP address, one recipient block per argument."""
    blocks = "\n".join(block.strip() + "\n" for block in recipient_blocks)
    return (
        "Delivered-To: bounces+42.tok@news.example.org\n"
        "From: MAILER-DAEMON@mx.example.net\n"
        f"{top}"
        f'Content-Type: multipart/report; report-type={report_type}; boundary="B"\n'
        "\n"
        "--B\nContent-Type: text/plain\n\nIt failed.\n\n"
        "--B\nContent-Type: message/delivery-status\n\n"
        f"Reporting-MTA: dns; mx.example.net\n\n{blocks}\n"
        "--B\nContent-Type: text/rfc822-headers\n\n"
        "Message-ID: <run1.42.abc@news.example.org>\nTo: reader@example.net\n\n"
        "--B--\n"
    ).encode("utf-8", "surrogateescape")  # so a test can write a raw byte as "\udcXX"


def arf(fields: str, *, original_to: str = "reader@example.net") -> bytes:
    """A minimal ARF report with the given feedback-report fields and returned headers."""
    return (
        "To: fbl@news.example.org\n"
        'Content-Type: multipart/report; report-type=feedback-report; boundary="B"\n\n'
        "--B\nContent-Type: text/plain\n\nA complaint.\n\n"
        f"--B\nContent-Type: message/feedback-report\n\n{fields.strip()}\n\n"
        "--B\nContent-Type: text/rfc822-headers\n\n"
        f"Message-ID: <run1.43.def@news.example.org>\nTo: {original_to}\n\n"
        "--B--\n"
    ).encode()


class TestFixtures:
    """Each realistic report gives the event a subscriber service needs to act on."""

    @pytest.mark.parametrize(
        ("name", "reason", "recipient", "status", "token", "message_id"),
        [
            (
                "postfix-hard.eml",
                GONE,
                "no.such.reader@example.net",
                "5.1.1",
                "1234.ab12cd34",
                "<run12.1234.a1b2c3d4e5f6@news.example.org>",
            ),
            (
                "exim-dsn.eml",
                GONE,
                "ex.colleague@example.com",
                "5.1.1",
                "2001.cd34ef56",
                "<run12.2001.0f1e2d3c4b5a@news.example.org>",
            ),
            (
                "gmail-nosuchuser.eml",
                GONE,
                "not.a.reader@example.com",
                "5.1.1",
                "3002.9f8e7d6c",
                "<run12.3002.00aa11bb22cc@news.example.org>",
            ),
            (
                "exchange-ndr.eml",
                GONE,
                "former.staff@example.com",
                "5.1.10",
                "4003.1a2b3c4d",
                "<run12.4003.77aa88bb99cc@news.example.org>",
            ),
            (
                "mailbox-full.eml",
                FULL,
                "busy.reader@example.net",
                "4.2.2",
                "5004.5e6f7a8b",
                "<run12.5004.1f2e3d4c5b6a@news.example.org>",
            ),
            (
                "yahoo-arf.eml",
                COMPLAINT,
                "annoyed.reader@example.com",
                None,
                "7006.7b8c9d0e",
                "<run12.7006.3b4c5d6e7f80@news.example.org>",
            ),
            (
                "aol-arf.eml",
                COMPLAINT,
                "complainer@example.net",
                None,
                "8007.8c9d0e1f",
                "<run12.8007.4c5d6e7f8091@news.example.org>",
            ),
            (
                "qmail.eml",
                GONE,
                "gone.reader@example.com",
                "5.1.1",
                "9008.9d0e1f2a",
                "<run12.9008.5d6e7f8091a2@news.example.org>",
            ),
            (
                "exim-plain.eml",
                GONE,
                "moved.away@example.org",
                "5.1.1",
                "1009.0e1f2a3b",
                "<run12.1009.6e7f8091a2b3@news.example.org>",
            ),
        ],
    )
    def test_report_gives_one_event(
        self,
        name: str,
        reason: Reason,
        recipient: str,
        status: str | None,
        token: str,
        message_id: str,
    ) -> None:
        """A bounce or complaint gives one event: reason, recipient, status, token and id."""
        event = only(name)
        assert (event.reason, event.recipient, event.status) == (reason, recipient, status)
        assert (event.verp_token, event.message_id) == (token, message_id)
        assert event.source == name

    @pytest.mark.parametrize("name", ["delayed.eml", "out-of-office.eml"])
    def test_no_event(self, name: str) -> None:
        """A delay warning and an out-of-office reply ("could not be delivered") give none."""
        assert parse(name) == []

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

    def test_plain_bounces_report_the_servers_reply(self) -> None:
        """qmail's and Exim's plain-text bounces carry the remote reply as the diagnostic."""
        qmail = only("qmail.eml").diagnostic
        exim = only("exim-plain.eml").diagnostic
        assert qmail is not None and "550 5.1.1 <gone.reader@example.com>... User unknown" in qmail
        assert exim is not None and exim.startswith(
            "SMTP error from remote mail server after RCPT TO:<moved.away@example.org>:"
        )

    @pytest.mark.parametrize(
        ("name", "reporter"),
        [
            ("postfix-hard.eml", "mx.example.net"),
            ("exchange-ndr.eml", "AM0PR01MB1234.eurprd01.prod.example.com"),
            ("yahoo-arf.eml", "Yahoo!-Mail-Feedback/2.0"),
            ("aol-arf.eml", "mail.fbl.example.net"),
            ("qmail.eml", "mail.example.com"),
        ],
    )
    def test_reporter(self, name: str, reporter: str) -> None:
        """Reporter: Reporting-MTA without its type, else ARF's User-Agent, else From's domain."""
        assert only(name).reporter == reporter

    def test_report_id_is_the_reports_message_id(self) -> None:
        """A report with a Message-ID is identified by it, so a re-delivered copy is seen again."""
        event = only("postfix-hard.eml")
        assert event.report_id == "<20260701070012.4XyZ0t3KqLz9sWn@mx.example.net>"

    def test_report_id_without_message_id_is_a_hash_of_the_bytes(self) -> None:
        """A report without a Message-ID is identified by the SHA-256 of its bytes."""
        digest = hashlib.sha256(fixture("qmail.eml")).hexdigest()
        assert only("qmail.eml").report_id == f"sha256:{digest}"

    def test_complaint_diagnostic_is_the_feedback_type(self) -> None:
        """An ARF complaint's diagnostic is its Feedback-Type, and it has no status."""
        event = only("yahoo-arf.eml")
        assert (event.diagnostic, event.status) == ("abuse", None)


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

    def test_missing_diagnostic_comes_from_the_text(self) -> None:
        """Without a Diagnostic-Code, the human-readable line about the recipient is read."""
        block = "Final-Recipient: rfc822; reader@example.net\nAction: error\nStatus: 5.0.0"
        data = dsn(block).replace(b"It failed.", b"reader@example.net: 550 Denied by policy")
        [event] = parse_report(data)
        assert (event.reason, event.diagnostic) == (
            POLICY,
            "reader@example.net: 550 Denied by policy",
        )

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

    def test_exim_delay_warning_gives_no_event(self) -> None:
        """Exim's plain-text "has not yet been delivered" warning is not a bounce."""
        warning = (
            b"From: Mail Delivery System <Mailer-Daemon@smtp.example.net>\n"
            b"Subject: Warning: message 1KXkZP-0003hJ-Qm delayed 24 hours\n\n"
            b"This message was created automatically by mail delivery software.\n\n"
            b"A message that you sent has not yet been delivered to one or more of its\n"
            b"recipients after more than 24 hours on the queue on smtp.example.net.\n\n"
            b"  reader@example.org\n    Delay reason: SMTP error from remote mail server\n"
        )
        assert parse_report(warning) == []


class TestVerpToken:
    """The token comes from the bounces+TOKEN@ address the report was delivered to."""

    def report(self, headers: str) -> bytes:
        block = "Final-Recipient: rfc822; r@example.net\nAction: failed\nStatus: 5.1.1"
        return dsn(block).replace(
            b"Delivered-To: bounces+42.tok@news.example.org\n", headers.encode()
        )

    @pytest.mark.parametrize(
        ("headers", "token"),
        [
            ("Delivered-To: bounces+1.a@news.example.org\n", "1.a"),
            ("X-Original-To: <bounces+2.b@news.example.org>\n", "2.b"),
            ("Envelope-To: BOUNCES+3.C@news.example.org\n", "3.C"),
            ("X-Envelope-To: bounces+a.b-c_d=e@news.example.org\n", "a.b-c_d=e"),
            ("To: Bounce handler <bounces+5.e@news.example.org>\n", "5.e"),
            ("To: x@example.org, bounces+6.f@news.example.org\n", "6.f"),
            ("Delivered-To: xbounces+7.g@news.example.org\n", None),
            ("Delivered-To: bounces@news.example.org\n", None),
            ("Delivered-To: bounces+8 h@news.example.org\n", None),
            ("", None),
        ],
    )
    def test_token(self, headers: str, token: str | None) -> None:
        """Any delivery header may carry it, the prefix ignores case, look-alikes don't count."""
        [event] = parse_report(self.report(headers))
        assert event.verp_token == token

    def test_delivered_to_comes_before_to(self) -> None:
        """The envelope headers win over To:, which a forwarder may have left unchanged."""
        headers = (
            "To: bounces+2.to@news.example.org\nDelivered-To: bounces+1.env@news.example.org\n"
        )
        [event] = parse_report(self.report(headers))
        assert event.verp_token == "1.env"

    def test_prefix_is_configurable(self) -> None:
        """Another VERP prefix finds its own tokens, and no longer the default one's."""
        headers = "Delivered-To: bounces+1.a@news.example.org\nTo: return+9.z@news.example.org\n"
        [event] = parse_report(self.report(headers), verp_prefix="Return")
        assert event.verp_token == "9.z"

    def test_empty_prefix_is_refused(self) -> None:
        """An empty prefix is a caller's mistake, not a message's."""
        with pytest.raises(ValueError, match="verp_prefix"):
            parse_report(b"", verp_prefix="")


class TestUntrustedInput:
    """Whatever arrives, parsing gives a list and every value is safe to store."""

    @pytest.mark.parametrize(
        "data",
        [
            b"",
            b"\x00\xff\xfe",
            b"hello",
            b"Content-Type: multipart/report; report-type=delivery-status\n\n--",
            b'Content-Type: multipart/report; boundary="B"\n\n--B\n'
            b"Content-Type: message/delivery-status\n",
            b"Content-Type: message/feedback-report\n\n",
        ],
    )
    def test_garbage_gives_no_event(self, data: bytes) -> None:
        """Truncated and meaningless messages give []."""
        assert parse_report(data) == []

    def test_deeply_nested_multipart_gives_no_event(self) -> None:
        """A message nested deeper than the stdlib parser can recurse gives [], not an error."""
        data = b"Content-Type: multipart/mixed; boundary=b0\n\n"
        for depth in range(1, 3000):
            data += b"--b%d\nContent-Type: multipart/mixed; boundary=b%d\n\n" % (depth - 1, depth)
        assert parse_report(data) == []

    def test_values_are_one_line_and_capped(self) -> None:
        """Control characters become spaces; a huge diagnostic is cut to at most 1000 characters."""
        block = (
            "Final-Recipient: rfc822; reader@example.net\nAction: failed\nStatus: 5.1.1\n"
            f"Diagnostic-Code: smtp; 550 5.1.1 bad\x00\x1b[31m\x0bnews {'x' * 5000}"
        )
        [event] = parse_report(dsn(block))
        assert event.diagnostic is not None
        assert 900 < len(event.diagnostic) <= 1000
        assert event.diagnostic.startswith("550 5.1.1 bad [31m news xxx")

    def test_eight_bit_text_is_read_as_utf8(self) -> None:
        """A raw UTF-8 reply is decoded; bytes that are not UTF-8 become U+FFFD."""
        block = (
            "Final-Recipient: rfc822; reader@example.net\nAction: failed\nStatus: 5.1.1\n"
            "Diagnostic-Code: smtp; 550 5.1.1 Empfänger unbekannt \udcff"
        )
        [event] = parse_report(dsn(block))
        assert event.diagnostic == "550 5.1.1 Empfänger unbekannt \ufffd"

    def test_invalid_recipient_is_none(self) -> None:
        """A recipient field that is not an address gives recipient None, not its text."""
        block = "Final-Recipient: rfc822; <script>\nAction: failed\nStatus: 5.1.1"
        [event] = parse_report(dsn(block))
        assert event.recipient is None


SAFE_TEXT = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff]")


def check_events(events: list[BounceEvent]) -> None:
    """Every string of every event is one line of valid Unicode and at most 1000 characters."""
    assert isinstance(events, list)
    for event in events:
        assert isinstance(event.reason, Reason)
        for name in BounceEvent.__slots__:
            value = getattr(event, name)
            if isinstance(value, str) and name != "source":
                assert len(value) <= 1000
                assert not SAFE_TEXT.search(value), (name, value)


FIXTURE_NAMES = sorted(path.name for path in BOUNCES.glob("*.eml"))
SPLICES = [b"\n", b"\n\n", b"\r\n", b";", b"<", b">", b"\x00", b"\xff\xfe", b"=?utf-8?q?"]
SPLICES += [b"Action: failed\n", b"Content-Transfer-Encoding: base64\n", b"; charset=idna\n"]
SPLICES += [b"Content-Type: message/delivery-status\n", b"--", b'boundary="B"\n']


@st.composite
def damaged_reports(draw: st.DrawFn) -> bytes:
    """A fixture with a few bytes flipped, cut or spliced in: a report that is nearly right."""
    data = bytearray(fixture(draw(st.sampled_from(FIXTURE_NAMES))))
    for _ in range(draw(st.integers(1, 12))):
        at = draw(st.integers(0, len(data) - 1))
        action = draw(st.sampled_from(["flip", "cut", "splice"]))
        if action == "flip":
            data[at] = draw(st.integers(0, 255))
        elif action == "cut":
            del data[at : at + draw(st.integers(1, 60))]
        else:
            data[at:at] = draw(st.sampled_from(SPLICES))
        if not data:
            break
    return bytes(data)


class TestProperties:
    """Property: parse_report never raises and its output is always safe."""

    @given(st.binary(max_size=4000))
    def test_arbitrary_bytes_never_raise(self, data: bytes) -> None:
        """Any bytes at all give a list of safe events (almost always [])."""
        check_events(parse_report(data))

    @settings(suppress_health_check=[HealthCheck.too_slow])
    @given(damaged_reports())
    def test_damaged_reports_never_raise(self, data: bytes) -> None:
        """A real report with random damage gives a list of safe events, never an exception."""
        check_events(parse_report(data))


def mbox_of(names: list[str]) -> bytes:
    """An mboxrd file holding the fixtures, with a body line that needs ">From " quoting."""
    out = b""
    for name in names:
        body = fixture(name).replace(b"Today's brief.", b">From the desk: today's brief.")
        out += b"From MAILER-DAEMON Wed Jul  1 07:00:12 2026\n" + body + b"\n"
    return out


class TestReadMessages:
    """Every container a bounce mailbox comes in, and errors that name the path."""

    def test_single_eml(self) -> None:
        """An .eml file is one message, its source the path."""
        path = BOUNCES / "qmail.eml"
        assert list(read_messages(path)) == [(str(path), path.read_bytes())]

    def test_directory_of_eml_files(self, tmp_path: Path) -> None:
        """A directory gives its .eml files in name order and skips anything else."""
        for name in ("b.eml", "a.EML"):
            (tmp_path / name).write_bytes(fixture("qmail.eml"))
        (tmp_path / "notes.txt").write_text("not a message")
        (tmp_path / "sub").mkdir()
        sources = [source for source, _ in read_messages(tmp_path)]
        assert sources == [str(tmp_path / "a.EML"), str(tmp_path / "b.eml")]

    def test_maildir(self, tmp_path: Path) -> None:
        """A Maildir gives the messages in cur/ then new/, skipping tmp/ and dot files."""
        for folder in ("cur", "new", "tmp"):
            (tmp_path / folder).mkdir()
        shutil.copy(BOUNCES / "postfix-hard.eml", tmp_path / "cur" / "1782889212.M1P2.mx:2,S")
        shutil.copy(BOUNCES / "yahoo-arf.eml", tmp_path / "new" / "1782983695.M3P4.mx")
        shutil.copy(BOUNCES / "qmail.eml", tmp_path / "tmp" / "1782983696.M5P6.mx")
        (tmp_path / "new" / ".lock").write_text("")
        messages = list(read_messages(tmp_path))
        assert [source for source, _ in messages] == [
            str(tmp_path / "cur" / "1782889212.M1P2.mx:2,S"),
            str(tmp_path / "new" / "1782983695.M3P4.mx"),
        ]
        reasons = [event.reason for _, data in messages for event in parse_report(data)]
        assert reasons == [GONE, COMPLAINT]

    def test_mbox(self, tmp_path: Path) -> None:
        """An mbox gives each message as "path#N", unquoted, and each parses as its fixture does."""
        names = ["exim-dsn.eml", "out-of-office.eml", "yahoo-arf.eml"]
        path = tmp_path / "bounces.mbox"
        path.write_bytes(mbox_of(names))
        messages = list(read_messages(path))
        assert [source for source, _ in messages] == [f"{path}#1", f"{path}#2", f"{path}#3"]
        assert b">From the desk" not in messages[0][1]
        assert b"\nFrom the desk: today's brief." in messages[0][1]
        events = [parse_report(data, source=source) for source, data in messages]
        assert [[(e.reason, e.recipient, e.source) for e in found] for found in events] == [
            [(GONE, "ex.colleague@example.com", f"{path}#1")],
            [],
            [(COMPLAINT, "annoyed.reader@example.com", f"{path}#3")],
        ]

    def test_mbox_message_ends_without_the_separator_line(self, tmp_path: Path) -> None:
        """The blank line mbox puts between messages is not part of the message."""
        path = tmp_path / "one.mbox"
        path.write_bytes(b"From x Wed Jul  1 07:00:12 2026\nSubject: a\n\nbody\n\n")
        assert list(read_messages(path)) == [(f"{path}#1", b"Subject: a\n\nbody\n")]

    def test_empty_directory_gives_nothing(self, tmp_path: Path) -> None:
        """An empty drop folder is not an error: there are simply no bounces today."""
        assert list(read_messages(tmp_path)) == []

    def test_missing_path(self, tmp_path: Path) -> None:
        """A path that does not exist is a BounceError that names it."""
        path = tmp_path / "nope.eml"
        with pytest.raises(BounceError) as caught:
            list(read_messages(path))
        assert str(caught.value) == f"{path}: No such file or directory"
        assert caught.value.path == str(path)

    def test_unreadable_path(self, tmp_path: Path) -> None:
        """A path that cannot be opened is a BounceError that names it."""
        (tmp_path / "file").write_text("x")
        path = tmp_path / "file" / "inside.eml"
        with pytest.raises(BounceError, match=re.escape(f"{path}: Not a directory")):
            list(read_messages(path))

    @pytest.mark.parametrize(
        ("content", "reason"),
        [
            (b"\x89PNG\r\n\x1a\n\x00\x00", "not an e-mail message, mbox or Maildir"),
            (b"just some notes\n", "not an e-mail message, mbox or Maildir"),
            (b"", "empty file"),
        ],
    )
    def test_unrecognised_file(self, tmp_path: Path, content: bytes, reason: str) -> None:
        """A file that is neither a message nor an mbox is a BounceError naming it."""
        path = tmp_path / "thing.eml"
        path.write_bytes(content)
        with pytest.raises(BounceError) as caught:
            list(read_messages(path))
        assert str(caught.value) == f"{path}: {reason}"

    def test_directory_without_messages(self, tmp_path: Path) -> None:
        """A directory holding files but no .eml files, and no cur/ or new/, is a BounceError."""
        (tmp_path / "notes.txt").write_text("x")
        with pytest.raises(BounceError, match=re.escape(f"{tmp_path}: no .eml files")):
            list(read_messages(tmp_path))


def test_public_names() -> None:
    """The module exports exactly its intended API."""
    assert sorted(mailer.bounces.__all__) == [
        "BounceError",
        "BounceEvent",
        "MAX_FIELD",
        "parse_report",
        "read_messages",
    ]
