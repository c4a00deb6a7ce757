"""Mail transactions on an open SMTP connection, pipelined (RFC 2920) when the server allows.

aiosmtplib opens the connection (greeting, EHLO, STARTTLS or implicit TLS, AUTH) and then hands
its transport to this protocol, which only sends mail. aiosmtplib reads exactly one reply per
command, so it cannot pipeline, and it re-normalises line endings of every message with regular
expressions; at thousands of messages a second those round trips and passes over 50 KB bodies
are most of a sender's time. Here a transaction is two writes and two waits: MAIL FROM, RCPT TO
and DATA go out together, then the dot-stuffed message. Replies are parsed as they arrive
(multi-line replies included) and matched to commands in order.

Every failure is one of ours (`mailer.errors`): a 4xx reply is a TemporaryFailure, a 5xx reply a
PermanentFailure, a lost connection or a timeout a ConnectionFailure (the transport decides what
that means for the message in flight).
"""

from __future__ import annotations

import asyncio
from collections import deque

from mailer.errors import ConnectionFailure, DeliveryError, PermanentFailure, TemporaryFailure
from mailer.replies import Stage

__all__ = ["Reply", "SmtpSession", "data_pieces", "dot_stuff"]

Reply = tuple[int, str]


def dot_stuff(data: bytes) -> bytes:
    """The DATA payload: CRLF-terminated, leading dots doubled, ending with the lone dot line."""
    return b"".join(data_pieces(data))


def data_pieces(data: bytes) -> tuple[bytes, bytes]:
    """`dot_stuff` in the two pieces a session writes: the message, then the end line.

    Messages built by `mailer.message` use CRLF throughout, so a byte replace (memchr speed)
    does what a regular expression over every line would; and the usual message has no line
    to stuff, so it goes out as it is, not copied (50 KB) to add three bytes.
    """
    if not data.endswith(b"\r\n"):
        data += b"\r\n"
    if data.startswith(b".") or b"\r\n." in data:
        data = data.replace(b"\r\n.", b"\r\n..")
        if data.startswith(b"."):
            data = b"." + data
    return data, b".\r\n"


