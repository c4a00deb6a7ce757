"""SMTP transports: one persistent aiosmtplib connection, and a pool of them with a rate limit.

What a failure means decides what happens next:

- the relay cannot be reached (after a few tries with backoff, 421 at the greeting included):
  `ConnectionFailure` — the dispatcher stops the run, which resumes later;
- the connection is lost *inside* a transaction: before the message's data, nothing was taken
  (a `TemporaryFailure`, retried later); after the data, or no final reply within the timeout,
  the message may have been delivered (`UncertainDelivery`, never retried on its own); the next
  message reconnects;
- a reply code: 4xx is temporary, 5xx permanent (`mailer.errors.classify`); each refusal
  names the command it answered, so the send path can tell a refused reader from a refused
  sender (`mailer.replies`);
- a 4xx to RCPT TO that asks us to slow down rests that recipient domain on its own
  (`mailer.transport.domains`); a 421 anywhere else pauses the whole pool.

The relay's certificate is checked against the system's trust store, or against ``ca_file``
(a PEM bundle, for a relay with a private CA). ``validate_certs=False`` turns checking off; the
application warns loudly when it does.

A connection idle for a while is checked with NOOP before use, because relays close idle
connections and a message must never be the probe that finds out.
"""

from __future__ import annotations

import asyncio
import ssl
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

import aiosmtplib

from mailer.errors import (
    ConnectionFailure,
    DeliveryError,
    TemporaryFailure,
    UncertainDelivery,
    classify,
)
from mailer.message import OutgoingMessage
from mailer.replies import Stage
from mailer.transport import Accepted
from mailer.transport.domains import (
    DomainLimits,
    DomainThrottle,
    is_throttle,
    recipient_domain,
)
from mailer.transport.session import SmtpSession

__all__ = ["DomainLimits", "SmtpConfig", "SmtpPool", "SmtpTransport"]

Security = Literal["none", "starttls", "tls"]


@dataclass(frozen=True, slots=True)
class SmtpConfig:
    """Where and how to reach the relay. The password comes from the environment, never a file."""

    host: str = "localhost"
    port: int = 25
    security: Security = "none"
    username: str | None = None
    password: str | None = None
    timeout: float = 30.0
    local_hostname: str | None = None
    validate_certs: bool = True
    #: A PEM bundle of the CAs to trust for the relay's certificate (None: the system's).
    ca_file: str | None = None
    #: Connections a pool keeps open to the relay (briefmail's `[smtp] connections`).
    connections: int = 16
    #: Messages per second across the pool (0: no limit).
    rate: float = 0.0
    #: Attempts to open a connection before the relay counts as unreachable.
    connect_attempts: int = 3
    #: Seconds to wait after the first failed connection attempt (doubled each time).
    connect_backoff: float = 0.5
    #: A connection idle this long is checked with NOOP before it carries a message.
    idle_check: float = 15.0
    #: Limits for recipient domains ("outlook.com" → rate and connections); none by default.
    domains: Mapping[str, DomainLimits] = field(default_factory=dict)


class SmtpTransport:
    """Sends over one SMTP connection; raises TemporaryFailure or PermanentFailure."""

    def __init__(self, config: SmtpConfig) -> None:
        self.config = config
        self._session: SmtpSession | None = None
        self._last_used = 0.0

    @property
    def address(self) -> str:
        """host:port, for messages to the operator."""
        return f"{self.config.host}:{self.config.port}"

    async def send(self, message: OutgoingMessage) -> Accepted:
        """Send one message over the connection, opening or reopening it as needed."""
        for attempt in (1, 2):
            session = await self._connected()
            try:
                code, text = await session.send(
                    message.mail_from, message.rcpt_to, message.data, smtputf8=message.smtputf8
                )
            except ConnectionFailure as exc:
                await self._drop()
                if not session.body_sent and attempt == 1:
                    # Lost before the message itself was written (a relay that closed an idle
                    # connection): nothing can have been accepted, so one try on a fresh
                    # connection cannot duplicate anything.
                    continue
                if session.body_sent:
                    # The whole message went out and no final reply came: it may have been
                    # delivered. Never retried as if it had not.
                    raise UncertainDelivery(
                        f"no final reply after the message's data: {exc.text}"
                    ) from exc
                # Lost during the envelope, on a second try: nothing can have been accepted.
                raise TemporaryFailure(
                    f"connection lost during the transaction: {exc.text}"
                ) from exc
            finally:
                self._last_used = time.monotonic()
            return Accepted(code, text)
        raise AssertionError("unreachable")  # pragma: no cover

    async def close(self) -> None:
        """QUIT politely; a connection that is already gone is not an error."""
        if self._session is not None:
            session, self._session = self._session, None
            await session.quit()

    async def _connected(self) -> SmtpSession:
        session = self._session
        if session is not None and session.is_connected:
            if time.monotonic() - self._last_used < self.config.idle_check:
                return session
            try:
                await session.noop()
                return session
            except DeliveryError:
                await self._drop()
        delay = self.config.connect_backoff
        for attempt in range(1, self.config.connect_attempts + 1):
            try:
                self._session = await self._connect()
                self._last_used = time.monotonic()
                return self._session
            except ConnectionFailure:
                if attempt == self.config.connect_attempts:
                    raise
                await asyncio.sleep(delay)
                delay *= 2
        raise AssertionError("unreachable")  # pragma: no cover

    async def _connect(self) -> SmtpSession:
        """Open, greet, secure and authenticate with aiosmtplib; then send mail ourselves."""
        cfg = self.config
        tls_context = tls_context_for(cfg) if cfg.security != "none" else None
        client = aiosmtplib.SMTP(
            hostname=cfg.host,
            port=cfg.port,
            timeout=cfg.timeout,
            use_tls=cfg.security == "tls",
            start_tls=cfg.security == "starttls",
            validate_certs=cfg.validate_certs,
            tls_context=tls_context,
            local_hostname=cfg.local_hostname,
        )
        try:
            await client.connect()
            if cfg.username:
                await client.login(cfg.username, cfg.password or "")
            if client.is_ehlo_or_helo_needed:  # login and STARTTLS greet; a plain session not yet
                try:
                    await client.ehlo()
                except aiosmtplib.SMTPHeloError:
                    await client.helo()
        except (aiosmtplib.SMTPException, OSError) as exc:
            client.close()
            error = classify(exc)
            raise ConnectionFailure(
                f"cannot reach SMTP server {self.address}: {error.text}",
                error.code,
                _stage_of(exc),
            ) from exc
        transport = client.transport
        assert transport is not None, "aiosmtplib reported a connection without a transport"
        return SmtpSession(
            transport,
            pipelining=client.supports_extension("pipelining"),
            timeout=cfg.timeout,
            smtputf8=client.supports_extension("smtputf8"),
        )

    async def _drop(self) -> None:
        if self._session is not None:
            self._session.close()
            self._session = None


