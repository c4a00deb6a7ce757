"""What the command tests share: a working directory with an initialised briefmail."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from briefmail.app import Briefmail
from briefmail.cli import cli


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, database_url: str) -> Path:
    """A working directory with an initialised briefmail (config, key, database)."""
    monkeypatch.chdir(tmp_path)
    if not database_url.startswith("sqlite"):
        monkeypatch.setenv("BRIEFMAIL_DATABASE__URL", database_url)
    result = CliRunner().invoke(cli, ["init"])
    assert result.exit_code == 0, result.output
    return tmp_path


@pytest.fixture
def planned(tmp_path: Path, database_url: str) -> Iterator[tuple[int, Briefmail]]:
    """The 20,000 readers, sample brief and planned run of the worker tests (test_workers.py).

    The app is closed even when a test fails, so no connection of it outlives its test.
    """
    from tests.briefmail.cli.test_workers import planned_run  # only the worker tests need it

    run_id, app = planned_run(tmp_path, database_url)
    try:
        yield run_id, app
    finally:
        app.close()
