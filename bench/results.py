"""The tables of bench/RESULTS.md, generated from the runs in bench/results/*.json.

    python -m bench.results            # rewrite the tables in bench/RESULTS.md
    python -m bench.results --check    # exit 1 if a table is out of date, changing nothing

RESULTS.md is prose written by hand; each table in it sits between two markers::

    <!-- table:plan -->
    | command | commit | ... |          <- replaced by this script; edits here are lost
    <!-- /table:plan -->

and everything outside the markers is left exactly as it is. A table has one row per recorded
run, oldest first. Its columns come from `TABLES` when the marker's name is there (a view of one
bench's runs, with the figures worth showing and the ratio to the baseline measured in the same
run), else the marker names a bench and every figure that is a number or a string gets a column.
A commit marked ``+`` had uncommitted changes in tracked files when the bench ran.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.record import RESULTS, load_runs

__all__ = ["TABLES", "Column", "Table", "main", "render_table", "unmarked", "update"]

Run = dict[str, Any]
MARKDOWN = Path(__file__).resolve().parent / "RESULTS.md"
_MARKED = re.compile(
    r"(?P<open><!-- table:(?P<name>[\w.-]+) -->)\n.*?(?P<close><!-- /table:(?P=name) -->)",
    re.DOTALL,
)
_MARKED_NAMES = re.compile(r"<!-- table:([\w.-]+) -->")


@dataclass(frozen=True)
class Column:
    """One column: its header, and its cell for a run ("" when the run lacks the figure)."""

    header: str
    cell: Callable[[Run], str]


@dataclass(frozen=True)
class Table:
    """A view of one bench's runs: which runs, and which columns after command and commit."""

    bench: str
    columns: tuple[Column, ...]
    keep: Callable[[Run], bool] = lambda run: True


# --- cells -----------------------------------------------------------------------------------


def _figure(run: Run, key: str) -> Any:
    return run.get("figures", {}).get(key)


def whole(key: str, unit: str = "") -> Callable[[Run], str]:
    """A figure rounded to a whole number, with thousands separators: 1,025."""

    def cell(run: Run) -> str:
        value = _figure(run, key)
        return "" if value is None else f"{round(value):,}{unit}"

    return cell


def decimals(key: str, places: int = 1, unit: str = "") -> Callable[[Run], str]:
    """A figure to ``places`` decimals (a whole number recorded as one stays whole: 132 MB)."""

    def cell(run: Run) -> str:
        value = _figure(run, key)
        if value is None:
            return ""
        return f"{value:,}{unit}" if isinstance(value, int) else f"{value:,.{places}f}{unit}"

    return cell


def ratio(numerator: str, denominator: str, recorded: str = "ratio") -> Callable[[Run], str]:
    """numerator / denominator of the same run, to two decimals; a ``recorded`` ratio wins."""

    def cell(run: Run) -> str:
        given, top, bottom = (_figure(run, k) for k in (recorded, numerator, denominator))
        if given is not None:
            return f"{given:.2f}"
        return f"{top / bottom:.2f}" if top is not None and bottom else ""

    return cell


def command_cell(run: Run) -> str:
    """The command as typed, then its note, and "busy" if the load was above the cores."""
    notes = [run["note"]] if run.get("note") else []
    load, cores = run.get("load"), run.get("cores") or 1
    if load is not None and load > cores and "busy" not in notes:
        notes.append(f"busy: load {load:.1f}")
    elif _figure(run, "busy") and "busy" not in notes:
        notes.append("busy")
    return f"`{run['command']}`" + "".join(f" ({note})" for note in notes)


def commit_cell(run: Run) -> str:
    """The short commit, with a + when the tree had uncommitted changes."""
    return f"{run.get('commit') or '?'}{'+' if run.get('dirty') else ''}"


def _sink_cpu(run: Run) -> str:
    during_send, during_source = (
        decimals(key, 2)(run) for key in ("cpu_sink_send_ms", "cpu_sink_source_ms")
    )
    return f"{during_send}; {during_source}" if during_send else ""


def _peak_rss(run: Run) -> str:
    peak = decimals("peak_rss_mb", 1, " MB")(run)
    wait4 = _figure(run, "wait4_rss_mb")
    return f"{peak} (VmHWM; wait4 said {wait4})" if peak and wait4 is not None else peak


def _baseline_rate(run: Run) -> str:
    rate = whole("baseline_msgs_per_s")(run)
    connections = _figure(run, "baseline_connections")
    return f"{rate} ({connections} connections)" if rate and connections else rate


def _source_rate(run: Run) -> str:
    rate = whole("smtp_source_msgs_per_s")(run)
    sessions = _figure(run, "connections")
    return f"{rate} ({sessions} sessions)" if rate and sessions else rate


def _render_sizes(run: Run) -> str:
    sizes = _figure(run, "sizes") or {}
    return ", ".join(f"{name} {size['html_bytes']:,}" for name, size in sizes.items())


def _sent_sizes(run: Run) -> str:
    """Each case's HTML as sent (bytes) and the layout the renderer chose."""
    rows = [row for row in _figure(run, "rows") or [] if row["layout"].startswith("sent")]
    return "; ".join(
        f"{row['case']}: {row['sent']:,} ({row['layout'].removeprefix('sent, ')})" for row in rows
    )


