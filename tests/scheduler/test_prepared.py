"""Prepared statements: compiled once, they bind and convert values as SQLAlchemy's execute."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pytest
from sqlalchemy import (
    Column,
    DateTime,
    Engine,
    Integer,
    MetaData,
    String,
    Table,
    bindparam,
    select,
)

from scheduler.prepared import Prepared
from scheduler.runs import DeliveryStatus
from subscribers.db import make_engine, string_enum

METADATA = MetaData()
ROWS = Table(
    "rows",
    METADATA,
    Column("id", Integer, primary_key=True),
    Column("status", string_enum(DeliveryStatus)),
    Column("at", DateTime(timezone=True)),
    Column("note", String(20)),
)


@pytest.fixture
def engine() -> Iterator[Engine]:
    engine = make_engine("sqlite://")
    METADATA.create_all(engine)
    yield engine
    engine.dispose()


@pytest.mark.sqlite_only
def test_a_prepared_statement_writes_and_reads_what_sqlalchemy_does(engine: Engine) -> None:
    """Times and statuses are stored as SQLAlchemy stores them, so its reads find them."""
    at = dt.datetime(2026, 12, 3, 12, 30, 5, 123456, tzinfo=dt.UTC)
    insert = ROWS.insert().values(
        id=bindparam("b_id"), status=bindparam("b_status"), at=bindparam("b_at"), note="x"
    )
    with engine.begin() as connection:
        Prepared(insert, engine.dialect).run(
            connection, {"b_id": 1, "b_status": DeliveryStatus.SENDING, "b_at": at}
        )
        connection.execute(insert, {"b_id": 2, "b_status": DeliveryStatus.SENDING, "b_at": at})
        stored = connection.execute(select(ROWS.c.status, ROWS.c.at, ROWS.c.note)).all()
        raw = connection.exec_driver_sql("SELECT status, at FROM rows ORDER BY id").all()
    assert stored[0] == stored[1] == (DeliveryStatus.SENDING, at.replace(tzinfo=None), "x")
    assert raw[0] == raw[1]  # the same text in the file, byte for byte


@pytest.mark.sqlite_only
def test_a_prepared_statement_uses_its_own_literals_and_compares_times(engine: Engine) -> None:
    """A status written in the statement binds as its value; a time compares as a time."""
    early = dt.datetime(2026, 12, 3, 9, 0, tzinfo=dt.UTC)
    with engine.begin() as connection:
        connection.execute(
            ROWS.insert(),
            [
                {"id": 1, "status": DeliveryStatus.PENDING, "at": early},
                {"id": 2, "status": DeliveryStatus.PENDING, "at": early + dt.timedelta(hours=2)},
                {"id": 3, "status": DeliveryStatus.FAILED, "at": early},
            ],
        )
        due = select(ROWS.c.id).where(
            ROWS.c.status == DeliveryStatus.PENDING,
            ROWS.c.at <= bindparam("b_now", type_=DateTime(timezone=True)),
        )
        found = Prepared(due, engine.dialect).run(
            connection, {"b_now": early + dt.timedelta(hours=1)}
        )
        assert found.scalars().all() == [1]


@pytest.mark.sqlite_only
def test_a_missing_value_is_an_error_not_a_null(engine: Engine) -> None:
    """A parameter the statement leaves open must be given: a KeyError names it."""
    statement = select(ROWS.c.id).where(ROWS.c.id == bindparam("b_id"))
    with engine.connect() as connection, pytest.raises(KeyError, match="b_id"):
        Prepared(statement, engine.dialect).run(connection, {})


@pytest.mark.sqlite_only
def test_an_expanding_in_is_refused(engine: Engine) -> None:
    """An IN rendered per call cannot be compiled once: refused when prepared, not at a run."""
    statement = select(ROWS.c.id).where(ROWS.c.id.in_(bindparam("b_ids", expanding=True)))
    with pytest.raises(ValueError, match="non-expanding"):
        Prepared(statement, engine.dialect)
