"""Faults end in one line, and the files briefmail creates are private.

A locked, read-only, damaged or unreachable database, a bad key, an unreadable config: each case
runs the real `briefmail` command (a subprocess, or typer's CliRunner where the fault needs this
process) against real files and a real closed port, and checks the exit code, that stderr is
exactly one line naming the cause, and that no address, token key or SQL parameter is in it.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from typer.testing import CliRunner

from briefmail.cli import cli
from mailer.testing import free_port
from subscribers.db import make_engine
from tests.conftest import require_tool

KEY = "k" * 32
ADDRESS = "reader.private@example.org"
NEWCOMER = "newcomer.private@example.org"
#: What must never reach the operator's terminal in an error.
LEAKS = (
    "Traceback",
    "[SQL",
    "[parameters",
    "INSERT INTO",
    "FROM subscribers",
    "sqlalche.me",
    ADDRESS,
    NEWCOMER,
)


def briefmail(
    home: Path,
    *args: str,
    unprivileged: bool = False,
    env: dict[str, str | None] | None = None,
    **variables: str | None,
) -> subprocess.CompletedProcess[str]:
    """`briefmail ARGS` as a real process in ``home`` (variables added; a None value unsets).

    ``unprivileged``: file modes bind it. Not root, that is already so; as root (CI runs as
    root, and root writes to a 0444 file) the process is started without the capabilities that
    override file modes (setpriv drops CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH and CAP_FOWNER
    from its bounding set), so the kernel refuses it what a normal user is refused.
    """
    command = [sys.executable, "-c", "from briefmail.cli import main; main()", *args]
    if unprivileged and os.geteuid() == 0:
        drop = "-dac_override,-dac_read_search,-fowner"
        command = [require_tool("setpriv"), "--bounding-set", drop, "--", *command]
    environment = {name: value for name, value in os.environ.items() if "BRIEFMAIL_" not in name}
    chosen = {"BRIEFMAIL_SECRET_KEY": KEY, **(env or {}), **variables}
    environment.update({name: value for name, value in chosen.items() if value is not None})
    return subprocess.run(
        command,
        cwd=home,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
    )


def token_keys(database: Path) -> list[str]:
    """Every subscriber's token key in a SQLite database (they must never be printed)."""
    with sqlite3.connect(database) as connection:
        return [row[0] for row in connection.execute("SELECT token_key FROM subscribers")]


def assert_one_line(stderr: str, *causes: str, secrets: tuple[str, ...] = ()) -> str:
    """stderr is one `Error: …` line naming every cause and holding none of the leaks."""
    lines = stderr.splitlines()
    assert len(lines) == 1, stderr
    [line] = lines
    assert line.startswith("Error: "), line
    for cause in causes:
        assert cause in line, line
    for leak in (*LEAKS, *secrets):
        assert leak not in line, line
    return line


@pytest.fixture
def home(tmp_path: Path) -> Path:
    """An initialised briefmail in a folder (SQLite beside the config) with one reader."""
    folder = tmp_path / "home"
    folder.mkdir()
    assert briefmail(folder, "init").returncode == 0
    added = briefmail(folder, "subscribers", "add", ADDRESS, "--no-email")
    assert added.returncode == 0, added.stderr
    return folder


@pytest.fixture
def umask() -> Iterator[None]:
    """The common umask 022, so modes tighter than 0644 are briefmail's doing, not the shell's."""
    previous = os.umask(0o022)
    yield
    os.umask(previous)


def read_only_config(home: Path, query: str) -> Path:
    """A config whose database URL opens the same file read-only through SQLite's URI."""
    config = home / "ro.toml"
    url = f"sqlite:///file:{home / 'briefmail.db'}?{query}&uri=true"
    config.write_text(f'[database]\nurl = "{url}"\n', encoding="utf-8")
    return config


