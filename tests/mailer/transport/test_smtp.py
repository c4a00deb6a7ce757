"""SmtpTransport against a real aiosmtpd server: acceptance, refusals, reuse, unreachability."""

from __future__ import annotations

import datetime as dt
import ipaddress
import ssl
from dataclasses import replace
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from mailer.errors import ConnectionFailure, PermanentFailure, TemporaryFailure
from mailer.message import OutgoingMessage
from mailer.testing import SmtpSink, free_port
from mailer.transport import Transport
from mailer.transport.smtp import SmtpConfig, SmtpTransport


def message(to: str, n: int = 0, sender: str = "bounces@news.example.org") -> OutgoingMessage:
    data = f"From: a@news.example.org\r\nTo: {to}\r\nSubject: {n}\r\n\r\nbody {n}\r\n".encode()
    return OutgoingMessage(sender, to, data, f"<{n}@x>")


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


BUSY = "busy@news.example.org"


class TestPoolBackOff:
    @pytest.mark.smtp_faults(refuse_senders={BUSY: (421, "4.7.0 Too many messages, closing")})
    async def test_a_421_pauses_the_whole_pool_and_doubles(self, smtp_sink: SmtpSink) -> None:
        """421 outside RCPT is the relay asking everyone to slow down: nothing starts meanwhile.

        The pause is 1 s, doubles on the next 421, and an accepted message ends it.
        """
        import time

        from mailer.transport.smtp import SmtpPool

        pool = SmtpPool(
            SmtpConfig(host=smtp_sink.host, port=smtp_sink.port, timeout=5, connections=2)
        )
        with pytest.raises(TemporaryFailure) as busy:
            await pool.send(message("a@example.net", sender=BUSY))
        assert busy.value.code == 421
        first_pause = pool.paused_until - time.monotonic()
        assert 0.5 < first_pause <= 1.0
        resumed = pool.paused_until
        await pool.send(message("fine@example.net"))
        assert time.monotonic() >= resumed  # it waited, on another connection too
        with pytest.raises(TemporaryFailure):
            await pool.send(message("a@example.net", sender=BUSY))
        assert pool.paused_until - time.monotonic() <= 1.0  # an acceptance reset the pause
        with pytest.raises(TemporaryFailure):
            await pool.send(message("a@example.net", sender=BUSY))
        assert 1.0 < pool.paused_until - time.monotonic() <= 2.0
        await pool.close()
        assert smtp_sink.recipients() == ["fine@example.net"]


class TestDomainThrottle:
    @pytest.mark.smtp_faults(
        refuse_domains={"outlook.example": (451, "4.7.650 The mail server has been rate limited")}
    )
    async def test_a_4xx_at_rcpt_rests_only_that_domain(self, smtp_sink: SmtpSink) -> None:
        """A domain's 4xx at RCPT defers its next messages at once; other domains go on."""
        from mailer.transport.smtp import SmtpPool

        pool = SmtpPool(SmtpConfig(host=smtp_sink.host, port=smtp_sink.port, timeout=5))
        with pytest.raises(TemporaryFailure) as first:
            await pool.send(message("a@outlook.example"))
        assert (first.value.code, first.value.stage) == (451, "rcpt")
        with pytest.raises(TemporaryFailure, match="outlook.example asked us to slow down"):
            await pool.send(message("b@outlook.example"))
        assert pool.paused_until == 0.0  # the pool itself never paused
        await pool.send(message("c@example.net"))
        assert pool.domains.resting("outlook.example") > 1.0
        assert pool.domains.resting("example.net") == 0.0
        await pool.close()
        # The second outlook message never reached the server.
        assert smtp_sink.recipients() == ["c@example.net"]
        assert [addr for _, addr in smtp_sink.refusals] == ["a@outlook.example"]

    async def test_a_domain_rate_limit_spaces_its_messages(self, smtp_sink: SmtpSink) -> None:
        """`rate` for a domain spaces its messages (subdomains included); others are not held."""
        import time

        from mailer.transport.smtp import DomainLimits, SmtpPool

        limits = {"slow.example": DomainLimits(rate=5.0, connections=1)}
        pool = SmtpPool(
            SmtpConfig(host=smtp_sink.host, port=smtp_sink.port, timeout=5, domains=limits)
        )
        started = time.monotonic()
        for n in range(3):
            await pool.send(message(f"r{n}@mx.slow.example", n))
        slow = time.monotonic() - started
        started = time.monotonic()
        for n in range(3):
            await pool.send(message(f"r{n}@fast.example", n))
        fast = time.monotonic() - started
        await pool.close()
        assert slow >= 0.4  # three messages at 5/s: two intervals of 0.2 s
        assert fast < slow
        assert len(smtp_sink.recipients()) == 6


def private_ca(tmp_path: Path) -> tuple[Path, ssl.SSLContext]:
    """A CA of our own, and a server context with a certificate it signed for 127.0.0.1."""
    ca_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca = _ca_certificate(ca_key)
    cert = _relay_certificate(ca_key, ca, key)
    ca_file = tmp_path / "ca.pem"
    ca_file.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    chain = tmp_path / "relay.pem"
    chain.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        + cert.public_bytes(serialization.Encoding.PEM)
    )
    server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server.load_cert_chain(chain)
    return ca_file, server


def _name(common: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common)])


def _valid_for_a_day(builder: x509.CertificateBuilder) -> x509.CertificateBuilder:
    # From five minutes ago, so a clock a little behind the test's still accepts it.
    now = dt.datetime.now(dt.UTC)
    return builder.not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(
        now + dt.timedelta(days=1)
    )


def _ca_certificate(ca_key: ec.EllipticCurvePrivateKey) -> x509.Certificate:
    """A self-signed CA certificate that may sign certificates (keyCertSign, cRLSign)."""
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name("briefmail test CA"))
        .issuer_name(_name("briefmail test CA"))
        .public_key(ca_key.public_key())
        .serial_number(1)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False),
            critical=True,
        )
        .add_extension(
            x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False
        )
    )
    return _valid_for_a_day(builder).sign(ca_key, hashes.SHA256())


def _relay_certificate(
    ca_key: ec.EllipticCurvePrivateKey, ca: x509.Certificate, key: ec.EllipticCurvePrivateKey
) -> x509.Certificate:
    """The relay's certificate for 127.0.0.1, signed by the CA."""
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name("relay.test"))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(2)
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
            critical=False,
        )
    )
    return _valid_for_a_day(builder).sign(ca_key, hashes.SHA256())


class TestRelayTrust:
    async def test_a_private_ca_is_trusted_through_ca_file(self, tmp_path: Path) -> None:
        """STARTTLS to a relay whose CA is in ``ca_file`` works; without it, nothing is sent."""
        ca_file, server = private_ca(tmp_path)
        with SmtpSink(tls_context=server) as relay:
            base = SmtpConfig(host=relay.host, port=relay.port, timeout=5, security="starttls")
            refused = SmtpTransport(replace(base, connect_attempts=1))
            with pytest.raises(ConnectionFailure, match="CERTIFICATE_VERIFY_FAILED"):
                await refused.send(message("a@example.net"))
            trusted = SmtpTransport(replace(base, ca_file=str(ca_file)))
            await trusted.send(message("b@example.net"))
            await trusted.close()
            unverified = SmtpTransport(replace(base, validate_certs=False))
            await unverified.send(message("c@example.net"))
            await unverified.close()
        assert relay.recipients() == ["b@example.net", "c@example.net"]
