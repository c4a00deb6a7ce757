"""Share locks: one live sender per share of a run, one split at a time, freed on death."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from scheduler.shares import Share, ShareBusy, hold_share, lock_directory, release_run_locks
from subscribers.db import make_engine


@pytest.fixture
def engine(tmp_path: Path):  # type: ignore[no-untyped-def]
    engine = make_engine(f"sqlite:///{tmp_path / 'b.db'}")
    yield engine
    engine.dispose()


def test_a_share_is_refused_while_another_sender_holds_it(engine) -> None:  # type: ignore[no-untyped-def]
    """A second sender for the same share of the same run is refused, not let in to send twice."""
    with hold_share(engine, 1, Share(0, 2)):
        with (
            pytest.raises(ShareBusy, match="share 1/2 is being sent"),
            hold_share(engine, 1, Share(0, 2)),
        ):
            pass
        with hold_share(engine, 1, Share(1, 2)), hold_share(engine, 2, Share(0, 2)):
            pass  # the other share, and another run, are free
    with hold_share(engine, 1, Share(0, 2)):
        pass  # released on exit


def test_a_different_split_waits_until_the_current_one_is_idle(engine) -> None:  # type: ignore[no-untyped-def]
    """While share 2/2 is held, a single sender for the whole run is refused; afterwards allowed."""
    with (
        hold_share(engine, 1, Share(1, 2)),
        pytest.raises(ShareBusy, match="--workers 2"),
        hold_share(engine, 1, Share(0, 1)),
    ):
        pass
    with hold_share(engine, 1, Share(0, 1)):
        pass


def test_the_lock_dies_with_the_process(engine, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """A sender killed with SIGKILL frees its share at once: a resumed sender may take it."""
    script = textwrap.dedent(
        f"""
        import sys, time
        from scheduler.shares import Share, hold_share
        from subscribers.db import make_engine
        with hold_share(make_engine("sqlite:///{tmp_path / "b.db"}"), 7, Share(0, 1)):
            print("held", flush=True)
            time.sleep(60)
        """
    )
    child = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout is not None and child.stdout.readline().strip() == "held"
        with pytest.raises(ShareBusy), hold_share(engine, 7, Share(0, 1)):
            pass
    finally:
        child.send_signal(signal.SIGKILL)
        child.communicate()
    with hold_share(engine, 7, Share(0, 1)):
        pass


def test_finished_runs_leave_no_lock_files(engine) -> None:  # type: ignore[no-untyped-def]
    """The lock files of a finished run are removed, and the folder with the last of them."""
    with hold_share(engine, 3, Share(0, 1)):
        pass
    folder = lock_directory(engine)
    assert sorted(p.name for p in folder.iterdir()) == ["run3-0of1.lock", "run3.lock"]
    release_run_locks(engine, 3)
    assert not folder.exists()


def test_shares_are_checked_and_in_memory_databases_refused() -> None:
    """A share outside its split is a ValueError; an in-memory database has nowhere to lock."""
    with pytest.raises(ValueError, match="share 3/2"):
        Share(2, 2)
    assert str(Share(1, 4)) == "2/4"
    memory = make_engine("sqlite://")
    with pytest.raises(ValueError, match="database file"):
        lock_directory(memory)
    memory.dispose()
