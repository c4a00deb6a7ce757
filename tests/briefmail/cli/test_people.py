"""`briefmail subscribers …` commands: add, list, remove, personal data, import and export."""

from __future__ import annotations

import json
import re
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from briefmail.cli import cli
from mailer.testing import SmtpSink
from tests.conftest import FIXTURES, start_briefmail

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
        assert run("subscribers", "add", "b@example.net", "--no-email")[0] == 0
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
        code, _, err = run("subscribers", "add", "a@example.net", "--confirmed")
        assert code == 1 and "a@example.net is suppressed (erased since" in err
        run("ingest", str(FIXTURES / "brief-mixed.txt"), "--approve")
        # The re-add was refused, so no send reaches the address.
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


@pytest.fixture
def mailed(home: Path, smtp_sink: SmtpSink, monkeypatch: pytest.MonkeyPatch) -> SmtpSink:
    """The initialised home's relay is the SMTP sink: confirmation e-mails land in it."""
    monkeypatch.setenv("BRIEFMAIL_SMTP__HOST", smtp_sink.host)
    monkeypatch.setenv("BRIEFMAIL_SMTP__PORT", str(smtp_sink.port))
    return smtp_sink


def confirmations(sink: SmtpSink, to: str) -> list[str]:
    """The confirmation links the sink holds for one address, oldest first."""
    found = []
    for message in sink.messages:
        parsed = message.parsed()
        if parsed["To"] == to and parsed["Subject"].startswith("Confirm your subscription"):
            body = parsed.get_body(("plain",))
            assert body is not None
            found += re.findall(r"https?://\S+/confirm/\S+", body.get_content())
    return found


class TestTheCliTellsTheTruth:
    def test_add_sends_the_forms_confirmation_and_says_so(self, mailed: SmtpSink) -> None:
        """`add` without --confirmed mails the public form's confirmation, and says it did."""
        code, out, _ = run("subscribers", "add", "a@example.net", "--topics", "chips")
        assert code == 0
        assert "a@example.net: created · pending · daily · chips · UTC" in out
        assert "a@example.net: confirmation e-mail sent" in out
        [link] = confirmations(mailed, "a@example.net")
        assert link.startswith("http://localhost:8000/confirm/")
        assert "List-Unsubscribe" not in mailed.messages[-1].parsed()

    def test_no_email_skips_it_and_says_the_reader_stays_pending(self, mailed: SmtpSink) -> None:
        """--no-email sends nothing and says the reader stays pending."""
        code, out, _ = run("subscribers", "add", "a@example.net", "--no-email")
        assert code == 0 and "no e-mail sent (--no-email): a@example.net stays pending" in out
        assert mailed.messages == []

    def test_confirmed_sends_nothing(self, mailed: SmtpSink) -> None:
        """--confirmed (the operator holds the consent) sends no confirmation."""
        code, out, _ = run("subscribers", "add", "a@example.net", "--confirmed")
        assert code == 0 and "confirmed" in out and "e-mail" not in out
        assert mailed.messages == []

    def test_unreachable_relay_is_an_error_and_the_reader_stays_pending(self, home: Path) -> None:
        """A confirmation the relay did not take exits 1 and says so; the reader stays pending."""
        code, _, err = run("subscribers", "add", "a@example.net")
        assert code == 1
        assert "confirmation NOT sent" in err and "a@example.net stays pending" in err
        assert json.loads(run("subscribers", "list", "--json")[1])[0]["status"] == "pending"

    def test_readding_changes_nothing_and_names_every_difference(self, home: Path) -> None:
        """A re-add prints what differs and changes nothing unless --update."""
        run(
            "subscribers", "add", "a@example.net", "--confirmed", "--timezone", "Europe/London",
            "--topics", "chips,models,policy", "--cadence", "weekly", "--hour", "9",
        )  # fmt: skip
        before = run("subscribers", "list", "--json")[1]
        code, out, _ = run("subscribers", "add", "a@example.net", "--confirmed")
        assert code == 0
        assert out == (
            "a@example.net exists (confirmed · weekly · chips, models, policy · Europe/London): "
            "would change timezone Europe/London → UTC, topics chips, models, policy → all, "
            "cadence weekly → daily, hour 09:00 → 07:00; run with --update to apply\n"
        )
        assert run("subscribers", "list", "--json")[1] == before
        code, out, _ = run("subscribers", "add", "a@example.net", "--confirmed", "--update")
        assert code == 0 and "a@example.net: updated · confirmed · daily · every topic · UTC" in out
        assert json.loads(run("subscribers", "list", "--json")[1])[0]["timezone"] == "UTC"

    def test_readding_a_pending_reader_as_confirmed_needs_update(self, home: Path) -> None:
        """The status is one of the differences: pending → confirmed only with --update."""
        run("subscribers", "add", "a@example.net", "--no-email")
        out = run("subscribers", "add", "a@example.net", "--confirmed")[1]
        assert "would change status pending → confirmed" in out
        assert json.loads(run("subscribers", "list", "--json")[1])[0]["status"] == "pending"
        run("subscribers", "add", "a@example.net", "--confirmed", "--update")
        assert json.loads(run("subscribers", "list", "--json")[1])[0]["status"] == "confirmed"

    def test_a_bounced_address_is_refused_with_its_evidence(self, home: Path) -> None:
        """Adding a hard-bounced address says it is suppressed, why, and the server's words."""
        from briefmail.app import build_app
        from briefmail.settings import load_settings
        from subscribers.service import suppress

        run("subscribers", "add", "a@example.net", "--confirmed", "--timezone", "Europe/London")
        app = build_app(load_settings(None))
        with app.sessions() as session:
            suppress(session, "a@example.net", "hard bounce", diagnostic="550 5.1.1 user unknown")
            session.commit()
        app.close()
        code, out, err = run("subscribers", "add", "a@example.net", "--confirmed")
        assert code == 1 and out == ""
        assert "a@example.net is suppressed (hard bounce since" in err
        assert "550 5.1.1 user unknown" in err
        assert json.loads(run("subscribers", "list", "--json")[1])[0]["timezone"] == "Europe/London"

    def test_confirm_by_the_operator(self, home: Path) -> None:
        """`subscribers confirm` confirms a pending reader once; a second time changes nothing."""
        run("subscribers", "add", "a@example.net", "--no-email")
        assert run("subscribers", "confirm", "a@example.net")[:2] == (
            0,
            "a@example.net: confirmed\n",
        )
        code, out, _ = run("subscribers", "confirm", "a@example.net")
        assert code == 0 and "confirmed, not pending; nothing changed" in out
        code, _, err = run("subscribers", "confirm", "nobody@example.net")
        assert code == 1 and "not subscribed" in err

    def test_resend_is_rate_limited_per_address(self, mailed: SmtpSink) -> None:
        """resend-confirmation mails at most one confirmation an hour per address, naming skips."""
        run("subscribers", "add", "a@example.net")  # one confirmation now
        run("subscribers", "add", "b@example.net", "--no-email")
        run("subscribers", "add", "c@example.net", "--confirmed")
        code, out, _ = run("subscribers", "resend-confirmation", "--pending")
        assert code == 0
        assert "a@example.net: confirmation skipped: one was sent at" in out
        assert "less than an hour ago" in out
        assert "b@example.net: confirmation e-mail sent" in out
        assert "c@example.net" not in out
        assert "confirmations: 1 sent, 1 skipped, 0 failed" in out
        assert len(confirmations(mailed, "a@example.net")) == 1
        assert len(confirmations(mailed, "b@example.net")) == 1
        code, out, _ = run("subscribers", "resend-confirmation", "b@example.net")
        assert "b@example.net: confirmation skipped" in out
        code, out, _ = run("subscribers", "resend-confirmation", "c@example.net")
        assert "c@example.net: confirmation skipped: the subscription is confirmed" in out
        assert run("subscribers", "resend-confirmation")[0] == 2

    def test_import_reports_pending_and_sends_confirmations(self, mailed: SmtpSink) -> None:
        """import counts the pending rows; --send-confirmations mails them (and only them)."""
        source = Path("in.csv")
        source.write_text(
            "email,status\na@example.net,confirmed\nb@example.net,\nc@example.net,pending\n",
            encoding="utf-8",
        )
        code, out, _ = run("subscribers", "import", str(source), "--dry-run")
        assert "2 pending" in out and "--send-confirmations" in out
        code, out, _ = run("subscribers", "import", str(source), "--send-confirmations")
        assert code == 0 and "confirmations: 2 sent, 0 skipped, 0 failed" in out
        assert {m.parsed()["To"] for m in mailed.messages} == {"b@example.net", "c@example.net"}


