"""Transports deliver an OutgoingMessage somewhere: an SMTP relay, files, or memory.

A transport is one coroutine and a close, like httpx's: nothing above this package knows which
one it talks to, or that aiosmtplib exists.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from mailer.message import OutgoingMessage

__all__ = ["Accepted", "Transport"]


@dataclass(frozen=True, slots=True)
class Accepted:
    """The receiving side took responsibility for the message (SMTP 250, or a file written)."""

    code: int
    text: str


@runtime_checkable
class Transport(Protocol):
    """Sends messages one at a time; raises a `mailer.errors.DeliveryError` when one fails."""

    async def send(self, message: OutgoingMessage) -> Accepted:
        """Deliver one message, or raise TemporaryFailure / PermanentFailure."""
        ...

    async def close(self) -> None:
        """Release connections and files; the transport may not be used afterwards."""
        ...
