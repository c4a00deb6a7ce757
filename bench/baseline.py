"""The send bench's baseline: the simplest sender there is, over the same sink in the same run.

stdlib smtplib.SMTP.sendmail in one thread per connection, pushing copies of one real signed
message of the issue (the every-topic variant, the most common one) with only the recipient
(envelope and To:) changed. What briefmail's rate is compared with.
"""

from __future__ import annotations

import smtplib
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from subscribers.models import new_token_key


@dataclass(frozen=True)
class Prebuilt:
    """One real message, cut around its To: value so each copy gets its own recipient."""

    mail_from: str
    head: bytes
    tail: bytes

    def to(self, address: str) -> bytes:
        """The message addressed to ``address``."""
        return b"".join((self.head, address.encode("ascii"), self.tail))

    @property
    def size(self) -> int:
        """Bytes of one copy (with a 30-character address)."""
        return len(self.head) + 30 + len(self.tail)


def prebuilt_message(config: Path, issue_id: int) -> Prebuilt:
    """The every-topic variant of the issue, signed and filled for one subscriber by the library."""
    from briefmail.app import build_app
    from briefmail.settings import load_settings
    from scheduler.dispatch import ALL_TOPICS
    from scheduler.editions import load_issue

    app = build_app(load_settings(config))
    try:
        with app.sessions() as session:
            row = load_issue(session, issue_id)
            factory = app.dispatcher().factory(row, "daily", run_id=None)
            template = factory.template(ALL_TOPICS)
            message = factory.message(template, "reader@bench.example.net", 1, 1, new_token_key())
    finally:
        app.close()
    data = b"\r\n" + message.data  # so that a To: on the first line is found like any other
    end_of_head = data.find(b"\r\n\r\n")
    start = data.find(b"\r\nTo: ", 0, end_of_head)
    if start < 0:
        raise SystemExit("the library's message has no To: header line")
    value = start + len(b"\r\nTo: ")
    stop = data.find(b"\r\n", value)
    while data[stop + 2 : stop + 3] in (b" ", b"\t"):  # folded: the value goes on
        stop = data.find(b"\r\n", stop + 2)
    return Prebuilt(message.mail_from, data[2:value], data[stop:])


def baseline(host: str, port: int, message: Prebuilt, count: int, connections: int) -> float:
    """Seconds for smtplib to push ``count`` copies over ``connections`` threads, one each."""
    shares = [count // connections + (n < count % connections) for n in range(connections)]
    failures: list[BaseException] = []

    def push(worker: int, share: int) -> None:
        try:
            with smtplib.SMTP(host, port, timeout=30) as smtp:
                for n in range(share):
                    address = f"reader{worker}.{n}@bench.example.net"
                    smtp.sendmail(message.mail_from, [address], message.to(address))
        except BaseException as exc:  # reported by the main thread
            failures.append(exc)

    threads = [
        threading.Thread(target=push, args=(worker, share)) for worker, share in enumerate(shares)
    ]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    seconds = time.perf_counter() - started
    if failures:
        raise SystemExit(f"baseline sender failed: {failures[0]!r}")
    return seconds


def signing_ms(key_file: Path, domain: str, message: Prebuilt, count: int = 300) -> float:
    """Milliseconds of one DKIM signature of the real message's header block, on this core.

    The part of a message's cost no sender can avoid (RSA-2048 private-key operation and the
    header canonicalisation), measured beside the sends for the physical floor.
    """
    import hashlib

    from mailer.dkim import DkimSigner

    signer = DkimSigner.from_file(domain, "bench", key_file)
    head = message.to("reader@bench.example.net").split(b"\r\n\r\n", 1)[0] + b"\r\n"
    body_hash = hashlib.sha256(b"").digest()
    started = time.perf_counter()
    for _ in range(count):
        signer.signature(head, body_hash)
    return (time.perf_counter() - started) * 1000 / count
