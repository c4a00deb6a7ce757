"""Migrations are the schema: upgrade builds exactly the models, and downgrade undoes it."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from briefmail.migrate import downgrade, upgrade
from subscribers.db import Base, make_engine


def test_upgrade_head_matches_the_models(database_url: str) -> None:
    """After `upgrade head` on an empty database, autogenerate finds no difference."""
    engine = make_engine(database_url)
    upgrade(engine)
    upgrade(engine)  # a second run is harmless
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        assert compare_metadata(context, Base.metadata) == []
    engine.dispose()


def test_downgrade_to_base_and_up_again(database_url: str) -> None:
    """Downgrading to base leaves only Alembic's table; upgrading again restores every table."""
    engine = make_engine(database_url)
    upgrade(engine)
    tables = set(inspect(engine).get_table_names())
    assert set(Base.metadata.tables) <= tables
    downgrade(engine, "base")
    assert set(inspect(engine).get_table_names()) == {"alembic_version"}
    upgrade(engine)
    assert set(inspect(engine).get_table_names()) == tables
    engine.dispose()


def test_upgrading_a_database_with_data_keeps_every_row(database_url: str) -> None:
    """Rows stored under revision 0001 survive the upgrade to head (no cascade deletes)."""
    engine = make_engine(database_url)
    upgrade(engine, "0001")
    with engine.begin() as connection:
        connection.exec_driver_sql(
            "INSERT INTO lists (slug, name, from_address, list_id) "
            "VALUES ('brief', 'Brief', 'b@example.org', 'Brief <brief.example.org>')"
        )
        connection.exec_driver_sql(
            "INSERT INTO issues (list_id, title, date, format, content_hash) "
            "VALUES (1, 'T', '2026-06-26', 'brief', 'x')"
        )
        connection.exec_driver_sql(
            "INSERT INTO stories (issue_id, position, title, summary, topics) "
            "VALUES (1, 1, 't', 's', '[]')"
        )
    upgrade(engine)
    with engine.connect() as connection:
        assert connection.exec_driver_sql("SELECT issue_key FROM issues").all() == [
            ("brief:2026-06-26",)
        ]
        assert connection.exec_driver_sql("SELECT role FROM stories").all() == [("story",)]
        if engine.dialect.name == "sqlite":  # the migrations switch them off to copy tables
            assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
    engine.dispose()
