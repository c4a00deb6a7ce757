"""A plain (non-editable) install carries the templates, migrations and samples it needs."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

from tests.conftest import ROOT


def build_wheel(tmp_path: Path) -> Path:
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(tmp_path / "dist"),
            str(ROOT),
        ],
        check=True,
        capture_output=True,
        timeout=300,
    )
    (wheel,) = (tmp_path / "dist").glob("briefmail-*.whl")
    return wheel


#: Files read at run time that are not Python modules of the packages, or live elsewhere.
RUNTIME_FILES = (
    "mailer/templates/email/brief.mjml.j2",
    "mailer/templates/email/partials/story.mjml.j2",
    "mailer/data/topics.toml",
    "briefmail/migrations/env.py",
    "briefmail/migrations/versions/0001_initial_schema.py",
    "briefmail/ops/samples/sample-brief.txt",
)


def install_wheel(wheel: Path, site: Path) -> dict[str, str]:
    """Install the wheel alone into ``site``; the environment that imports from it first."""
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--no-deps",
            "-q",
            "--target",
            str(site),
            str(wheel),
        ],
        check=True,
        capture_output=True,
        timeout=300,
    )
    # PYTHONPATH puts the installed copy ahead of the editable checkout; cwd is away from it.
    return {**os.environ, "PYTHONPATH": str(site)}


def test_wheel_ships_every_runtime_file_and_the_demo_runs_from_it(tmp_path: Path) -> None:
    """`briefmail demo` works from the wheel alone, outside the source tree."""
    wheel = build_wheel(tmp_path)
    names = set(zipfile.ZipFile(wheel).namelist())
    for required in RUNTIME_FILES:
        assert required in names, required
    site = tmp_path / "site"
    env = install_wheel(wheel, site)
    probe = subprocess.run(
        [sys.executable, "-c", "import mailer, scheduler; print(mailer.__file__)"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    assert probe.stdout.startswith(str(site))
    demo = subprocess.run(
        [
            sys.executable,
            "-c",
            "from briefmail.cli import main; main()",
            "demo",
            "--subscribers",
            "5",
            "--out",
            str(tmp_path / "out"),
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert demo.returncode == 0, demo.stderr
    assert (tmp_path / "out" / "index.html").exists()
    assert "Wrote" in demo.stdout
