"""The floor of a DKIM sender on this machine, measured in the same run as the send it judges.

No sender can do less for a message than sign it, push its bytes through the SMTP dialogue,
and have the sink take them. bench.send measures the three in the same run, into the same sink:

- one RSA signature on one core (`bench.baseline.signing_ms`);
- smtp-source's own CPU per message (the push: the dialogue and the syscalls, with nothing to
  make; wait4 on it);
- the sink's CPU per message while smtp-source pushed (/proc of the sink).

On C cores, a sender that did nothing else would reach

    floor = C × 1000 / (signature + push + sink)   messages a second.

A goal of r × smtp-source's rate leaves all of a sender's processes together
C × 1000 / (r × rate) − sink ms of CPU per message (the sink shares the cores), and any one of
its processes at most 1000 / (r × rate) (it runs on one core). Beside what briefmail's
processes spent (wait4 on the send: every process it started included), the figures say how far
each goal is out of reach, and whether the machine could reach it at all.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

__all__ = ["Floor", "usable_cores"]


def usable_cores() -> int:
    """The cores this process may run on (its affinity), which the floor divides by."""
    return len(os.sched_getaffinity(0))


def _per_message(seconds: float, count: int) -> float:
    """CPU seconds spread over ``count`` messages, in ms a message."""
    return seconds * 1000 / count if count else 0.0


@dataclass(frozen=True)
class Floor:
    """A send's CPU per message beside the floor of this machine, all from the same run."""

    cores: int
    #: smtp-source's messages a second into the same sink (the figure the goals are ratios of).
    source_rate: float
    #: One DKIM signature on one core, ms (None: the send was not signed).
    signing_ms: float | None
    #: smtp-source's CPU, ms a message.
    push_ms: float
    #: The sink's CPU while smtp-source pushed, ms a message.
    sink_ms: float
    #: briefmail's CPU, every process of the send together, ms a message.
    send_ms: float
    #: The sink's CPU while briefmail sent, ms a message.
    send_sink_ms: float
    #: The send's busiest process: its name, its CPU in ms a message, its share of one core.
    busiest: tuple[str, float, float]

    @classmethod
    def measured(
        cls,
        delivered: int,
        wall: tuple[float, float],
        cpu: tuple[float, float, float, float],
        processes: dict[str, float],
        signing_ms: float | None,
    ) -> Floor:
        """The floor from raw seconds.

        ``wall``: the send's and smtp-source's wall seconds. ``cpu``: CPU seconds of the send
        (all its processes), of the sink during it, of smtp-source and of the sink during it.
        ``processes``: each process of the send's own CPU seconds, by name.
        """
        send_wall, source_wall = wall
        send, send_sink, push, sink = cpu
        name, seconds = max(processes.items(), key=lambda item: item[1], default=("", 0.0))
        return cls(
            cores=usable_cores(),
            source_rate=delivered / source_wall if source_wall else 0.0,
            signing_ms=signing_ms,
            push_ms=_per_message(push, delivered),
            sink_ms=_per_message(sink, delivered),
            send_ms=_per_message(send, delivered),
            send_sink_ms=_per_message(send_sink, delivered),
            busiest=(
                name.partition(" ")[2] or name,
                _per_message(seconds, delivered),
                seconds / send_wall if send_wall else 0.0,
            ),
        )

    @property
    def floor_ms(self) -> float:
        """CPU a message no sender can avoid: signature + push + sink."""
        return (self.signing_ms or 0.0) + self.push_ms + self.sink_ms

    @property
    def rate(self) -> float:
        """Messages a second of a sender that only signed and pushed, on every core."""
        return self.cores * 1000 / self.floor_ms if self.floor_ms else 0.0

    @property
    def ratio(self) -> float:
        """The floor's rate as a ratio of smtp-source's (the most any signing sender reaches)."""
        return self.rate / self.source_rate if self.source_rate else 0.0

    def budget_ms(self, goal: float) -> float:
        """CPU a message all of a sender's processes may spend to reach ``goal`` × smtp-source."""
        if not self.source_rate:
            return 0.0
        return self.cores * 1000 / (goal * self.source_rate) - self.send_sink_ms

    def one_core_ms(self, goal: float) -> float:
        """CPU a message any one process may spend to reach ``goal`` × smtp-source (one core)."""
        return 1000 / (goal * self.source_rate) if self.source_rate else 0.0

    def facts(self, goal: float) -> list[tuple[str, str]]:
        """The table's lines: what each side spent, the floor, and what the goal leaves."""
        name, busiest_ms, share = self.busiest
        signature = "" if self.signing_ms is None else "sign + "
        return [
            ("CPU a message: briefmail", f"{self.send_ms:.3f} ms, all its processes (wait4)"),
            ("  busiest process", f"{busiest_ms:.3f} ms ({name}; {share:.2f} of a core)"),
            (
                "CPU a message: sink",
                f"{self.send_sink_ms:.3f} ms during the send, {self.sink_ms:.3f} during "
                "smtp-source",
            ),
            ("CPU a message: smtp-source", f"{self.push_ms:.3f} ms"),
            (
                f"floor: {signature}push + sink",
                f"{self.floor_ms:.3f} ms → {self.rate:,.0f} msg/s on {self.cores} cores, "
                f"{self.ratio:.2f} of smtp-source",
            ),
            (
                f"goal {goal} leaves briefmail",
                f"{self.budget_ms(goal):.3f} ms a message in all (spent {self.send_ms:.3f}), "
                f"{self.one_core_ms(goal):.3f} per process (busiest {busiest_ms:.3f})",
            ),
        ]

    def as_json(self) -> dict[str, object]:
        """The JSON line's fields (flat, so that bench.results can show each in a column)."""
        return {
            "cores": self.cores,
            "cpu_send_ms": round(self.send_ms, 4),
            "cpu_busiest_ms": round(self.busiest[1], 4),
            "busiest_core_share": round(self.busiest[2], 3),
            "cpu_sink_send_ms": round(self.send_sink_ms, 4),
            "cpu_source_ms": round(self.push_ms, 4),
            "cpu_sink_source_ms": round(self.sink_ms, 4),
            "floor_msgs_per_s": round(self.rate, 1),
            "floor_ratio_smtp_source": round(self.ratio, 4),
        }
