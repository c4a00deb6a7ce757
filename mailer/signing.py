"""DKIM signatures made in a child process, many to a round trip, so a sender uses two cores.

An RSA-2048 signature is a third of a sender's CPU per message (0.3–0.5 ms). `SigningProcess`
starts ``python -m mailer.signing``, hands it the private key over its stdin (never a file
or the command line), and from then on writes it 32-byte digests and reads back signatures of
the key's fixed size, in the order asked. The frames need no header: every request and every
answer has one length. Requests made in the same turn of the event loop leave in one write,
and the child answers all it has read in one write, so the sender pays 0.04–0.07 ms per
signature (mostly the write that wakes the child on its core) instead of 0.3–0.4 ms.

Nothing waits on the child for good: if it exits, is killed, answers nothing for `PATIENCE`
seconds or never starts, the signatures still owed (and every later one) are made in the
sender itself, with one warning, so no message is lost or held because a helper died.
Signing a digest gives the same bytes either way (see `DkimSigner.sign_digest`).

A sender on a machine with a core to spare gains the most; when every core already runs a
sender, a signing process only adds the round trips.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import struct
import sys
from collections import deque
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import IO, Literal, Protocol

from cryptography.hazmat.primitives import serialization

from mailer.dkim import DkimSigner

__all__ = [
    "DIGEST_SIZE",
    "PATIENCE",
    "WORTH_A_PROCESS",
    "InlineSigning",
    "Signing",
    "SigningMode",
    "SigningProcess",
    "serve",
    "signing_for",
]

log = logging.getLogger("briefmail.send")

#: Bytes of one request: a SHA-256 digest of the signed header data.
DIGEST_SIZE = 32
#: Most bytes the child reads at once (a few thousand requests).
_READ_SIZE = 1 << 16
#: Seconds the child may leave a request unanswered before the sender signs it itself (a
#: signature takes a third of a millisecond; only a stopped or wedged child is this slow).
PATIENCE = 5.0


#: Where a sender's signatures are made: "process" a child, "inline" the sender itself, "auto"
#: a child when the machine has a core for it and the send is big enough (`signing_for`).
SigningMode = Literal["auto", "process", "inline"]
#: Fewest messages for which "auto" starts a child: starting one takes ~0.1 s of a core, what
#: signing ~300 messages in the sender would have cost.
WORTH_A_PROCESS = 1000


@asynccontextmanager
async def signing_for(
    signer: DkimSigner | None,
    mode: SigningMode,
    *,
    spare_core: bool,
    messages: Callable[[], int],
) -> AsyncIterator[Signing | None]:
    """The signing one send uses (None without DKIM), closed when the send ends.

    "auto" starts a child when ``spare_core`` (the machine has more usable cores than it runs
    senders) and ``messages()`` (what is left to send, counted only then) is at least
    `WORTH_A_PROCESS`; otherwise each sender signs for itself, as "inline" always does.
    """
    if signer is None:
        yield None
        return
    apart = mode == "process" or (mode == "auto" and spare_core and messages() >= WORTH_A_PROCESS)
    if not apart:
        yield InlineSigning(signer)
        return
    async with SigningProcess(signer) as signing:
        yield signing


class Signing(Protocol):
    """Makes DKIM signatures of digests (`DkimSigner.sign_digest`), here or elsewhere."""

    async def sign(self, digest: bytes) -> bytes:
        """The signature of ``digest``."""
        ...


class InlineSigning:
    """Signs in the caller's own thread, at once: for a sender with no core to spare."""

    def __init__(self, signer: DkimSigner) -> None:
        self.signer = signer

    async def sign(self, digest: bytes) -> bytes:
        """The signature of ``digest``, made now."""
        return self.signer.sign_digest(digest)


class _Child(asyncio.SubprocessProtocol):
    """The parent's end of the pipes: answers come in here, and the child's exit."""

    def __init__(self, owner: SigningProcess) -> None:
        self.owner = owner

    def pipe_data_received(self, fd: int, data: bytes) -> None:
        """Signatures arrived (stdout): they answer the oldest requests, in order."""
        if fd == 1:
            self.owner._answered(data)

    def pipe_connection_lost(self, fd: int, exc: Exception | None) -> None:
        """The child's output ended (it exited or was killed): no answer can come any more."""
        if fd == 1:
            self.owner._lost("the signing process exited")

    def connection_lost(self, exc: Exception | None) -> None:
        """The child has exited and its pipes are closed: it is reaped."""
        self.owner._ended()


