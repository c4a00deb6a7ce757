"""`briefmail send ID --at …`: scheduling a whole-issue send from the command line."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from briefmail.cli import cli
from tests.conftest import FIXTURES

runner = CliRunner()


def run(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(cli, list(args))
    return result.exit_code, result.stdout, result.stderr


def bulletin() -> str:
    """Ingest and approve the sample bulletin; its id."""
    code, out, err = run("ingest", str(FIXTURES / "bulletin-sample.txt"), "--json", "--approve")
    assert code == 0, err
    return str(json.loads(out)["id"])


class TestSendAt:
    def test_at_schedules_and_says_when_in_both_zones(self, home: Path) -> None:
        """--at with --tz prints the local and the UTC time; --json gives both instants."""
        issue = bulletin()
        code, out, _ = run("send", issue, "--at", "2027-06-27 07:00", "--tz", "Europe/Berlin")
        assert code == 0
        assert out == (
            f"issue {issue} scheduled for 2027-06-27 07:00 Europe/Berlin (2027-06-27 05:00 UTC); "
            "`briefmail serve` sends it then\n"
        )
        code, out, _ = run("send", issue, "--at", "2027-06-27 07:00", "--json")
        assert json.loads(out) == {
            "issue_id": int(issue),
            "send_at": "2027-06-27T07:00:00+00:00",
            "local": "2027-06-27T07:00:00+00:00",
            "timezone": "UTC",
        }
        code, out, _ = run("issues", "show", issue, "--json")
        assert json.loads(out)["send_at"].startswith("2027-06-27T07:00:00")
        code, out, _ = run("issues", "show", issue)
        assert "scheduled: 2027-06-27 07:00 UTC\n" in out

    def test_unschedule_clears_it(self, home: Path) -> None:
        """--unschedule clears a schedule and says when there was none."""
        issue = bulletin()
        run("send", issue, "--at", "2027-06-27 07:00")
        assert run("send", issue, "--unschedule")[1] == f"issue {issue} no longer scheduled\n"
        assert run("send", issue, "--unschedule")[1] == f"issue {issue} was not scheduled\n"

    def test_bad_schedules_exit_2_with_the_reason(self, home: Path) -> None:
        """A past time, a draft, a bad zone and --tz alone are bad input, each named."""
        issue = bulletin()
        code, _, err = run("send", issue, "--at", "2001-01-01 07:00")
        assert code == 2
        assert err == (
            f"Error: 2001-01-01 07:00 UTC is in the past; to send now: briefmail send {issue}\n"
        )
        code, _, err = run("send", issue, "--at", "2027-01-01 07:00", "--tz", "Mars/Base")
        assert code == 2 and "Mars/Base" in err
        code, _, err = run("send", issue, "--tz", "UTC")
        assert code == 2 and "--tz goes with --at" in err
        code, _, err = run("send", issue, "--at", "2027-01-01 07:00", "--dry-run")
        assert code == 2 and "they send nothing now" in err

    def test_a_draft_is_not_scheduled(self, home: Path, tmp_path: Path) -> None:
        """Scheduling a draft exits 2 with the command that approves it."""
        source = tmp_path / "article.txt"
        source.write_bytes((FIXTURES / "article-sample.txt").read_bytes())
        code, out, _ = run("ingest", str(source), "--json")
        issue = str(json.loads(out)["id"])
        code, _, err = run("send", issue, "--at", "2027-01-01 07:00")
        assert code == 2
        assert err == (
            f"Error: issue {issue} is draft and cannot be scheduled: approve it first: "
            f"briefmail issues approve {issue}\n"
        )
