"""Shared fixtures: real databases (migrated with Alembic), a real SMTP sink, a wired app."""

from __future__ import annotations

import os
import secrets
import shutil
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import settings
from pydantic import SecretStr
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from mailer.testing import Faults, SmtpSink
from mailer.topics import Taxonomy, default_taxonomy
from scheduler.app import Briefmail
from scheduler.migrate import upgrade
from scheduler.settings import (
    DatabaseSettings,
    NewsletterSettings,
    SmtpSettings,
    isolated_settings,
)
from subscribers.db import make_engine, make_sessionmaker

# The normal suite runs a few hundred examples per property; bench/fuzz_ingest.py selects "long".
settings.register_profile("default", max_examples=150)
settings.register_profile("long", max_examples=10_000)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = Path(__file__).resolve().parent / "fixtures"
SEEDS = ROOT.parent / "shared" / "seeds"
IN_CI = os.environ.get("CI", "").lower() == "true"


def require(condition: bool, reason: str) -> None:
    """Skip when a real dependency is missing locally; fail under CI=true, where it must exist."""
    if condition:
        return
    if IN_CI:
        pytest.fail(f"missing in CI: {reason}")
    pytest.skip(reason)


def require_tool(name: str) -> str:
    """The path of an executable (also looked up in ./node_modules/.bin), or skip/fail."""
    local = ROOT / "node_modules" / ".bin" / name
    found = str(local) if local.exists() else shutil.which(name)
    require(found is not None, f"{name} is not installed (run `make test`)")
    assert found is not None
    return found


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests see no BRIEFMAIL_* variables from the shell that runs them."""
    for name in list(os.environ):
        if name.startswith("BRIEFMAIL_"):
            monkeypatch.delenv(name)


ARTIFACTS = ROOT / "test-artifacts"


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Headless Chromium (Debian's package) driven by Playwright, for one test module.

    Module scope, not session: Playwright's sync API keeps an event loop running in this thread
    while it is open, which would break every asyncio test that runs after it.
    """
    executable = shutil.which("chromium")
    require(executable is not None, "Debian's chromium is not installed (run `make test`)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        instance = playwright.chromium.launch(
            executable_path=executable,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        yield instance
        instance.close()


@pytest.fixture
def seeds() -> Path:
    """The real published issues in ../shared/seeds."""
    require(SEEDS.is_dir(), f"seed issues not found at {SEEDS}")
    return SEEDS


@pytest.fixture
def taxonomy() -> Taxonomy:
    """The built-in taxonomy."""
    return default_taxonomy()


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    """A fresh SQLite file database URL."""
    return f"sqlite:///{tmp_path / 'test.db'}"


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    """An engine on a database built by the migrations (never create_all)."""
    engine = make_engine(database_url)
    upgrade(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def sessions(engine: Engine) -> sessionmaker[Session]:
    """A session factory on the migrated database."""
    return make_sessionmaker(engine)


@pytest.fixture
def smtp_sink(request: pytest.FixtureRequest) -> Iterator[SmtpSink]:
    """A real aiosmtpd server on a free port, configured by `@pytest.mark.smtp_faults(...)`."""
    marker = request.node.get_closest_marker("smtp_faults")
    with SmtpSink(faults=Faults(**marker.kwargs) if marker else None) as sink:
        yield sink


@pytest.fixture
def app(database_url: str, smtp_sink: SmtpSink) -> Iterator[Briefmail]:
    """A migrated Briefmail with its default list, sending to the test SMTP sink."""
    settings = isolated_settings(
        newsletter=NewsletterSettings(
            name="Test Brief",
            **{"from": "Test Brief <brief@news.example.org>"},
            base_url="https://news.example.org",
            postal_address="1 Example Street, 10115 Berlin",
        ),
        database=DatabaseSettings(url=database_url),
        smtp=SmtpSettings(host=smtp_sink.host, port=smtp_sink.port),
        secret_key=SecretStr(secrets.token_urlsafe(32)),
    )
    app = Briefmail(settings)
    app.migrate()
    app.ensure_default_list()
    yield app
    app.close()


def subscribe_readers(app: Briefmail, addresses: Iterable[str], **options: Any) -> None:
    """Confirmed readers of the default list (``options`` as for `subscribe`, per reader)."""
    from subscribers.lists import get_list
    from subscribers.service import subscribe

    with app.sessions() as session:
        newsletter = get_list(session, app.settings.newsletter.slug)
        for address in addresses:
            subscribe(
                session, newsletter, address, taxonomy=app.taxonomy, confirmed=True, **options
            )
        session.commit()
