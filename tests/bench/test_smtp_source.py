"""bench/smtp_source.py: Postfix's smtp-source runs beside the sink and sends what it is told."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.smtp_sink import SinkBinary, SinkError, SmtpSink, locate
from bench.smtp_source import command, locate_source, push
from tests.conftest import require


@pytest.fixture(scope="module")
def postfix() -> SinkBinary:
    """Postfix's smtp-sink, unpacked as the benchmarks do (skipped where it cannot be had)."""
    try:
        return locate()
    except SinkError as missing:
        require(False, f"Postfix's smtp-sink: {missing}")
        raise


def test_the_command_keeps_sessions_open_and_says_size_count_and_sessions() -> None:
    """-d (one session carries many messages), -s sessions, -l bytes, -m messages in all."""
    binary = SinkBinary(Path("/x/usr/sbin/smtp-source"))
    line = command(binary, "127.0.0.1", 2525, 47_424, 1000, 8)
    assert line[:8] == ["/x/usr/sbin/smtp-source", "-d", "-s", "8", "-l", "47424", "-m", "1000"]
    assert line[-1] == "127.0.0.1:2525"


@pytest.mark.slow
def test_smtp_source_delivers_every_message_to_the_sink(
    postfix: SinkBinary, tmp_path: Path
) -> None:
    """smtp-source from the sink's package pushes exactly -m messages over -s sessions.

    Its CPU and the sink's are measured: enough messages (2,000 of 20 KB) that each takes
    several of the kernel's 10 ms clock ticks.
    """
    source = locate_source(postfix)
    assert source.path.name == "smtp-source" and source.env == postfix.env
    with SmtpSink(postfix, tmp_path) as sink:
        pushed = push(source, sink.host, sink.port, 20_000, 2_000, 3)
        assert sink.wait_for(2_000) == 2_000
        assert sink.cpu_seconds() > 0  # the sink's own work is measured beside the sender's
    assert pushed.seconds > 0 and pushed.cpu_seconds > 0
