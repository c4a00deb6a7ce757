"""Benchmark results as data: bench.record appends runs, bench.results writes the tables."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench.record import load_runs, record
from bench.results import main, render_table, update

PROSE = """# Benchmark results

Hand-written prose, with a | pipe and a table of its own that is no bench's:

| a | b |
| --- | --- |
| 1 | 2 |

## Planning

<!-- table:plan -->
| stale | table |
| --- | --- |
| old | row |
<!-- /table:plan -->

More prose: the figures above are *not* touched by hand.

<!-- table:fuzz_ingest -->
<!-- /table:fuzz_ingest -->

Closing words.
"""


def plan_run(folder: Path, commit: str, seconds: float) -> None:
    """Record one run of bench.plan into ``folder``, with a fixed commit."""
    record(
        "plan",
        {"planned": 792036, "plan_seconds": seconds, "replan_seconds": 6.2, "database_mb": 686},
        "python -m bench.plan -n 1000000",
        folder=folder,
    )
    path = folder / "plan.json"
    runs = json.loads(path.read_text())
    runs[-1].update(commit=commit, dirty=False, load=0.1, cores=2)
    path.write_text(json.dumps(runs))


class TestRecord:
    def test_each_run_is_appended_as_one_json_object(self, tmp_path: Path) -> None:
        """Two runs make a JSON list of two, oldest first, each with its context and figures."""
        record("tagging", {"stories": 60}, "python -m bench.tagging", folder=tmp_path)
        record("tagging", {"stories": 61}, "python -m bench.tagging --misses", folder=tmp_path)
        runs = json.loads((tmp_path / "tagging.json").read_text(encoding="utf-8"))
        assert [run["figures"] for run in runs] == [{"stories": 60}, {"stories": 61}]
        assert [run["command"] for run in runs] == [
            "python -m bench.tagging",
            "python -m bench.tagging --misses",
        ]
        for run in runs:
            assert run["bench"] == "tagging"
            assert run["time"].endswith("+00:00")  # UTC
            assert isinstance(run["commit"], str) and run["commit"]
            assert isinstance(run["dirty"], bool)
            assert run["cores"] >= 1
        assert load_runs(tmp_path / "tagging.json") == runs
        assert not list(tmp_path.glob("*.tmp"))

    def test_a_note_is_kept_and_the_folder_is_created(self, tmp_path: Path) -> None:
        """A run may carry a note; the results folder is made when it does not exist."""
        folder = tmp_path / "new" / "results"
        run = record(
            "send", {"msgs_per_s": 400.5}, "python -m bench.send", note="py-spy", folder=folder
        )
        assert load_runs(folder / "send.json") == [run]
        assert run["note"] == "py-spy"

    def test_a_test_cannot_write_the_repositorys_results(self) -> None:
        """Under pytest, recording into bench/results itself is refused: a test passes folder=."""
        with pytest.raises(RuntimeError, match="folder="):
            record("tagging", {"stories": 1}, "python -m bench.tagging")


class TestResults:
    def test_only_the_marked_tables_are_replaced(self, tmp_path: Path) -> None:
        """The generator rewrites what is between markers and keeps every other byte."""
        plan_run(tmp_path, "abc1234", 8.61)
        plan_run(tmp_path, "def5678", 26.04)
        new = update(PROSE, tmp_path)
        before, _, _ = PROSE.partition("<!-- table:plan -->\n")
        assert new.startswith(before + "<!-- table:plan -->\n")
        after = PROSE.split("<!-- /table:plan -->")[1].split("<!-- table:fuzz_ingest -->")[0]
        assert after in new
        assert new.endswith("<!-- /table:fuzz_ingest -->\n\nClosing words.\n")
        assert "stale" not in new and "| 1 | 2 |" in new
        table = new.split("<!-- table:plan -->\n")[1].split("\n<!-- /table:plan -->")[0]
        assert table.splitlines() == [
            "| command | commit | planned | plan | plan again | database |",
            "| --- | --- | --- | --- | --- | --- |",
            "| `python -m bench.plan -n 1000000` | abc1234 | 792,036 | 8.6 s | 6.2 s | 686 MB |",
            "| `python -m bench.plan -n 1000000` | def5678 | 792,036 | 26.0 s | 6.2 s | 686 MB |",
        ]
        assert update(new, tmp_path) == new  # a second run changes nothing

    def test_a_bench_without_runs_says_so(self, tmp_path: Path) -> None:
        """A marker whose bench has recorded nothing yet gets a line saying how to record."""
        assert render_table("fuzz_ingest", tmp_path) == (
            "_No runs recorded yet: `python -m bench.fuzz_ingest` records one._"
        )

    def test_the_ratio_is_to_the_baseline_of_the_same_run(self, tmp_path: Path) -> None:
        """The send table divides each run's rate by its own baseline, unless a ratio is given."""
        for rate, baseline in ((400.0, 1000.0), (650.0, 1000.0)):
            figures = {"database": "sqlite", "msgs_per_s": rate, "baseline_msgs_per_s": baseline}
            record("send", figures, "python -m bench.send", folder=tmp_path)
        rows = render_table("send-database", tmp_path).splitlines()[2:]
        assert [row.split(" | ")[5] for row in rows] == ["0.40", "0.65"]
        assert render_table("send", tmp_path).startswith("_No runs")  # those name a database

    def test_the_send_limit_table_quotes_smtp_source_before_smtplib(self, tmp_path: Path) -> None:
        """A run with smtp-source shows its rate and ratio before smtplib's, and only there."""
        figures = {
            "database": "sqlite",
            "workers": 2,
            "connections": 8,
            "msgs_per_s": 700.0,
            "smtp_source_msgs_per_s": 2000.0,
            "baseline_msgs_per_s": 1000.0,
        }
        record("send", figures, "python -m bench.send", folder=tmp_path)
        header, _, row = render_table("send-limit", tmp_path).splitlines()
        columns = header.split(" | ")
        assert columns.index("÷ smtp-source") < columns.index("÷ smtplib")
        cells = dict(zip(columns, row.split(" | "), strict=True))
        assert (cells["÷ smtp-source"], cells["÷ smtplib"]) == ("0.35", "0.70")
        assert cells["smtp-source msg/s"] == "2,000 (8 sessions)"
        assert render_table("send-database", tmp_path).startswith("_No runs")

    def test_the_send_floor_table_shows_each_sides_cpu_beside_the_ratios(
        self, tmp_path: Path
    ) -> None:
        """A run with a floor shows its ratio and each side's CPU; runs without one are left out."""
        figures = {
            "database": "sqlite",
            "workers": 1,
            "msgs_per_s": 700.0,
            "smtp_source_msgs_per_s": 2000.0,
            "floor_msgs_per_s": 1400.0,
            "floor_ratio_smtp_source": 0.7,
            "cpu_send_ms": 1.95,
            "cpu_busiest_ms": 1.42,
            "busiest_core_share": 0.79,
            "cpu_sink_send_ms": 0.27,
            "cpu_sink_source_ms": 0.366,
        }
        record("send", figures, "python -m bench.send", folder=tmp_path)
        record("send", {"database": "sqlite", "msgs_per_s": 9.0}, "old", folder=tmp_path)
        header, _, row, *more = render_table("send-floor", tmp_path).splitlines()
        assert not more
        columns, values = (
            [c.strip() for c in line.strip("|").split("|")] for line in (header, row)
        )
        cells = dict(zip(columns, values, strict=True))
        assert (cells["÷ smtp-source"], cells["floor ÷ smtp-source"]) == ("0.35", "0.70")
        assert (cells["briefmail CPU ms/msg"], cells["busiest process ms/msg"]) == ("1.95", "1.42")
        assert cells["sink ms/msg (send; smtp-source)"] == "0.27; 0.37"
        assert cells["smtp-source ms/msg"] == ""  # not recorded: an empty cell, not a zero

    def test_a_bench_without_a_view_shows_its_plain_figures(self, tmp_path: Path) -> None:
        """Any other bench's numbers and strings each get a column; nested figures do not."""
        figures = {"examples": 40000, "failed": False, "seconds": 93.5, "nested": {"a": 1}}
        record("fuzz_ingest", figures, "python -m bench.fuzz_ingest", folder=tmp_path)
        header, _, row = render_table("fuzz_ingest", tmp_path).splitlines()
        assert header == "| command | commit | examples | failed | seconds |"
        assert row.endswith("| 40,000 | no | 93.5 |")

    def test_the_tagging_table_shows_the_holdout_and_its_topics_under_the_goal(
        self, tmp_path: Path
    ) -> None:
        """A tagging run shows its hold-out's micro figures and each topic figure under 0.75."""
        topics = {
            "chips": {"precision": 1.0, "recall": 0.9},
            "funding": {"precision": 0.667, "recall": 0.5},
            "business": {"precision": 0.9, "recall": 0.7},
        }
        holdout = {"stories": 60, "topics": topics, "micro": {"precision": 0.9, "recall": 0.85}}
        micro = {"precision": 0.951, "recall": 0.948}
        record(
            "tagging", {"stories": 505, "micro": micro}, "python -m bench.tagging", folder=tmp_path
        )
        record(
            "tagging",
            {"stories": 505, "micro": micro, "holdout": holdout},
            "python -m bench.tagging",
            folder=tmp_path,
        )
        header, _, before, after = render_table("tagging", tmp_path).splitlines()
        assert header.endswith(
            "| hold-out stories | hold-out precision | hold-out recall "
            "| hold-out topics under 0.75 |"
        )
        assert before.endswith("| 505 | 0.95 | 0.95 |  |  |  |  |")
        assert after.endswith(
            "| 505 | 0.95 | 0.95 | 60 | 0.90 | 0.85 | funding P0.67 R0.50, business R0.70 |"
        )

    def test_the_command_writes_the_file_and_check_finds_stale_tables(self, tmp_path: Path) -> None:
        """`python -m bench.results --check` fails on a stale table; without --check it fixes it."""
        plan_run(tmp_path, "abc1234", 8.6)
        markdown = tmp_path / "RESULTS.md"
        markdown.write_text(PROSE, encoding="utf-8")
        args = ["--markdown", str(markdown), "--results", str(tmp_path)]
        with pytest.raises(SystemExit, match="out of date"):
            main([*args, "--check"])
        main(args)
        assert markdown.read_text(encoding="utf-8") == update(PROSE, tmp_path)
        main([*args, "--check"])


def test_the_repositorys_tables_are_current() -> None:
    """bench/RESULTS.md shows what bench/results/ holds: regenerated after each recorded run."""
    main(["--check"])