class SmtpPool:
    """N persistent connections to one relay, shared by concurrent senders, with a rate limit.

    ``send`` may be awaited from many tasks at once; each call borrows an idle connection, so
    at most ``connections`` messages are in flight. A 421 reply ("service not available,
    closing") is the relay asking every sender to slow down, not a verdict on one message: the
    whole pool then pauses, for a second the first time and twice as long each time it happens
    again (up to ``max_pause``), until a message is accepted.
    """

    #: Longest pause after repeated 421 replies (seconds).
    max_pause = 60.0

    def __init__(self, config: SmtpConfig) -> None:
        self.config = config
        self.concurrency = max(1, config.connections)
        self._idle: asyncio.Queue[SmtpTransport] = asyncio.Queue()
        for _ in range(self.concurrency):
            self._idle.put_nowait(SmtpTransport(config))
        self._interval = 1.0 / config.rate if config.rate > 0 else 0.0
        self._next_slot = 0.0
        self._slot_lock = asyncio.Lock()
        #: While the relay asked us to back off: no message starts before this (monotonic).
        self.paused_until = 0.0
        self._pause = 0.0
        #: Recipient domains that asked us to slow down, and configured per-domain limits.
        self.domains = DomainThrottle(config.domains)

    @property
    def address(self) -> str:
        """host:port, for messages to the operator."""
        return f"{self.config.host}:{self.config.port}"

    async def send(self, message: OutgoingMessage) -> Accepted:
        """Send on the next idle connection, keeping to the pool's and the domain's limits."""
        domain = recipient_domain(message.rcpt_to)
        async with self.domains.slot(domain):
            await self._wait_for_slot()
            transport = await self._idle.get()
            try:
                if (wait := self.paused_until - time.monotonic()) > 0:
                    await asyncio.sleep(wait)
                accepted = await transport.send(message)
            except TemporaryFailure as exc:
                if is_throttle(exc):
                    self.domains.refused(domain, exc)
                elif exc.code == 421:
                    self._pause = min(max(self._pause * 2, 1.0), self.max_pause)
                    self.paused_until = time.monotonic() + self._pause
                raise
            finally:
                self._idle.put_nowait(transport)
        self._pause = 0.0
        self.domains.accepted(domain)
        return accepted

    async def close(self) -> None:
        """Close every connection."""
        while not self._idle.empty():
            await self._idle.get_nowait().close()

    async def _wait_for_slot(self) -> None:
        if not self._interval:
            return
        async with self._slot_lock:
            now = time.monotonic()
            slot = max(now, self._next_slot)
            self._next_slot = slot + self._interval
        if slot > now:
            await asyncio.sleep(slot - now)


def tls_context_for(config: SmtpConfig) -> ssl.SSLContext:
    """The TLS context for the relay: the system's CAs or ``ca_file``; unverified if asked."""
    context = ssl.create_default_context(cafile=config.ca_file)
    if not config.validate_certs:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


def _stage_of(exc: BaseException) -> Stage:
    """Which step of opening a session an aiosmtplib exception comes from."""
    if isinstance(exc, aiosmtplib.SMTPAuthenticationError):
        return Stage.AUTH
    if isinstance(exc, aiosmtplib.SMTPHeloError | aiosmtplib.SMTPNotSupported):
        return Stage.EHLO
    return Stage.CONNECT