def _ingest_shapes(run: Run) -> str:
    """Per shape: seconds per MB at the largest size, and its ratio to the smallest size's."""
    parts = []
    for shape in _figure(run, "shapes") or []:
        largest = shape["results"][-1]
        parts.append(
            f"{shape['stories']} stories, wrap {shape['wrap']}: {largest['mb']:.1f} MB in "
            f"{largest['seconds']:.3f} s, {largest['ratio']:.2f}x the smallest's s/MB"
        )
    return "; ".join(parts)


def _micro(key: str, part: str | None = None) -> Callable[[Run], str]:
    """A micro-averaged figure of the tuning set, or of ``part`` ("holdout") of the run."""

    def cell(run: Run) -> str:
        figures = (_figure(run, part) or {}) if part else run.get("figures", {})
        micro = figures.get("micro") or {}
        return "" if key not in micro else f"{micro[key]:.2f}"

    return cell


def _holdout_stories(run: Run) -> str:
    stories = (_figure(run, "holdout") or {}).get("stories")
    return "" if stories is None else f"{stories:,}"


#: Issue 19's goal for every topic on the hold-out, precision and recall alike.
_TOPIC_GOAL = 0.75


def _under_goal(run: Run) -> str:
    """The hold-out's topics under the per-topic goal, each with the figures under it."""
    holdout = _figure(run, "holdout")
    if not holdout:
        return ""
    under = []
    for topic, figures in holdout.get("topics", {}).items():
        low = [
            f"{letter}{figures[key]:.2f}"
            for letter, key in (("P", "precision"), ("R", "recall"))
            if figures[key] < _TOPIC_GOAL
        ]
        if low:
            under.append(f"{topic} {' '.join(low)}")
    return ", ".join(under) or "none"


# --- the views ---------------------------------------------------------------------------------

_DELIVERED = Column("delivered", whole("delivered"))
_RSS = Column("peak RSS (largest process)", _peak_rss)
#: The tables that are views with chosen columns; any other marker names a bench (generic table).
TABLES: dict[str, Table] = {
    # bench.send before it had --database (all SQLite): the runs that name no database.
    "send": Table(
        "send",
        (
            _DELIVERED,
            Column("briefmail msg/s", whole("msgs_per_s")),
            Column("baseline msg/s", _baseline_rate),
            Column("ratio", ratio("msgs_per_s", "baseline_msgs_per_s")),
            _RSS,
            Column("variants rendered", whole("variants_rendered")),
        ),
        keep=lambda run: _figure(run, "database") is None,
    ),
    # bench.send with a database named: every run since --database came.
    "send-database": Table(
        "send",
        (
            _DELIVERED,
            Column("msg/s", whole("msgs_per_s")),
            Column("baseline msg/s (same run)", _baseline_rate),
            Column("ratio", ratio("msgs_per_s", "baseline_msgs_per_s")),
            Column("planning (in the send)", decimals("planning_seconds", 1, " s")),
            _RSS,
            Column("database", whole("database_mb", " MB")),
        ),
        keep=lambda run: (
            _figure(run, "database") is not None and _figure(run, "smtp_source_msgs_per_s") is None
        ),
    ),
    # bench.send since it runs smtp-source beside the sender: the machine's limit comes first.
    "send-limit": Table(
        "send",
        (
            _DELIVERED,
            Column("senders", whole("workers")),
            Column("briefmail msg/s", whole("msgs_per_s")),
            Column("smtp-source msg/s", _source_rate),
            Column(
                "÷ smtp-source", ratio("msgs_per_s", "smtp_source_msgs_per_s", "ratio_smtp_source")
            ),
            Column("smtplib msg/s", _baseline_rate),
            Column("÷ smtplib", ratio("msgs_per_s", "baseline_msgs_per_s")),
            Column("message", whole("message_bytes", " B")),
            Column("DKIM signature", decimals("dkim_sign_ms", 2, " ms")),
            _RSS,
            Column("variants rendered", whole("variants_rendered")),
        ),
        keep=lambda run: _figure(run, "smtp_source_msgs_per_s") is not None,
    ),
    # Issue 22's floor: what each side spent a message, measured in the run (bench/floor.py).
    "send-floor": Table(
        "send",
        (
            _DELIVERED,
            Column("senders", whole("workers")),
            Column(
                "÷ smtp-source", ratio("msgs_per_s", "smtp_source_msgs_per_s", "ratio_smtp_source")
            ),
            Column("floor ÷ smtp-source", decimals("floor_ratio_smtp_source", 2)),
            Column("briefmail CPU ms/msg", decimals("cpu_send_ms", 2)),
            Column("busiest process ms/msg", decimals("cpu_busiest_ms", 2)),
            Column("of a core", decimals("busiest_core_share", 2)),
            Column("signature ms", decimals("dkim_sign_ms", 2)),
            Column("smtp-source ms/msg", decimals("cpu_source_ms", 2)),
            Column("sink ms/msg (send; smtp-source)", _sink_cpu),
        ),
        keep=lambda run: _figure(run, "floor_msgs_per_s") is not None,
    ),
    "plan": Table(
        "plan",
        (
            Column("planned", whole("planned")),
            Column("plan", decimals("plan_seconds", 1, " s")),
            Column("plan again", decimals("replan_seconds", 1, " s")),
            Column("database", whole("database_mb", " MB")),
        ),
    ),
    "render": Table(
        "render",
        (
            Column("briefmail variant ms", decimals("briefmail_variant_ms", 2)),
            Column("mjml-python ms", decimals("mjml_python_ms", 2)),
            Column("npm mjml in process ms", decimals("npm_mjml_in_process_ms", 2)),
            Column("npm mjml CLI ms", decimals("npm_mjml_cli_ms", 2)),
            Column(
                "npm in process / briefmail",
                ratio("npm_mjml_in_process_ms", "briefmail_variant_ms"),
            ),
            Column("css-inline ms", decimals("css_inline_ms", 2)),
            Column("premailer ms", decimals("premailer_ms", 2)),
            Column("HTML bytes per template", _render_sizes),
        ),
    ),
    "message_sizes": Table(
        "message_sizes",
        (
            Column("limit", whole("limit", " B")),
            Column("HTML as sent, bytes (layout)", _sent_sizes),
        ),
    ),
    "ingest_large": Table("ingest_large", (Column("largest size per shape", _ingest_shapes),)),
    "tagging": Table(
        "tagging",
        (
            Column("stories", whole("stories")),
            Column("precision (micro)", _micro("precision")),
            Column("recall (micro)", _micro("recall")),
            Column("hold-out stories", _holdout_stories),
            Column("hold-out precision", _micro("precision", "holdout")),
            Column("hold-out recall", _micro("recall", "holdout")),
            Column(f"hold-out topics under {_TOPIC_GOAL}", _under_goal),
        ),
    ),
}


