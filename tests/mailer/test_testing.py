"""The shipped SMTP sink is a real server: it accepts, refuses as configured, and stops."""

from __future__ import annotations

import smtplib

import pytest

from mailer.testing import SmtpSink


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
