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
from typing import TYPE_CHECKING, Annotated, Any, Literal, ParamSpec, TypeVar

import typer
from rich.console import Console

from briefmail.ops.logs import configure_logging

# Only Typer and Rich load with every command: the library (SQLAlchemy, the renderer, pydantic
# settings) is imported by the command that uses it, so `briefmail --help` starts fast.
if TYPE_CHECKING:
    from briefmail.app import Briefmail
    from scheduler.dispatch import SendReport

P = ParamSpec("P")
R = TypeVar("R")

#: Where the config file is looked for by default (briefmail.settings.CONFIG_FILE; a test checks
#: they agree), written out so the help text needs no settings import.
CONFIG_FILE = "briefmail.toml"

#: Library exceptions, by module and name, and the exit code each means: 2 = bad input, 1 = the
#: operation failed. Named, not imported: an exception whose module was never imported cannot
#: have been raised, so `exit_code` looks only in modules already loaded (first match wins).
ERRORS: tuple[tuple[str, str, int], ...] = (
    ("briefmail.settings", "SettingsError", 2),
    ("mailer.ingest", "IngestError", 2),
    ("mailer.topics", "TaxonomyError", 2),
    ("mailer.topics", "UnknownTopic", 2),
    ("subscribers.service", "InvalidAddress", 2),
    ("subscribers.service", "InvalidTimezone", 2),
    # Any other refused value (cadence, send hour…): the rule's message names the field.
    ("subscribers.rules", "RuleError", 2),
    ("scheduler.editions", "UnknownIssue", 2),
    ("subscribers.lists", "UnknownList", 2),
    ("subscribers.lists", "ListError", 2),
    ("briefmail.ops.preview", "PreviewError", 2),
    ("scheduler.ledger", "UnknownRun", 2),
    ("scheduler.ledger", "RunStateError", 2),
    ("mailer.bounces", "BounceError", 2),
    ("scheduler.digests", "DigestError", 2),
    ("scheduler.editions", "IssueStateError", 2),
    ("scheduler.titles", "SubjectTemplateError", 2),
    ("briefmail.services.sources", "UnknownSource", 2),
    ("scheduler.scheduling", "ScheduleError", 2),
    ("scheduler.editions", "IssueAlreadySent", 1),
    ("subscribers.service", "NotSubscribed", 1),
    # An operator adding or confirming a suppressed address: refused, with the evidence.
    ("subscribers.adding", "AddressSuppressed", 1),
    ("scheduler.ledger", "RunConflict", 1),
    ("scheduler.dispatch", "SendInterrupted", 1),
    ("mailer.dkim", "DkimError", 2),
    ("subscribers.importer", "ImportFailed", 2),
    # Locked, read-only, damaged or unreachable: the engine says which in one line.
    ("subscribers.db", "DatabaseUnavailable", 1),
    ("briefmail.migrate", "MigrationError", 1),
    # An SMTP refusal or an unreachable relay outside a run (a test copy): one line, exit 1.
    ("mailer.errors", "DeliveryError", 1),
    ("builtins", "OSError", 1),
)


def exit_code(exc: BaseException) -> int | None:
    """The exit code `ERRORS` gives this exception, or None when it is not a library error."""
    for module, name, code in ERRORS:
        loaded = sys.modules.get(module)
        kind = getattr(loaded, name, None) if loaded is not None else None
        if isinstance(kind, type) and isinstance(exc, kind):
            return code
    return None


#: Help text is Markdown, not Rich markup: Rich would take "[newsletter]" or "[smtp]" (the
#: config's section names, all over the help) for style tags and print nothing in their place.
HELP_MARKUP: Literal["markdown"] = "markdown"

cli = typer.Typer(
    name="briefmail",
    help="Newsletter delivery: ingest issues, manage subscribers, preview and send.",
    no_args_is_help=True,
    rich_markup_mode=HELP_MARKUP,
    add_completion=False,
    pretty_exceptions_enable=False,
)
lists_cli = typer.Typer(
    help="Newsletter lists (a publisher runs several).",
    no_args_is_help=True,
    rich_markup_mode=HELP_MARKUP,
)
issues_cli = typer.Typer(help="Stored issues.", no_args_is_help=True, rich_markup_mode=HELP_MARKUP)
subscribers_cli = typer.Typer(
    help="Subscribers of a list.", no_args_is_help=True, rich_markup_mode=HELP_MARKUP
)
runs_cli = typer.Typer(
    help="Send runs and their deliveries.", no_args_is_help=True, rich_markup_mode=HELP_MARKUP
)
topics_cli = typer.Typer(
    help="The topic taxonomy and story tagging.", no_args_is_help=True, rich_markup_mode=HELP_MARKUP
)
dkim_cli = typer.Typer(
    help="DKIM keys for signing messages.", no_args_is_help=True, rich_markup_mode=HELP_MARKUP
)
cli.add_typer(lists_cli, name="lists")
cli.add_typer(issues_cli, name="issues")
cli.add_typer(subscribers_cli, name="subscribers")
cli.add_typer(runs_cli, name="runs")
schedule_cli = typer.Typer(
    help="The scheduler's jobs.", no_args_is_help=True, rich_markup_mode=HELP_MARKUP
)
cli.add_typer(schedule_cli, name="schedule")
bounces_cli = typer.Typer(
    help="Bounces and complaints sent back by mail servers.",
    no_args_is_help=True,
    rich_markup_mode=HELP_MARKUP,
)
cli.add_typer(bounces_cli, name="bounces")
cli.add_typer(topics_cli, name="topics")
sources_cli = typer.Typer(
    help="Feeds and folders that issues arrive from by themselves.",
    no_args_is_help=True,
    rich_markup_mode=HELP_MARKUP,
)
cli.add_typer(sources_cli, name="sources")
cli.add_typer(dkim_cli, name="dkim")

