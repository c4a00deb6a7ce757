"""`briefmail` commands for lists, issues, formats, topics, digests and DKIM keys."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from briefmail.cli import cli
from mailer.testing import SmtpSink
from tests.conftest import FIXTURES

runner = CliRunner()


def run(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(cli, list(args))
    return result.exit_code, result.stdout, result.stderr


class TestIngestAndIssues:
    def test_ingest_json_shape(self, home: Path) -> None:
        """`ingest --json --dry-run` prints the documented shape with id null."""
        code, out, _ = run("ingest", str(FIXTURES / "brief-mixed.txt"), "--json", "--dry-run")
        assert code == 0
        data = json.loads(out)
        assert set(data) == {
            "id",
            "title",
            "date",
            "format",
            "stories",
            "period_end",
            "posted",
            "tags",
            "summary",
            "subject",
            "preheader",
        }
        assert data["id"] is None
        assert data["date"] == "2026-07-01"
        assert data["format"] == "brief"
        assert set(data["stories"][0]) == {
            "position",
            "title",
            "source",
            "published",
            "summary",
            "why_it_matters",
            "url",
            "link_text",
            "topics",
            "role",
            "group",
            "line",
        }
        assert data["stories"][0]["line"] == 7
        assert data["stories"][1]["url"] is None
        assert data["stories"][1]["link_text"] == "模型发布：开放权重"
        assert run("issues", "list", "--json")[1].strip() == "[]"

    def test_ingest_stores_and_shows(self, home: Path) -> None:
        """Ingest prints id, title, date and count; `issues show --json` returns the same issue."""
        code, out, _ = run("ingest", str(FIXTURES / "brief-mixed.txt"), "--explain")
        assert code == 0
        assert "format: brief (" in out
        assert "Issue 1 stored as a draft: Test Brief — 2026-07-01 · 2026-07-01 · 4 stories" in out
        shown = json.loads(run("issues", "show", "1", "--json")[1])
        dry = json.loads(run("ingest", str(FIXTURES / "brief-mixed.txt"), "--json", "--dry-run")[1])
        lifecycle = ("status", "approved_by", "approved_at", "send_at", "history")
        assert {k: v for k, v in shown.items() if k not in lifecycle} == {**dry, "id": 1}
        assert json.loads(run("issues", "list", "--json")[1])[0]["stories"] == 4

    def test_bad_issue_file_is_one_line_with_file_and_line(self, home: Path) -> None:
        """A malformed file exits 2 with `Error: FILE:LINE: reason` and stores nothing."""
        bad = home / "bad.txt"
        bad.write_text(
            "Brief — 2026-07-01\n\n1. Title\n  • Source · 2026-07-01\n  • URL: x\n"
            "  • Summary: ok\n2. Other\n  • Why It Matters: y\n",
            encoding="utf-8",
        )
        code, out, err = run("ingest", str(bad))
        assert code == 2
        assert out == ""
        assert err == f"Error: {bad}:7: story 2 'Other' has no Summary\n"
        assert run("issues", "list", "--json")[1].strip() == "[]"

    @pytest.mark.parametrize(
        "args",
        [("issues", "show", "99"), ("send", "99"), ("preview", "99"), ("runs", "show", "99")],
    )
    def test_unknown_ids_exit_2(self, home: Path, args: tuple[str, ...]) -> None:
        """An unknown issue or run id is bad input: exit 2, one line."""
        code, _, err = run(*args)
        assert code == 2
        assert err.startswith("Error: no ")
        assert err.count("\n") == 1


class TestFormatsTopicsDigest:
    @pytest.mark.parametrize(
        ("name", "fmt", "count"),
        [
            ("brief-2026-06-26.txt", "brief", 8),
            ("ict-bulletin-2026-06-08.txt", "bulletin", 5),
            ("article-china-ai-momentum.txt", "article", 5),
        ],
    )
    def test_every_format_ingests_through_the_cli(
        self, home: Path, seeds: Path, name: str, fmt: str, count: int
    ) -> None:
        """Each seed ingests with its detected format; its --json ingests back unchanged."""
        code, out, err = run("ingest", str(seeds / name), "--explain")
        assert code == 0, err
        assert f"format: {fmt} (" in out and f"{count} stories" in out
        exported = home / "issue.json"
        exported.write_text(run("issues", "show", "1", "--json")[1], encoding="utf-8")
        code, out, _ = run("ingest", str(exported), "--explain")
        assert code == 0
        assert "format: json (" in out and "Issue 1 already stored" in out

    def test_changed_file_for_a_sent_issue_needs_replace(
        self, home: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """After a send, a changed file is refused (exit 1) until --replace is given."""
        source = home / "brief.txt"
        source.write_text((FIXTURES / "brief-mixed.txt").read_text(encoding="utf-8"), "utf-8")
        run("ingest", str(source), "--approve")
        with SmtpSink() as sink:
            monkeypatch.setenv("BRIEFMAIL_SMTP__PORT", str(sink.port))
            assert run("send", "1")[0] == 0
        source.write_text(source.read_text("utf-8").replace("Summer Schedule", "Summer Hours"))
        code, _, err = run("ingest", str(source))
        assert code == 1
        assert "already sent by run 1" in err and "--replace" in err
        code, out, _ = run("ingest", str(source), "--replace")
        assert code == 0 and "Issue 1 updated" in out

    def test_topics_list_explain_and_retag(self, home: Path) -> None:
        """The taxonomy is listed, tags are explained per story, and retag reports changes."""
        topics = json.loads(run("topics", "list", "--json")[1])
        assert [t["id"] for t in topics][:3] == ["chips", "models", "funding"]
        run("ingest", str(FIXTURES / "brief-mixed.txt"), "--approve")
        code, out, _ = run("topics", "explain", "1")
        assert code == 0
        assert "1. Foundry Starts Volume Output of a New Accelerator Chip" in out
        assert "chips: " in out and "[score " in out
        assert "no topic matches: general" in out
        code, out, _ = run("topics", "retag", "--all")
        assert code == 0 and "Issue 1: 0 of 4 stories changed topics" in out
        assert run("topics", "retag")[0] == 2

    def test_digest_builds_once(self, home: Path) -> None:
        """`digest --week` builds the week's digest; building it again changes nothing."""
        run("ingest", str(FIXTURES / "brief-mixed.txt"), "--approve")
        code, out, _ = run("digest", "--week", "2026-W27")
        assert code == 0
        assert out.startswith(
            "Digest 2 stored: China AI Brief — Week of 29 June – 5 July 2026 · 4 stories"
        )
        data = json.loads(run("digest", "--week", "2026-W27", "--json")[1])
        assert data["id"] == 2 and data["format"] == "digest"
        assert [s["group"] for s in data["stories"]] == ["chips", "models", "funding", "general"]
        code, _, err = run("digest", "--week", "2026-W01")
        assert code == 2 and "no daily issues on list 'brief' in 2026-W01" in err