class TestStatus:
    def test_jobs_in_words(self, home: Path) -> None:
        """status names each job's schedule in words, not APScheduler's repr."""
        code, out, _ = run("status")
        assert code == 0
        assert "job send-due: every minute; next " in out
        assert "job weekly-digest: every Monday at 08:00 UTC; next " in out
        assert "interval[" not in out and "cron[" not in out
        jobs = json.loads(run("status", "--json")[1])["jobs"]
        assert [job["when"] for job in jobs] == ["every minute", "every Monday at 08:00 UTC"]

    def test_says_whether_a_scheduler_runs(self, home: Path) -> None:
        """status says "not running", then "running" while `serve --no-web` runs, then not again."""
        assert "scheduler: not running on this machine" in run("status")[1]
        process = start_briefmail(home, "serve", "--no-web")
        try:
            assert process.stderr is not None
            # Its jobs are announced once it handles SIGTERM by stopping cleanly.
            assert process.stderr.readline().startswith("job "), process.stderr.read()
            out = run("status")[1]
            assert f"scheduler: running (pid {process.pid} since " in out
            assert json.loads(run("status", "--json")[1])["scheduler"]["running"] is True
        finally:
            process.send_signal(signal.SIGTERM)
            process.communicate(timeout=20)
        assert "scheduler: not running on this machine" in run("status")[1]

    def test_a_scheduler_that_was_killed_is_not_running(self, home: Path) -> None:
        """A pid file left by a killed scheduler reads as "not running", naming the dead pid."""
        process = start_briefmail(home, "serve", "--no-web")
        assert process.stderr is not None and process.stderr.readline().startswith("job ")
        process.kill()
        process.communicate(timeout=20)
        out = run("status")[1]
        assert f"scheduler: not running (pid {process.pid}, started " in out
        assert "ended without removing" in out


class TestHelp:
    def test_help_shows_brackets_literally(self) -> None:
        """Every `[section]` and `[TEST]` in a command's help is printed, not eaten as markup."""
        import typer.main

        def walk(command: Any, path: list[str]) -> Iterator[tuple[list[str], str]]:
            for text in [command.help or ""] + [
                getattr(p, "help", None) or "" for p in command.params
            ]:
                for found in re.findall(r"\[[^\]]*\]", text):
                    yield path, found.replace("\\", "")
            for name, sub in getattr(command, "commands", {}).items():
                yield from walk(sub, [*path, name])

        checked = 0
        for path, bracketed in walk(typer.main.get_command(cli), []):
            result = runner.invoke(cli, [*path, "--help"], env={"COLUMNS": "1000"})
            assert bracketed in " ".join(result.output.split()), (path, bracketed)
            checked += 1
        assert checked >= 5  # [newsletter] slug on every --list, [schedule], [smtp], [TEST]