out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)

state: dict[str, Any] = {"config": None, "debug": False}

ListOption = Annotated[
    str | None, typer.Option("--list", "-l", help="List slug (default: \\[newsletter] slug).")
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
        except Exception as exc:
            message, code = _error_line(exc)
            if code is None or state["debug"]:
                raise  # not a library error (a bug, typer.Exit), or --debug: the traceback
            err.print(f"Error: {message}", markup=False, soft_wrap=True)
            raise typer.Exit(code) from None

    return wrapper


def _error_line(exc: Exception) -> tuple[str, int | None]:
    """The one line and exit code for a library error; code None when it is not one."""
    code = exit_code(exc)
    if code is not None:
        return _one_line(str(exc)), code
    loaded = sys.modules.get("sqlalchemy.exc")  # SQLAlchemy cannot have raised unless loaded
    if loaded is not None and isinstance(exc, loaded.SQLAlchemyError):
        from subscribers.db import driver_message

        # Any other database error: its own text would print the SQL and its parameters
        # (addresses, token keys), so only the driver's first line is shown.
        return f"database error: {driver_message(exc)} (--debug shows the traceback)", 1
    return "", None


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
    from briefmail.app import build_app
    from briefmail.settings import load_settings

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
    from briefmail.settings import write_default_config, write_secret_key

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


# -- the scheduler, as `status` tells it ---------------------------------------------------------

_DAYS = {"mon": "Monday", "tue": "Tuesday", "wed": "Wednesday", "thu": "Thursday"}
_DAYS |= {"fri": "Friday", "sat": "Saturday", "sun": "Sunday"}


def trigger_words(trigger: object) -> str:
    """When a job fires, in words: "every minute", "every Monday at 08:00 Europe/Berlin"."""
    from apscheduler.triggers.cron import CronTrigger
    from apscheduler.triggers.date import DateTrigger
    from apscheduler.triggers.interval import IntervalTrigger

    if isinstance(trigger, IntervalTrigger):
        return "every " + _span(int(trigger.interval.total_seconds()))
    if isinstance(trigger, CronTrigger):
        fields = {f.name: str(f) for f in trigger.fields if not f.is_default}
        hour, minute = fields.pop("hour", "*"), fields.pop("minute", "0")
        day = fields.pop("day_of_week", None)
        if hour.isdigit() and minute.isdigit() and not fields:
            when = f"at {int(hour):02d}:{int(minute):02d} {trigger.timezone}"
            if day is None:
                return f"daily {when}"
            if day in _DAYS:
                return f"every {_DAYS[day]} {when}"
    if isinstance(trigger, DateTrigger):
        return f"once, at {trigger.run_date:%Y-%m-%d %H:%M %Z}"
    return str(trigger)  # a shape this function does not know: APScheduler's own words


def _span(seconds: int) -> str:
    """``60`` -> "minute", ``1800`` -> "30 minutes", ``45`` -> "45 seconds"."""
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60), ("second", 1)):
        if seconds % size == 0 and seconds >= size:
            count = seconds // size
            return unit if count == 1 else f"{count} {unit}s"
    return f"{seconds} seconds"


#: Where `briefmail serve` (with its scheduler) writes its process id, beside the config.
SCHEDULER_PID_FILE = "briefmail-scheduler.pid"


def scheduler_pid_path(app: Briefmail) -> Path:
    """The scheduler's pid file of this configuration."""
    return app.settings.resolve(Path(SCHEDULER_PID_FILE))


@contextmanager
def scheduler_running(app: Briefmail) -> Iterator[None]:
    """Mark this process as the configuration's running scheduler until it stops.

    The mark is a pid file (pid, host, start time) that `status` reads; it says nothing about
    other machines, which `status` says too.
    """
    import datetime as dt
    import os
    import socket

    path = scheduler_pid_path(app)
    mark = {"pid": os.getpid(), "host": socket.gethostname()}
    mark["since"] = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    path.write_text(json.dumps(mark), encoding="utf-8")
    try:
        yield
    finally:
        path.unlink(missing_ok=True)


def scheduler_state(app: Briefmail) -> tuple[bool | None, str]:
    """Whether a scheduler runs for this configuration (None: cannot tell), and in words."""
    import os
    import socket

    path = scheduler_pid_path(app)
    try:
        mark = json.loads(path.read_text(encoding="utf-8"))
        pid, host, since = int(mark["pid"]), str(mark["host"]), str(mark["since"])
    except FileNotFoundError:
        return False, f"not running on this machine (no `briefmail serve` has written {path})"
    except (OSError, ValueError, KeyError, TypeError) as exc:
        return None, f"unknown: {path} cannot be read ({exc})"
    if host != socket.gethostname():
        return None, f"pid {pid} on {host} since {since} said it was running; cannot check it here"
    try:
        os.kill(pid, 0)  # signal 0: only asks whether the process exists
    except ProcessLookupError:
        return False, f"not running (pid {pid}, started {since}, ended without removing {path})"
    except PermissionError:
        pass  # it exists, run by another user
    command = Path(f"/proc/{pid}/cmdline")
    if command.exists() and b"briefmail" not in command.read_bytes():
        return False, f"not running (pid {pid}, started {since}, is now another program)"
    return True, f"running (pid {pid} since {since})"