class SigningProcess:
    """A child process that signs digests with ``signer``'s key; `sign` awaits one signature.

    Use as ``async with SigningProcess(signer) as signing: await signing.sign(digest)``.
    """

    def __init__(self, signer: DkimSigner) -> None:
        self.signer = signer
        self.size = signer.signature_size
        #: Requests written (or about to be), oldest first, with the future each one awaits.
        self._waiting: deque[tuple[bytes, asyncio.Future[bytes]]] = deque()
        self._outbox: list[bytes] = []
        self._received = b""
        #: Requests asked and answered so far (the watch compares them).
        self._asked = 0
        self._answers = 0
        self._watch: asyncio.TimerHandle | None = None
        self._closing = False
        #: Done when the child has exited and been reaped (set up by `start`).
        self._reaped: asyncio.Future[None]
        self._transport: asyncio.SubprocessTransport | None = None
        self._stdin: asyncio.WriteTransport | None = None
        #: Why signatures are made here instead (None: the child makes them).
        self.lost: str | None = None

    async def __aenter__(self) -> SigningProcess:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def start(self) -> None:
        """Start the child and hand it the key; if it cannot start, sign here from now on."""
        loop = asyncio.get_running_loop()
        self._reaped = loop.create_future()
        try:
            transport, _ = await loop.subprocess_exec(
                lambda: _Child(self),
                sys.executable,
                "-m",
                "mailer.signing",
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=None,
            )
        except OSError as exc:
            self._lost(f"the signing process could not start: {exc}")
            return
        self._transport = transport
        stdin = transport.get_pipe_transport(0)
        assert isinstance(stdin, asyncio.WriteTransport)
        self._stdin = stdin
        key = self.signer.key.private_bytes(
            serialization.Encoding.DER,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        stdin.write(struct.pack(">I", len(key)) + key)

    async def sign(self, digest: bytes) -> bytes:
        """The signature of ``digest``, made by the child (or here, if the child is gone)."""
        if len(digest) != DIGEST_SIZE:
            raise ValueError(f"a digest is {DIGEST_SIZE} bytes, not {len(digest)}")
        if self.lost is not None or self._stdin is None or self._closing:
            return self.signer.sign_digest(digest)
        loop = asyncio.get_running_loop()
        future: asyncio.Future[bytes] = loop.create_future()
        self._waiting.append((digest, future))
        if not self._outbox:
            # Everything asked in this turn of the loop leaves in one write.
            loop.call_soon(self._flush)
        self._outbox.append(digest)
        return await future

    async def close(self) -> None:
        """Let the child answer what it was asked and exit (it stops at the end of its input)."""
        transport = self._transport
        if transport is None or self._closing:
            return
        self._closing = True
        self._flush()
        if self._stdin is not None and not self._stdin.is_closing():
            self._stdin.close()
        # The child answers all it has read before it sees the end of its input; one that
        # hangs instead is killed, and the signatures it owed are made here.
        try:
            await asyncio.wait_for(asyncio.shield(self._reaped), PATIENCE)
        except TimeoutError:
            self._lost(f"the signing process did not end within {PATIENCE:g} s")
            transport.kill()
            await self._reaped
        if self._watch is not None:
            self._watch.cancel()
        transport.close()

    def _flush(self) -> None:
        """Write the requests asked since the last write."""
        if not self._outbox:
            return
        data, self._outbox = b"".join(self._outbox), []
        self._asked += len(data) // DIGEST_SIZE
        if self.lost is None and self._stdin is not None and not self._stdin.is_closing():
            self._stdin.write(data)
        if self._watch is None:
            self._arm(self._asked)

    def _arm(self, asked: int) -> None:
        """In `PATIENCE` seconds, check that the first ``asked`` requests were answered."""
        self._watch = asyncio.get_running_loop().call_later(PATIENCE, self._check, asked)

    def _check(self, asked: int) -> None:
        """The watch: a child that answered nothing of what it owed is given up on."""
        self._watch = None
        if self._answers < asked and self.lost is None:
            self._lost(f"the signing process answered nothing for {PATIENCE:g} s")
            if self._transport is not None:
                self._transport.kill()
        elif self._answers < self._asked:
            self._arm(self._asked)

    def _answered(self, data: bytes) -> None:
        """Give each whole signature received to the oldest request."""
        received = self._received + data if self._received else data
        size, done = self.size, 0
        while len(received) - done >= size and self._waiting:
            _, future = self._waiting.popleft()
            if not future.done():
                future.set_result(received[done : done + size])
            done += size
            self._answers += 1
        self._received = received[done:]

    def _ended(self) -> None:
        """The child is reaped: `close` may return."""
        if not self._reaped.done():
            self._reaped.set_result(None)

    def _lost(self, why: str) -> None:
        """The child cannot answer: sign what it owed here, and everything after."""
        if self.lost is None and (self._waiting or not self._closing):
            self.lost = why
            log.warning("%s; signing in the sender from now on", why)
        while self._waiting:
            digest, future = self._waiting.popleft()
            if not future.done():
                future.set_result(self.signer.sign_digest(digest))


def serve(stdin: IO[bytes], stdout: IO[bytes]) -> None:
    """The child's life: read the key, then sign every digest read until the input ends."""
    # Ctrl-C reaches the whole process group; the sender stops cleanly and still needs the
    # signatures of what it has in flight, so only the end of the input stops this process.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    reader, writer = stdin.fileno(), stdout.fileno()
    (length,) = struct.unpack(">I", _read_exactly(reader, 4))
    key = serialization.load_der_private_key(_read_exactly(reader, length), password=None)
    signer = DkimSigner.from_key(key)
    pending = b""
    while chunk := os.read(reader, _READ_SIZE):
        pending += chunk
        whole = len(pending) - len(pending) % DIGEST_SIZE
        answers = b"".join(
            signer.sign_digest(pending[i : i + DIGEST_SIZE]) for i in range(0, whole, DIGEST_SIZE)
        )
        pending = pending[whole:]
        view = memoryview(answers)
        while view:
            view = view[os.write(writer, view) :]


def _read_exactly(fd: int, count: int) -> bytes:
    """``count`` bytes from ``fd``; EOFError if the input ends first."""
    data = b""
    while len(data) < count:
        chunk = os.read(fd, count - len(data))
        if not chunk:
            raise EOFError("the input ended before the key was read")
        data += chunk
    return data


if __name__ == "__main__":
    try:
        serve(sys.stdin.buffer, sys.stdout.buffer)
    except (EOFError, BrokenPipeError):
        sys.exit(0)  # the sender went away first: nothing is owed to anybody
