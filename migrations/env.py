"""Alembic environment: sees every model of every layer through the one Base."""

from __future__ import annotations

from alembic import context
from sqlalchemy import engine_from_config, pool

# Every model module, imported for its tables (autogenerate compares against all of them).
import briefmail.accounts.models  # noqa: F401
import scheduler.editions  # noqa: F401
import scheduler.feedback  # noqa: F401
import scheduler.ledger  # noqa: F401
import scheduler.sources  # noqa: F401
import subscribers.models  # noqa: F401
import subscribers.outbox  # noqa: F401
from subscribers.db import Base

config = context.config
target_metadata = Base.metadata


def run_migrations_offline() -> None:
    """Emit SQL for the configured URL without connecting."""
    context.configure(
        url=config.get_main_option("sqlalchemy.url"),
        target_metadata=target_metadata,
        literal_binds=True,
        compare_type=True,
        render_as_batch=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    """Migrate over a connection given by the caller (briefmail) or made from the URL."""
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    if not config.get_main_option("sqlalchemy.url"):
        from briefmail.settings import load_settings

        config.set_main_option("sqlalchemy.url", load_settings().database_url())
    engine = engine_from_config(
        config.get_section(config.config_ini_section, {}),
        prefix="sqlalchemy.",
        poolclass=pool.NullPool,
    )
    with engine.connect() as connection:
        if connection.dialect.name == "sqlite":
            # As in briefmail/migrate.py: table copies must not cascade-delete referring rows.
            connection.exec_driver_sql("PRAGMA foreign_keys=OFF")
            connection.commit()
        _run(connection)
        connection.commit()


def _run(connection) -> None:  # type: ignore[no-untyped-def]
    # render_as_batch: SQLite can only ALTER tables by copying them; Alembic does that for us.
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        compare_type=True,
        render_as_batch=True,
    )
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
