"""The `briefmail` command: thin wrappers over the library (Typer + Rich).

`base` holds what every command shares; the commands live by subject in `content`, `feedback`,
`people`, `sending`, `sources` and `workers`, each registering itself on the one Typer app when
imported.
`cli` (and `main`) import them all; importing one command module alone does not, so each can be
checked for what it costs to start.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import typer

__all__ = ["cli", "main"]


def _commands() -> typer.Typer:
    """The Typer app with every command registered on it."""
    # Imported for the commands they register on `cli`.
    from briefmail.cli import (  # noqa: F401
        content,
        feedback,
        operators,
        people,
        sending,
        sources,
        webhooks,
        workers,
    )
    from briefmail.cli.base import cli

    return cli


def __getattr__(name: str) -> typer.Typer:
    """`briefmail.cli.cli`: the whole command, built on first use."""
    if name == "cli":
        return _commands()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def main() -> None:
    """Entry point of the `briefmail` console script."""
    _commands()()
