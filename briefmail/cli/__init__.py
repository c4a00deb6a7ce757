"""The `briefmail` command: thin wrappers over the library (Typer + Rich).

`base` holds what every command shares; the commands live by subject in `content`, `feedback`,
`people`, `sending` and `workers`, each registering itself on the one Typer app when imported here.
"""

from __future__ import annotations

from briefmail.cli import content, feedback, people, sending, workers
from briefmail.cli.base import cli

__all__ = ["cli", "main"]

# Imported for the commands they register on `cli`.
_COMMANDS = (content, feedback, people, sending, workers)


def main() -> None:
    """Entry point of the `briefmail` console script."""
    cli()
