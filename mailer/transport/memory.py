"""MemoryTransport: keeps every message in a list. For tests and previews, shipped publicly."""

from __future__ import annotations

from collections.abc import Callable

from mailer.errors import DeliveryError
from mailer.message import OutgoingMessage
from mailer.transport import Accepted

__all__ = ["MemoryTransport"]


class MemoryTransport:
    """Collects sent messages in ``outbox``; ``refuse`` may raise a DeliveryError per message."""

    def __init__(self, refuse: Callable[[OutgoingMessage], DeliveryError | None] | None = None):
        self.outbox: list[OutgoingMessage] = []
        self.closed = False
        self._refuse = refuse

    async def send(self, message: OutgoingMessage) -> Accepted:
        """Append the message to the outbox unless ``refuse`` rejects it."""
        if self.closed:
            raise RuntimeError("MemoryTransport used after close()")
        if self._refuse and (error := self._refuse(message)):
            raise error
        self.outbox.append(message)
        return Accepted(250, "OK (memory)")

    async def close(self) -> None:
        """Mark the transport closed; the outbox stays readable."""
        self.closed = True
