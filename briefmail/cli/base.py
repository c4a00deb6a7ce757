"""The `briefmail` command's shared parts: the Typer apps, consoles, options and error handling.

Each command opens the app, calls one library function and prints the result. Library exceptions
become one line on stderr in one place (`ERRORS`): exit 2 for bad input, 1 for a failed
operation. `--debug` shows the traceback instead.
"""

from __future__ import annotations

import functools
import json
import logging
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any, ParamSpec, TypeVar

import typer
from rich.console import Console
from sqlalchemy.exc import SQLAlchemyError

from briefmail.app import Briefmail, build_app
from briefmail.migrate import MigrationError
from briefmail.ops.logs import configure_logging
from briefmail.ops.preview import PreviewError
from briefmail.settings import (
    CONFIG_FILE,
    SettingsError,
    load_settings,
    write_default_config,
    write_secret_key,
)
from mailer.bounces import BounceError
from mailer.dkim import DkimError
from mailer.errors import DeliveryError
from mailer.ingest import IngestError
from mailer.topics import TaxonomyError, UnknownTopic
from scheduler import ledger
from scheduler.dispatch import SendInterrupted, SendReport
from scheduler.editions import (
    DigestError,
    IssueAlreadySent,
    UnknownIssue,
)
from scheduler.ledger import RunConflict, UnknownRun
from subscribers.db import DatabaseUnavailable, driver_message
from subscribers.importer import ImportFailed
from subscribers.lists import ListError, UnknownList
from subscribers.service import (
    InvalidAddress,
    InvalidTimezone,
    NotSubscribed,
)

P = ParamSpec("P")
R = TypeVar("R")


#: Library exceptions and the exit code each means: 2 = bad input, 1 = the operation failed.
ERRORS: tuple[tuple[type[Exception], int], ...] = (
    (SettingsError, 2),
    (IngestError, 2),
    (TaxonomyError, 2),
    (UnknownTopic, 2),
    (InvalidAddress, 2),
    (InvalidTimezone, 2),
    (UnknownIssue, 2),
    (UnknownList, 2),
    (ListError, 2),
    (PreviewError, 2),
    (UnknownRun, 2),
    (ledger.RunStateError, 2),
    (BounceError, 2),
    (DigestError, 2),
    (IssueAlreadySent, 1),
    (NotSubscribed, 1),
    (RunConflict, 1),
    (SendInterrupted, 1),
    (DkimError, 2),
    (ImportFailed, 2),
    # Locked, read-only, damaged or unreachable: the engine says which in one line.
    (DatabaseUnavailable, 1),
    (MigrationError, 1),
    # An SMTP refusal or an unreachable relay outside a run (a test copy): one line, exit 1.
    (DeliveryError, 1),
    (OSError, 1),
)

cli = typer.Typer(
    name="briefmail",
    help="Newsletter delivery: ingest issues, manage subscribers, preview and send.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
lists_cli = typer.Typer(help="Newsletter lists (a publisher runs several).", no_args_is_help=True)
issues_cli = typer.Typer(help="Stored issues.", no_args_is_help=True)
subscribers_cli = typer.Typer(help="Subscribers of a list.", no_args_is_help=True)
runs_cli = typer.Typer(help="Send runs and their deliveries.", no_args_is_help=True)
topics_cli = typer.Typer(help="The topic taxonomy and story tagging.", no_args_is_help=True)
dkim_cli = typer.Typer(help="DKIM keys for signing messages.", no_args_is_help=True)
cli.add_typer(lists_cli, name="lists")
cli.add_typer(issues_cli, name="issues")
cli.add_typer(subscribers_cli, name="subscribers")
cli.add_typer(runs_cli, name="runs")
schedule_cli = typer.Typer(help="The scheduler's jobs.", no_args_is_help=True)
cli.add_typer(schedule_cli, name="schedule")
bounces_cli = typer.Typer(
    help="Bounces and complaints sent back by mail servers.", no_args_is_help=True
)
cli.add_typer(bounces_cli, name="bounces")
cli.add_typer(topics_cli, name="topics")
cli.add_typer(dkim_cli, name="dkim")

out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)

