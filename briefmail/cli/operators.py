"""Commands about who may run the newsletter: console operators (`users`) and API `tokens`."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Annotated

import typer

from briefmail.cli.base import JsonOption, cli, err, handle_errors, open_app, out, print_json

if TYPE_CHECKING:
    import datetime as dt

users_cli = typer.Typer(
    help="Operators who sign in to the console at /admin.", no_args_is_help=True
)
tokens_cli = typer.Typer(help="Bearer tokens of the API at /api/v1.", no_args_is_help=True)
cli.add_typer(users_cli, name="users")
cli.add_typer(tokens_cli, name="tokens")

PasswordStdin = Annotated[
    bool,
    typer.Option(
        "--password-stdin", help="Read the password from the first line of stdin (no prompt)."
    ),
]


def _password(from_stdin: bool) -> str:
    """The new password: stdin's first line, or typed twice at a hidden prompt."""
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    password: str = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    return password


def _when(value: dt.datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M") if value else "never"


@users_cli.command("add")
@handle_errors
def users_add(
    email: Annotated[str, typer.Argument(help="The operator's e-mail address (their sign-in).")],
    role: Annotated[
        str, typer.Option("--role", "-r", help="owner, editor or viewer.", show_default=False)
    ],
    password_stdin: PasswordStdin = False,
) -> None:
    """Add an operator with a role (owner, editor, viewer); the password is asked for twice."""
    from briefmail.accounts.operators import check_password, parse_role

    with open_app() as app:
        # A bad role or address, or one taken, is refused before a password is typed.
        parse_role(role)
        app.operators.available(email)
        password = check_password(_password(password_stdin))
        operator = app.operators.add(email, role, password)
    out.print(f"Added {operator.email} ({operator.role.value})", markup=False)


@users_cli.command("list")
@handle_errors
def users_list(as_json: JsonOption = False) -> None:
    """Show the operators: address, role, when added, last sign-in."""
    from rich.table import Table

    with open_app() as app:
        operators = app.operators.list()
    if as_json:
        print_json([operator.as_json() for operator in operators])
        return
    if not operators:
        out.print("No operators yet: `briefmail users add EMAIL --role owner`.", markup=False)
        return
    table = Table("email", "role", "added", "last sign-in")
    for operator in operators:
        table.add_row(
            operator.email,
            operator.role.value,
            _when(operator.created_at),
            _when(operator.last_login_at),
        )
    out.print(table)


@users_cli.command("remove")
@handle_errors
def users_remove(
    email: Annotated[str, typer.Argument(help="The operator's e-mail address.")],
) -> None:
    """Remove an operator; their sessions end. The last owner cannot be removed."""
    with open_app() as app:
        app.operators.remove(email)
    out.print(f"Removed {email.strip()}", markup=False)


@users_cli.command("role")
@handle_errors
def users_role(
    email: Annotated[str, typer.Argument(help="The operator's e-mail address.")],
    role: Annotated[str, typer.Argument(help="owner, editor or viewer.")],
) -> None:
    """Give an operator another role. The last owner cannot be demoted."""
    with open_app() as app:
        operator = app.operators.set_role(email, role)
    out.print(f"{operator.email} is now {operator.role.value}", markup=False)


@users_cli.command("passwd")
@handle_errors
def users_passwd(
    email: Annotated[str, typer.Argument(help="The operator's e-mail address.")],
    password_stdin: PasswordStdin = False,
) -> None:
    """Set an operator's password; every session they have open ends."""
    from briefmail.accounts.operators import check_password

    with open_app() as app:
        operator = app.operators.get(email)  # an unknown address is refused before the prompt
        app.operators.set_password(operator.email, check_password(_password(password_stdin)))
    out.print(f"Password changed for {operator.email}; their sessions have ended", markup=False)


@tokens_cli.command("create")
@handle_errors
def tokens_create(
    name: Annotated[str, typer.Argument(help="What uses the token, e.g. 'cms'.")],
    scope: Annotated[
        str, typer.Option("--scope", "-s", help="read, write or send.", show_default=False)
    ],
    as_json: JsonOption = False,
) -> None:
    """Create an API token and print it once (only its hash is kept)."""
    with open_app() as app:
        raw, token = app.tokens.create(name, scope)
    if as_json:
        print_json({"token": raw, **token.as_json()})
        return
    err.print(
        f"Created token {token.id} {token.name!r} (scope {token.scope.value}). "
        "Copy it now: it is not shown again.",
        markup=False,
    )
    out.print(raw, markup=False)


@tokens_cli.command("list")
@handle_errors
def tokens_list(as_json: JsonOption = False) -> None:
    """Show the API tokens: id, name, prefix, scope, last use, revoked or not."""
    from rich.table import Table

    with open_app() as app:
        tokens = app.tokens.list()
    if as_json:
        print_json([token.as_json() for token in tokens])
        return
    if not tokens:
        out.print("No API tokens yet: `briefmail tokens create NAME --scope read`.", markup=False)
        return
    table = Table("id", "name", "prefix", "scope", "created", "last used", "state")
    for token in tokens:
        table.add_row(
            str(token.id),
            token.name,
            token.prefix + "…",
            token.scope.value,
            _when(token.created_at),
            _when(token.last_used_at),
            f"revoked {_when(token.revoked_at)}" if token.revoked_at else "active",
        )
    out.print(table)


@tokens_cli.command("revoke")
@handle_errors
def tokens_revoke(
    token_id: Annotated[int, typer.Argument(metavar="ID", help="The token's id (tokens list).")],
) -> None:
    """Revoke an API token for good: it stops working at once."""
    with open_app() as app:
        token = app.tokens.revoke(token_id)
    out.print(f"Revoked token {token.id} ({token.name})", markup=False)
