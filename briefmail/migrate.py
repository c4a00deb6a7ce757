"""Bring a database to the newest schema with the Alembic scripts shipped in the package."""

from __future__ import annotations

from collections.abc import Callable
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING

# Alembic is imported by the functions that run it: a command that only names MigrationError
# (the CLI's error table) or never migrates does not pay for it.
if TYPE_CHECKING:
    from alembic.config import Config
    from sqlalchemy import Connection, Engine

__all__ = ["MigrationError", "alembic_config", "downgrade", "migrations_dir", "upgrade"]


class MigrationError(Exception):
    """A migration left the database inconsistent; it was rolled back."""


def migrations_dir() -> Path:
    """The Alembic script folder: inside the installed package, else the source tree's."""
    shipped = resources.files("briefmail").joinpath("migrations")
    if shipped.is_dir():
        return Path(str(shipped))
    return Path(__file__).resolve().parent.parent / "migrations"


def alembic_config(url: str) -> Config:
    """An Alembic Config for ``url`` that needs no alembic.ini."""
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(migrations_dir()))
    # ConfigParser interpolation would choke on a '%' in a password.
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Migrate the engine's database to ``revision``; running it again changes nothing."""
    from alembic import command

    _migrate(engine, lambda config: command.upgrade(config, revision))


def downgrade(engine: Engine, revision: str) -> None:
    """Migrate the engine's database down to ``revision`` ("base" removes every table)."""
    from alembic import command

    _migrate(engine, lambda config: command.downgrade(config, revision))


def _migrate(engine: Engine, step: Callable[[Config], None]) -> None:
    config = alembic_config(engine.url.render_as_string(hide_password=False))
    sqlite = engine.dialect.name == "sqlite"
    with engine.connect() as connection:
        if sqlite:
            # SQLite alters a table by copying it and dropping the original; with foreign keys
            # on, that drop would cascade-delete every row that refers to the table. The pragma
            # only works outside a transaction, so it comes first.
            connection.exec_driver_sql("PRAGMA foreign_keys=OFF")
            connection.commit()
        try:
            with connection.begin():
                config.attributes["connection"] = connection
                step(config)
                if sqlite:
                    _check_foreign_keys(connection)
        finally:
            if sqlite:
                connection.exec_driver_sql("PRAGMA foreign_keys=ON")
                connection.commit()


def _check_foreign_keys(connection: Connection) -> None:
    broken = connection.exec_driver_sql("PRAGMA foreign_key_check").all()
    if broken:
        raise MigrationError(f"migration left rows with dangling foreign keys: {broken[:5]}")
