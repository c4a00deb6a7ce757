"""FileTransport writes one complete .eml per message."""

from __future__ import annotations

from pathlib import Path

from mailer.message import OutgoingMessage
from mailer.transport import Transport
from mailer.transport.file import FileTransport


async def test_writes_numbered_eml_files(tmp_path: Path) -> None:
    """Each message becomes its own .eml with the exact bytes, and no partial file remains."""
    transport = FileTransport(tmp_path / "out")
    assert isinstance(transport, Transport)
    for n, to in enumerate(["a@example.net", "b/../@example.net"]):
        await transport.send(OutgoingMessage("x@y.org", to, f"msg {n}".encode(), f"<{n}@y>"))
    await transport.close()
    files = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert files == ["000001-a@example.net.eml", "000002-b_.._@example.net.eml"]
    assert (tmp_path / "out" / files[1]).read_bytes() == b"msg 1"
