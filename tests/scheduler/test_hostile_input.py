"""Hostile input end to end: random Unicode readers and titles never stop a send.

Addresses, names and titles come from hypothesis (every line break and control character
included), go through subscribe → ingest → send to a real aiosmtpd server, and every run ends:
what the form refuses is refused at subscribe, what ingests is sent, and every message the
server receives parses without defects, with no raw line break inside any header.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from email import message_from_bytes, policy
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from briefmail.app import Briefmail
from mailer.testing import SmtpSink
from subscribers.lists import create_list
from subscribers.service import InvalidAddress, subscribe

#: Characters hostile input likes: every line break and control, bidi marks, quotes, @ and <>.
NASTY = "\r\n\x00\x07\x0b\x0c\x1b\x7f\x85\u2028\u2029\u200e\u202e\ufeff\"'<>@,;:\\ \t=+-"
TEXT = st.text(
    alphabet=st.one_of(st.characters(codec="utf-8"), st.sampled_from(NASTY)), max_size=60
)
# Mostly plausible local parts, with a hostile or arbitrary character in about half of them.
LOCAL = st.builds(
    lambda head, odd, tail: head + odd + tail,
    st.text(alphabet="abcdexyz0129._-", min_size=1, max_size=12),
    st.one_of(st.just(""), st.sampled_from(NASTY), st.characters()),
    st.text(alphabet="abcxyz0129+", max_size=6),
)
DOMAIN = st.sampled_from(
    [
        "example.net",
        "bücher.de",
        "xn--bcher-kva.de",
        "例子.中国",
        "EXAMPLE.org",
        "☃.example",
        "a..b",
    ]
)
READERS = st.lists(st.tuples(LOCAL, DOMAIN, TEXT), min_size=1, max_size=6)

_HEADER_LINE = re.compile(rb"^[\x21-\x39\x3b-\x7e]+:[^\r\n]*$|^[ \t][^\r\n]*$")


def _issue_file(folder: Path, n: int, title: str, story: str) -> Path:
    """A one-story issue in the JSON format, dated by ``n`` so each example is its own run."""
    day = dt.date(2026, 1, 1) + dt.timedelta(days=n)
    path = folder / f"issue-{n}.json"
    data = {
        "title": title or "x",
        "date": day.isoformat(),
        "format": "brief",
        "stories": [{"title": story or "y", "summary": "A plain summary.", "topics": ["chips"]}],
    }
    path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    return path


class TestHostileInput:
    @settings(
        max_examples=40,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
    @given(readers=READERS, title=TEXT, story=TEXT, smtputf8=st.booleans())
    def test_no_run_stops_and_every_message_is_well_formed(
        self,
        app: Briefmail,
        smtp_sink: SmtpSink,
        tmp_path: Path,
        readers: list[tuple[str, str, str]],
        title: str,
        story: str,
        smtputf8: bool,
    ) -> None:
        """Whatever ingests is sent; the sink gets only defect-free messages, no raw breaks."""
        import asyncio

        from mailer.ingest import IngestError

        n = len(list(tmp_path.glob("issue-*.json")))
        slug = f"l{n}"
        accepted = _subscribe_all(app, slug, n, readers, smtputf8)
        try:
            stored = app.ingest(_issue_file(tmp_path, n, title, story), slug, approve=True).stored
        except IngestError:
            return  # refused with the file and line: nothing stored, nothing to send
        assert stored is not None
        before = len(smtp_sink.messages)
        report = asyncio.run(app.send_issue(stored.id))
        assert report.stopped is None
        assert report.pending == 0 and report.deferred == 0
        assert report.delivered + report.failed == report.planned
        assert report.planned <= accepted
        for captured in smtp_sink.messages[before:]:
            head = captured.data.split(b"\r\n\r\n", 1)[0]
            assert b"\n" not in head.replace(b"\r\n", b""), "a bare line feed in the headers"
            for line in head.split(b"\r\n"):
                assert _HEADER_LINE.match(line), f"not a header line: {line!r}"
            parsed = message_from_bytes(captured.data, policy=policy.default)
            assert all(not part.defects for part in parsed.walk()), parsed.defects
            for name, value in parsed.items():
                assert "\r" not in str(value) and "\n" not in str(value), name


def _subscribe_all(
    app: Briefmail, slug: str, n: int, readers: list[tuple[str, str, str]], smtputf8: bool
) -> int:
    """A new list ``slug`` with every reader subscribe accepts; how many it accepted."""
    with app.sessions() as session:
        newsletter = create_list(session, slug, f"List {n}", "Brief <b@news.example.org>")
        session.commit()
        accepted = 0
        for local, domain, name in readers:
            try:
                with session.begin_nested():
                    subscribe(
                        session,
                        newsletter,
                        f"{local}@{domain}",
                        taxonomy=app.taxonomy,
                        topics=["chips"],
                        name=name,
                        confirmed=True,
                        # The operator may say the relay takes SMTPUTF8; this one does
                        # not, and such readers' deliveries must then fail alone.
                        smtputf8=smtputf8,
                    )
                accepted += 1
            except InvalidAddress:
                pass  # refused at subscribe, with a message: never discovered at send time
        session.commit()
    return accepted
