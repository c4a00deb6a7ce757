"""The engine's fault translation: which driver errors mean "database unavailable", in one line."""

from __future__ import annotations

import sqlite3

import pytest
from sqlalchemy import exc as sa_exc
from sqlalchemy import text

from subscribers.db import DatabaseUnavailable, database_fault, driver_message, make_engine

#: Every DBAPI error class SQLAlchemy has, and whether it means "the database cannot be used".
UNAVAILABLE = {
    sa_exc.OperationalError: True,
    sa_exc.InterfaceError: True,
    sa_exc.InternalError: True,
    sa_exc.DatabaseError: True,
    sa_exc.IntegrityError: False,
    sa_exc.ProgrammingError: False,
    sa_exc.DataError: False,
    sa_exc.NotSupportedError: False,
}


def all_subclasses(kind: type[Exception]) -> set[type[Exception]]:
    """Every class below ``kind``."""
    found: set[type[Exception]] = set()
    sub: type[Exception]
    for sub in kind.__subclasses__():
        found |= {sub, *all_subclasses(sub)}
    return found


def wrapped(kind: type[sa_exc.DBAPIError], message: str) -> sa_exc.DBAPIError:
    """A SQLAlchemy error as the engine raises it: statement, parameters and the driver error."""
    return kind(
        "INSERT INTO subscribers (email) VALUES (?)",
        ("secret.reader@example.org",),
        sqlite3.OperationalError(message),
    )


class TestTranslation:
    def test_every_dbapi_error_class_is_decided(self) -> None:
        """Each of SQLAlchemy's DBAPI error classes is listed as mapped or deliberately not."""
        assert all_subclasses(sa_exc.DBAPIError) == set(UNAVAILABLE)

    @pytest.mark.parametrize(("kind", "mapped"), UNAVAILABLE.items())
    def test_only_unavailability_is_translated(
        self, kind: type[sa_exc.DBAPIError], mapped: bool
    ) -> None:
        """Unusable-database errors become DatabaseUnavailable; statement errors stay."""
        fault = database_fault(wrapped(kind, "database is locked"), "sqlite:////srv/b.db")
        assert (fault is not None) == mapped

    def test_the_message_is_one_line_without_sql_or_parameters(self) -> None:
        """The message names the file, the driver's first line and a hint, and nothing else."""
        error = wrapped(sa_exc.OperationalError, "database is locked\nsecond line")
        fault = database_fault(error, "sqlite:////srv/b.db", busy_timeout=2)
        assert str(fault) == (
            "database /srv/b.db unavailable: database is locked (another process holds a lock "
            "longer than the busy timeout of 2 s) [sqlite3.OperationalError]"
        )
        assert "secret.reader" in str(error)  # what SQLAlchemy's own text would have shown

    def test_driver_message_never_uses_the_statement(self) -> None:
        """driver_message gives the driver's first line and class, not SQLAlchemy's text."""
        error = wrapped(sa_exc.IntegrityError, "UNIQUE constraint failed: subscribers.email")
        assert driver_message(error) == (
            "UNIQUE constraint failed: subscribers.email [sqlite3.OperationalError]"
        )

    def test_a_server_url_is_named_without_its_password(self) -> None:
        """A PostgreSQL database is named by its URL with the password masked."""
        error = wrapped(sa_exc.OperationalError, "connection refused")
        fault = database_fault(error, "postgresql+psycopg://u:hunter2@db.example.org/b")
        assert fault is not None and "u:***@db.example.org" in str(fault)
        assert "hunter2" not in str(fault)

    @pytest.mark.sqlite_only
    def test_the_engine_raises_it_for_a_database_without_schema(self, database_url: str) -> None:
        """A database never initialised raises DatabaseUnavailable saying to run init."""
        engine = make_engine(database_url)
        try:
            with engine.connect() as connection, pytest.raises(DatabaseUnavailable) as info:
                connection.execute(
                    text("SELECT * FROM subscribers WHERE email = :e"), {"e": "x@example.org"}
                )
        finally:
            engine.dispose()
        assert "no such table: subscribers" in str(info.value)
        assert "run `briefmail init`" in str(info.value)
        assert "x@example.org" not in str(info.value)
