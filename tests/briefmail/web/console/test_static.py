"""The console's own assets: served by briefmail, cached by content, htmx straight from npm."""

from __future__ import annotations

import hashlib

from briefmail.web.console.ui import STATIC
from tests.briefmail.web.console.conftest import Console
from tests.conftest import ROOT


def test_the_vendored_htmx_is_the_npm_package_byte_for_byte() -> None:
    """The vendored htmx.min.js is npm's dist/htmx.min.js byte for byte (npm is its source)."""
    npm = ROOT / "node_modules" / "htmx.org" / "dist" / "htmx.min.js"
    assert npm.is_file(), "run `npm ci` (htmx.org is pinned in package.json)"
    assert (STATIC / "htmx.min.js").read_bytes() == npm.read_bytes()


def test_assets_are_served_without_a_session_and_cached_by_etag(console: Console) -> None:
    """Both assets answer 200 with their media type and a long cache; a matching ETag is 304."""
    with console.client() as client:
        for name, media in (("console.css", "text/css"), ("htmx.min.js", "text/javascript")):
            answer = client.get(f"/admin/static/{name}")
            assert answer.status_code == 200
            assert answer.headers["content-type"].startswith(media)
            assert answer.content == (STATIC / name).read_bytes()
            assert "immutable" in answer.headers["cache-control"]
            again = client.get(
                f"/admin/static/{name}", headers={"if-none-match": answer.headers["etag"]}
            )
            assert again.status_code == 304
        missing = client.get("/admin/static/../ui.py")
        other = client.get("/admin/static/ui.py")
    assert missing.status_code == 404
    assert other.status_code == 404
    assert "No console asset" in other.text


def test_pages_ask_for_the_asset_by_its_content_hash(console: Console) -> None:
    """The sign-in page links the stylesheet and htmx with ?v=<sha256 prefix> of their bytes."""
    with console.client() as client:
        page = client.get("/admin/login").text
    for name in ("console.css", "htmx.min.js"):
        digest = hashlib.sha256((STATIC / name).read_bytes()).hexdigest()[:12]
        assert f"/admin/static/{name}?v={digest}" in page
