"""Previews: files for one variant, and the side-by-side page of every variant."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from briefmail.app import Briefmail
from briefmail.ops.preview import (
    Gallery,
    PreviewError,
    audience_variants,
    preview_variant,
    write_preview,
)
from mailer.testing import SmtpSink
from subscribers.lists import get_list
from subscribers.service import subscribe
from tests.conftest import FIXTURES


@pytest.fixture
def issue_id(app: Briefmail) -> int:
    stored = app.content.ingest(FIXTURES / "brief-mixed.txt", "brief", approve=True).stored
    assert stored is not None
    return stored.id


def test_preview_writes_html_text_and_message(
    app: Briefmail, issue_id: int, tmp_path: Path
) -> None:
    """One variant is written as .html, .txt and .eml with sample links, never real tokens."""
    preview = preview_variant(app, issue_id, "brief", ["funding"])
    assert preview.stories == 2 and preview.label == "funding"
    paths = write_preview(preview, tmp_path / "p.html")
    assert [p.name for p in paths] == ["p.html", "p.txt", "p.eml"]
    text = (tmp_path / "p.txt").read_text(encoding="utf-8")
    assert "Start-up Closes Series B Round" in text and "Foundry Starts" not in text
    assert "https://news.example.org/unsubscribe/preview" in text
    with pytest.raises(PreviewError, match="no story of issue 1 matches topics robotics"):
        preview_variant(app, issue_id, "brief", ["robotics"])


def test_variants_come_from_the_audience(app: Briefmail, issue_id: int) -> None:
    """The gallery shows the topic sets real subscribers have; without any, one per topic."""
    assert audience_variants(app, issue_id, "brief") == [
        (),
        ("chips",),
        ("models",),
        ("funding",),
    ]
    with app.sessions() as session:
        newsletter = get_list(session, "brief")
        for email, topics in (("a@x.org", ["models", "chips"]), ("b@x.org", ["chips", "models"])):
            subscribe(
                session, newsletter, email, taxonomy=app.taxonomy, topics=topics, confirmed=True
            )
        session.commit()
    assert audience_variants(app, issue_id, "brief") == [("chips", "models")]


def test_gallery_serves_every_variant_at_two_widths(app: Briefmail, issue_id: int) -> None:
    """The page embeds each variant at 375 and 600 px and serves their HTML."""
    previews = [preview_variant(app, issue_id, "brief", t) for t in ((), ("chips",))]
    gallery = Gallery("Issue 1", previews).start()
    try:
        index = httpx.get(gallery.url, timeout=5).text
        assert index.count("<iframe") == 4
        assert 'width="375"' in index and 'width="600"' in index
        variant = httpx.get(gallery.url + "variant/1.html", timeout=5).text
        assert "Foundry Starts Volume Output" in variant
        assert httpx.get(gallery.url + "nope", timeout=5).status_code == 404
    finally:
        gallery.stop()


def row_counts(app: Briefmail) -> dict[str, int]:
    """Rows in every table of the database."""
    from sqlalchemy import func, select

    from subscribers.db import Base

    with app.sessions() as session:
        return {
            name: int(session.scalar(select(func.count()).select_from(table)) or 0)
            for name, table in Base.metadata.tables.items()
        }


def test_a_dry_run_counts_the_audience_by_variant_and_changes_nothing(
    app: Briefmail, issue_id: int
) -> None:
    """Variants with their readers and stories, skips with reasons; every table unchanged."""
    from briefmail.ops.preview import dry_run
    from subscribers.models import Cadence
    from subscribers.service import suppress

    with app.sessions() as session:
        brief = get_list(session, "brief")
        for n, topics in enumerate([["chips"], ["chips"], ["funding", "models"], [], []]):
            subscribe(
                session,
                brief,
                f"r{n}@example.net",
                taxonomy=app.taxonomy,
                topics=topics,
                confirmed=True,
            )
        subscribe(
            session,
            brief,
            "robots@example.net",
            taxonomy=app.taxonomy,
            topics=["robotics"],
            confirmed=True,
        )
        subscribe(
            session,
            brief,
            "weekly@example.net",
            taxonomy=app.taxonomy,
            cadence=Cadence.WEEKLY,
            confirmed=True,
        )
        subscribe(session, brief, "unconfirmed@example.net", taxonomy=app.taxonomy)
        subscribe(session, brief, "bounced@example.net", taxonomy=app.taxonomy, confirmed=True)
        suppress(session, "bounced@example.net", "hard bounce")
        session.commit()
    before = row_counts(app)
    plan = dry_run(app, issue_id, "brief")
    assert row_counts(app) == before
    assert plan.as_json() == {
        "eligible": 5,
        "skipped": {
            "cadence weekly": 1,
            "no matching story": 1,
            "pending": 1,
            "suppressed": 1,
        },
        "variants": [
            {"topics": [], "subscribers": 2, "stories": 4},
            {"topics": ["chips"], "subscribers": 2, "stories": 2},
            {"topics": ["funding", "models"], "subscribers": 1, "stories": 3},
        ],
        "schedule": [{"at": "now", "subscribers": 5}],  # the issue's date is past
    }


async def test_a_test_copy_goes_to_one_address_and_is_not_recorded(
    app: Briefmail, issue_id: int, smtp_sink: SmtpSink
) -> None:
    """`send --test-to`: one real message of the variant, subject marked [TEST], no ledger row."""
    from briefmail.ops.preview import send_test_copy

    before = row_counts(app)
    copy = await send_test_copy(app, issue_id, "brief", "Editor@Example.com", ["funding"])
    assert row_counts(app) == before
    [message] = smtp_sink.messages
    assert message.rcpt_to == ("Editor@example.com",)  # the domain lowercased only
    parsed = message.parsed()
    assert parsed["Subject"].startswith("[TEST] ")
    assert parsed["To"] == "Editor@example.com"
    assert copy.stories == 2 and copy.topics == ("funding",)


def test_a_dry_run_shows_when_each_time_zone_gets_a_daily_brief(
    app: Briefmail, tmp_path: Path
) -> None:
    """Readers in Shanghai, Berlin and Los Angeles: their 07:00 on the issue's date, in UTC."""
    import datetime as dt

    import time_machine

    from briefmail.ops.preview import dry_run

    with app.sessions() as session:
        brief = get_list(session, "brief")
        for address, zone in (
            ("sh@example.net", "Asia/Shanghai"),
            ("be@example.net", "Europe/Berlin"),
            ("be2@example.net", "Europe/Berlin"),
            ("la@example.net", "America/Los_Angeles"),
        ):
            subscribe(session, brief, address, taxonomy=app.taxonomy, timezone=zone, confirmed=True)
        session.commit()
    text = (FIXTURES / "brief-mixed.txt").read_text(encoding="utf-8")
    dated = tmp_path / "brief.txt"
    dated.write_text(
        text.replace("2026-07-01", "2026-03-28").replace("July 1, 2026", "March 28, 2026"),
        encoding="utf-8",
    )
    stored = app.content.ingest(dated, "brief", approve=True).stored
    assert stored is not None
    with time_machine.travel(dt.datetime(2026, 3, 27, 20, 0, tzinfo=dt.UTC), tick=False):
        plan = dry_run(app, stored.id, "brief")
    assert plan.as_json()["schedule"] == [
        {"at": "2026-03-27T23:00:00+00:00", "subscribers": 1},
        {"at": "2026-03-28T06:00:00+00:00", "subscribers": 2},
        {"at": "2026-03-28T14:00:00+00:00", "subscribers": 1},
    ]
