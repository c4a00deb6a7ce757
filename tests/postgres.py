"""A throwaway PostgreSQL cluster for the test run: initdb into a temporary folder, pg_ctl start.

Debian's ``postgresql`` package provides the server binaries under /usr/lib/postgresql/N/bin
(`make test` installs it). The cluster listens on loopback on a free port with trust
authentication, durability off (fsync, synchronous_commit and full_page_writes: it is deleted
afterwards), and each test gets its own database, dropped when the test ends.
"""

from __future__ import annotations

import os
import pwd
import shlex
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
from psycopg import sql


class PostgresMissing(Exception):
    """No PostgreSQL server binaries were found, or the cluster did not start."""


def server_binaries() -> Path:
    """The folder holding initdb and pg_ctl: the newest /usr/lib/postgresql/N/bin, or on PATH."""
    versions = sorted(
        Path("/usr/lib/postgresql").glob("*/bin/initdb"),
        key=lambda path: int(path.parent.parent.name) if path.parent.parent.name.isdigit() else 0,
    )
    if versions:
        return versions[-1].parent
    found = shutil.which("initdb")
    if found and shutil.which("pg_ctl"):
        return Path(found).resolve().parent
    raise PostgresMissing(
        "PostgreSQL server binaries (initdb, pg_ctl) not found: install Debian's postgresql "
        "package (`make test` does, as root)"
    )


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class PostgresCluster:
    """A running cluster; `database()` makes a fresh database for one test."""

    def __init__(self, folder: Path, port: int, user: str) -> None:
        self.folder = folder
        self.port = port
        self.user = user
        self._template: str | None = None

    @property
    def admin_url(self) -> str:
        """A libpq URL of the maintenance database."""
        return f"postgresql://{self.user}@127.0.0.1:{self.port}/postgres"

    def url(self, name: str) -> str:
        """The SQLAlchemy URL of database ``name`` (psycopg 3 driver)."""
        return f"postgresql+psycopg://{self.user}@127.0.0.1:{self.port}/{name}"

    def create_database(self, template: str | None = None) -> str:
        """Create a database, empty or as a copy of ``template``; its name."""
        name = f"t_{uuid.uuid4().hex[:12]}"
        statement = sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name))
        if template is not None:
            statement += sql.SQL(" TEMPLATE {}").format(sql.Identifier(template))
        with psycopg.connect(self.admin_url, autocommit=True) as connection:
            connection.execute(statement)
        return name

    def drop_database(self, name: str) -> None:
        """Drop a database, ending any session still connected to it (a killed test's)."""
        with psycopg.connect(self.admin_url, autocommit=True) as connection:
            connection.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )

    def migrated_template(self) -> str:
        """A database migrated to the newest schema once per run, for tests to copy.

        Thirteen-odd Alembic migrations cost ~0.5 s per test; CREATE DATABASE … TEMPLATE copies
        the result in a few milliseconds. Nothing stays connected to it (PostgreSQL refuses to
        copy a database that has sessions).
        """
        if self._template is None:
            from briefmail.migrate import upgrade
            from subscribers.db import make_engine

            name = self.create_database()
            engine = make_engine(self.url(name))
            try:
                upgrade(engine)
            finally:
                engine.dispose()
            self._template = name
        return self._template

    @contextmanager
    def database(self, template: str | None = None) -> Iterator[str]:
        """A fresh database's SQLAlchemy URL (a copy of ``template``) for the life of the block."""
        name = self.create_database(template)
        try:
            yield self.url(name)
        finally:
            self.drop_database(name)


def _as_owner(command: list[str], owner: str | None) -> list[str]:
    # The server refuses to run as root; as root, run its tools as the package's system user.
    return ["runuser", "-u", owner, "--", *command] if owner else command


def _watch(pid: int, stop: list[str], folder: Path) -> subprocess.Popen[bytes]:
    """Stop the cluster and remove its folder if the test process dies without tearing down.

    A killed or interrupted pytest never runs its fixtures' teardown; a detached shell checks
    once a second that the test process is alive and cleans up after it otherwise.
    """
    script = (
        f"while kill -0 {pid} 2>/dev/null; do sleep 1; done; "
        f"{shlex.join(stop)} >/dev/null 2>&1; rm -rf {shlex.quote(str(folder))}"
    )
    return subprocess.Popen(
        ["sh", "-c", script],
        start_new_session=True,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


@contextmanager
def running_cluster() -> Iterator[PostgresCluster]:
    """initdb + pg_ctl start in a temporary folder; stopped and removed at the end."""
    binaries = server_binaries()
    owner = _server_owner()
    folder = _cluster_folder(owner)
    data, user, port = folder / "data", "briefmail", _free_port()
    try:
        _initdb(binaries, owner, data, user)
        _start(binaries, owner, folder, port)
    except subprocess.CalledProcessError as error:
        log = folder / "server.log"
        detail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
        shutil.rmtree(folder, ignore_errors=True)
        raise PostgresMissing(
            f"{error.cmd[-1] if error.cmd else 'postgres'} failed: {error.stderr}{detail}"
        ) from None
    stop = _as_owner([str(binaries / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"], owner)
    watchdog = _watch(os.getpid(), stop, folder)
    try:
        yield PostgresCluster(folder, port, user)
    finally:
        subprocess.run(stop, capture_output=True)
        shutil.rmtree(folder, ignore_errors=True)
        watchdog.kill()
        watchdog.wait()


def _server_owner() -> str | None:
    """The system user to run the server as when we are root (it refuses root), else None."""
    if os.geteuid() != 0:
        return None
    for candidate in ("postgres", "nobody"):
        try:
            pwd.getpwnam(candidate)
        except KeyError:
            continue
        return candidate
    raise PostgresMissing("running as root and no 'postgres' user to run the server")


def _cluster_folder(owner: str | None) -> Path:
    """A new temporary folder with a sockets/ folder, both the server's owner's."""
    folder = Path(tempfile.mkdtemp(prefix="briefmail-pg-"))
    sockets = folder / "sockets"
    sockets.mkdir()
    if owner:
        entry = pwd.getpwnam(owner)
        os.chown(folder, entry.pw_uid, entry.pw_gid)
        os.chown(sockets, entry.pw_uid, entry.pw_gid)
    return folder


def _initdb(binaries: Path, owner: str | None, data: Path, user: str) -> None:
    """A new cluster in ``data`` with ``user`` as its superuser, trusted on loopback."""
    command = [
        str(binaries / "initdb"),
        "-D",
        str(data),
        "-U",
        user,
        "--auth=trust",
        "--encoding=UTF8",
        "--locale=C",
        "--no-sync",
    ]
    subprocess.run(_as_owner(command, owner), check=True, capture_output=True, text=True)


def _start(binaries: Path, owner: str | None, folder: Path, port: int) -> None:
    """Start the server on loopback ``port``, durability off, and wait until it accepts."""
    options = (
        f"-p {port} -k {folder / 'sockets'} -c listen_addresses=127.0.0.1 -c fsync=off "
        "-c synchronous_commit=off -c full_page_writes=off -c max_connections=200"
    )
    command = [
        str(binaries / "pg_ctl"),
        "-D",
        str(folder / "data"),
        "-o",
        options,
        "-l",
        str(folder / "server.log"),
        "-w",
        "start",
    ]
    subprocess.run(_as_owner(command, owner), check=True, capture_output=True, text=True)