state: dict[str, Any] = {"config": None, "debug": False}

ListOption = Annotated[
    str | None, typer.Option("--list", "-l", help="List slug (default: [newsletter] slug).")
]
RetryOption = Annotated[
    float, typer.Option("--retry-for", help="Seconds to keep retrying deferred deliveries.")
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]


def handle_errors(func: Callable[P, R]) -> Callable[P, R]:
    """Turn library exceptions into `Error: …` on stderr and the exit code `ERRORS` gives."""

    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return func(*args, **kwargs)
        except tuple(kind for kind, _ in ERRORS) as exc:
            if state["debug"]:
                raise
            code = next(code for kind, code in ERRORS if isinstance(exc, kind))
            err.print(f"Error: {_one_line(str(exc))}", markup=False, soft_wrap=True)
            raise typer.Exit(code) from None
        except SQLAlchemyError as exc:
            # Any other database error: its own text would print the SQL and its parameters
            # (addresses, token keys), so only the driver's first line is shown.
            if state["debug"]:
                raise
            err.print(
                f"Error: database error: {driver_message(exc)} (--debug shows the traceback)",
                markup=False,
                soft_wrap=True,
            )
            raise typer.Exit(1) from None

    return wrapper


def _one_line(message: str) -> str:
    """An error message as one line: a library message with line breaks is joined."""
    return " ".join(part.strip() for part in message.splitlines() if part.strip())


def end_if_interrupted(report: SendReport, resume: str) -> None:
    """A send a signal stopped, or that paused itself, ends with one line and exit 1."""
    if not report.interrupted:
        return
    if report.stopped and "paused;" in report.stopped:
        err.print(f"Error: {report.stopped}", markup=False)
    else:
        err.print(
            f"stopped: {report.delivered:,} delivered, {report.in_flight} in flight; "
            f"resume with `{resume}`",
            markup=False,
        )
    raise typer.Exit(1)


@contextmanager
def open_app() -> Iterator[Briefmail]:
    """The app for the chosen config, closed (connections released) when the command ends."""
    app = build_app(load_settings(state["config"]))
    try:
        yield app
    finally:
        app.close()


def chosen_list(app: Briefmail, slug: str | None) -> str:
    """The list a command works on: --list, else the configured default."""
    return slug or app.settings.newsletter.slug


def print_json(data: object) -> None:
    """Print a command's --json output (UTF-8 kept readable, indented)."""
    sys.stdout.write(json.dumps(data, ensure_ascii=False, indent=2) + "\n")


def split_topics(value: str | None) -> list[str]:
    """Topic ids from an option written as "a,b"."""
    return [t.strip() for t in (value or "").split(",") if t.strip()]


@cli.callback()
def _main(
    config: Annotated[
        Path | None,
        typer.Option(
            "--config", "-c", help=f"Config file (default: $BRIEFMAIL_CONFIG or ./{CONFIG_FILE})."
        ),
    ] = None,
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks on errors.")] = False,
) -> None:
    """Newsletter delivery: ingest issues, manage subscribers, preview and send."""
    state["config"] = config
    state["debug"] = debug
    configure_logging(logging.DEBUG if debug else logging.WARNING)


@cli.command()
@handle_errors
def init() -> None:
    """Create briefmail.toml (if absent), migrate the database and create the default list."""
    config = state["config"] or Path(CONFIG_FILE)
    if write_default_config(config):
        out.print(f"Wrote {config}")
    state["config"] = config
    with open_app() as app:
        if write_secret_key(app.settings.resolve(app.settings.security.secret_key_file)):
            out.print(f"Wrote {app.settings.security.secret_key_file} (token key; keep it private)")
        app.migrate()
        newsletter, created = app.ensure_default_list()
        out.print(f"Database ready at {app.settings.database_url()}")
        out.print(
            f"{'Created' if created else 'Found'} list {newsletter.slug!r} ({newsletter.name})"
        )
