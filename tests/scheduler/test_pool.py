"""scheduler/pool.py's --workers value: a number of sender processes, or one per usable core."""

from __future__ import annotations

import os

import pytest

from scheduler.pool import MAX_WORKERS, worker_count


def test_auto_is_one_sender_per_core_this_process_may_use() -> None:
    """`--workers auto` counts the cores of the process's CPU affinity (all of them here)."""
    assert worker_count("auto") == len(os.sched_getaffinity(0))
    assert worker_count(" AUTO ") == worker_count("auto")


def test_auto_follows_the_affinity_not_the_machine(monkeypatch: pytest.MonkeyPatch) -> None:
    """Confined to three cores (taskset, a container), auto starts three senders."""
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 2, 5})
    assert worker_count("auto") == 3


@pytest.mark.parametrize("text", ["0", "65", "-1", "two", "", "1.5"])
def test_other_values_are_refused(text: str) -> None:
    """Anything but 1 to 64 or auto is a ValueError naming what is allowed."""
    with pytest.raises(ValueError, match="auto"):
        worker_count(text)


def test_numbers_are_taken_as_they_are() -> None:
    """A number within the limits is that many senders."""
    assert [worker_count(str(n)) for n in (1, 2, MAX_WORKERS)] == [1, 2, MAX_WORKERS]
