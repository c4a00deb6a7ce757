"""Test helpers shipped with briefmail: a real SMTP sink (aiosmtpd) with injectable faults.

Our own tests use these instead of patching, and `briefmail demo` uses `SmtpSink` as its
embedded capture server. Users can point a staging setup at one to see exactly what would go out,
or at a hostile one to see how their setup copes:

    faults = Faults(refuse={"gone@example.org": (550, "5.1.1 No such user")},
                    defer_first=0.1, reject_connections=2, drop_during_data=0.05, delay=0.01)
    with SmtpSink(faults=faults) as sink:
        ...send to sink.host, sink.port...
        assert sink.recipients() == [...]

Which recipients get a fault is decided by a hash of the address, so a run is reproducible; the
temporary faults (451 on RCPT, a dropped DATA) hit a recipient's first attempt only.
"""

from __future__ import annotations

import asyncio
import hashlib
import socket
import ssl
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from types import TracebackType
from typing import Any, Self

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP

from mailer.transport.memory import MemoryTransport

__all__ = ["CapturedMessage", "Faults", "MemoryTransport", "SmtpSink", "free_port"]


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that was free on ``host`` a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass(frozen=True, slots=True)
class CapturedMessage:
    """One message as the sink received it: envelope and raw bytes."""

    mail_from: str
    rcpt_to: tuple[str, ...]
    data: bytes
    #: The client's (host, port): messages sharing it came over one connection.
    peer: tuple[str, int] = ("", 0)

    def parsed(self) -> EmailMessage:
        """The message parsed with the stdlib's modern policy."""
        parsed = message_from_bytes(self.data, policy=policy.default)
        assert isinstance(parsed, EmailMessage)
        return parsed


@dataclass(frozen=True)
class Faults:
    """What a hostile server does. Fractions select recipients by a hash of their address."""

    #: Addresses refused at RCPT for good, with the reply to give.
    refuse: Mapping[str, tuple[int, str]] = field(default_factory=dict)
    #: Share of recipients refused with ``defer_reply`` on their first attempt (greylisting).
    defer_first: float = 0.0
    defer_reply: tuple[int, str] = (451, "4.7.1 Greylisted, try again later")
    #: How many of the first connections are turned away with 421 at the greeting.
    reject_connections: int = 0
    #: Share of recipients whose first DATA loses the connection before any reply.
    drop_during_data: float = 0.0
    #: Share of recipients whose first message is stored, then the connection is lost before
    #: the final reply (the client cannot know it arrived).
    lose_reply: float = 0.0
    #: Seconds to wait before every RCPT and DATA reply (a slow server).
    delay: float = 0.0
    #: Replies to MAIL FROM by envelope sender, "*" for every sender (a relay refusing ours).
    refuse_senders: Mapping[str, tuple[int, str]] = field(default_factory=dict)
    #: The reply to every RCPT TO, when set (a blocklisted sending IP).
    refuse_all: tuple[int, str] | None = None
    #: Replies to RCPT TO by recipient domain (a provider throttling or refusing us).
    refuse_domains: Mapping[str, tuple[int, str]] = field(default_factory=dict)
    #: The reply after the message's data, when set (a content filter).
    refuse_data: tuple[int, str] | None = None
    #: A greeting instead of 220 for every connection, which is then closed (a relay that
    #: turns us away for good: "554 5.7.1 … not allowed").
    greeting: tuple[int, str] | None = None

    @staticmethod
    def picks(address: str, share: float) -> bool:
        """Whether ``address`` falls in the given share of recipients (stable across runs)."""
        digest = int(hashlib.sha256(address.lower().encode()).hexdigest()[:8], 16)
        return digest % 10_000 < share * 10_000


