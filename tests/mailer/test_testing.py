"""The shipped SMTP sink is a real server: it accepts, refuses as configured, and stops."""

from __future__ import annotations

import smtplib

import pytest

from mailer.testing import Faults, SmtpSink


def test_sink_captures_and_refuses_over_real_smtp() -> None:
    """A plain smtplib client sees the configured refusal and the sink keeps the rest."""
    with SmtpSink(refuse={"No@Example.net": (550, "5.1.1 No such user")}) as sink:
        with smtplib.SMTP(sink.host, sink.port, timeout=5) as client:
            refused = client.sendmail("a@b.org", ["ok@example.net", "no@example.net"], b"Hi\r\n")
        assert refused == {"no@example.net": (550, b"5.1.1 No such user")}
        assert sink.recipients() == ["ok@example.net"]
        assert sink.messages[0].parsed().get_content().strip() == "Hi"
    with pytest.raises(ConnectionRefusedError):
        smtplib.SMTP(sink.host, sink.port, timeout=2)


def test_faults_are_reproducible_and_hit_first_attempts_only() -> None:
    """Greylisting refuses a stable share of recipients once; the retry is accepted."""
    faults = Faults(defer_first=0.5)
    chosen = [a for a in (f"u{n}@x.org" for n in range(200)) if faults.picks(a, 0.5)]
    assert 70 < len(chosen) < 130
    with SmtpSink(faults=faults) as sink, smtplib.SMTP(sink.host, sink.port, timeout=5) as client:
        with pytest.raises(smtplib.SMTPRecipientsRefused):
            client.sendmail("a@b.org", [chosen[0]], b"x\r\n")
        assert client.sendmail("a@b.org", [chosen[0]], b"x\r\n") == {}
    assert sink.refusals == [(451, chosen[0].lower())]


def test_rejected_connections_and_dropped_data() -> None:
    """The first connections get 421; a dropped DATA closes the connection unanswered."""
    with SmtpSink(faults=Faults(reject_connections=1, drop_during_data=1.0)) as sink:
        with pytest.raises(smtplib.SMTPConnectError):
            smtplib.SMTP(sink.host, sink.port, timeout=5)
        with (
            smtplib.SMTP(sink.host, sink.port, timeout=5) as client,
            pytest.raises(smtplib.SMTPServerDisconnected),
        ):
            client.sendmail("a@b.org", ["c@d.org"], b"x\r\n")
        assert sink.messages == []