class SmtpSession(asyncio.Protocol):
    """Sends mail transactions over a connection someone else opened and greeted."""

    def __init__(
        self,
        transport: asyncio.BaseTransport,
        *,
        pipelining: bool,
        timeout: float,
        smtputf8: bool = False,
    ):
        self.pipelining = pipelining
        #: The server offers SMTPUTF8 (RFC 6531): non-ASCII addresses may be sent.
        self.smtputf8 = smtputf8
        self.timeout = timeout
        self._transport = transport
        self._buffer = bytearray()
        self._lines: list[str] = []
        self._replies: deque[Reply] = deque()
        self._waiter: asyncio.Future[None] | None = None
        self._lost: str | None = None
        #: Whether the current transaction's message went out (only then can a retry duplicate).
        self.body_sent = False
        transport.set_protocol(self)

    @property
    def is_connected(self) -> bool:
        """False once the connection is closed or lost."""
        return self._lost is None and not self._transport.is_closing()

    # -- asyncio.Protocol -----------------------------------------------------------------------

    def data_received(self, data: bytes) -> None:
        """Parse every complete reply line; a reply ends at a line without a hyphen."""
        self._buffer += data
        while (end := self._buffer.find(b"\n")) >= 0:
            line = bytes(self._buffer[: end + 1]).rstrip(b"\r\n")
            del self._buffer[: end + 1]
            text = line.decode("utf-8", "replace")
            self._lines.append(text[4:])
            if text[3:4] != "-":
                code = int(text[:3]) if text[:3].isdigit() else 0
                self._replies.append((code, "\n".join(self._lines).strip()))
                self._lines = []
                self._wake()

    def connection_lost(self, exc: Exception | None) -> None:
        """Remember why, and wake a waiting command."""
        self._lost = str(exc) if exc else "connection closed by the server"
        self._wake()

    def eof_received(self) -> bool:
        """The server closed its side: treat as lost (returning False closes ours too)."""
        self._lost = "connection closed by the server"
        self._wake()
        return False

    def _wake(self) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    # -- commands -------------------------------------------------------------------------------

    async def _reply(self) -> Reply:
        """The next reply, in command order; ConnectionFailure if the connection is gone."""
        while not self._replies:
            if self._lost is not None:
                raise ConnectionFailure(self._lost)
            loop = asyncio.get_running_loop()
            self._waiter = waiter = loop.create_future()
            # A timer on the loop, not asyncio.wait_for: that wraps the future in a task of
            # its own, twice a message.
            timer = loop.call_later(self.timeout, self._time_out, waiter)
            try:
                await waiter
            finally:
                timer.cancel()
                self._waiter = None
        return self._replies.popleft()

    def _time_out(self, waiter: asyncio.Future[None]) -> None:
        """No reply in time: the connection is closed and the waiting command fails."""
        if not waiter.done():
            self._transport.close()
            waiter.set_exception(ConnectionFailure(f"no reply within {self.timeout:g} s"))

    def _write(self, data: bytes) -> None:
        if not self.is_connected:
            raise ConnectionFailure(self._lost or "connection closed")
        self._transport.write(data)  # type: ignore[attr-defined]

    async def command(self, line: str) -> Reply:
        """Send one command and wait for its reply (UTF-8 only where SMTPUTF8 allowed it)."""
        self._write(line.encode("utf-8") + b"\r\n")
        return await self._reply()

    async def send(
        self, mail_from: str, rcpt_to: str, data: bytes, *, smtputf8: bool = False
    ) -> Reply:
        """One transaction; the final 2xx reply, or a DeliveryError (the session is reset).

        ``smtputf8``: the envelope or headers hold non-ASCII addresses; without the server's
        SMTPUTF8 the message is refused here, before anything is written (stage None: no
        server judged it, so it says nothing about the reader's mailbox).
        """
        self.body_sent = False
        if smtputf8 and not self.smtputf8:
            raise PermanentFailure(
                f"not sent: {rcpt_to!r} needs SMTPUTF8 (RFC 6531), which the relay does not offer"
            )
        utf8 = " SMTPUTF8" if smtputf8 else ""
        envelope = (f"MAIL FROM:<{mail_from}>{utf8}", f"RCPT TO:<{rcpt_to}>", "DATA")
        for part in envelope:
            if not (part.isascii() or smtputf8) or "\r" in part or "\n" in part:
                raise PermanentFailure(f"address not usable in SMTP: {part!r}")
        if self.pipelining:
            self._write("".join(f"{part}\r\n" for part in envelope).encode("utf-8"))
            replies = [await self._reply() for _ in envelope]
        else:
            replies = []
            for part in envelope:
                replies.append(await self.command(part))
                if not 200 <= replies[-1][0] < 400:
                    break
        mail, rcpt, start = (*replies, (0, ""), (0, ""))[:3]
        refused = next(
            (
                (r, stage)
                for r, stage in ((mail, Stage.MAIL), (rcpt, Stage.RCPT))
                if r[0] // 100 != 2
            ),
            None,
        )
        if start[0] == 354 and refused is not None:
            # A server that accepted DATA after refusing the envelope gets an empty message.
            await self.command(".")
        if refused is not None or start[0] != 354:
            await self._reset()
            raise _failure(*(refused or (start, Stage.DATA)))
        self.body_sent = True
        for piece in data_pieces(data):
            self._write(piece)
        final = await self._reply()
        if not 200 <= final[0] < 300:
            await self._reset()
            raise _failure(final, Stage.BODY)
        return final

    async def _reset(self) -> None:
        """RSET after a refusal, so the next transaction starts clean."""
        try:
            await self.command("RSET")
        except DeliveryError:
            self.close()

    async def noop(self) -> None:
        """Check the connection is alive; ConnectionFailure if not."""
        code, text = await self.command("NOOP")
        if code != 250:
            raise ConnectionFailure(text, code)

    async def quit(self) -> None:
        """QUIT politely and close; a connection already gone is not an error."""
        try:
            await self.command("QUIT")
        except DeliveryError:
            pass
        finally:
            self.close()

    def close(self) -> None:
        """Close the connection now."""
        self._lost = self._lost or "closed"
        self._transport.close()


def _failure(reply: Reply, stage: Stage) -> DeliveryError:
    """A refusal as our error: 5xx permanent, anything else temporary; it names its stage."""
    code, text = reply
    if 500 <= code < 600:
        return PermanentFailure(text, code, stage)
    return TemporaryFailure(text or "no reply", code or None, stage)
