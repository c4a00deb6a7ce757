"""Run reports: the figures of a real send with refusals, and the page in real Chromium."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from briefmail.app import Briefmail
from briefmail.ops.report import RunReport, RunSummary, build_report, render_html
from mailer.testing import SmtpSink
from subscribers.lists import get_list
from subscribers.service import subscribe
from tests.conftest import ARTIFACTS, FIXTURES


@pytest.mark.smtp_faults(
    refuse={
        "gone@example.net": (550, "5.1.1 No such user"),
        "full@example.net": (452, "4.2.2 Mailbox full"),
    }
)
async def test_a_report_counts_variants_replies_minutes_and_problems(
    app: Briefmail, smtp_sink: SmtpSink
) -> None:
    """By variant and status, by SMTP reply, per minute, and failures in the server's words."""
    readers = {
        "a@example.net": ["chips"],
        "b@example.net": ["chips"],
        "c@example.net": [],
        "gone@example.net": [],
        "full@example.net": [],
    }
    with app.sessions() as session:
        for address, topics in readers.items():
            subscribe(
                session,
                get_list(session, "brief"),
                address,
                taxonomy=app.taxonomy,
                topics=topics,
                confirmed=True,
            )
        session.commit()
    stored = app.ingest(FIXTURES / "brief-mixed.txt", "brief", approve=True).stored
    assert stored is not None
    run_id = (await app.send_issue(stored.id)).run_id
    with app.sessions() as session:
        report = build_report(session, run_id)
    assert report.by_variant == {
        "*": {"delivered": 1, "failed": 1, "deferred": 1},
        "chips": {"delivered": 2},
    }
    assert report.by_reply == {"250": 3, "452": 1, "550": 1}
    assert sum(n for _, n in report.per_minute) == 4  # delivered and failed, not deferred
    assert report.problems == [(452, "4.2.2 Mailbox full", 1), (550, "5.1.1 No such user", 1)]
    data = report.as_json()
    assert data["id"] == run_id and data["by_reply"] == {"250": 3, "452": 1, "550": 1}


def sample_report() -> RunReport:
    start = dt.datetime(2026, 7, 1, 5, 0)
    return RunReport(
        summary=RunSummary(
            7,
            "daily",
            "2026-07-01",
            3,
            "done",
            {"delivered": 9000, "failed": 40, "deferred": 2},
            {"cadence weekly": 300},
        ),
        by_variant={"*": {"delivered": 6000}, "chips": {"delivered": 3000, "failed": 40}},
        by_reply={"250": 9000, "550": 40},
        per_minute=[(start + dt.timedelta(minutes=m), 300 + 10 * m) for m in range(30)],
        problems=[(550, "5.1.1 <x@example.net>: No such user", 40)],
        by_reason={"gone": 40, "temporary": 2},
    )


def test_the_report_page_shows_its_chart_in_chromium(browser: Any) -> None:
    """The self-contained page opens in Chromium with the chart drawn (one bar a minute)."""
    page = browser.new_page(viewport={"width": 1000, "height": 900}, java_script_enabled=False)
    try:
        page.set_content(render_html(sample_report()), wait_until="load")
        chart = page.locator("svg#chart")
        assert chart.is_visible()
        box = chart.bounding_box()
        assert box is not None and box["width"] > 600 and box["height"] > 150
        assert page.locator("svg#chart rect").count() == 30
        assert page.get_by_text("5.1.1 <x@example.net>: No such user").is_visible()
        assert page.evaluate("() => document.querySelectorAll('script, link, img').length") == 0
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "run-report.png"), full_page=True)
    finally:
        page.close()
