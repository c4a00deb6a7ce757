"""`briefmail sources list|check|poll`: what each source holds, what a poll would do, doing it."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

from typer.testing import CliRunner

from briefmail.cli import cli
from tests.conftest import FIXTURES

runner = CliRunner()


def run(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(cli, list(args))
    return result.exit_code, result.stdout, result.stderr


def add_sources(home: Path, *tables: str) -> None:
    """Append [[sources]] tables to the initialised briefmail.toml."""
    with (home / "briefmail.toml").open("a", encoding="utf-8") as config:
        for table in tables:
            config.write(f"\n[[sources]]\n{table}\n")


def inbox_with_brief(home: Path) -> Path:
    """A folder holding one settled brief file."""
    inbox = home / "inbox"
    inbox.mkdir()
    brief = inbox / "brief.txt"
    brief.write_bytes((FIXTURES / "brief-mixed.txt").read_bytes())
    settled = time.time() - 60
    os.utime(brief, (settled, settled))
    return inbox


class TestSourcesCommands:
    def test_list_check_then_poll_a_folder(self, home: Path) -> None:
        """list shows the source never polled; check stores nothing; poll stores a draft once."""
        inbox_with_brief(home)
        add_sources(home, 'list = "brief"\nfolder = "inbox"\nname = "inbox"')
        code, out, _ = run("sources", "list")
        assert code == 0
        assert "inbox" in out and "never" in out and "editor" in out
        code, out, _ = run("sources", "check")
        assert (code, out) == (0, "inbox: checked\n  new: brief.txt\n")
        code, out, _ = run("issues", "list", "--json")
        assert json.loads(out) == []
        code, out, _ = run("sources", "poll")
        assert code == 0
        assert out == "inbox: ok\n  stored: brief.txt → issue 1\n"
        code, out, _ = run("issues", "list", "--json")
        assert [issue["status"] for issue in json.loads(out)] == ["draft"]
        code, out, _ = run("sources", "poll", "--json")
        assert code == 0
        (report,) = json.loads(out)
        assert report == {
            "source": "inbox",
            "status": "ok",
            "error": None,
            "seen": 1,
            "entries": [],
        }
        code, out, _ = run("sources", "list", "--json")
        (info,) = json.loads(out)
        assert info["entries"] == 1 and info["error"] is None
        assert info["polled_at"] is not None and info["next_poll"] is not None

    def test_poll_due_skips_a_source_polled_just_now(self, home: Path) -> None:
        """--due polls only the sources whose poll_minutes have passed."""
        inbox_with_brief(home)
        add_sources(home, 'list = "brief"\nfolder = "inbox"\nname = "inbox"')
        assert run("sources", "poll", "--due")[1].startswith("inbox: ok")
        code, out, _ = run("sources", "poll", "--due", "--json")
        assert (code, json.loads(out)) == (0, [])

    def test_a_source_that_fails_exits_1_and_the_others_still_poll(self, home: Path) -> None:
        """One source's error is one line on stderr and exit 1; the other source is polled."""
        inbox_with_brief(home)
        add_sources(
            home,
            'list = "brief"\nfolder = "missing"\nname = "gone"',
            'list = "brief"\nfolder = "inbox"\nname = "inbox"',
        )
        code, out, err = run("sources", "poll")
        assert code == 1
        assert err == f"Error: source gone: {home / 'missing'}: no such folder\n"
        assert "stored: brief.txt" in out

    def test_an_unknown_source_name_exits_2_naming_the_known_ones(self, home: Path) -> None:
        """--source with a name no source has is bad input."""
        add_sources(home, 'list = "brief"\nfolder = "inbox"\nname = "inbox"')
        code, _, err = run("sources", "poll", "--source", "feed")
        assert code == 2
        assert err == "Error: no source named 'feed' (known: inbox)\n"

    def test_a_source_with_both_url_and_folder_is_a_settings_error(self, home: Path) -> None:
        """A [[sources]] table must have exactly one of url and folder: exit 2 naming it."""
        add_sources(home, 'list = "brief"\nfolder = "inbox"\nurl = "https://x.example/feed"')
        code, _, err = run("sources", "list")
        assert code == 2
        assert "sources" in err and "exactly one of url or folder" in err

    def test_no_sources_says_how_to_add_one(self, home: Path) -> None:
        """Without [[sources]], list says where to configure them."""
        code, out, _ = run("sources", "list")
        assert (code, out) == (
            0,
            "No sources configured (add [[sources]] tables to briefmail.toml).\n",
        )
