"""bench/floor.py: the floor of a signing sender, and what a goal leaves it, from raw seconds."""

from __future__ import annotations

import pytest

from bench.floor import Floor, usable_cores


def measured(signing_ms: float | None = 0.5) -> Floor:
    """1,000 messages: the send took 2 s and 2.4 CPU s, smtp-source 0.5 s and 0.2 CPU s."""
    return Floor.measured(
        1000,
        (2.0, 0.5),
        (2.4, 0.3, 0.2, 0.3),
        {"101 send 1": 1.5, "102 -m mailer.signing": 0.6},
        signing_ms,
    )


def test_cpu_seconds_become_milliseconds_a_message_and_the_busiest_process_is_named() -> None:
    """Each side's CPU is spread over the delivered messages; the busiest process is found."""
    floor = measured()
    assert floor.cores == usable_cores()
    assert floor.source_rate == 2000
    assert (floor.send_ms, floor.send_sink_ms) == pytest.approx((2.4, 0.3))
    assert (floor.push_ms, floor.sink_ms) == pytest.approx((0.2, 0.3))
    name, busiest_ms, share = floor.busiest
    assert (name, busiest_ms, share) == ("send 1", 1.5, 0.75)


def test_the_floor_is_signature_push_and_sink_on_every_core() -> None:
    """The floor's rate is cores × 1000 / (signature + push + sink); unsigned, no signature."""
    floor = measured()
    assert floor.floor_ms == pytest.approx(1.0)
    assert floor.rate == pytest.approx(floor.cores * 1000)
    assert floor.ratio == pytest.approx(floor.cores * 1000 / 2000)
    assert measured(signing_ms=None).floor_ms == pytest.approx(0.5)


def test_a_goal_leaves_all_processes_their_cores_less_the_sink_and_each_one_core() -> None:
    """A goal of r × smtp-source leaves cores × 1000 / (r × rate) − sink in all, one core each."""
    floor = measured()
    assert floor.budget_ms(0.5) == pytest.approx(floor.cores * 1.0 - 0.3)
    assert floor.one_core_ms(0.5) == pytest.approx(1.0)
    facts = dict(floor.facts(0.5))
    assert "spent 2.400" in facts["goal 0.5 leaves briefmail"]
    assert "busiest 1.500" in facts["goal 0.5 leaves briefmail"]
    assert facts["floor: sign + push + sink"].startswith("1.000 ms")
    assert "floor: push + sink" in dict(measured(signing_ms=None).facts(0.5))


def test_the_json_fields_are_flat_figures() -> None:
    """Every field is a number, so that bench.results can give each its column."""
    figures = measured().as_json()
    assert figures["cpu_send_ms"] == 2.4 and figures["cpu_busiest_ms"] == 1.5
    assert all(isinstance(value, int | float) for value in figures.values())
