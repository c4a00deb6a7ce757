"""MemoryTransport keeps messages and can refuse chosen ones."""

from __future__ import annotations

import pytest

from mailer.errors import PermanentFailure
from mailer.message import OutgoingMessage
from mailer.testing import MemoryTransport


async def test_outbox_and_refusals() -> None:
    """Accepted messages land in the outbox; a refused one raises and is not kept."""
    transport = MemoryTransport(
        refuse=lambda m: PermanentFailure("no", 550) if m.rcpt_to.startswith("x") else None
    )
    await transport.send(OutgoingMessage("a@b.org", "ok@c.org", b"1", "<1@b>"))
    with pytest.raises(PermanentFailure):
        await transport.send(OutgoingMessage("a@b.org", "x@c.org", b"2", "<2@b>"))
    await transport.close()
    assert [m.rcpt_to for m in transport.outbox] == ["ok@c.org"]
    with pytest.raises(RuntimeError, match="after close"):
        await transport.send(OutgoingMessage("a@b.org", "ok@c.org", b"3", "<3@b>"))
