"""Two sender machines sharing one run, simulated: two workers, two configs, two sinks.

    python -m bench.machines -n 20000 --database postgresql

The scale-out of issue 9 and 22, measured. Set up as `bench.send` sets up (the subscribers
in bulk, the issue ingested through the CLI, an RSA-2048 key), the run is planned once, as
`send` plans it; then two `briefmail worker --run R` processes start at the same instant,
each with a config of its own that points at a smtp-sink of its own, as two machines would
have their own relays. They share the run through the ledger's leases (on PostgreSQL,
`FOR UPDATE SKIP LOCKED`), and the bench prints each one's count and rate, their sum, and
Postfix's `smtp-source` over as many sessions in all into one sink in the same run: the
limit of this machine, which here has to hold both "machines" and both sinks on its cores.
Every reader must be delivered exactly once, in the two sinks together.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.baseline import prebuilt_message
from bench.database import bench_database
from bench.processes import briefmail_command, clean_env, run_cli, run_command
from bench.record import record
from bench.send import _create_subscribers, _set_up_briefmail
from bench.smtp_sink import SmtpSink, locate
from bench.smtp_source import locate_source, push
from briefmail.settings import SmtpSettings

__all__ = ["main", "plan", "start_worker"]

#: The simulated machines, each with its own config file and sink.
MACHINES = ("a", "b")


def plan(folder: Path, config: Path, issue_id: int) -> int:
    """Plan the issue's run through the library, as `send` does first; the run's id."""
    code = (
        "import sys\nfrom briefmail.app import build_app\n"
        "from briefmail.settings import load_settings\n"
        "from pathlib import Path\napp = build_app(load_settings(Path(sys.argv[1])))\n"
        "print(app.sending.plan(int(sys.argv[2])))\napp.close()\n"
    )
    out = run_command(folder, [sys.executable, "-c", code, str(config), str(issue_id)], "planning")
    return int(out.split()[-1])


def start_worker(folder: Path, config: Path, run_id: int) -> subprocess.Popen[str]:
    """`briefmail worker --run R --json` for one simulated machine, started now."""
    command = [briefmail_command(), "--config", str(config), "worker", "--run", str(run_id)]
    return subprocess.Popen(
        [*command, "--json"],
        cwd=folder,
        env=clean_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _machine_config(config: Path, machine: str, port: int) -> Path:
    """A copy of the bench's config that sends to ``port`` (this machine's own relay)."""
    path = config.with_name(f"machine-{machine}.toml")
    text = re.sub(r"(?m)^port = \d+$", f"port = {port}", config.read_text(encoding="utf-8"))
    path.write_text(text, encoding="utf-8")
    return path


def measure(args: argparse.Namespace, folder: Path) -> dict[str, object]:
    """Set up, plan, send with both machines at once, push smtp-source; the figures."""
    binary = locate()
    for machine in MACHINES:
        (folder / f"sink-{machine}").mkdir()
    with (
        bench_database(args.database, folder) as database,
        SmtpSink(binary, folder / "sink-a") as sink_a,
        SmtpSink(binary, folder / "sink-b") as sink_b,
    ):
        url = database.url if database.kind != "sqlite" else "sqlite:///bench.db"
        issue_id = _set_up_briefmail(args, folder, url, sink_a.port)
        _create_subscribers(args, database)
        config = folder / "briefmail.toml"
        sinks = {"a": sink_a, "b": sink_b}
        configs = {m: _machine_config(config, m, sinks[m].port) for m in MACHINES}
        run_id = plan(folder, config, issue_id)
        started = time.perf_counter()
        workers = {m: start_worker(folder, configs[m], run_id) for m in MACHINES}
        reports, seconds = {}, {}
        for machine, process in workers.items():
            out, err = process.communicate()
            seconds[machine] = time.perf_counter() - started
            if process.returncode != 0:
                raise SystemExit(f"worker {machine} failed ({process.returncode}):\n{err}")
            reports[machine] = json.loads(out)
        wall = max(seconds.values())
        shown = run_cli(folder, "--config", str(config), "runs", "show", str(run_id), "--json")
        counts = json.loads(shown)["counts"]
        sent = {m: int(reports[m]["sent_now"]) for m in MACHINES}
        received = {m: sinks[m].wait_for(sent[m]) for m in MACHINES}
        total = sum(sent.values())
        size = prebuilt_message(config, issue_id).size
        sessions = 2 * args.connections
        before = sink_a.received()
        source_seconds = push(
            locate_source(binary), sink_a.host, sink_a.port, size, total, sessions
        ).seconds
        sink_a.wait_for(before + total)
    rate = total / wall if wall else 0.0
    source_rate = total / source_seconds if source_seconds else 0.0
    return {
        "database": args.database,
        "subscribers": args.subscribers,
        "connections_each": args.connections,
        "planned": sum(counts.values()),
        "delivered": counts["delivered"],
        "sent_by_workers": total,
        "received_by_sinks": sum(received.values()),
        **{f"machine_{m}_sent": sent[m] for m in MACHINES},
        **{f"machine_{m}_msgs_per_s": round(sent[m] / seconds[m], 1) for m in MACHINES},
        "seconds": round(wall, 3),
        "msgs_per_s": round(rate, 1),
        "smtp_source_msgs_per_s": round(source_rate, 1),
        "ratio_smtp_source": round(rate / source_rate, 4) if source_rate else None,
        "message_bytes": size,
    }


def main() -> None:
    """Run the two-machine send once and print (and record) its figures."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n", 1)[0])
    parser.add_argument("--subscribers", "-n", type=int, default=20_000)
    parser.add_argument(
        "--connections",
        type=int,
        default=SmtpSettings.model_fields["connections"].default,
        help="[smtp] connections each (default: the setting's)",
    )
    parser.add_argument("--database", choices=("sqlite", "postgresql"), default="postgresql")
    parser.add_argument("--dkim", choices=("rsa", "ed25519", "none"), default="rsa")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--no-record", action="store_true", help="do not append to bench/results")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-machines-") as tmp:
        figures = measure(args, Path(tmp))
    width = max(len(key) for key in figures)
    for key, value in figures.items():
        shown = f"{value:,}" if isinstance(value, int | float) else str(value)
        print(f"{key:<{width}}  {shown}")
    print(json.dumps(figures))
    once = {figures["planned"], figures["delivered"], figures["sent_by_workers"]}
    if len(once) != 1 or figures["received_by_sinks"] != figures["delivered"]:
        raise SystemExit("not every reader was delivered exactly once (see the figures)")
    if not args.no_record:
        record("machines", figures)


if __name__ == "__main__":
    main()
