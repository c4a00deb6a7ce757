"""SmtpTransport against a real aiosmtpd server: acceptance, refusals, reuse, unreachability."""

from __future__ import annotations

import pytest

from mailer.errors import ConnectionFailure, PermanentFailure, TemporaryFailure
from mailer.message import OutgoingMessage
from mailer.testing import SmtpSink, free_port
from mailer.transport import Transport
from mailer.transport.smtp import SmtpConfig, SmtpTransport


def message(to: str, n: int = 0) -> OutgoingMessage:
    data = f"From: a@news.example.org\r\nTo: {to}\r\nSubject: {n}\r\n\r\nbody {n}\r\n".encode()
    return OutgoingMessage("bounces@news.example.org", to, data, f"<{n}@x>")


def transport_for(sink: SmtpSink) -> SmtpTransport:
    return SmtpTransport(SmtpConfig(host=sink.host, port=sink.port, timeout=5))


class TestSmtpTransport:
    async def test_delivers_many_messages_over_one_connection(self, smtp_sink: SmtpSink) -> None:
        """Twenty messages arrive in order, all through a single SMTP connection."""
        transport = transport_for(smtp_sink)
        assert isinstance(transport, Transport)
        for n in range(20):
            accepted = await transport.send(message(f"r{n}@example.net", n))
            assert accepted.code == 250
        await transport.close()
        assert smtp_sink.recipients() == [f"r{n}@example.net" for n in range(20)]
        assert smtp_sink.connections() == 1
        assert smtp_sink.messages[0].mail_from == "bounces@news.example.org"

    @pytest.mark.smtp_faults(
        refuse={
            "gone@example.net": (550, "5.1.1 No such user"),
            "later@example.net": (451, "4.7.1 Try again later"),
        }
    )
    async def test_refusals_are_classified_and_the_session_continues(
        self, smtp_sink: SmtpSink
    ) -> None:
        """550 is permanent, 451 temporary, each with the server's text; later sends still work."""
        transport = transport_for(smtp_sink)
        with pytest.raises(PermanentFailure) as permanent:
            await transport.send(message("gone@example.net"))
        assert (permanent.value.code, permanent.value.text) == (550, "5.1.1 No such user")
        with pytest.raises(TemporaryFailure) as temporary:
            await transport.send(message("later@example.net"))
        assert temporary.value.code == 451
        assert not isinstance(temporary.value, ConnectionFailure)
        await transport.send(message("fine@example.net"))
        await transport.close()
        assert smtp_sink.recipients() == ["fine@example.net"]

    async def test_unreachable_server_is_a_connection_failure(self) -> None:
        """Nothing listening on the port gives one ConnectionFailure naming host and port."""
        port = free_port()
        transport = SmtpTransport(SmtpConfig(host="127.0.0.1", port=port, timeout=2))
        with pytest.raises(ConnectionFailure, match=f"cannot reach SMTP server 127.0.0.1:{port}"):
            await transport.send(message("a@example.net"))
        await transport.close()

    async def test_reconnects_after_the_server_restarts(self) -> None:
        """A connection dropped between messages is reopened for the next message."""
        port = free_port()
        with SmtpSink(port=port) as first:
            transport = SmtpTransport(SmtpConfig(host="127.0.0.1", port=port, timeout=5))
            await transport.send(message("one@example.net"))
        with SmtpSink(port=port) as second:
            await transport.send(message("two@example.net"))
            await transport.close()
        assert first.recipients() == ["one@example.net"]
        assert second.recipients() == ["two@example.net"]


class TestPoolBackOff:
    @pytest.mark.smtp_faults(refuse={"busy@example.net": (421, "4.7.0 Too many messages")})
    async def test_a_421_pauses_the_whole_pool_and_doubles(self, smtp_sink: SmtpSink) -> None:
        """421 is the relay asking everyone to slow down: no message starts before the pause ends.

        The pause is 1 s, doubles on the next 421, and an accepted message ends it.
        """
        import time

        from mailer.transport.smtp import SmtpPool

        pool = SmtpPool(
            SmtpConfig(host=smtp_sink.host, port=smtp_sink.port, timeout=5, connections=2)
        )
        with pytest.raises(TemporaryFailure) as busy:
            await pool.send(message("busy@example.net"))
        assert busy.value.code == 421
        first_pause = pool.paused_until - time.monotonic()
        assert 0.5 < first_pause <= 1.0
        resumed = pool.paused_until
        await pool.send(message("fine@example.net"))
        assert time.monotonic() >= resumed  # it waited, on another connection too
        with pytest.raises(TemporaryFailure):
            await pool.send(message("busy@example.net"))
        assert pool.paused_until - time.monotonic() <= 1.0  # an acceptance reset the pause
        with pytest.raises(TemporaryFailure):
            await pool.send(message("busy@example.net"))
        assert 1.0 < pool.paused_until - time.monotonic() <= 2.0
        await pool.close()
        assert smtp_sink.recipients() == ["fine@example.net"]
