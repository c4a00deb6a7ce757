"""The feedback service: bounce reports read without changes, or applied to readers."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, cast

from briefmail.app import Briefmail
from mailer.testing import SmtpSink
from tests.conftest import FIXTURES

BOUNCES = FIXTURES / "bounces"
GONE, FINE = "no.such.reader@example.net", "happy.reader@example.org"


async def send_brief(app: Briefmail) -> dict[str, tuple[str, str]]:
    """Two confirmed readers get the sample brief; each one's (VERP token, Message-ID)."""
    for address in (GONE, FINE):
        app.people.subscribe(address, confirmed=True)
    issue_id = app.content.ingest(FIXTURES / "brief-mixed.txt", approve=True).issue_id
    assert issue_id is not None
    assert (await app.send_issue(issue_id)).delivered == 2
    signer = app.dispatcher().signer
    assert signer is not None
    sent = {}
    for address in (GONE, FINE):
        [delivery] = app.people.profile(address)["deliveries"]
        token = signer.make_bounce_token(delivery["delivery_id"])
        sent[address] = (token, delivery["message_id"])
    return sent


def hard_bounce(folder: Path, token: str, message_id: str) -> Path:
    """Postfix's "no such user" report, about the delivery with this token and Message-ID."""
    data = (BOUNCES / "postfix-hard.eml").read_bytes()
    data = re.sub(rb"bounces\+[0-9a-f.]+@", f"bounces+{token}@".encode(), data)
    data = re.sub(rb"<run12\.[0-9a-f.]+@news\.example\.org>", message_id.encode(), data)
    path = folder / "hard.eml"
    path.write_bytes(data)
    return path


async def test_a_hard_bounce_suppresses_the_reader_with_its_evidence(
    app: Briefmail, smtp_sink: SmtpSink, tmp_path: Path
) -> None:
    """Processing a "no such user" report suppresses that reader only; the profile shows why."""
    sent = await send_brief(app)
    report = hard_bounce(tmp_path, *sent[GONE])
    summary = app.feedback.process_bounces(report)
    assert [(one.email, one.why) for one in summary.suppressed] == [(GONE, "gone")]
    profile = app.people.profile(GONE)
    assert profile["suppression"]["reason"] == "hard bounce"
    assert profile["deliveries"][0]["bounces"]
    assert app.people.profile(FINE)["suppression"] is None
    assert app.feedback.process_bounces(report).suppressed == []  # the same report, once


async def test_parsing_names_the_delivery_changes_nothing_and_lists_bad_paths(
    app: Briefmail, smtp_sink: SmtpSink, tmp_path: Path
) -> None:
    """parse_bounces() matches the report to its delivery, applies nothing, names bad paths."""
    sent = await send_brief(app)
    missing = tmp_path / "missing.eml"
    parsed = app.feedback.parse_bounces(missing, hard_bounce(tmp_path, *sent[GONE]))
    assert parsed.errors == [f"{missing}: No such file or directory"]
    reports = parsed.as_json()["reports"]
    assert isinstance(reports, list)
    [report] = cast(list[dict[str, Any]], reports)
    [recipient] = report["recipients"]
    assert (recipient["address"], recipient["reason"]) == (GONE, "gone")
    assert recipient["delivery_id"] is not None
    assert app.people.profile(GONE)["suppression"] is None
