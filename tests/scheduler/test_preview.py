"""Previews: files for one variant, and the side-by-side page of every variant."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from scheduler.app import Briefmail
from scheduler.preview import (
    Gallery,
    PreviewError,
    audience_variants,
    preview_variant,
    write_preview,
)
from subscribers.lists import get_list
from subscribers.service import subscribe
from tests.conftest import FIXTURES


@pytest.fixture
def issue_id(app: Briefmail) -> int:
    stored = app.ingest(FIXTURES / "brief-mixed.txt", "brief").stored
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
        ("business",),
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
