"""`briefmail demo` runs the whole path on embedded defaults and writes what was sent."""

from __future__ import annotations

import email
from email import policy
from pathlib import Path

from briefmail.ops.demo import run_demo


def test_demo_sends_and_writes_every_message(tmp_path: Path) -> None:
    """Each daily subscriber's message is captured and written as .eml and .html, with an index."""
    result = run_demo(tmp_path / "out", subscribers=12)
    report = result.report
    assert report.planned == report.delivered == len(result.rows) > 0
    assert report.failed == report.deferred == 0
    assert report.planned + sum(report.skipped.values()) == 12
    assert report.skipped.get("cadence weekly") == result.weekly == 2
    assert 0 < report.variants_rendered <= report.planned
    out = tmp_path / "out"
    index = (out / "index.html").read_text(encoding="utf-8")
    for row in result.rows:
        assert row.recipient in index
        message = email.message_from_bytes((out / row.eml).read_bytes(), policy=policy.default)
        assert message["To"] == row.recipient
        assert (out / row.html).read_text(encoding="utf-8").lower().startswith("<!doctype html>")
        assert row.stories
        assert row.topics


def test_demo_ignores_the_callers_configuration(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """BRIEFMAIL_* variables in the shell cannot point the demo at a real database or relay."""
    monkeypatch.setenv("BRIEFMAIL_SMTP__HOST", "relay.invalid")
    monkeypatch.setenv("BRIEFMAIL_DATABASE__URL", f"sqlite:///{tmp_path / 'real.db'}")
    result = run_demo(tmp_path / "out", subscribers=3)
    assert result.report.delivered == len(result.rows)
    assert not (tmp_path / "real.db").exists()
