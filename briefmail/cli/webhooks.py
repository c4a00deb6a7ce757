"""Commands about webhooks: the [[webhooks]] told of events, their deliveries, a test event."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Annotated

import typer

from briefmail.cli.base import (
    HELP_MARKUP,
    JsonOption,
    cli,
    err,
    handle_errors,
    open_app,
    out,
    print_json,
)

if TYPE_CHECKING:
    import datetime as dt

    from briefmail.services.webhooks import DeliveryView

webhooks_cli = typer.Typer(
    help="Webhooks told of events (signed POSTs, retried from the outbox).",
    no_args_is_help=True,
    rich_markup_mode=HELP_MARKUP,
)
cli.add_typer(webhooks_cli, name="webhooks")


def _when(value: dt.datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S") if value else "-"


@webhooks_cli.command("list")
@handle_errors
def webhooks_list(
    recent: Annotated[
        int, typer.Option("--recent", "-n", min=0, help="How many recent deliveries to show.")
    ] = 20,
    as_json: JsonOption = False,
) -> None:
    """Show each webhook (its secret must be set) and the recent deliveries with their state."""
    from rich.table import Table

    with open_app() as app:
        infos = app.webhooks.listing()
        deliveries = app.webhooks.recent(recent) if recent else []
    if as_json:
        print_json(
            {
                "webhooks": [info.as_json() for info in infos],
                "recent": [d.as_json() for d in deliveries],
            }
        )
        return
    if not infos:
        out.print(
            "No webhooks configured (add [[webhooks]] tables to briefmail.toml).", markup=False
        )
    else:
        table = Table("name", "url", "events", "pending", "delivered", "failed")
        for info in infos:
            table.add_row(
                info.name,
                info.url,
                str(len(info.events)),
                str(info.counts.get("pending", 0)),
                str(info.counts.get("delivered", 0)),
                str(info.counts.get("failed", 0)),
            )
        out.print(table)
    if deliveries:
        out.print(_deliveries_table(deliveries))


def _deliveries_table(deliveries: list[DeliveryView]) -> object:
    from rich.table import Table

    table = Table("id", "webhook", "event", "at", "state", "tries", "last answer", "next try")
    for d in deliveries:
        answer = d.last_error or (str(d.last_status) if d.last_status else "-")
        table.add_row(
            str(d.id),
            d.webhook,
            d.kind,
            _when(d.created_at),
            d.state,
            str(d.attempts),
            answer,
            _when(d.next_attempt_at),
        )
    return table


@webhooks_cli.command("deliver")
@handle_errors
def webhooks_deliver(
    every: Annotated[
        float,
        typer.Option(
            "--every",
            min=0,
            help="Keep delivering, a round every SECONDS, until interrupted (0: one round).",
        ),
    ] = 0,
    as_json: JsonOption = False,
) -> None:
    """Deliver the events that are due now (what the scheduler's webhooks job does)."""
    with open_app() as app:
        app.webhooks.check()
        if every:
            try:
                while True:
                    _say(app.webhooks.deliver().as_json(), as_json, quiet=True)
                    time.sleep(every)
            except KeyboardInterrupt:
                return
        report = app.webhooks.deliver()
    _say(report.as_json(), as_json, quiet=False)
    if report.failed or report.retrying:
        raise typer.Exit(1)


def _say(figures: dict[str, int], as_json: bool, *, quiet: bool) -> None:
    """A round's figures (a round that did nothing is not said when ``quiet``)."""
    if quiet and not any(figures.values()):
        return
    if as_json:
        print_json(figures)
    else:
        out.print(", ".join(f"{n} {what}" for what, n in figures.items()), markup=False)


@webhooks_cli.command("test")
@handle_errors
def webhooks_test(
    name: Annotated[str, typer.Argument(help="The webhook's name (or url).")],
    as_json: JsonOption = False,
) -> None:
    """Send one signed test event (`webhook.test`) to a webhook now and say what it answered."""
    from briefmail.services.webhooks import UnknownWebhook

    with open_app() as app:
        try:
            delivery = app.webhooks.send_test(name)
        except UnknownWebhook as exc:
            err.print(f"Error: {exc}", markup=False)
            raise typer.Exit(2) from None
    if as_json:
        print_json(delivery.as_json())
    elif delivery.state == "delivered":
        out.print(
            f"{delivery.webhook}: delivered (HTTP {delivery.last_status}, delivery {delivery.id})",
            markup=False,
        )
    else:
        err.print(f"Error: {delivery.webhook}: {delivery.last_error}", markup=False)
    if delivery.state != "delivered":
        raise typer.Exit(1)
