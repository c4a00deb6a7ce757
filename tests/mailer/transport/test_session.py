"""SmtpSession: pipelined and one-by-one transactions on a real aiosmtpd server, dot-stuffing."""

from __future__ import annotations

import pytest

from mailer.errors import PermanentFailure, TemporaryFailure
from mailer.message import OutgoingMessage
from mailer.testing import Faults, SmtpSink
from mailer.transport.session import dot_stuff
from mailer.transport.smtp import SmtpConfig, SmtpTransport


def message(to: str, body: bytes = b"body\r\n") -> OutgoingMessage:
    data = f"From: a@news.example.org\r\nTo: {to}\r\nSubject: s\r\n\r\n".encode() + body
    return OutgoingMessage("bounces@news.example.org", to, data, "<1@x>")


def test_dot_stuffing_doubles_leading_dots_and_ends_the_data() -> None:
    """A line starting with "." gets another; the payload ends with CRLF "." CRLF."""
    assert dot_stuff(b".a\r\nb\r\n.\r\n..c\r\n") == b"..a\r\nb\r\n..\r\n...c\r\n.\r\n"
    assert dot_stuff(b"no newline") == b"no newline\r\n.\r\n"


@pytest.mark.parametrize("pipelining", [True, False], ids=["pipelined", "one-by-one"])
async def test_transactions_deliver_exact_bytes_and_classify_refusals(pipelining: bool) -> None:
    """Both paths deliver the message byte for byte (dots included) and classify refusals.

    After a 550 or a 451 on RCPT the session is reset and the next message goes through on
    the same connection.
    """
    refuse = {"gone@example.net": (550, "5.1.1 No such user")}
    faults = Faults(refuse=refuse, defer_first=1.0, defer_reply=(451, "4.7.1 Greylisted"))
    body = b"line one\r\n.starts with a dot\r\n..two dots\r\n"
    with SmtpSink(faults=faults, pipelining=pipelining) as sink:
        transport = SmtpTransport(SmtpConfig(host=sink.host, port=sink.port, timeout=5))
        with pytest.raises(PermanentFailure) as permanent:
            await transport.send(message("gone@example.net"))
        assert (permanent.value.code, permanent.value.text) == (550, "5.1.1 No such user")
        with pytest.raises(TemporaryFailure) as deferred:
            await transport.send(message("late@example.net", body))
        assert (deferred.value.code, deferred.value.text) == (451, "4.7.1 Greylisted")
        accepted = await transport.send(message("late@example.net", body))
        await transport.close()
    assert accepted.code == 250
    assert [m.data for m in sink.messages] == [message("late@example.net", body).data]
    assert sink.connections() == 1


async def test_messages_without_a_leading_dot_arrive_exactly_one_after_another() -> None:
    """A body with no line to stuff (sent as it is, then the end line) arrives byte for byte.

    Three in a row on one connection: each ends where it should, with a line that only
    looks like the end ("x." or ". " inside a line) left alone.
    """
    bodies = [b"plain\r\n", b"a line ending in a dot.\r\n", b"dots . inside\r\nand. more\r\n"]
    with SmtpSink() as sink:
        transport = SmtpTransport(SmtpConfig(host=sink.host, port=sink.port, timeout=5))
        for body in bodies:
            assert (await transport.send(message("reader@example.net", body))).code == 250
        await transport.close()
    assert [m.data for m in sink.messages] == [
        message("reader@example.net", body).data for body in bodies
    ]
    assert sink.connections() == 1


@pytest.mark.smtp_faults(drop_during_data=1.0)
async def test_a_connection_lost_after_the_message_is_an_uncertain_delivery(
    smtp_sink: SmtpSink,
) -> None:
    """Dropped after the data went out: the outcome is unknown, never a plain deferral."""
    from mailer.errors import UncertainDelivery

    transport = SmtpTransport(SmtpConfig(host=smtp_sink.host, port=smtp_sink.port, timeout=5))
    with pytest.raises(UncertainDelivery) as lost:
        await transport.send(message("r@example.net"))
    assert "no final reply after the message's data" in lost.value.text
    await transport.send(message("r@example.net"))  # reconnects; this time it stays up
    await transport.close()
    assert smtp_sink.recipients() == ["r@example.net"]


@pytest.mark.smtp_faults(delay=0.5)
async def test_a_silent_server_times_out(smtp_sink: SmtpSink) -> None:
    """No reply within the timeout ends the transaction as a temporary failure, not a hang."""
    transport = SmtpTransport(
        SmtpConfig(host=smtp_sink.host, port=smtp_sink.port, timeout=0.2, connect_attempts=1)
    )
    with pytest.raises(TemporaryFailure):
        await transport.send(message("r@example.net"))
    await transport.close()
