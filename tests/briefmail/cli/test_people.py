"""`briefmail subscribers …` commands: add, list, remove, personal data, import and export."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from briefmail.cli import cli
from tests.conftest import FIXTURES

runner = CliRunner()


def run(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(cli, list(args))
    return result.exit_code, result.stdout, result.stderr


class TestSubscribers:
    def test_add_list_remove(self, home: Path) -> None:
        """Subscribers are added with choices, listed as JSON, and removed."""
        assert (
            run(
                "subscribers",
                "add",
                "A@Example.net",
                "--topics",
                "chips,policy",
                "--cadence",
                "weekly",
                "--timezone",
                "Europe/Berlin",
                "--confirmed",
            )[0]
            == 0
        )
        assert run("subscribers", "add", "b@example.net")[0] == 0
        data = json.loads(run("subscribers", "list", "--json")[1])
        assert data == [
            {
                "email": "A@example.net",
                "status": "confirmed",
                "cadence": "weekly",
                "timezone": "Europe/Berlin",
                "topics": ["chips", "policy"],
            },
            {
                "email": "b@example.net",
                "status": "pending",
                "cadence": "daily",
                "timezone": "UTC",
                "topics": [],
            },
        ]
        assert run("subscribers", "remove", "b@example.net") == (
            0,
            "b@example.net: unsubscribed\n",
            "",
        )

    @pytest.mark.parametrize(
        ("args", "message"),
        [
            (
                ("--topics", "chips,bogus"),
                "Error: unknown topic bogus (valid topics: chips, models",
            ),
            (("--timezone", "Nowhere/City"), "Error: unknown time zone 'Nowhere/City'"),
        ],
    )
    def test_bad_choices_exit_2(self, home: Path, args: tuple[str, ...], message: str) -> None:
        """Unknown topics (listing the valid ones) and zones exit 2."""
        code, _, err = run("subscribers", "add", "a@example.net", *args)
        assert code == 2
        assert err.startswith(message)

    def test_invalid_address_is_named(self, home: Path) -> None:
        """An invalid address exits 2 and names the address."""
        code, _, err = run("subscribers", "add", "nobody.example.net")
        assert code == 2
        assert err.startswith("Error: invalid e-mail address 'nobody.example.net'")


class TestPersonalData:
    def test_export_data_and_erase(self, home: Path) -> None:
        """export-data prints everything held; erase leaves only a suppression of the address."""
        run("subscribers", "add", "A@Example.net", "--topics", "chips", "--confirmed")
        data = json.loads(run("subscribers", "export-data", "a@example.net")[1])
        assert data["email"] == "A@example.net" and data["suppressed"] is None
        assert data["subscriptions"][0]["topics"] == ["chips"]
        assert [e["action"] for e in data["consent_events"]] == ["subscribe"]
        assert data["consent_events"][0]["detail"] == "confirmed by the operator"
        assert run("subscribers", "erase", "a@example.net", "--yes") == (
            0,
            "a@example.net: erased\n",
            "",
        )
        code, _, err = run("subscribers", "export-data", "a@example.net")
        assert code == 1 and "no data is held about a@example.net" in err
        assert json.loads(run("subscribers", "list", "--json")[1]) == []
        run("subscribers", "add", "a@example.net", "--confirmed")
        run("ingest", str(FIXTURES / "brief-mixed.txt"), "--approve")
        # Re-added by an operator, but still suppressed: no send reaches the address.
        code, out, _ = run("send", "1", "--json")
        assert code == 0 and json.loads(out)["planned"] == 0


class TestImportExport:
    def test_import_export_round_trip_and_bad_rows(self, home: Path) -> None:
        """import reports counts; export writes what imports back unchanged; a bad row is named."""
        source = home / "in.csv"
        source.write_text(
            "email,name,status,cadence,timezone,topics\n"
            "a@example.net,Ana,confirmed,daily,Europe/Berlin,chips|policy\n"
            "b@example.net,,pending,weekly,UTC,\n",
            encoding="utf-8",
        )
        code, out, _ = run("subscribers", "import", str(source))
        assert code == 0 and "imported 2 rows: 2 new" in out
        assert run("subscribers", "export", "out.csv")[0] == 0
        code, out, _ = run("subscribers", "import", "out.csv")
        assert code == 0 and "2 unchanged" in out
        bad = home / "bad.csv"
        bad.write_text("email,topics\nc@example.net,chips\nnot-an-address,chips\n", "utf-8")
        code, _, err = run("subscribers", "import", str(bad))
        assert code == 2 and "line 3" in err and "not-an-address" in err
        assert len(json.loads(run("subscribers", "list", "--json")[1])) == 2