# --- tables and the file -----------------------------------------------------------------------


def _generic(bench: str, runs: Sequence[Run]) -> Table:
    """Every figure that is a number or a string, in the order the runs first give them."""
    keys: dict[str, None] = {}
    for run in runs:
        for key, value in run.get("figures", {}).items():
            if isinstance(value, int | float | str) and key != "busy":
                keys.setdefault(key)

    def cell(key: str) -> Callable[[Run], str]:
        def show(run: Run) -> str:
            value = _figure(run, key)
            if value is None or isinstance(value, str):
                return value or ""
            return ("yes" if value else "no") if isinstance(value, bool) else f"{value:,}"

        return show

    return Table(bench, tuple(Column(key, cell(key)) for key in keys))


def render_table(name: str, folder: Path = RESULTS) -> str:
    """The Markdown table for marker ``name``, from ``folder``'s results files."""
    view = TABLES.get(name)
    bench = view.bench if view else name
    runs = load_runs(folder / f"{bench}.json")
    table = view or _generic(bench, runs)
    runs = [run for run in runs if table.keep(run)]
    if not runs:
        return f"_No runs recorded yet: `python -m bench.{bench}` records one._"
    columns = (Column("command", command_cell), Column("commit", commit_cell), *table.columns)
    lines = [
        "| " + " | ".join(column.header for column in columns) + " |",
        "| " + " | ".join("---" for _ in columns) + " |",
    ]
    for run in runs:
        cells = (column.cell(run).replace("|", "\\|") for column in columns)
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def update(text: str, folder: Path = RESULTS) -> str:
    """``text`` with every marked table regenerated and everything outside the markers kept."""
    return _MARKED.sub(
        lambda found: f"{found['open']}\n{render_table(found['name'], folder)}\n{found['close']}",
        text,
    )


def unmarked(text: str, folder: Path = RESULTS) -> list[str]:
    """The benches with results but no table of theirs in ``text``."""
    shown = {TABLES[n].bench if n in TABLES else n for n in _MARKED_NAMES.findall(text)}
    return sorted(path.stem for path in folder.glob("*.json") if path.stem not in shown)


def main(argv: list[str] | None = None) -> None:
    """Rewrite the tables of RESULTS.md (or, with --check, only say whether they are current)."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n", 1)[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if a table is out of date")
    parser.add_argument("--markdown", type=Path, default=MARKDOWN, help=argparse.SUPPRESS)
    parser.add_argument("--results", type=Path, default=RESULTS, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    text = args.markdown.read_text(encoding="utf-8")
    new = update(text, args.results)
    for bench in unmarked(text, args.results):
        print(
            f"bench/results/{bench}.json has no table: add <!-- table:{bench} --> and "
            f"<!-- /table:{bench} --> to {args.markdown.name}",
            file=sys.stderr,
        )
    if args.check:
        if new != text:
            raise SystemExit(f"{args.markdown}: tables out of date; run python -m bench.results")
        return
    if new != text:
        args.markdown.write_text(new, encoding="utf-8")
    print(f"{args.markdown}: {len(_MARKED_NAMES.findall(text))} tables", file=sys.stderr)


if __name__ == "__main__":
    main()