class _SinkHandler:
    """aiosmtpd hooks: apply the faults, keep every accepted message."""

    def __init__(self, faults: Faults) -> None:
        self.faults = faults
        self.refuse = {addr.lower(): reply for addr, reply in faults.refuse.items()}
        self.messages: list[CapturedMessage] = []
        self.lock = threading.Lock()
        self.seen_rcpt: set[str] = set()
        self.seen_data: set[str] = set()
        self.connections = 0
        #: (code, recipient) of every refusal, for tests to compare with what a sender recorded.
        self.refusals: list[tuple[int, str]] = []
        self.keep_data = True
        self.pipelining = True

    async def handle_EHLO(
        self, server: Any, session: Any, envelope: Any, hostname: str, responses: list[str]
    ) -> list[str]:
        # aiosmtpd reads commands one line at a time, so it serves pipelined clients correctly;
        # announcing it makes clients use their pipelined path, as they do with Postfix.
        session.host_name = hostname
        if self.pipelining:
            responses.insert(-1, "250-PIPELINING")
        return responses

    async def handle_MAIL(
        self, server: Any, session: Any, envelope: Any, address: str, mail_options: list[str]
    ) -> str:
        senders = self.faults.refuse_senders
        if reply := senders.get(address.lower()) or senders.get("*"):
            self.refusals.append((reply[0], address.lower()))
            return f"{reply[0]} {reply[1]}"
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 OK"

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, rcpt_options: list[str]
    ) -> str:
        if self.faults.delay:
            await asyncio.sleep(self.faults.delay)
        key = address.lower()
        domain = key.rpartition("@")[2]
        if reply := (
            self.refuse.get(key) or self.faults.refuse_domains.get(domain) or self.faults.refuse_all
        ):
            self.refusals.append((reply[0], key))
            return f"{reply[0]} {reply[1]}"
        with self.lock:
            first = key not in self.seen_rcpt
            self.seen_rcpt.add(key)
        if first and self.faults.picks(key, self.faults.defer_first):
            code, text = self.faults.defer_reply
            self.refusals.append((code, key))
            return f"{code} {text}"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.faults.delay:
            await asyncio.sleep(self.faults.delay)
        keys = [r.lower() for r in envelope.rcpt_tos]
        with self.lock:
            first = [k for k in keys if k not in self.seen_data]
            self.seen_data.update(keys)
        if any(self.faults.picks(k, self.faults.drop_during_data) for k in first):
            # Lose the connection before answering: the client cannot know the outcome.
            server.transport.close()
            return "421 4.4.2 Connection dropped"
        if reply := self.faults.refuse_data:
            self.refusals.extend((reply[0], k) for k in keys)
            return f"{reply[0]} {reply[1]}"
        message = CapturedMessage(
            mail_from=envelope.mail_from,
            rcpt_to=tuple(envelope.rcpt_tos),
            data=bytes(envelope.original_content or envelope.content) if self.keep_data else b"",
            peer=tuple(session.peer[:2]),
        )
        with self.lock:
            self.messages.append(message)
        if any(self.faults.picks(k, self.faults.lose_reply) for k in first):
            server.transport.close()  # stored, but the client never hears so
            return "421 4.4.2 Connection dropped"
        return "250 Message accepted for delivery"


class _FaultySMTP(SMTP):
    """aiosmtpd's server, turning away the first connections with 421 when asked to."""

    def __init__(self, handler: _SinkHandler, **kwargs: Any) -> None:
        super().__init__(handler, **kwargs)
        self._sink = handler

    def connection_made(self, transport: Any) -> None:
        with self._sink.lock:
            self._sink.connections += 1
            reject = self._sink.connections <= self._sink.faults.reject_connections
        if reject:
            transport.write(b"421 4.3.2 Too many connections, try again later\r\n")
            transport.close()
            return
        if greeting := self._sink.faults.greeting:
            transport.write(f"{greeting[0]} {greeting[1]}\r\n".encode())
            transport.close()
            return
        super().connection_made(transport)


class _Controller(Controller):
    def factory(self) -> SMTP:
        return _FaultySMTP(self.handler, **self.SMTP_kwargs)


class SmtpSink:
    """A real SMTP server on a free loopback port, in its own thread, capturing what it accepts."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int | None = None,
        refuse: Mapping[str, tuple[int, str]] | None = None,
        faults: Faults | None = None,
        keep_data: bool = True,
        pipelining: bool = True,
        tls_context: ssl.SSLContext | None = None,
        smtputf8: bool = False,
    ) -> None:
        self.host = host
        self.port = port or free_port(host)
        faults = faults or Faults()
        if refuse:
            faults = Faults(**{**faults.__dict__, "refuse": {**faults.refuse, **refuse}})
        self.faults = faults
        self._handler = _SinkHandler(faults)
        # Long runs keep only envelopes: 5,000 copies of a 50 KB issue are 250 MB otherwise.
        self._handler.keep_data = keep_data
        self._handler.pipelining = pipelining
        self._running = False
        # With a TLS context the sink offers STARTTLS (a relay with its own certificate).
        self._controller = _Controller(
            self._handler,
            hostname=host,
            port=self.port,
            decode_data=False,
            tls_context=tls_context,
            # Offers SMTPUTF8 (RFC 6531) when asked: addresses with non-ASCII local parts.
            enable_SMTPUTF8=smtputf8,
        )

    def start(self) -> Self:
        """Start serving; returns self so it can be used in a with-statement."""
        self._controller.start()
        # Controller.start() opens one connection itself to check the server is up; faults
        # count the connections of real clients only.
        with self._handler.lock:
            self._handler.connections = 0
        self._running = True
        return self

    def stop(self) -> None:
        """Stop serving (again is harmless); captured messages stay readable."""
        if self._running:
            self._controller.stop()
            self._running = False

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def messages(self) -> list[CapturedMessage]:
        """A snapshot of every accepted message, in arrival order."""
        with self._handler.lock:
            return list(self._handler.messages)

    def count(self) -> int:
        """How many messages were accepted so far (cheap enough to poll in a loop)."""
        with self._handler.lock:
            return len(self._handler.messages)

    def connections(self) -> int:
        """How many distinct client connections delivered the captured messages."""
        return len({message.peer for message in self.messages})

    @property
    def refusals(self) -> list[tuple[int, str]]:
        """Every (code, recipient) refused so far, permanent or temporary."""
        with self._handler.lock:
            return list(self._handler.refusals)

    def recipients(self) -> list[str]:
        """Every accepted recipient, once per message that reached them."""
        return [rcpt for message in self.messages for rcpt in message.rcpt_to]