class TestLists:
    def test_add_and_list(self, home: Path) -> None:
        """A second list is added with its own sender and shows in `lists list --json`."""
        code, _, _ = run(
            "lists", "add", "ict", "--name", "ICT Bulletin", "--from", "ICT <ict@example.org>"
        )
        assert code == 0
        data = json.loads(run("lists", "list", "--json")[1])
        assert [d["slug"] for d in data] == ["brief", "ict"]
        assert data[1]["list_id"] == "ICT Bulletin <ict.example.org>"
        assert run("lists", "add", "ict", "--name", "Again")[0] == 2
        code, _, err = run("issues", "list", "--list", "nope")
        assert code == 2
        assert "no list 'nope' (known lists: brief, ict)" in err


class TestDkimKeygen:
    def test_keygen_writes_a_private_key_and_prints_the_record(self, home: Path) -> None:
        """`dkim keygen` writes a 0600 key, prints the TXT record, and never overwrites."""
        code, out, _ = run("dkim", "keygen", "--domain", "example.org", "--algorithm", "ed25519")
        assert code == 0
        assert 'brief._domainkey.example.org. IN TXT "v=DKIM1; k=ed25519; p=' in out
        assert (home / "dkim.key").stat().st_mode & 0o777 == 0o600
        code, _, err = run("dkim", "keygen", "--domain", "example.org")
        assert code == 1 and "refusing to overwrite" in err


