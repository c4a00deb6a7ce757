"""Test helpers shipped with briefmail: a real SMTP sink (aiosmtpd) with injectable refusals.

Our own tests use these instead of patching, and `briefmail demo` uses `SmtpSink` as its
embedded capture server. Users can point a staging setup at one to see exactly what would go out.

    with SmtpSink(refuse={"gone@example.org": (550, "5.1.1 No such user")}) as sink:
        ...send to sink.host, sink.port...
        assert sink.recipients() == [...]
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from email import message_from_bytes, policy
from email.message import EmailMessage
from types import TracebackType
from typing import Any, Self

from aiosmtpd.controller import Controller

from mailer.transport.memory import MemoryTransport

__all__ = ["CapturedMessage", "MemoryTransport", "SmtpSink", "free_port"]


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


class _SinkHandler:
    """aiosmtpd hooks: refuse configured recipients at RCPT, keep every accepted message."""

    def __init__(self, refuse: Mapping[str, tuple[int, str]]) -> None:
        self.refuse = {addr.lower(): reply for addr, reply in refuse.items()}
        self.messages: list[CapturedMessage] = []
        self.lock = threading.Lock()

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, rcpt_options: list[str]
    ) -> str:
        if reply := self.refuse.get(address.lower()):
            return f"{reply[0]} {reply[1]}"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message = CapturedMessage(
            mail_from=envelope.mail_from,
            rcpt_to=tuple(envelope.rcpt_tos),
            data=bytes(envelope.original_content or envelope.content),
            peer=tuple(session.peer[:2]),
        )
        with self.lock:
            self.messages.append(message)
        return "250 Message accepted for delivery"


class SmtpSink:
    """A real SMTP server on a free loopback port, in its own thread, capturing what it accepts."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int | None = None,
        refuse: Mapping[str, tuple[int, str]] | None = None,
    ) -> None:
        self.host = host
        self.port = port or free_port(host)
        self._handler = _SinkHandler(refuse or {})
        self._running = False
        self._controller = Controller(
            self._handler, hostname=host, port=self.port, decode_data=False
        )

    def start(self) -> Self:
        """Start serving; returns self so it can be used in a with-statement."""
        self._controller.start()
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

    def connections(self) -> int:
        """How many distinct client connections delivered the captured messages."""
        return len({message.peer for message in self.messages})

    def recipients(self) -> list[str]:
        """Every accepted recipient, once per message that reached them."""
        return [rcpt for message in self.messages for rcpt in message.rcpt_to]
