"""The `briefmail` command: help everywhere, documented, exact output shapes and exit codes."""

from __future__ import annotations

import importlib
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
import typer.main
from typer.testing import CliRunner

from briefmail import settings
from briefmail.cli import cli
from briefmail.cli.base import CONFIG_FILE, ERRORS, exit_code
from mailer.testing import SmtpSink, free_port
from scheduler.editions import UnknownIssue
from tests.conftest import FIXTURES, ROOT

runner = CliRunner()


def all_commands() -> list[tuple[str, ...]]:
    """Every command path, e.g. ('subscribers', 'add'), walked from the Click tree."""
    found: list[tuple[str, ...]] = []

    def walk(command: Any, path: tuple[str, ...]) -> None:
        # Typer vendors its own Click, so groups are recognised by shape, not by class.
        if hasattr(command, "commands"):
            for name, sub in command.commands.items():
                walk(sub, (*path, name))
        else:
            found.append(path)

    walk(typer.main.get_command(cli), ())
    return found


COMMANDS = all_commands()


def run(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(cli, list(args))
    return result.exit_code, result.stdout, result.stderr


class TestHelpAndDocs:
    def test_the_expected_commands_exist(self) -> None:
        """The CLI offers the commands the README promises."""
        assert {" ".join(c) for c in COMMANDS} >= {
            "init",
            "ingest",
            "preview",
            "send",
            "serve",
            "demo",
            "lists add",
            "lists list",
            "issues list",
            "issues show",
            "subscribers add",
            "subscribers list",
            "subscribers remove",
            "runs list",
            "runs show",
        }

    @pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
    def test_every_command_has_help(self, command: tuple[str, ...]) -> None:
        """`--help` works for every command and describes it."""
        code, out, _ = run(*command, "--help")
        assert code == 0
        assert "Usage:" in out
        assert len(out.splitlines()) > 4

    @pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
    def test_every_command_is_in_the_readme(self, command: tuple[str, ...]) -> None:
        """The README documents every command."""
        readme = (ROOT / "README.md").read_text(encoding="utf-8")
        assert f"briefmail {' '.join(command)}" in readme

    def test_readme_commands_exist(self) -> None:
        """Every `briefmail …` command the README shows is a real command."""
        readme = (ROOT / "README.md").read_text(encoding="utf-8")
        names = {" ".join(c) for c in COMMANDS}
        code = "\n".join(re.findall(r"```sh\n(.*?)```", readme, re.DOTALL))
        word = r"[a-z]+(?:-[a-z]+)*"
        shown = set(re.findall(rf"`briefmail ({word}(?: {word})?)", readme))
        shown |= set(re.findall(rf"^briefmail ({word}(?: {word})?)", code, re.MULTILINE))
        assert len(shown) > 10
        for words in shown:
            assert words in names or words.split()[0] in names, words


class TestStartUp:
    def test_every_error_names_a_library_exception(self) -> None:
        """Each entry of the error table names an exception class its module defines."""
        for module, name, code in ERRORS:
            kind = getattr(importlib.import_module(module), name)
            assert isinstance(kind, type) and issubclass(kind, Exception), (module, name)
            assert code in (1, 2)

    def test_the_default_config_file_is_the_settings_one(self) -> None:
        """The help text's default config file is the one settings look for."""
        assert CONFIG_FILE == settings.CONFIG_FILE

    def test_a_library_error_is_recognised_once_its_module_is_loaded(self) -> None:
        """exit_code finds a loaded module's exception, and leaves other exceptions alone."""
        assert exit_code(UnknownIssue(7)) == 2
        assert exit_code(FileNotFoundError("x")) == 1
        assert exit_code(KeyError("x")) is None

    def test_the_content_people_and_feedback_commands_load_no_heavy_library(self) -> None:
        """Registering these commands (and the app they open) imports no database or renderer."""
        heavy = ("sqlalchemy", "alembic", "mjml", "fastapi", "pydantic", "email_validator")
        modules = (
            "briefmail.cli.content, briefmail.cli.people, briefmail.cli.feedback, "
            "briefmail.cli.sources"
        )
        script = (
            f"import sys, {modules}, briefmail.app, briefmail.ops.preview\n"
            f"print(' '.join(m for m in {heavy!r} if m in sys.modules))"
        )
        loaded = subprocess.run(
            [sys.executable, "-c", script], capture_output=True, text=True, check=True
        )
        assert loaded.stdout.split() == []


class TestInit:
    def test_init_twice_is_harmless(self, home: Path) -> None:
        """A second `init` keeps the config and key and finds the list."""
        key = (home / "briefmail.secret").read_text()
        code, out, _ = run("init")
        assert code == 0
        assert "Found list 'brief'" in out
        assert (home / "briefmail.secret").read_text() == key
        if not os.environ.get("BRIEFMAIL_DATABASE__URL"):  # the default: a file beside the config
            assert (home / "briefmail.db").exists()


class TestSendAndRuns:
    def test_status_reports_unfinished_runs_and_the_job(self, home: Path) -> None:
        """`status --json`: a paused run with its progress, the jobs, no suppressions."""
        run("ingest", str(FIXTURES / "brief-mixed.txt"), "--approve")
        run("subscribers", "add", "a@example.net", "--confirmed")
        from briefmail.app import build_app
        from briefmail.settings import load_settings

        app = build_app(load_settings())
        try:
            run_id = app.dispatcher().plan(1)
        finally:
            app.close()
        assert run("runs", "pause", str(run_id))[0] == 0
        data = json.loads(run("status", "--json")[1])
        assert [(r["id"], r["status"], r["done"], r["total"]) for r in data["unfinished"]] == [
            (1, "paused", 0, 1)
        ]
        assert [j["id"] for j in data["jobs"]] == ["send-due", "weekly-digest"]
        assert (data["queue"], data["suppressions"]) == (0, {})
        assert run("runs", "pause", "7")[0] == 2

    def test_worker_sends_the_sending_runs_and_exits_when_none_is_left(
        self, home: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """`worker` sends every run that is sending, paused ones not, and then has nothing."""
        run("ingest", str(FIXTURES / "brief-mixed.txt"), "--approve")
        for n in range(5):
            run("subscribers", "add", f"w{n}@example.net", "--confirmed")
        from briefmail.app import build_app
        from briefmail.settings import load_settings
        from scheduler import ledger

        app = build_app(load_settings())
        try:
            run_id = app.dispatcher().plan(1)
        finally:
            app.close()
        with SmtpSink() as sink:
            monkeypatch.setenv("BRIEFMAIL_SMTP__PORT", str(sink.port))
            assert run("runs", "pause", str(run_id))[0] == 0
            paused = json.loads(run("worker", "--json")[1])
            app = build_app(load_settings())
            with app.sessions() as session:  # back to sending, without sending anything
                run_row = ledger.get_run(session, run_id)
                ledger.set_run_status(session, run_row, ledger.RunStatus.SENDING)
                session.commit()
            app.close()
            code, out, err = run("worker", "--run", str(run_id), "--concurrency", "2", "--json")
            after = json.loads(run("worker", "--json")[1])
        assert (paused["runs"], paused["sent_now"]) == ([], 0)
        assert code == 0, err
        assert (json.loads(out)["runs"], json.loads(out)["sent_now"]) == ([run_id], 5)
        assert (after["runs"], after["sent_now"]) == ([], 0)  # done: nothing left
        assert sorted(sink.recipients()) == [f"w{n}@example.net" for n in range(5)]
        assert run("worker", "--run", "99")[0] == 2

    def test_dry_run_and_test_copy_record_nothing(
        self, home: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """--dry-run prints the audience JSON; --test-to mails one [TEST] copy; no run exists."""
        run("ingest", str(FIXTURES / "brief-mixed.txt"), "--approve")
        run("subscribers", "add", "a@example.net", "--topics", "chips", "--confirmed")
        code, out, _ = run("send", "1", "--dry-run", "--json")
        assert code == 0
        assert json.loads(out) == {
            "eligible": 1,
            "skipped": {},
            "variants": [{"topics": ["chips"], "subscribers": 1, "stories": 2}],
            "schedule": [{"at": "now", "subscribers": 1}],
        }
        with SmtpSink() as sink:
            monkeypatch.setenv("BRIEFMAIL_SMTP__PORT", str(sink.port))
            code, out, err = run("send", "1", "--test-to", "ed@example.org", "--topics", "models")
        assert code == 0, err
        assert "sent a [TEST] copy (models, 2 stories) to ed@example.org" in out
        assert sink.recipients() == ["ed@example.org"]
        assert run("runs", "list", "--json")[1].strip() == "[]"
        assert run("send", "1", "--topics", "chips")[0] == 2  # --topics needs --test-to

    def test_workers_share_a_run_and_resume_finds_nothing_left(
        self, home: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """`send --workers 3` sends the run by three processes: each reader gets one copy."""
        run("ingest", str(FIXTURES / "brief-mixed.txt"), "--approve")
        for n in range(30):
            run("subscribers", "add", f"r{n:02d}@example.net", "--confirmed")
        with SmtpSink() as sink:
            monkeypatch.setenv("BRIEFMAIL_SMTP__PORT", str(sink.port))
            code, out, err = run("send", "1", "--workers", "3", "--json")
            assert code == 0, err
            report = json.loads(out)
            again = json.loads(run("runs", "resume", "1", "--json")[1])
        assert (report["planned"], report["delivered"], report["pending"]) == (30, 30, 0)
        # The workers claim from the whole run; one that starts late may find nothing left,
        # and renders nothing.
        assert 1 <= report["variants_rendered"] <= 3
        assert sorted(sink.recipients()) == [f"r{n:02d}@example.net" for n in range(30)]
        assert (again["delivered"], again["sent_now"]) == (30, 0)
        assert run("runs", "resume", "9")[0] == 2

    def test_send_through_a_real_server_then_runs(
        self, home: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """`send --json` reports the counts; a second send delivers nothing new; runs are listed."""
        assert run("runs", "list", "--json")[1].strip() == "[]"
        run("ingest", str(FIXTURES / "brief-mixed.txt"), "--approve")
        run("subscribers", "add", "a@example.net", "--topics", "chips", "--confirmed")
        run("subscribers", "add", "b@example.net", "--topics", "funding", "--confirmed")
        run("subscribers", "add", "w@example.net", "--cadence", "weekly", "--confirmed")
        with SmtpSink() as sink:
            monkeypatch.setenv("BRIEFMAIL_SMTP__PORT", str(sink.port))
            code, out, err = run("send", "1", "--json")
            assert code == 0, err
            first = json.loads(out)
            second = json.loads(run("send", "1", "--json")[1])
        expected = dict(
            run_id=1, planned=2, delivered=2, deferred=0, failed=0, variants_rendered=2, skipped=1
        )
        assert {k: first[k] for k in expected} == expected
        assert isinstance(first["seconds"], float)
        assert (second["run_id"], second["delivered"], second["variants_rendered"]) == (1, 2, 0)
        assert sorted(sink.recipients()) == ["a@example.net", "b@example.net"]
        runs = json.loads(run("runs", "list", "--json")[1])
        assert runs == [
            {
                "id": 1,
                "kind": "daily",
                "period": "2026-07-01",
                "issue_id": 1,
                "status": "done",
                "counts": {
                    **dict.fromkeys(("pending", "deferred", "sending", "uncertain"), 0),
                    **{"delivered": 2, "failed": 0, "cancelled": 0},
                },
                "skipped": {"cadence weekly": 1},
                "pause_reason": None,
            }
        ]
        shown = json.loads(run("runs", "show", "1", "--json")[1])
        assert {k: shown[k] for k in runs[0]} == runs[0]  # `show` is `list` and more:
        assert shown["by_reply"] == {"250": 2}
        assert shown["by_variant"] == {"chips": {"delivered": 1}, "funding": {"delivered": 1}}

    def test_unreachable_server_exits_1_with_one_line(
        self, home: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """With no SMTP server, send exits 1 with one line and the run stays resumable."""
        run("ingest", str(FIXTURES / "brief-mixed.txt"), "--approve")
        run("subscribers", "add", "a@example.net", "--confirmed")
        monkeypatch.setenv("BRIEFMAIL_SMTP__PORT", str(free_port()))
        code, out, err = run("send", "1")
        assert code == 1
        assert out == ""
        assert err.startswith("Error: cannot reach SMTP server localhost:")
        assert err.endswith("run 1 is kept and resumes with the same command\n")
        assert err.count("\n") == 1
        assert json.loads(run("runs", "show", "1", "--json")[1])["counts"]["pending"] == 1

    @pytest.mark.parametrize(
        "server",
        ["refused port", "5xx at RCPT", "5xx greeting"],
    )
    def test_every_sending_command_ends_a_refusal_in_one_line(
        self, home: Path, monkeypatch: pytest.MonkeyPatch, server: str
    ) -> None:
        """send --test-to, send, runs resume and worker end with one line and exit 1."""
        from mailer.testing import Faults

        run("ingest", str(FIXTURES / "brief-mixed.txt"), "--approve")
        run("subscribers", "add", "a@example.net", "--confirmed")
        faults = {
            "refused port": None,
            "5xx at RCPT": Faults(refuse_all=(554, "5.7.1 Relay access denied")),
            "5xx greeting": Faults(greeting=(554, "5.7.1 go away")),
        }[server]
        commands = [
            ("send", "1", "--test-to", "ed@example.org"),
            ("send", "1"),
            ("runs", "resume", "1"),
        ]
        if faults is None:
            # An unreachable relay leaves the run sending (a worker tries it too); a refusing
            # one pauses it, and workers leave paused runs alone.
            commands.append(("worker", "--run", "1"))
        sink = SmtpSink(faults=faults) if faults else None
        port = sink.start().port if sink else free_port()
        monkeypatch.setenv("BRIEFMAIL_SMTP__PORT", str(port))
        try:
            for command in commands:
                code, out, err = run(*command)
                assert code == 1, (command, out, err)
                assert err.count("\n") == 1 and "Traceback" not in err, (command, err)
                assert err.startswith("Error: "), (command, err)
        finally:
            if sink:
                sink.stop()
        assert json.loads(run("runs", "show", "1", "--json")[1])["counts"]["failed"] == 0

    def test_a_send_that_pauses_itself_says_why_and_how_to_resume(
        self, home: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """A relay refusing our sender: send exits 1 with the reason; runs show and status tell."""
        from mailer.testing import Faults

        run("ingest", str(FIXTURES / "brief-mixed.txt"), "--approve")
        for n in range(30):
            run("subscribers", "add", f"r{n:02d}@example.net", "--confirmed")
        refusal = (550, "5.1.0 Sender address rejected: User unknown in local recipient table")
        with SmtpSink(faults=Faults(refuse_senders={"*": refusal})) as sink:
            monkeypatch.setenv("BRIEFMAIL_SMTP__PORT", str(sink.port))
            code, out, err = run("send", "1")
        assert code == 1
        assert err == (
            "Error: the relay refuses the envelope sender: 550 5.1.0 Sender address rejected: "
            "User unknown in local recipient table; run 1 paused; fix the relay or the sender "
            "and `briefmail runs resume 1`\n"
        )
        shown = run("runs", "show", "1")[1]
        assert "paused itself: the relay refuses the envelope sender" in shown
        assert "refusals by whose fault: sender" in shown
        status = json.loads(run("status", "--json")[1])
        assert status["unfinished"][0]["pause_reason"] == err.removeprefix("Error: ").strip()
        assert status["suppressions"] == {}
        with SmtpSink() as fixed:
            monkeypatch.setenv("BRIEFMAIL_SMTP__PORT", str(fixed.port))
            code, out, err = run("runs", "resume", "1", "--json")
        assert code == 0, err
        assert json.loads(out)["delivered"] == 30
        assert len(fixed.recipients()) == 30

    def test_ctrl_c_stops_a_send_cleanly(self, home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        """SIGINT mid-send: in-flight messages are recorded, one line says how to resume."""
        from mailer.testing import Faults

        run("ingest", str(FIXTURES / "brief-mixed.txt"), "--approve")
        readers = home / "readers.csv"  # one import: 200 `subscribers add` cost ~10 s
        readers.write_text(
            "email,status\n" + "".join(f"r{n:03d}@example.net,confirmed\n" for n in range(200)),
            encoding="utf-8",
        )
        assert run("subscribers", "import", str(readers))[0] == 0
        with SmtpSink(faults=Faults(delay=0.05)) as sink:
            env = {"BRIEFMAIL_SMTP__PORT": str(sink.port), "BRIEFMAIL_SECRET_KEY": "k" * 32}
            if url := os.environ.get("BRIEFMAIL_DATABASE__URL"):
                env["BRIEFMAIL_DATABASE__URL"] = url
            process = subprocess.Popen(
                [sys.executable, "-c", "from briefmail.cli import main; main()", "send", "1"],
                cwd=home,
                env={**os.environ, **env},
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            deadline = time.monotonic() + 30
            while sink.count() < 10:
                assert process.poll() is None and time.monotonic() < deadline
                time.sleep(0.02)
            process.send_signal(signal.SIGINT)
            _, err = process.communicate(timeout=30)
            received = sink.recipients()
        assert process.returncode == 1
        line = err.strip().splitlines()[-1]
        assert re.fullmatch(
            r"stopped: \d+ delivered, 0 in flight; resume with `briefmail send 1`", line
        ), err
        counts = json.loads(run("runs", "show", "1", "--json")[1])["counts"]
        assert counts["sending"] == 0
        assert counts["delivered"] == len(received) < 200
        assert f"stopped: {len(received)} delivered" in line
        with SmtpSink() as rest:
            monkeypatch.setenv("BRIEFMAIL_SMTP__PORT", str(rest.port))
            assert run("send", "1")[0] == 0
            assert sorted(received + rest.recipients()) == [
                f"r{n:03d}@example.net" for n in range(200)
            ]

    def test_status_warns_when_the_relay_certificate_is_not_checked(
        self, home: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """smtp.verify = false with TLS: `status` says so on stderr and in its JSON."""
        monkeypatch.setenv("BRIEFMAIL_SMTP__SECURITY", "starttls")
        monkeypatch.setenv("BRIEFMAIL_SMTP__VERIFY", "false")
        code, _, err = run("status")
        assert code == 0
        assert err.startswith("warning: smtp.verify is false: the relay's TLS certificate is NOT")
        assert json.loads(run("status", "--json")[1])["warnings"] == [err[9:].strip()]

    def test_ingest_warns_when_a_file_looks_cut_short(self, home: Path) -> None:
        """A brief whose last field stops mid-word, no final newline: stored, with a warning."""
        text = (FIXTURES / "brief-mixed.txt").read_text(encoding="utf-8")
        cut = text[: text.rindex("Why It Matters: Readers know when") + len("Why It Matters: Read")]
        (home / "cut.txt").write_text(cut, encoding="utf-8")
        code, _, err = run("ingest", "cut.txt")
        assert code == 0, err
        assert err.startswith("Warning: cut.txt:")
        assert "ends mid-sentence" in err and "was it cut short?" in err

    def test_preview_writes_html_and_eml(self, home: Path) -> None:
        """`preview` writes one variant's HTML and full message for the chosen topics."""
        run("ingest", str(FIXTURES / "brief-mixed.txt"), "--approve")
        code, out, _ = run(
            "preview", "1", "--topics", "models", "--out", "p.html", "--eml", "p.eml"
        )
        assert code == 0, out
        assert "models: 2 stories" in out
        assert (home / "p.txt").read_text(encoding="utf-8").startswith("Test Brief — 2026-07-01")
        html = (home / "p.html").read_text(encoding="utf-8")
        assert "Open-Weight Reasoning Model" in html
        assert "Foundry Starts" not in html
        assert b"List-Unsubscribe-Post: List-Unsubscribe=One-Click" in (home / "p.eml").read_bytes()
        code, _, err = run("preview", "1", "--topics", "robotics")
        assert code == 2
        assert "no story of issue 1 matches topics robotics" in err


class TestServe:
    @pytest.mark.parametrize("web", [True, False], ids=["web+scheduler", "scheduler only"])
    def test_serve_runs_and_stops_cleanly_on_sigterm(self, home: Path, web: bool) -> None:
        """`briefmail serve` announces its job, answers /healthz, and exits 0 on SIGTERM."""
        port = free_port()
        args = ["serve", "--port", str(port)] + ([] if web else ["--no-web"])
        lines: list[str] = []
        with subprocess.Popen(
            [sys.executable, "-c", "from briefmail.cli import main; main()", *args],
            cwd=home,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        ) as process:
            reader = threading.Thread(target=lambda: lines.extend(process.stderr or []))
            reader.start()
            try:
                wait_until(lambda: any("job send-due: interval[" in x for x in lines), process)
                if web:
                    wait_until(lambda: healthy(port), process)
            finally:
                process.send_signal(signal.SIGTERM)
                process.wait(timeout=30)
                reader.join(timeout=5)
        assert process.returncode == 0, lines
        if web:  # uvicorn's lines are briefmail's JSON lines too (stderr is not a terminal)
            logged = [json.loads(line) for line in lines if line.startswith("{")]
            assert any(
                (r["logger"], r.get("path"), r.get("status")) == ("uvicorn.access", "/healthz", 200)
                for r in logged
            ), lines
            assert not [x for x in lines if x.startswith(("INFO:", "WARNING:", "ERROR:"))], lines


def healthy(port: int) -> bool:
    try:
        return bool(
            httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).json() == {"status": "ok"}
        )
    except httpx.TransportError:
        return False


def wait_until(condition: Callable[[], bool], process: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + 30
    while not condition():
        assert process.poll() is None, "the server exited early"
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)