def test_issues_approve_and_withdraw_change_the_listed_status(home: Path) -> None:
    """`issues approve` then `issues withdraw` move a draft; `issues list --json` shows status."""
    assert run("ingest", str(FIXTURES / "brief-mixed.txt"))[0] == 0
    assert json.loads(run("issues", "list", "--json")[1])[0]["status"] == "draft"
    code, text, _ = run("issues", "approve", "1")
    assert (code, "approved" in text) == (0, True)
    assert json.loads(run("issues", "list", "--json")[1])[0]["status"] == "approved"
    assert run("issues", "withdraw", "1")[0] == 0
    assert json.loads(run("issues", "list", "--json")[1])[0]["status"] == "withdrawn"
    assert run("issues", "approve", "99")[0] == 2


def test_ingest_explain_says_how_it_dated_and_that_it_is_a_draft(home: Path) -> None:
    """--explain prints the printed date; the ingest line says draft and how to approve."""
    code, text, _ = run("ingest", str(FIXTURES / "brief-mixed.txt"), "--explain")
    assert code == 0
    assert "date: 2026-07-01, printed as" in text
    assert "stored as a draft" in text
    assert "briefmail issues approve 1" in text


def test_issues_show_tells_status_and_history(home: Path) -> None:
    """`issues show` gives the status, who approved it and every change, oldest first."""
    assert run("ingest", str(FIXTURES / "brief-mixed.txt"))[0] == 0
    assert run("issues", "approve", "1")[0] == 0
    shown = json.loads(run("issues", "show", "1", "--json")[1])
    assert shown["status"] == "approved"
    assert shown["approved_by"] is not None and shown["approved_by"].startswith("cli:")
    assert [(c["action"], c["before"], c["after"]) for c in shown["history"]] == [
        ("ingest", None, "stored"),
        ("approve", "draft", "approved"),
    ]
    code, text, _ = run("issues", "show", "1")
    assert code == 0
    assert "status: approved (approved by cli:" in text
    assert "approve status 'draft' → 'approved'" in text


def test_issues_delete_removes_only_what_no_run_had(home: Path) -> None:
    """A never-sent issue is deleted with --yes; a sent one is refused (exit 2) and kept."""
    assert run("ingest", str(FIXTURES / "brief-mixed.txt"))[0] == 0
    code, text, _ = run("issues", "delete", "1", "--yes")
    assert (code, "Issue 1 deleted" in text) == (0, True)
    assert json.loads(run("issues", "list", "--json")[1]) == []
    code, printed, _ = run("ingest", str(FIXTURES / "brief-mixed.txt"), "--approve", "--json")
    sent = str(json.loads(printed)["id"])
    assert run("send", sent)[0] == 0  # no subscribers: the run exists, nobody is sent anything
    code, _, err = run("issues", "delete", sent, "--yes")
    assert code == 2 and "cannot be deleted" in err
    assert [str(row["id"]) for row in json.loads(run("issues", "list", "--json")[1])] == [sent]


