"""`briefmail users …` and `briefmail tokens …`: operators and API tokens from the command line."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from typer.testing import CliRunner

from briefmail.cli import cli

runner = CliRunner()
PASSWORD = "correct horse battery"


def run(*args: str, stdin: str | None = None) -> tuple[int, str, str]:
    result = runner.invoke(cli, list(args), input=stdin)
    return result.exit_code, result.stdout, result.stderr


def add(email: str, role: str) -> None:
    """Add an operator through the command, the password on stdin."""
    code, _, err = run("users", "add", email, "--role", role, "--password-stdin", stdin=PASSWORD)
    assert code == 0, err


class TestUsers:
    def test_add_list_role_and_remove(self, home: Path) -> None:
        """An operator added shows in the list; the last owner stays; the log names the CLI."""
        code, out, _ = run(
            "users", "add", "Ada@Example.org", "--role", "owner", "--password-stdin", stdin=PASSWORD
        )
        assert (code, out) == (0, "Added ada@example.org (owner)\n")
        add("bob@example.org", "editor")
        code, out, _ = run("users", "list", "--json")
        listed = json.loads(out)
        assert [(u["email"], u["role"], u["last_login_at"]) for u in listed] == [
            ("ada@example.org", "owner", None),
            ("bob@example.org", "editor", None),
        ]
        code, out, _ = run("users", "list")
        assert code == 0 and "ada@example.org" in out and "never" in out
        code, _, err = run("users", "remove", "ada@example.org")
        assert code == 2
        assert err.startswith("Error: role: cannot remove ada@example.org, the last owner")
        assert (
            run("users", "role", "bob@example.org", "owner")[1] == "bob@example.org is now owner\n"
        )
        assert run("users", "remove", "ada@example.org") == (0, "Removed ada@example.org\n", "")
        assert [u["email"] for u in json.loads(run("users", "list", "--json")[1])] == [
            "bob@example.org"
        ]

    def test_the_prompt_asks_twice_and_bad_input_names_the_field(self, home: Path) -> None:
        """Without --password-stdin the password is typed twice; short ones and bad roles fail."""
        code, out, _ = run(
            "users", "add", "ada@example.org", "--role", "viewer", stdin=f"{PASSWORD}\n{PASSWORD}\n"
        )
        assert code == 0 and out.endswith("Added ada@example.org (viewer)\n")
        code, _, err = run(
            "users", "add", "x@example.org", "--role", "viewer", "--password-stdin", stdin="short"
        )
        assert (code, err) == (
            2,
            "Error: password: needs at least 10 characters (this one has 5)\n",
        )
        code, _, err = run(
            "users", "add", "x@example.org", "--role", "boss", "--password-stdin", stdin=PASSWORD
        )
        assert code == 2 and err.startswith("Error: role: 'boss' is not a role")
        code, _, err = run(
            "users", "add", "not-an-address", "--role", "viewer", "--password-stdin", stdin=PASSWORD
        )
        assert code == 2 and "invalid e-mail address 'not-an-address'" in err
        code, _, err = run(
            "users", "add", "ada@example.org", "--role", "owner", "--password-stdin", stdin=PASSWORD
        )
        assert (code, err) == (2, "Error: email: ada@example.org is an operator already\n")
        code, _, err = run("users", "add", "ADA@example.org", "--role", "owner")  # no prompt
        assert (code, err) == (2, "Error: email: ada@example.org is an operator already\n")
        code, _, err = run("users", "remove", "nobody@example.org")
        assert (code, err) == (2, "Error: email: nobody@example.org is not an operator\n")
        assert len(json.loads(run("users", "list", "--json")[1])) == 1

    def test_passwd_changes_the_password_and_is_audited(self, home: Path) -> None:
        """passwd sets a new password the sign-in accepts; the audit log names cli:LOGIN."""
        from briefmail.app import build_app
        from briefmail.settings import load_settings

        add("ada@example.org", "owner")
        code, out, _ = run(
            "users",
            "passwd",
            "ada@example.org",
            "--password-stdin",
            stdin="another long password\n",
        )
        assert (code, out) == (
            0,
            "Password changed for ada@example.org; their sessions have ended\n",
        )
        app = build_app(load_settings())
        try:
            assert app.operators.authenticate(
                "ada@example.org", "another long password", "127.0.0.1"
            )
            assert [e.action for e in app.audit.entries(action="operator")] == [
                "operator.passwd",
                "operator.add",
            ]
            assert all(
                e.actor == app.actor and e.actor.startswith("cli:")
                for e in app.audit.entries(action="operator")
            )
        finally:
            app.close()


class TestTokens:
    def test_create_prints_the_token_once_then_list_and_revoke(self, home: Path) -> None:
        """create --json gives the token; list never shows it; revoke marks it revoked."""
        code, out, _ = run("tokens", "create", "cms", "--scope", "write", "--json")
        assert code == 0
        created = json.loads(out)
        raw = created["token"]
        assert raw.startswith("bm_") and created["name"] == "cms" and created["scope"] == "write"
        assert created["prefix"] == raw[:9] and created["revoked_at"] is None
        code, out, err = run("tokens", "create", "feed", "--scope", "read")
        assert code == 0 and out.startswith("bm_") and len(out.strip()) == 46
        assert "it is not shown again" in err
        code, out, _ = run("tokens", "list")
        assert code == 0 and "cms" in out and raw not in out and "active" in out
        assert run("tokens", "revoke", str(created["id"])) == (
            0,
            f"Revoked token {created['id']} (cms)\n",
            "",
        )
        listed = json.loads(run("tokens", "list", "--json")[1])
        assert [(t["name"], t["revoked_at"] is not None) for t in listed] == [
            ("feed", False),
            ("cms", True),
        ]
        assert all("token" not in t for t in listed)

    def test_bad_input_names_the_field(self, home: Path) -> None:
        """An unknown scope, an empty name or an unknown id: one line, exit 2."""
        code, _, err = run("tokens", "create", "cms", "--scope", "admin")
        assert code == 2 and err.startswith("Error: scope: 'admin' is not a scope")
        code, _, err = run("tokens", "create", " ", "--scope", "read")
        assert code == 2 and err.startswith("Error: name: a token needs a name")
        assert run("tokens", "revoke", "41") == (2, "", "Error: id: no API token has id 41\n")
        assert run("tokens", "list")[1].startswith("No API tokens yet")


def test_the_commands_load_no_heavy_library() -> None:
    """Registering users and tokens imports no database, web or validation library."""
    heavy = ("sqlalchemy", "fastapi", "pydantic", "email_validator", "argon2", "itsdangerous")
    script = (
        "import sys, briefmail.cli.operators\n"
        f"print(' '.join(m for m in {heavy!r} if m in sys.modules))"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    )
    assert loaded.stdout.split() == []
