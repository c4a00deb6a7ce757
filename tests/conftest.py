"""Shared fixtures: real databases (migrated with Alembic), a real SMTP sink, a wired app."""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import sys
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from hypothesis import settings
from pydantic import SecretStr
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from briefmail.app import Briefmail
from briefmail.migrate import upgrade
from briefmail.settings import (
    DatabaseSettings,
    NewsletterSettings,
    SmtpSettings,
    isolated_settings,
)
from mailer.testing import Faults, SmtpSink
from mailer.topics import Taxonomy, default_taxonomy
from subscribers.db import make_engine, make_sessionmaker
from subscribers.lists import create_list
from subscribers.models import NewsletterList

# The normal suite runs a few hundred examples per property; bench/fuzz_ingest.py selects "long".
settings.register_profile("default", max_examples=150)
settings.register_profile("long", max_examples=10_000)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = Path(__file__).resolve().parent / "fixtures"
#: The issues as published, outside the repository: BRIEFMAIL_SEEDS, else ../shared/seeds. The
#: suite's own samples (tests/fixtures, tests/data) stand in for them; the checks against the
#: published issues run when the folder exists and are deselected, with a notice, when not.
SEEDS = Path(os.environ.get("BRIEFMAIL_SEEDS") or ROOT.parent / "shared" / "seeds")
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
    """The real published issues (tests that use them are deselected when they are absent)."""
    assert SEEDS.is_dir(), f"seed issues not found at {SEEDS}"
    return SEEDS


@pytest.fixture
def taxonomy() -> Taxonomy:
    """The built-in taxonomy."""
    return default_taxonomy()


def pytest_addoption(parser: pytest.Parser) -> None:
    """--db=postgresql runs every test that uses a database on a throwaway PostgreSQL cluster."""
    parser.addoption(
        "--db",
        choices=("sqlite", "postgresql"),
        default="sqlite",
        help="the database behind the database_url fixture (default: sqlite)",
    )


def pytest_configure(config: pytest.Config) -> None:
    """Register the markers for tests that are about one database's own behaviour."""
    config.addinivalue_line("markers", "sqlite_only: pins SQLite itself (files, locks, pragmas)")
    config.addinivalue_line(
        "markers", "postgresql_only: pins what only a server database does (SKIP LOCKED, workers)"
    )
    config.addinivalue_line(
        "markers", "both_databases: a face's test that runs on PostgreSQL too (its point is the DB)"
    )
    config.addinivalue_line(
        "markers", "seeds: reads the published issues (BRIEFMAIL_SEEDS or ../shared/seeds)"
    )


def pytest_report_header(config: pytest.Config) -> str:
    """Say which database the run uses, and whether the published issues are there."""
    seeds = str(SEEDS) if SEEDS.is_dir() else f"none at {SEEDS} (their checks are deselected)"
    return f"database: {config.getoption('--db')}; published issues: {seeds}"


def _uses_seeds(item: pytest.Item) -> bool:
    return (
        "seeds" in getattr(item, "fixturenames", ()) or item.get_closest_marker("seeds") is not None
    )


#: The faces' tests: on PostgreSQL only those marked both_databases or postgresql_only run.
_FACES = ("tests/briefmail/web/", "tests/briefmail/cli/")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Each pass runs the tests that concern its database.

    On PostgreSQL: the tests that touch a database — the others already ran in the SQLite pass
    (`make test` runs both) and would only repeat themselves — except the faces' (CLI, web,
    API) tests: the faces are thin, every database operation they make is a library operation
    that the library's own tests run on PostgreSQL, and driving a browser or a subprocess
    again over the other database would double `make test`'s time to find nothing new. A face
    test whose point is the database (several processes on one, a unique constraint racing)
    says so with `both_databases`. On SQLite: all but those about what only a server database
    does. Deselected, not skipped: they are not in this run at all, the summary line says how
    many, and the other pass runs them.
    """
    on_postgresql = config.getoption("--db") == "postgresql"
    have_seeds = SEEDS.is_dir()
    chosen: list[pytest.Item] = []
    dropped: list[pytest.Item] = []
    for item in items:
        if not have_seeds and _uses_seeds(item):
            keep = False  # a clone elsewhere has no ../shared: said in the header and summary
            _WITHOUT_SEEDS.append(item.nodeid)
        elif on_postgresql:
            names = getattr(item, "fixturenames", ())
            keep = (
                ("database_url" in names or "migrated_url" in names)
                and item.get_closest_marker("sqlite_only") is None
                and (
                    not item.nodeid.startswith(_FACES)
                    or item.get_closest_marker("postgresql_only") is not None
                    or item.get_closest_marker("both_databases") is not None
                )
            )
        else:
            keep = item.get_closest_marker("postgresql_only") is None
        (chosen if keep else dropped).append(item)
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = chosen


_WITHOUT_SEEDS: list[str] = []


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """Name the checks of the published issues that did not run, and why, never silently."""
    if _WITHOUT_SEEDS:
        terminalreporter.write_line(
            f"{len(_WITHOUT_SEEDS)} checks against the published issues deselected: no folder "
            f"at {SEEDS} (set BRIEFMAIL_SEEDS=DIR to run them)",
            yellow=True,
        )


@pytest.fixture(scope="session")
def postgres_cluster(request: pytest.FixtureRequest) -> Iterator[Any]:
    """A PostgreSQL cluster for the whole run (initdb + pg_ctl on a free loopback port)."""
    from tests.postgres import PostgresMissing, running_cluster

    try:
        with running_cluster() as cluster:
            yield cluster
    except PostgresMissing as missing:
        require(False, str(missing))


@pytest.fixture
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty database: a SQLite file, or with --db=postgresql a new PG database.

    A test that also has the migrated database (the `app` fixture's) gets that one: it names
    the app's database, as on SQLite, where both are the test's own test.db. (Two databases
    on PostgreSQL had a subprocess configured with `database_url` read an empty one.)
    """
    if "migrated_url" in request.fixturenames:
        yield request.getfixturevalue("migrated_url")
        return
    if request.config.getoption("--db") == "postgresql":
        cluster = request.getfixturevalue("postgres_cluster")
        with cluster.database() as url:
            yield url
        return
    yield f"sqlite:///{tmp_path / 'test.db'}"


