"""The one declarative Base, and engines tuned for SQLite (WAL) or PostgreSQL.

An engine made here turns the driver's "cannot use the database" errors (locked, read-only,
damaged, unreachable) into `DatabaseUnavailable` as they happen, in one place: its message is one
line built from the driver's own first line, never from SQLAlchemy's text, which carries the
statement and its parameters (addresses, token keys). A SQLite file it creates is private (0600);
SQLite gives the -wal and -shm files beside it the same mode.
"""

from __future__ import annotations

import datetime as dt
import enum
import os
from pathlib import Path
from typing import Any, ClassVar

from sqlalchemy import DateTime, Engine, Enum, MetaData, create_engine, event
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import URL, ExceptionContext, make_url
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker

__all__ = [
    "BUSY_TIMEOUT",
    "Base",
    "DatabaseUnavailable",
    "as_utc",
    "database_fault",
    "driver_message",
    "make_engine",
    "make_sessionmaker",
    "string_enum",
    "utcnow",
]

#: Seconds a SQLite connection waits for another process's lock before giving up.
BUSY_TIMEOUT = 30.0

# Named constraints make Alembic migrations reproducible across SQLite and PostgreSQL.
_NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    """Base of every model in every layer; migrations see them all through this metadata."""

    metadata = MetaData(naming_convention=_NAMING)
    type_annotation_map: ClassVar[dict[Any, Any]] = {dt.datetime: DateTime(timezone=True)}


def string_enum(kind: type[enum.StrEnum]) -> Enum:
    """A StrEnum column: plain strings with a CHECK, the same on SQLite and PostgreSQL."""
    return Enum(
        kind,
        native_enum=False,
        create_constraint=True,
        length=16,
        values_callable=lambda members: [m.value for m in members],
        name=kind.__name__.lower(),
    )


def utcnow() -> dt.datetime:
    """The current time, timezone-aware (UTC)."""
    return dt.datetime.now(dt.UTC)


def as_utc(value: dt.datetime) -> dt.datetime:
    """An instant read back from the database, aware: SQLite returns it naive, and it is UTC."""
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


class DatabaseUnavailable(Exception):
    """The database cannot be used now: locked, read-only, damaged or unreachable.

    The message is one line naming the database and the cause; it holds no SQL and no values.
    """


#: The driver exceptions that mean "the database cannot be used", not "this statement is wrong":
#: IntegrityError, ProgrammingError and DataError stay what they are (callers handle some).
_UNAVAILABLE = (sa_exc.OperationalError, sa_exc.InterfaceError, sa_exc.InternalError)

#: What a SQLite message means for the operator (the driver's words are terse).
_SQLITE_HINTS = (
    ("database is locked", "another process holds a lock longer than the busy timeout"),
    ("database table is locked", "another connection holds a lock on a table"),
    ("readonly database", "the file, or its folder, is read-only for this process"),
    ("unable to open database file", "the file, or its -wal/-shm beside it, cannot be opened"),
    ("disk i/o error", "its -wal or -shm file was removed while in use, or the disk failed"),
    ("file is not a database", "the file is damaged or is not a SQLite database"),
    ("malformed", "the file is damaged"),
    ("no such table", "it has no briefmail schema: run `briefmail init`"),
    ("database or disk is full", "the disk is full"),
)


def database_fault(
    error: BaseException, url: URL | str | None = None, busy_timeout: float | None = None
) -> DatabaseUnavailable | None:
    """A one-line `DatabaseUnavailable` for a driver error that means the database is unusable."""
    if not isinstance(error, sa_exc.DBAPIError):
        return None
    exact_database_error = type(error) is sa_exc.DatabaseError  # "file is not a database"
    if not (isinstance(error, _UNAVAILABLE) or exact_database_error):
        return None
    reason, kind = _driver_parts(error)
    hint = next((h for key, h in _SQLITE_HINTS if key in reason.lower()), None)
    if hint and busy_timeout is not None:
        hint = hint.replace("the busy timeout", f"the busy timeout of {busy_timeout:g} s")
    where = _describe(url)
    return DatabaseUnavailable(
        f"database {where + ' ' if where else ''}unavailable: {reason}"
        f"{f' ({hint})' if hint else ''} [{kind}]"
    )


