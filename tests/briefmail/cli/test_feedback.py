"""`briefmail bounces parse|process` and `briefmail subscribers show`: the real commands."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from briefmail.app import Briefmail
from briefmail.cli import cli
from mailer.testing import SmtpSink
from tests.conftest import FIXTURES
from tests.scheduler.test_feedback import HARD, SOFT, maildir, readdress, send_to_everyone

runner = CliRunner()
VENDORS = FIXTURES / "bounces" / "vendors"


def run(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(cli, list(args))
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture
def shell(app: Briefmail, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Briefmail:
    """The CLI in a working directory, on the same database and signing key as ``app``."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.chdir(home)
    monkeypatch.setenv("BRIEFMAIL_DATABASE__URL", app.settings.database_url())
    monkeypatch.setenv("BRIEFMAIL_SECRET_KEY", app.settings.secret())
    code, _, stderr = run("init")
    assert code == 0, stderr
    return app


class TestBouncesParse:
    """`bounces parse` says what each report says and changes nothing."""

    def test_one_line_per_recipient(self, shell: Briefmail) -> None:
        """Each report names its id, then each recipient's address, reason, status and words."""
        code, stdout, _ = run("bounces", "parse", str(VENDORS / "postfix-spamhaus.eml"))
        assert code == 0
        lines = stdout.splitlines()
        assert lines[0] == (
            f"{VENDORS / 'postfix-spamhaus.eml'}: <postfix-spamhaus.113@mail.example.net>"
        )
        assert lines[1].startswith("  reader2@example.net  policy  5.7.1  no delivery: 554 5.7.1")

    def test_json(self, shell: Briefmail) -> None:
        """--json gives each report's id and recipients; a non-report has none."""
        paths = [str(VENDORS / "exim-mail-from.eml"), str(FIXTURES / "bounces/out-of-office.eml")]
        code, stdout, _ = run("bounces", "parse", *paths, "--json")
        assert code == 0
        first, second = json.loads(stdout)
        [recipient] = first["recipients"]
        assert (recipient["address"], recipient["reason"], recipient["status"]) == (
            "reader@example.net",
            "sender",
            "5.1.7",
        )
        assert recipient["delivery_id"] is None
        assert second["recipients"] == []

    def test_a_bad_path_is_named_and_the_others_are_read(
        self, shell: Briefmail, tmp_path: Path
    ) -> None:
        """A missing file is one error line naming it, exit 2; the good report is still shown."""
        missing = tmp_path / "nope.eml"
        code, stdout, stderr = run(
            "bounces", "parse", str(missing), str(VENDORS / "gmail-over-quota.eml")
        )
        assert code == 2
        assert stderr == f"Error: {missing}: No such file or directory\n"
        assert "full.reader@gmail.example  full  5.2.2" in stdout
        assert "Traceback" not in stdout + stderr


class TestBouncesProcess:
    """`bounces process` prints who it suppressed and why."""

    async def test_prints_each_suppression_with_its_evidence(
        self, shell: Briefmail, smtp_sink: SmtpSink, tmp_path: Path
    ) -> None:
        """A gone report suppresses its reader, named with the reason, words and report id."""
        sent = await send_to_everyone(shell)
        signer = shell.dispatcher().signer
        assert signer is not None
        box = maildir(
            tmp_path,
            {
                "1.eml": readdress("postfix-hard", signer.make_bounce_token(sent[HARD][0]), "<x>"),
                "2.eml": readdress("mailbox-full", signer.make_bounce_token(sent[SOFT][0]), "<y>"),
            },
        )
        code, stdout, _ = run("bounces", "process", str(box))
        assert code == 0
        assert stdout.splitlines() == [
            f"suppressed {HARD}: gone — 5.1.1 550 5.1.1 <{HARD}>: Recipient address rejected: "
            "User unknown in virtual mailbox table "
            "(report <20260701070012.4XyZ0t3KqLz9sWn@mx.example.net>)",
            "reports 2, events: full 1, gone 1; suppressed 1, already seen 0, unmatched 0",
        ]
        code, stdout, _ = run("bounces", "process", str(box), "--json")
        assert (code, json.loads(stdout)["already_seen"]) == (0, 2)


class TestSubscribersShow:
    """`subscribers show` gives a person's whole story, suppression evidence included."""

    async def test_shows_the_suppression_and_its_evidence(
        self, shell: Briefmail, smtp_sink: SmtpSink, tmp_path: Path
    ) -> None:
        """After a gone report: subscriptions, consent, deliveries and the report that did it."""
        sent = await send_to_everyone(shell)
        signer = shell.dispatcher().signer
        assert signer is not None
        token = signer.make_bounce_token(sent[HARD][0])
        run(
            "bounces",
            "process",
            str(maildir(tmp_path, {"1.eml": readdress("postfix-hard", token, "<x>")})),
        )
        code, stdout, _ = run("subscribers", "show", HARD, "--json")
        assert code == 0
        profile = json.loads(stdout)
        assert profile["suppression"]["reason"] == "hard bounce"
        assert profile["suppression"]["report_id"] == (
            "<20260701070012.4XyZ0t3KqLz9sWn@mx.example.net>"
        )
        assert profile["suppression"]["diagnostic"].startswith("550 5.1.1")
        assert [s["status"] for s in profile["subscriptions"]] == ["bounced"]
        assert [e["action"] for e in profile["consent_events"]] == ["subscribe", "bounce"]
        [delivery] = profile["deliveries"]
        assert delivery["delivery_id"] == sent[HARD][0]
        assert [b["reason"] for b in delivery["bounces"]] == ["gone"]
        code, stdout, _ = run("subscribers", "show", HARD)
        assert code == 0
        assert "suppressed since" in stdout and "hard bounce — 550 5.1.1" in stdout

    def test_unknown_address(self, shell: Briefmail) -> None:
        """An address nobody holds data about is one error line, exit 1."""
        code, _, stderr = run("subscribers", "show", "nobody@example.org")
        assert (code, stderr) == (1, "Error: no data is held about nobody@example.org\n")
