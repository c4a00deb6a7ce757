"""Reports for the bounce tests: the fixture files, and minimal DSN and ARF reports."""

from __future__ import annotations

from mailer.bounces import BounceEvent, parse_report
from mailer.replies import Reason
from tests.conftest import FIXTURES

BOUNCES = FIXTURES / "bounces"
GONE, FULL, COMPLAINT, EXPIRED = Reason.GONE, Reason.FULL, Reason.COMPLAINT, Reason.EXPIRED
POLICY, SENDER, UNKNOWN = Reason.POLICY, Reason.SENDER, Reason.UNKNOWN


def fixture(name: str) -> bytes:
    """The bytes of a fixture report."""
    return (BOUNCES / name).read_bytes()


def parse(name: str) -> list[BounceEvent]:
    """The events of a fixture report, its source the fixture's name."""
    return parse_report(fixture(name), source=name)


def only(name: str) -> BounceEvent:
    """The single event a fixture must give."""
    events = parse(name)
    assert len(events) == 1, events
    return events[0]


def dsn(*recipient_blocks: str, top: str = "", report_type: str = "delivery-status") -> bytes:
    """A minimal DSN delivered to the VERP address, one recipient block per argument."""
    blocks = "\n".join(block.strip() + "\n" for block in recipient_blocks)
    return (
        "Delivered-To: bounces+42.tok@news.example.org\n"
        "From: MAILER-DAEMON@mx.example.net\n"
        f"{top}"
        f'Content-Type: multipart/report; report-type={report_type}; boundary="B"\n'
        "\n"
        "--B\nContent-Type: text/plain\n\nIt failed.\n\n"
        "--B\nContent-Type: message/delivery-status\n\n"
        f"Reporting-MTA: dns; mx.example.net\n\n{blocks}\n"
        "--B\nContent-Type: text/rfc822-headers\n\n"
        "Message-ID: <run1.42.abc@news.example.org>\nTo: reader@example.net\n\n"
        "--B--\n"
    ).encode("utf-8", "surrogateescape")  # so a test can write a raw byte as "\udcXX"


def arf(fields: str, *, original_to: str = "reader@example.net") -> bytes:
    """A minimal ARF report with the given feedback-report fields and returned headers."""
    return (
        "To: fbl@news.example.org\n"
        'Content-Type: multipart/report; report-type=feedback-report; boundary="B"\n\n'
        "--B\nContent-Type: text/plain\n\nA complaint.\n\n"
        f"--B\nContent-Type: message/feedback-report\n\n{fields.strip()}\n\n"
        "--B\nContent-Type: text/rfc822-headers\n\n"
        f"Message-ID: <run1.43.def@news.example.org>\nTo: {original_to}\n\n"
        "--B--\n"
    ).encode()
