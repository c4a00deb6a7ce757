"""Commands about what mail servers send back: bounces and complaints."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from scheduler.cli.base import JsonOption, bounces_cli, handle_errors, open_app, out, print_json


@bounces_cli.command("process")
@handle_errors
def bounces_process(
    path: Annotated[
        Path, typer.Argument(help="A Maildir, an mbox file, an .eml file or a folder of them.")
    ],
    as_json: JsonOption = False,
) -> None:
    """Apply bounces and complaints: hard bounces and complaints suppress, soft ones count."""
    with open_app() as app:
        summary = app.process_bounces(path)
    if as_json:
        print_json(summary.as_json())
        return
    figures = summary.as_json()
    out.print(", ".join(f"{name.replace('_', ' ')} {n}" for name, n in figures.items()))
