"""What one report's events share: the VERP token, the report's id and its reporter."""

from __future__ import annotations

import hashlib

import pytest

from mailer.bounces import parse_report
from tests.mailer.bounces.reports import dsn, fixture, only


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


class TestReport:
    """A report's id and reporter, the same on each of its events."""

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
