"""Every value of every event is safe to store: mailer/bounces/text.py."""

from __future__ import annotations

import re

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mailer.bounces import BounceEvent, parse_report
from mailer.replies import Reason
from tests.mailer.bounces.reports import BOUNCES, dsn, fixture


class TestSafeValues:
    """Untrusted text comes out one line, valid Unicode, capped, addresses checked."""

    def test_values_are_one_line_and_capped(self) -> None:
        """Control characters become spaces; a huge diagnostic is cut to at most 1000 characters."""
        block = (
            "Final-Recipient: rfc822; reader@example.net\nAction: failed\nStatus: 5.1.1\n"
            f"Diagnostic-Code: smtp; 550 5.1.1 bad\x00\x1b[31m\x0bnews {'x' * 5000}"
        )
        [event] = parse_report(dsn(block))
        assert event.diagnostic is not None
        assert 900 < len(event.diagnostic) <= 1000
        assert event.diagnostic.startswith("550 5.1.1 bad [31m news xxx")

    def test_eight_bit_text_is_read_as_utf8(self) -> None:
        """A raw UTF-8 reply is decoded; bytes that are not UTF-8 become U+FFFD."""
        block = (
            "Final-Recipient: rfc822; reader@example.net\nAction: failed\nStatus: 5.1.1\n"
            "Diagnostic-Code: smtp; 550 5.1.1 Empfänger unbekannt \udcff"
        )
        [event] = parse_report(dsn(block))
        assert event.diagnostic == "550 5.1.1 Empfänger unbekannt \ufffd"

    def test_invalid_recipient_is_none(self) -> None:
        """A recipient field that is not an address gives recipient None, not its text."""
        block = "Final-Recipient: rfc822; <script>\nAction: failed\nStatus: 5.1.1"
        [event] = parse_report(dsn(block))
        assert event.recipient is None


SAFE_TEXT = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff]")


def check_events(events: list[BounceEvent]) -> None:
    """Every string of every event is one line of valid Unicode and at most 1000 characters."""
    assert isinstance(events, list)
    for event in events:
        assert isinstance(event.reason, Reason)
        for name in BounceEvent.__slots__:
            value = getattr(event, name)
            if isinstance(value, str) and name != "source":
                assert len(value) <= 1000
                assert not SAFE_TEXT.search(value), (name, value)


FIXTURE_NAMES = sorted(path.name for path in BOUNCES.glob("*.eml"))


SPLICES = [b"\n", b"\n\n", b"\r\n", b";", b"<", b">", b"\x00", b"\xff\xfe", b"=?utf-8?q?"]

SPLICES += [b"Action: failed\n", b"Content-Transfer-Encoding: base64\n", b"; charset=idna\n"]

SPLICES += [b"Content-Type: message/delivery-status\n", b"--", b'boundary="B"\n']


@st.composite
def damaged_reports(draw: st.DrawFn) -> bytes:
    """A fixture with a few bytes flipped, cut or spliced in: a report that is nearly right."""
    data = bytearray(fixture(draw(st.sampled_from(FIXTURE_NAMES))))
    for _ in range(draw(st.integers(1, 12))):
        at = draw(st.integers(0, len(data) - 1))
        action = draw(st.sampled_from(["flip", "cut", "splice"]))
        if action == "flip":
            data[at] = draw(st.integers(0, 255))
        elif action == "cut":
            del data[at : at + draw(st.integers(1, 60))]
        else:
            data[at:at] = draw(st.sampled_from(SPLICES))
        if not data:
            break
    return bytes(data)


class TestProperties:
    """Property: parse_report never raises and its output is always safe."""

    @given(st.binary(max_size=4000))
    def test_arbitrary_bytes_never_raise(self, data: bytes) -> None:
        """Any bytes at all give a list of safe events (almost always [])."""
        check_events(parse_report(data))

    @settings(suppress_health_check=[HealthCheck.too_slow])
    @given(damaged_reports())
    def test_damaged_reports_never_raise(self, data: bytes) -> None:
        """A real report with random damage gives a list of safe events, never an exception."""
        check_events(parse_report(data))
