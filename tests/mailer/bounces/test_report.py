"""parse_report: which reports give events, and that nothing else does."""

from __future__ import annotations

from typing import NamedTuple

import pytest

import mailer.bounces
from mailer.bounces import parse_report
from mailer.replies import Reason
from tests.mailer.bounces.reports import COMPLAINT, FULL, GONE, only, parse


class OneEvent(NamedTuple):
    """What a fixture's one event says."""

    reason: Reason
    recipient: str
    status: str | None
    verp_token: str
    message_id: str


#: Each fixture that is one bounce or complaint, and its event.
ONE_EVENT = {
    "postfix-hard.eml": OneEvent(
        GONE,
        "no.such.reader@example.net",
        "5.1.1",
        "1234.ab12cd34",
        "<run12.1234.a1b2c3d4e5f6@news.example.org>",
    ),
    "exim-dsn.eml": OneEvent(
        GONE,
        "ex.colleague@example.com",
        "5.1.1",
        "2001.cd34ef56",
        "<run12.2001.0f1e2d3c4b5a@news.example.org>",
    ),
    "gmail-nosuchuser.eml": OneEvent(
        GONE,
        "not.a.reader@example.com",
        "5.1.1",
        "3002.9f8e7d6c",
        "<run12.3002.00aa11bb22cc@news.example.org>",
    ),
    "exchange-ndr.eml": OneEvent(
        GONE,
        "former.staff@example.com",
        "5.1.10",
        "4003.1a2b3c4d",
        "<run12.4003.77aa88bb99cc@news.example.org>",
    ),
    "mailbox-full.eml": OneEvent(
        FULL,
        "busy.reader@example.net",
        "4.2.2",
        "5004.5e6f7a8b",
        "<run12.5004.1f2e3d4c5b6a@news.example.org>",
    ),
    "yahoo-arf.eml": OneEvent(
        COMPLAINT,
        "annoyed.reader@example.com",
        None,
        "7006.7b8c9d0e",
        "<run12.7006.3b4c5d6e7f80@news.example.org>",
    ),
    "aol-arf.eml": OneEvent(
        COMPLAINT,
        "complainer@example.net",
        None,
        "8007.8c9d0e1f",
        "<run12.8007.4c5d6e7f8091@news.example.org>",
    ),
    "qmail.eml": OneEvent(
        GONE,
        "gone.reader@example.com",
        "5.1.1",
        "9008.9d0e1f2a",
        "<run12.9008.5d6e7f8091a2@news.example.org>",
    ),
    "exim-plain.eml": OneEvent(
        GONE,
        "moved.away@example.org",
        "5.1.1",
        "1009.0e1f2a3b",
        "<run12.1009.6e7f8091a2b3@news.example.org>",
    ),
}


class TestFixtures:
    """Each realistic report gives the event a subscriber service needs to act on."""

    @pytest.mark.parametrize(("name", "expected"), ONE_EVENT.items(), ids=list(ONE_EVENT))
    def test_report_gives_one_event(self, name: str, expected: OneEvent) -> None:
        """A bounce or complaint gives one event: reason, recipient, status, token and id."""
        event = only(name)
        assert (event.reason, event.recipient, event.status) == expected[:3]
        assert (event.verp_token, event.message_id) == expected[3:]
        assert event.source == name

    @pytest.mark.parametrize("name", ["delayed.eml", "out-of-office.eml"])
    def test_no_event(self, name: str) -> None:
        """A delay warning and an out-of-office reply ("could not be delivered") give none."""
        assert parse(name) == []


class TestUntrustedInput:
    """Whatever arrives, parsing gives a list, never an exception."""

    @pytest.mark.parametrize(
        "data",
        [
            b"",
            b"\x00\xff\xfe",
            b"hello",
            b"Content-Type: multipart/report; report-type=delivery-status\n\n--",
            b'Content-Type: multipart/report; boundary="B"\n\n--B\n'
            b"Content-Type: message/delivery-status\n",
            b"Content-Type: message/feedback-report\n\n",
        ],
    )
    def test_garbage_gives_no_event(self, data: bytes) -> None:
        """Truncated and meaningless messages give []."""
        assert parse_report(data) == []

    def test_deeply_nested_multipart_gives_no_event(self) -> None:
        """A message nested deeper than the stdlib parser can recurse gives [], not an error."""
        data = b"Content-Type: multipart/mixed; boundary=b0\n\n"
        for depth in range(1, 3000):
            data += b"--b%d\nContent-Type: multipart/mixed; boundary=b%d\n\n" % (depth - 1, depth)
        assert parse_report(data) == []


def test_public_names() -> None:
    """The module exports exactly its intended API."""
    assert sorted(mailer.bounces.__all__) == [
        "BounceError",
        "BounceEvent",
        "MAX_FIELD",
        "parse_report",
        "read_messages",
    ]