class TestIssuesEdit:
    """`issues edit`: an editor's changes, one line each, refusals as one `Error:` line."""

    @pytest.fixture
    def issue(self, home: Path) -> str:
        """The sample brief (4 stories), ingested as issue 1."""
        assert run("ingest", str(FIXTURES / "brief-mixed.txt"))[0] == 0
        return "1"

    def test_each_change_is_printed_and_shown_in_the_history(self, issue: str) -> None:
        """Title, subject, topics and a move print one line each; `issues show` lists them."""
        code, text, _ = run(
            "issues", "edit", issue, "--title", "Corrected [bold]brief[/bold]",
            "--subject", "Chips today", "--story", "2", "--topics", "policy,models",
            "--move", "4", "--to", "1",
        )  # fmt: skip
        assert code == 0
        assert text.splitlines() == [
            "Issue 1: edit title 'Test Brief — 2026-07-01' → 'Corrected [bold]brief[/bold]'",
            "Issue 1: edit subject None → 'Chips today'",
            "Issue 1: edit story 2 topics [models] → [models, policy]",
            "Issue 1: move story 4 place 4 → 1",
        ]
        code, shown, _ = run("issues", "show", issue)
        assert code == 0
        assert shown.splitlines()[0] == "Corrected [bold]brief[/bold] · 2026-07-01 · issue 1"
        assert "edit story 2 topics [models] → [models, policy]" in shown
        assert "subject: Chips today" in shown

    def test_json_prints_the_issue_as_show_does(self, issue: str) -> None:
        """`--json` prints the edited issue in the `issues show --json` shape."""
        code, printed, _ = run("issues", "edit", issue, "--drop", "1", "--json")
        assert code == 0
        edited = json.loads(printed)
        assert edited == json.loads(run("issues", "show", issue, "--json")[1])
        assert [s["position"] for s in edited["stories"]] == [1, 2, 3]
        assert edited["history"][-1]["action"] == "drop"

    def test_empty_topics_mean_general_and_survive_a_retag(self, issue: str) -> None:
        """`--topics ""` makes a story general, and `topics retag` keeps what the editor set."""
        assert run("issues", "edit", issue, "--story", "1", "--topics", "")[0] == 0
        assert run("topics", "retag", issue)[0] == 0
        shown = json.loads(run("issues", "show", issue, "--json")[1])
        assert shown["stories"][0]["topics"] == ["general"]

    def test_an_edit_to_the_same_value_says_nothing_changed(self, issue: str) -> None:
        """Setting what is already there prints that nothing changed, with the status."""
        code, text, _ = run("issues", "edit", issue, "--subject", "")
        assert (code, text) == (0, "Issue 1: nothing changed (draft)\n")

    @pytest.mark.parametrize(
        ("args", "message"),
        [
            (
                (),
                "Error: nothing to change: give --title, --subject, --preheader, "
                "--story N --topics a,b, --drop N or --move N --to M "
                "(see `briefmail issues edit --help`)",
            ),
            (("--story", "2"), "Error: --story needs --topics"),
            (("--to", "2"), "Error: --to needs --move"),
            (("--drop", "12"), "Error: story 12: the issue has 4 stories"),
            (("--move", "1", "--to", "5"), "Error: story 5: the issue has 4 stories"),
            (
                ("--title", "Kept?", "--story", "2", "--topics", "models,crypto"),
                "Error: story 2: unknown topic crypto (valid topics: chips, models, funding, "
                "policy, infrastructure, robotics, research, business, general)",
            ),
            (("--title", " "), "Error: issue 1: the title cannot be empty"),
        ],
    )
    def test_bad_edits_exit_2_with_one_line_and_change_nothing(
        self, issue: str, args: tuple[str, ...], message: str
    ) -> None:
        """Each bad edit prints its one-line error, exits 2 and leaves the issue as it was."""
        before = json.loads(run("issues", "show", issue, "--json")[1])
        code, text, err = run("issues", "edit", issue, *args)
        assert (code, text, err) == (2, "", message + "\n")
        assert json.loads(run("issues", "show", issue, "--json")[1]) == before

    def test_a_sent_or_unknown_issue_is_refused(self, issue: str) -> None:
        """A sent issue is never edited (exit 2, said why); an unknown id exits 2 too."""
        assert run("issues", "approve", issue)[0] == 0
        assert run("send", issue)[0] == 0  # no subscribers: the run exists, nobody gets it
        code, _, err = run("issues", "edit", issue, "--title", "Too late")
        assert (code, err) == (2, "Error: issue 1 was sent; a sent issue is never changed\n")
        assert run("issues", "edit", "99", "--title", "Nothing")[0] == 2
