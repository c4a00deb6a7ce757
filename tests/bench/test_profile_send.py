"""The profile summary counts the sender's main thread, whatever py-spy calls it."""

from __future__ import annotations

from pathlib import Path

from bench.profile_send import categorise, summarise

LOOP = "run_forever (asyncio/base_events.py:1)"
RAW = "\n".join(
    [
        # The main thread, under both of the labels py-spy gives it.
        f"thread (100): MainThread;{LOOP};signature (mailer/dkim.py:1) 30",
        f"thread (100);{LOOP};fill_unsigned (mailer/message.py:1) 20",
        f"thread (100): MainThread;{LOOP};_flush (mailer/signing.py:1) 10",
        # An idle helper thread with more samples than any one label of the main thread.
        "thread (200): asyncio-waitpid-0;_do_waitpid (asyncio/unix_events.py:1) 45",
    ]
)


def test_the_main_thread_is_counted_under_both_its_labels(tmp_path: Path) -> None:
    """Samples of one thread ID add up; an idle thread with more samples is not chosen."""
    raw = tmp_path / "raw.txt"
    raw.write_text(RAW + "\n", encoding="utf-8")
    rows = {label: seconds for label, seconds, _ in summarise(raw, rate=10, delivered=1)}
    assert rows == {
        "DKIM: RSA signature + header canonicalisation": 3.0,
        "message fill (headers, QP lines, body hash)": 2.0,
        "DKIM: signing process round trips": 1.0,
    }


def test_the_unsigned_fill_and_the_factory_count_as_before() -> None:
    """fill_unsigned is the fill, MessageFactory.unsigned the factory, prepare the DKIM."""
    assert categorise(f"{LOOP};fill_unsigned (mailer/message.py:9)").startswith("message fill")
    assert categorise(f"{LOOP};unsigned (scheduler/messages.py:9)").startswith("factory")
    assert categorise(f"{LOOP};prepare (mailer/dkim.py:9)").startswith("DKIM: RSA")
