"""Plain-text bounces (qmail, Exim): mailer/bounces/plain.py."""

from __future__ import annotations

from mailer.bounces import parse_report
from tests.mailer.bounces.reports import only


class TestPlainText:
    """The failed addresses of a plain-text bounce, each with the server's reply."""

    def test_plain_bounces_report_the_servers_reply(self) -> None:
        """qmail's and Exim's plain-text bounces carry the remote reply as the diagnostic."""
        qmail = only("qmail.eml").diagnostic
        exim = only("exim-plain.eml").diagnostic
        assert qmail is not None and "550 5.1.1 <gone.reader@example.com>... User unknown" in qmail
        assert exim is not None and exim.startswith(
            "SMTP error from remote mail server after RCPT TO:<moved.away@example.org>:"
        )

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
