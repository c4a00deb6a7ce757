"""The signing process: a real child signs digests, and its death or silence loses nothing."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import os
import signal
import sys

import pytest

from mailer import signing as signing_module
from mailer.dkim import DkimSigner, generate_key
from mailer.signing import (
    WORTH_A_PROCESS,
    InlineSigning,
    SigningProcess,
    signing_for,
)


@pytest.fixture(params=["rsa", "ed25519"])
def signer(request: pytest.FixtureRequest) -> DkimSigner:
    return DkimSigner.from_pem("news.example.org", "brief", generate_key(request.param))


def digests(count: int) -> list[bytes]:
    return [hashlib.sha256(f"header block {n}".encode()).digest() for n in range(count)]


def child_pid(process: SigningProcess) -> int:
    assert process._transport is not None
    pid = process._transport.get_pid()
    assert isinstance(pid, int)
    return pid


class TestSigningProcess:
    async def test_the_child_signs_as_the_sender_would(self, signer: DkimSigner) -> None:
        """Many requests at once come back in order, each the bytes `sign_digest` gives here."""
        asked = digests(300)
        async with SigningProcess(signer) as signing:
            answers = await asyncio.gather(*(signing.sign(d) for d in asked))
            pid = child_pid(signing)
        assert answers == [signer.sign_digest(d) for d in asked]
        assert signing.lost is None
        assert pid != os.getpid()

    async def test_requests_of_one_turn_leave_in_one_write(self, signer: DkimSigner) -> None:
        """What is asked in one turn of the loop is written once (counted by the write)."""
        async with SigningProcess(signer) as signing:
            assert signing._stdin is not None
            writes: list[int] = []
            real = signing._stdin.write

            def counted(data: bytes | bytearray | memoryview) -> None:
                writes.append(len(data))
                real(data)

            signing._stdin.write = counted  # type: ignore[method-assign]
            await asyncio.gather(*(signing.sign(d) for d in digests(40)))
        assert writes == [40 * 32]

    async def test_a_killed_child_costs_no_signature(
        self, signer: DkimSigner, caplog: pytest.LogCaptureFixture
    ) -> None:
        """Killed with requests outstanding: those and all later ones are signed in the sender."""
        asked = digests(200)
        async with SigningProcess(signer) as signing:
            first = await signing.sign(asked[0])
            waiting = [asyncio.ensure_future(signing.sign(d)) for d in asked[1:100]]
            await asyncio.sleep(0)  # the requests are written
            os.kill(child_pid(signing), signal.SIGKILL)
            answers = [first, *await asyncio.gather(*waiting)]
            answers += [await signing.sign(d) for d in asked[100:]]
        assert answers == [signer.sign_digest(d) for d in asked]
        assert signing.lost == "the signing process exited"
        assert "signing in the sender from now on" in caplog.text

    async def test_a_silent_child_is_given_up_on(
        self, signer: DkimSigner, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """A stopped child answers nothing: after PATIENCE the sender signs and kills it."""
        monkeypatch.setattr(signing_module, "PATIENCE", 0.3)
        async with SigningProcess(signer) as signing:
            await signing.sign(digests(1)[0])  # started and answering
            pid = child_pid(signing)
            os.kill(pid, signal.SIGSTOP)
            try:
                answers = await asyncio.wait_for(
                    asyncio.gather(*(signing.sign(d) for d in digests(5))), 10
                )
            finally:
                with contextlib.suppress(ProcessLookupError):  # killed and reaped already
                    os.kill(pid, signal.SIGCONT)
        assert answers == [signer.sign_digest(d) for d in digests(5)]
        assert signing.lost == "the signing process answered nothing for 0.3 s"

    async def test_a_child_that_cannot_start_leaves_signing_here(
        self, signer: DkimSigner, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """No interpreter to start: every signature is made in the sender, none is refused."""
        monkeypatch.setattr(sys, "executable", "/nonexistent/python")
        async with SigningProcess(signer) as signing:
            answer = await signing.sign(digests(1)[0])
        assert answer == signer.sign_digest(digests(1)[0])
        assert signing.lost is not None and "could not start" in signing.lost

    async def test_ctrl_c_does_not_stop_the_child(self, signer: DkimSigner) -> None:
        """SIGINT (Ctrl-C reaches the process group) leaves the child answering."""
        async with SigningProcess(signer) as signing:
            await signing.sign(digests(1)[0])
            os.kill(child_pid(signing), signal.SIGINT)
            await asyncio.sleep(0.2)
            answers = await asyncio.gather(*(signing.sign(d) for d in digests(10)))
        assert answers == [signer.sign_digest(d) for d in digests(10)]
        assert signing.lost is None

    async def test_closing_waits_for_the_answers_owed(self, signer: DkimSigner) -> None:
        """Requests outstanding when the send closes the process still get their signatures."""
        signing = SigningProcess(signer)
        await signing.start()
        waiting = [asyncio.ensure_future(signing.sign(d)) for d in digests(50)]
        await asyncio.sleep(0)
        await signing.close()
        assert all(w.done() for w in waiting)
        assert [w.result() for w in waiting] == [signer.sign_digest(d) for d in digests(50)]

    async def test_a_digest_of_the_wrong_length_is_refused(self, signer: DkimSigner) -> None:
        """Only 32-byte digests are framed: anything else is a ValueError, not a garbled pipe."""
        async with SigningProcess(signer) as signing:
            with pytest.raises(ValueError, match="32 bytes, not 5"):
                await signing.sign(b"short")
            assert await signing.sign(digests(1)[0]) == signer.sign_digest(digests(1)[0])


class TestSigningFor:
    async def test_without_dkim_there_is_nothing_to_sign_with(self) -> None:
        """No signer: the send gets None, whatever the mode."""
        async with signing_for(None, "process", spare_core=True, messages=lambda: 10**6) as got:
            assert got is None

    @pytest.mark.parametrize(
        ("mode", "spare_core", "messages", "apart"),
        [
            ("process", False, 1, True),
            ("inline", True, 10**6, False),
            ("auto", True, WORTH_A_PROCESS, True),
            ("auto", True, WORTH_A_PROCESS - 1, False),
            ("auto", False, 10**6, False),
        ],
    )
    async def test_where_signatures_are_made(
        self, mode: str, spare_core: bool, messages: int, apart: bool
    ) -> None:
        """Auto mode uses a child only with a spare core and a send of `WORTH_A_PROCESS` or more."""
        signer = DkimSigner.from_pem("news.example.org", "brief", generate_key("ed25519"))
        counted: list[int] = []

        def count() -> int:
            counted.append(messages)
            return messages

        async with signing_for(
            signer,
            mode,  # type: ignore[arg-type]
            spare_core=spare_core,
            messages=count,
        ) as got:
            assert isinstance(got, SigningProcess if apart else InlineSigning)
            assert got is not None
            assert await got.sign(digests(1)[0]) == signer.sign_digest(digests(1)[0])
        # Counting the run is a query: only "auto" with a spare core pays for it.
        assert bool(counted) == (mode == "auto" and spare_core)

    async def test_the_child_logs_nothing_when_it_ends_normally(
        self, caplog: pytest.LogCaptureFixture
    ) -> None:
        """A send that ends closes its child without a warning."""
        signer = DkimSigner.from_pem("news.example.org", "brief", generate_key("ed25519"))
        with caplog.at_level(logging.WARNING):
            async with signing_for(signer, "process", spare_core=True, messages=lambda: 1) as s:
                assert s is not None
                await s.sign(digests(1)[0])
            await asyncio.sleep(0.1)
        assert caplog.text == ""