@pytest.fixture(scope="session")
def _migrated_sqlite(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite file migrated to the newest schema once per run (per xdist worker)."""
    path = tmp_path_factory.mktemp("template") / "migrated.db"
    engine = make_engine(f"sqlite:///{path}")
    upgrade(engine)
    engine.dispose()  # the last connection checkpoints the WAL: the file alone is the database
    return path


@pytest.fixture
def migrated_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh database already at the newest schema: a copy of one the migrations built.

    The migrations run once per run, not once per test (~0.5 s each on SQLite); the copy is
    what `upgrade` would have made, and tests/briefmail/test_migrate.py pins that upgrade
    itself works on an empty database.
    """
    if request.config.getoption("--db") == "postgresql":
        cluster = request.getfixturevalue("postgres_cluster")
        with cluster.database(template=cluster.migrated_template()) as url:
            yield url
        return
    target = tmp_path / "test.db"
    shutil.copyfile(request.getfixturevalue("_migrated_sqlite"), target)
    yield f"sqlite:///{target}"


@pytest.fixture
def engine(migrated_url: str) -> Iterator[Engine]:
    """An engine on a database built by the migrations (never create_all)."""
    engine = make_engine(migrated_url)
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
def app(migrated_url: str, smtp_sink: SmtpSink) -> Iterator[Briefmail]:
    """A migrated Briefmail with its default list, sending to the test SMTP sink."""
    settings = isolated_settings(
        newsletter=NewsletterSettings(
            name="Test Brief",
            **{"from": "Test Brief <brief@news.example.org>"},
            base_url="https://news.example.org",
            postal_address="1 Example Street, 10115 Berlin",
        ),
        database=DatabaseSettings(url=migrated_url),
        smtp=SmtpSettings(host=smtp_sink.host, port=smtp_sink.port),
        secret_key=SecretStr(secrets.token_urlsafe(32)),
    )
    app = Briefmail(settings)
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


def start_briefmail(home: Path, *args: str, own_group: bool = False) -> subprocess.Popen[str]:
    """`briefmail ARGS` as a real process in ``home`` (output piped; a fixed secret key).

    ``own_group``: in its own process group, so one killpg takes its worker processes too.
    """
    return subprocess.Popen(
        [sys.executable, "-c", "from briefmail.cli import main; main()", *args],
        cwd=home,
        env={**os.environ, "BRIEFMAIL_SECRET_KEY": "k" * 32},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=own_group,
    )


@pytest.fixture
def newsletter(sessions: sessionmaker[Session]) -> NewsletterList:
    """A committed list ("brief") on the test database."""
    with sessions() as session:
        created = create_list(session, "brief", "Test Brief", "Brief <b@news.example.org>")
        session.commit()
        return created


@contextmanager
def serve_web(app: Briefmail) -> Iterator[str]:
    """The app's whole web face served by uvicorn on a free loopback port; yields its base URL.

    The app's ``newsletter.base_url`` should be the address it is served at when pages or
    e-mails print links a test follows (build the settings with ``free_port()`` first).
    """
    import threading
    import time

    import uvicorn

    from briefmail.web import create_web
    from mailer.testing import free_port

    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(create_web(app), host="127.0.0.1", port=port, log_level="error")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)
