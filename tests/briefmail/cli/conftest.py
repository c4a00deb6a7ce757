"""What the command tests share: a working directory with an initialised briefmail."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

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
