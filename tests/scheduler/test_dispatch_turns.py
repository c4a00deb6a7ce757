"""How the send loop's turns gather answers (scheduler/dispatch.py's `_answers`).

Each turn of the loop pays a claim and a commit: it takes the answers that come soon after the
first, and never waits long for a slow one.
"""

from __future__ import annotations

import asyncio

from scheduler.dispatch import GATHER_SECONDS, _answers
from scheduler.ledger import DeliveryStatus, Outcome


async def _answer(after: float, delivery_id: int) -> Outcome:
    await asyncio.sleep(after)
    return Outcome(delivery_id, DeliveryStatus.DELIVERED, 250, "ok")


async def test_a_turn_gathers_the_answers_that_come_soon_after_the_first() -> None:
    """A turn takes the answers that follow the first within moments, up to the number wanted."""
    tasks = {asyncio.create_task(_answer(0.0005 * i, i)) for i in range(6)}
    tasks.add(asyncio.create_task(_answer(30, 99)))
    done = await _answers(tasks, 4)
    assert 4 <= len(done) <= 6
    assert all(task.result().delivery_id != 99 for task in done)
    for task in tasks:
        task.cancel()


async def test_a_turn_does_not_wait_long_for_answers_that_are_slow() -> None:
    """With one answer in and the rest slow, a turn goes on with the one: it never waits for all."""
    tasks = {asyncio.create_task(_answer(0, 1))}
    tasks |= {asyncio.create_task(_answer(30, 2 + i)) for i in range(7)}
    started = asyncio.get_running_loop().time()
    done = await _answers(tasks, 4)
    assert [task.result().delivery_id for task in done] == [1]
    # Far above GATHER_SECONDS for a busy machine, far below the slow answers' 30 s.
    assert asyncio.get_running_loop().time() - started < GATHER_SECONDS + 5
    for task in tasks:
        task.cancel()
