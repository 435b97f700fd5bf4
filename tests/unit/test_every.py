"""Periodic upkeep (services.common.lifecycle.every): runs at once, survives a failing round, stops on `stop`."""

from __future__ import annotations

import asyncio

from services.common.lifecycle import every


async def test_a_failing_round_is_tried_again_and_stop_ends_the_loop() -> None:
    stop = asyncio.Event()
    rounds: list[int] = []

    async def step() -> None:
        rounds.append(len(rounds))
        if len(rounds) == 1:
            raise ConnectionError("redis away")
        if len(rounds) == 3:
            stop.set()

    await asyncio.wait_for(every(0.01, stop, step, failed="test.step_failed"), timeout=5)
    assert rounds == [0, 1, 2]