def driver_message(error: sa_exc.SQLAlchemyError) -> str:
    """The driver's own first line and class, e.g. "database is locked [sqlite3.OperationalError]".

    Never ``str(error)``: SQLAlchemy appends the statement and its parameters to that.
    """
    reason, kind = _driver_parts(error)
    return f"{reason} [{kind}]"


def _driver_parts(error: sa_exc.SQLAlchemyError) -> tuple[str, str]:
    # A StatementError's own text carries the SQL and parameters; its driver error does not.
    original: BaseException = error
    if isinstance(error, sa_exc.StatementError) and error.orig is not None:
        original = error.orig
    # First line only: psycopg adds DETAIL lines that may quote values ("Key (email)=(…)").
    lines = str(original).strip().splitlines()
    reason = lines[0].strip() if lines else "no message"
    kind = type(original)
    return reason, f"{kind.__module__.split('.')[0]}.{kind.__name__}"


def _describe(url: URL | str | None) -> str:
    """The database a message names: the SQLite file, or the server URL without its password."""
    if url is None:
        return ""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        return parsed.database or ":memory:"
    return parsed.render_as_string(hide_password=True)


def _translate_faults(engine: Engine, busy_timeout: float | None) -> None:
    """Raise DatabaseUnavailable instead of SQLAlchemy's error (which prints the parameters)."""

    @event.listens_for(engine, "handle_error")
    def _unavailable(context: ExceptionContext) -> None:
        error = context.sqlalchemy_exception
        fault = database_fault(error, engine.url, busy_timeout) if error is not None else None
        if fault is not None:
            raise fault from error


def _create_private(url: URL) -> None:
    """Create a missing SQLite file empty with mode 0600 before SQLite does (with 0644)."""
    if url.query.get("mode") or url.query.get("immutable") or not url.database:
        return  # a read-only open must not create anything
    name = url.database
    if name == ":memory:" or name.startswith("file:"):
        return
    try:
        fd = os.open(Path(name), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except (FileExistsError, FileNotFoundError):
        return  # exists already, or its folder does not: SQLite says so in its own words
    os.close(fd)


def make_engine(url: str, *, busy_timeout: float = BUSY_TIMEOUT, **kwargs: Any) -> Engine:
    """Create an engine; SQLite gets WAL, foreign keys and a busy timeout on every connection."""
    engine = _make_engine(url, busy_timeout, **kwargs)
    _translate_faults(engine, busy_timeout if engine.dialect.name == "sqlite" else None)
    return engine


def _make_engine(url: str, busy_timeout: float, **kwargs: Any) -> Engine:
    parsed = make_url(url)
    if parsed.get_backend_name() == "postgresql":
        # psycopg prepares a statement on the server after five runs, and PostgreSQL may then
        # plan it once for all parameters: for a sender's claim (id > $1 ... LIMIT $2) that
        # generic plan sorts the whole run instead of walking the primary key, 0.1 ms -> 3 ms.
        # Statements stay prepared (parsed once); each is planned for its parameters.
        options = {"options": "-c plan_cache_mode=force_custom_plan"}
        connect_args = {**options, **kwargs.pop("connect_args", {})}
        return create_engine(url, pool_pre_ping=True, connect_args=connect_args, **kwargs)
    if parsed.get_backend_name() != "sqlite":
        return create_engine(url, pool_pre_ping=True, **kwargs)
    engine = create_engine(url, connect_args={"timeout": busy_timeout}, **kwargs)

    @event.listens_for(engine, "do_connect")
    def _private_file(*_args: Any) -> None:
        _create_private(parsed)

    @event.listens_for(engine, "connect")
    def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        # WAL lets readers (the web pages) work while a send writes; NORMAL is durable in WAL
        # mode except for the last transactions on power loss, never corrupting.
        if parsed.database not in (None, "", ":memory:"):
            cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout * 1000)}")
        cursor.close()

    return engine


def make_sessionmaker(engine: Engine) -> sessionmaker[Session]:
    """Sessions that keep loaded objects usable after commit (we commit often, per outcome)."""
    return sessionmaker(engine, expire_on_commit=False)