@pytest.mark.sqlite_only
class TestSqliteFaults:
    def test_a_locked_database_ends_in_one_line_after_the_busy_timeout(self, home: Path) -> None:
        """A database another connection holds exclusively ends a write in one line, exit 1."""
        holder = sqlite3.connect(home / "briefmail.db", isolation_level=None)
        try:
            holder.execute("BEGIN EXCLUSIVE")
            result = briefmail(
                home,
                "subscribers",
                "add",
                NEWCOMER,
                "--no-email",
                BRIEFMAIL_DATABASE__BUSY_TIMEOUT="0.2",
            )
        finally:
            holder.close()
        assert result.returncode == 1
        assert_one_line(
            result.stderr,
            "briefmail.db unavailable: database is locked",
            "busy timeout of 0.2 s",
            secrets=tuple(token_keys(home / "briefmail.db")),
        )

    @pytest.mark.parametrize("query", ["mode=ro", "immutable=1"])
    def test_a_read_only_open_refuses_writes_in_one_line(self, home: Path, query: str) -> None:
        """A database opened read-only (SQLite URI, works as root) refuses a write in one line."""
        config = read_only_config(home, query)
        listed = briefmail(home, "--config", str(config), "subscribers", "list")
        assert listed.returncode == 0 and ADDRESS in listed.stdout  # reading still works
        result = briefmail(
            home, "--config", str(config), "subscribers", "add", NEWCOMER, "--no-email"
        )
        assert result.returncode == 1
        assert_one_line(
            result.stderr,
            "attempt to write a readonly database",
            "read-only",
            secrets=tuple(token_keys(home / "briefmail.db")),
        )

    def test_a_database_file_made_read_only_by_chmod_refuses_writes(self, home: Path) -> None:
        """A 0444 database in a 0555 folder refuses a write in one line (as root: see briefmail)."""
        secrets = tuple(token_keys(home / "briefmail.db"))
        (home / "briefmail.db").chmod(0o444)
        home.chmod(0o555)
        try:
            result = briefmail(
                home, "subscribers", "add", NEWCOMER, "--no-email", unprivileged=True
            )
        finally:
            home.chmod(0o755)
        assert result.returncode == 1
        assert_one_line(result.stderr, "readonly database", secrets=secrets)

    def test_a_wal_removed_while_in_use_ends_in_one_line(
        self, home: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """The -wal and -shm files removed under a writing connection end a command in one line.

        In this process (typer's CliRunner): SQLite notices the removed files through the
        locks its own process holds, as a long-running `serve` would.
        """
        monkeypatch.chdir(home)
        monkeypatch.setenv("BRIEFMAIL_SECRET_KEY", KEY)
        secrets = tuple(token_keys(home / "briefmail.db"))
        holder = sqlite3.connect(home / "briefmail.db", isolation_level=None)
        try:
            holder.execute("PRAGMA wal_autocheckpoint=0")
            holder.execute("UPDATE subscribers SET name = 'before'")
            (home / "briefmail.db-wal").unlink()
            (home / "briefmail.db-shm").unlink()
            holder.execute("UPDATE subscribers SET name = 'after'")
            result = CliRunner().invoke(cli, ["subscribers", "list"])
        finally:
            holder.close()
        assert result.exit_code == 1
        assert_one_line(result.stderr, "disk I/O error", "-wal", secrets=secrets)

    def test_a_damaged_file_ends_in_one_line(self, home: Path) -> None:
        """A database whose header is overwritten is named as damaged in one line."""
        with (home / "briefmail.db").open("r+b") as handle:
            handle.write(b"\x00not a database\x00" * 8)
        for name in ("briefmail.db-wal", "briefmail.db-shm"):
            (home / name).unlink(missing_ok=True)
        result = briefmail(home, "subscribers", "list")
        assert result.returncode == 1
        assert_one_line(result.stderr, "file is not a database", "damaged")


class TestServerFaults:
    def test_an_unreachable_postgresql_ends_in_one_line_without_its_password(
        self, tmp_path: Path
    ) -> None:
        """A PostgreSQL URL on a closed port ends in one line that hides the URL's password."""
        url = f"postgresql+psycopg://briefmail:hunter2-secret@127.0.0.1:{free_port()}/briefmail"
        result = briefmail(tmp_path, "status", BRIEFMAIL_DATABASE__URL=url)
        assert result.returncode == 1
        line = assert_one_line(result.stderr, "Connection refused", secrets=("hunter2",))
        assert "briefmail:***@127.0.0.1" in line

    @pytest.mark.postgresql_only
    def test_a_read_only_postgresql_database_refuses_writes_in_one_line(
        self, tmp_path: Path, database_url: str
    ) -> None:
        """A PostgreSQL database set read-only refuses a write in one line, exit 1."""
        env: dict[str, str | None] = {"BRIEFMAIL_DATABASE__URL": database_url}
        assert briefmail(tmp_path, "init", env=env).returncode == 0
        assert (
            briefmail(tmp_path, "subscribers", "add", ADDRESS, "--no-email", env=env).returncode
            == 0
        )
        name = database_url.rsplit("/", 1)[1]
        libpq = database_url.replace("+psycopg", "")
        with psycopg.connect(libpq, autocommit=True) as connection:
            connection.execute(f'ALTER DATABASE "{name}" SET default_transaction_read_only = on')
            keys = [row[0] for row in connection.execute("SELECT token_key FROM subscribers")]
        result = briefmail(tmp_path, "subscribers", "add", NEWCOMER, "--no-email", env=env)
        assert result.returncode == 1
        assert_one_line(result.stderr, "read-only transaction", secrets=tuple(keys))


class TestSecretAndConfigFaults:
    def test_a_short_secret_key_says_the_minimum(self, home: Path) -> None:
        """A BRIEFMAIL_SECRET_KEY shorter than 16 characters is refused, naming the minimum."""
        (home / "report.eml").write_text("Subject: hello\n\nhi\n", encoding="utf-8")
        result = briefmail(
            home, "bounces", "parse", "report.eml", BRIEFMAIL_SECRET_KEY="tooshort-x"
        )
        assert result.returncode == 2
        assert_one_line(
            result.stderr,
            "BRIEFMAIL_SECRET_KEY: the secret key is too short (10 characters)",
            "at least 16",
            secrets=("tooshort-x",),
        )

    def test_a_secret_file_others_can_read_is_refused_with_the_fix(self, home: Path) -> None:
        """A key file readable by group or others is refused with the chmod that fixes it."""
        key_file = home / "briefmail.secret"
        key_file.chmod(0o644)
        (home / "report.eml").write_text("Subject: hello\n\nhi\n", encoding="utf-8")
        result = briefmail(home, "bounces", "parse", "report.eml", BRIEFMAIL_SECRET_KEY=None)
        assert result.returncode == 2
        assert_one_line(
            result.stderr,
            "readable by other users (mode 644)",
            f"run `chmod 600 {key_file}`",
            secrets=(key_file.read_text(encoding="utf-8").strip(),),
        )
        key_file.chmod(0o600)
        fixed = briefmail(home, "bounces", "parse", "report.eml", BRIEFMAIL_SECRET_KEY=None)
        assert fixed.returncode == 0, fixed.stderr

    def test_a_config_that_is_a_folder_ends_in_one_line(self, tmp_path: Path) -> None:
        """A config path naming a folder is reported in one line, exit 2."""
        result = briefmail(tmp_path, "--config", str(tmp_path), "status")
        assert result.returncode == 2
        assert_one_line(result.stderr, f"{tmp_path}: cannot read: Is a directory")

    def test_a_config_that_is_not_text_ends_in_one_line(self, tmp_path: Path) -> None:
        """A config file that is not UTF-8 is reported in one line, exit 2."""
        (tmp_path / "briefmail.toml").write_bytes(b"[smtp]\nhost = '\xff\xfe'\n")
        result = briefmail(tmp_path, "status")
        assert result.returncode == 2
        assert_one_line(result.stderr, "briefmail.toml: not UTF-8 text")

    def test_a_config_nobody_may_read_ends_in_one_line(self, tmp_path: Path) -> None:
        """A config file with mode 0000 is reported in one line (as root: see briefmail)."""
        config = tmp_path / "briefmail.toml"
        config.write_text("[smtp]\nport = 25\n", encoding="utf-8")
        config.chmod(0)
        result = briefmail(tmp_path, "status", unprivileged=True)
        assert result.returncode == 2
        assert_one_line(result.stderr, "briefmail.toml: cannot read: Permission denied")

    def test_a_password_in_the_database_url_of_the_file_is_refused(self, tmp_path: Path) -> None:
        """database.url with a password in the file is refused without showing the password."""
        url = "postgresql+psycopg://briefmail:hunter2-secret@db.example.org/briefmail"
        (tmp_path / "briefmail.toml").write_text(f'[database]\nurl = "{url}"\n', encoding="utf-8")
        result = briefmail(tmp_path, "status")
        assert result.returncode == 2
        assert_one_line(
            result.stderr,
            "database.url: contains a password",
            "BRIEFMAIL_DATABASE__URL",
            secrets=("hunter2",),
        )


@pytest.mark.sqlite_only
class TestPrivateFiles:
    def test_init_creates_the_database_and_key_private(self, tmp_path: Path, umask: None) -> None:
        """Under umask 022, `init` leaves the database and the token key readable by the owner."""
        assert briefmail(tmp_path, "init").returncode == 0
        assert (tmp_path / "briefmail.db").stat().st_mode & 0o777 == 0o600
        assert (tmp_path / "briefmail.secret").stat().st_mode & 0o777 == 0o600

    def test_the_wal_and_shm_files_are_private_too(self, tmp_path: Path, umask: None) -> None:
        """The -wal and -shm files SQLite makes while briefmail writes have the 0600 mode."""
        engine = make_engine(f"sqlite:///{tmp_path / 'b.db'}")
        try:
            with engine.connect() as connection:
                connection.exec_driver_sql("CREATE TABLE t (x INTEGER)")
                connection.commit()
                modes = {path.name: path.stat().st_mode & 0o777 for path in tmp_path.glob("b.db*")}
        finally:
            engine.dispose()
        assert modes == {"b.db": 0o600, "b.db-wal": 0o600, "b.db-shm": 0o600}
