"""Core statements compiled once, for the statements a send loop runs every turn (SQLite).

SQLAlchemy's execute path (the compiled-cache lookup, building the parameters, processing each
one, then the cursor and result objects) costs several times what SQLite spends running a
claim or an outcome's record in process: at one message a turn, the ledger's three statements
took 0.45 ms a message through `Connection.execute` and 0.17 ms as the same SQL run directly.
A `Prepared` statement is compiled once for a dialect; each run puts its values in position,
each converted as its column's type converts it (times, statuses), and goes through
`exec_driver_sql`, so the engine's events still see it (faults are translated as for any
other statement). PostgreSQL's send loop makes one round trip a statement, which costs more
than this overhead: it keeps the plain path.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, cast

from sqlalchemy import Connection, CursorResult
from sqlalchemy.engine import Dialect
from sqlalchemy.sql import ClauseElement
from sqlalchemy.sql.compiler import SQLCompiler

__all__ = ["Prepared"]


class Prepared:
    """One statement's SQL and, per position, the parameter's name, literal and converter."""

    def __init__(self, statement: ClauseElement, dialect: Dialect) -> None:
        compiled = cast(SQLCompiler, statement.compile(dialect=dialect))
        if "POSTCOMPILE" in compiled.string or compiled.positiontup is None:
            # An expanding IN is rendered per call: exactly the work this class saves.
            raise ValueError("a prepared statement needs positional, non-expanding parameters")
        self.sql = compiled.string
        literals = compiled.construct_params(_check=False) or {}
        #: Per position: the name, whether a run must give it, the literal, the converter.
        self._slots: list[tuple[str, bool, Any, Callable[[Any], Any] | None]] = []
        for name in compiled.positiontup:
            bind = compiled.binds[name]
            convert = bind.type.dialect_impl(dialect).bind_processor(dialect)
            self._slots.append((name, bind.required, literals.get(name), convert))

    def run(self, connection: Connection, values: dict[str, Any]) -> CursorResult[Any]:
        """Execute with ``values`` by name (the statement's own literals fill the rest).

        KeyError when a parameter the statement leaves open is not given: never a NULL.
        """
        row = tuple(
            (convert(value) if convert is not None and value is not None else value)
            for name, required, literal, convert in self._slots
            for value in (values[name] if required else values.get(name, literal),)
        )
        return connection.exec_driver_sql(self.sql, row)
