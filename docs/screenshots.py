"""Make the README's screenshot of the front page: `python docs/screenshots.py` (from the repo).

A throwaway briefmail with a brand (an accent, a drawn logo, a footer and links) and the sample
brief the package ships, sent (so published), served by uvicorn on loopback and photographed in
Debian's Chromium at 1280 px: docs/front-page.png, the top of the page.
"""

from __future__ import annotations

import secrets
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path

import uvicorn
from PIL import Image, ImageDraw, ImageFont
from playwright.sync_api import sync_playwright
from pydantic import SecretStr

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from briefmail.app import Briefmail  # noqa: E402 - after the path is set
from briefmail.ops.demo import sample_issue_path  # noqa: E402
from briefmail.settings import DatabaseSettings, NewsletterSettings, isolated_settings  # noqa: E402
from briefmail.web import create_web  # noqa: E402
from mailer.testing import free_port  # noqa: E402

ACCENT = "#9a3412"


def draw_logo(path: Path) -> None:
    """A 64 px square wordmark in the accent, as a small publisher would have."""
    logo = Image.new("RGB", (64, 64), ACCENT)
    ImageDraw.Draw(logo).text((8, 14), "SM", fill="white", font=ImageFont.load_default(30))
    logo.save(path)


def main() -> None:
    """Serve the branded sample and save the top of its front page."""
    folder = Path(tempfile.mkdtemp())
    draw_logo(folder / "logo.png")
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    app = Briefmail(
        isolated_settings(
            newsletter=NewsletterSettings(
                base_url=base, name="China AI Brief", postal_address="1 Example Street, Berlin"
            ),
            database=DatabaseSettings(url=f"sqlite:///{folder / 'shots.db'}"),
            secret_key=SecretStr(secrets.token_urlsafe(32)),
            publisher={
                "name": "Sample Media",
                "description": "What moved in China's AI industry today, in ten stories you "
                "can read over coffee: chips, models, funding and policy.",
                "website": "https://media.example.org",
                "privacy_url": "https://media.example.org/privacy",
                "footer": "Sample Media Ltd · 1 Example Street · Berlin",
                "logo": folder / "logo.png",
            },
            lists={"brief": {"accent": ACCENT}},
        )
    )
    app.migrate()
    app.ensure_default_list()
    with sample_issue_path() as sample:
        stored = app.content.ingest(sample, approve=True).stored
    assert stored is not None
    app.sending.plan(stored.id)
    server = uvicorn.Server(uvicorn.Config(create_web(app), port=port, log_level="error"))
    threading.Thread(target=server.run, daemon=True).start()
    while not server.started:
        time.sleep(0.02)
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(
                executable_path=shutil.which("chromium"),
                args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
            )
            page = browser.new_page(viewport={"width": 1280, "height": 1100})
            page.goto(f"{base}/")
            page.screenshot(path=str(ROOT / "docs" / "front-page.png"))
            browser.close()
    finally:
        server.should_exit = True
        app.close()
    print(ROOT / "docs" / "front-page.png")


if __name__ == "__main__":
    main()
