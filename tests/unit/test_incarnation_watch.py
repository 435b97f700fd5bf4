"""The incarnation watch keeps looking, whatever the broker client does: a look has a deadline kept without
the client's cooperation, a CancelledError the client raises for a task of its own (aiokafka's consumer
stop does, aio-libs/aiokafka#647) fails one look instead of ending the loop, and looks that keep failing
are said at warning. No broker or Redis here: the calls are stand-ins that behave as aiokafka did."""

from __future__ import annotations

import asyncio
import time
from typing import Any, cast

import pytest
from aiokafka.errors import KafkaError, KafkaTimeoutError

from services.common import incarnation
from services.common.incarnation import IncarnationWatch, close_quietly, within
from services.common.keys import Keys
from services.common.ledger import EventOutbox, Ledger
from services.common.redis import Redis
from services.common.settings import Settings
from services.fetcher import service as fetcher_service
from services.fetcher.service import Fetcher
from services.notifier import service as notifier_service
from services.notifier.service import Notifier


async def _cancels_a_task_of_its_own() -> None:
    """What aiokafka's Fetcher.close() does: cancel a task of its own and await it without catching."""
    inner = asyncio.create_task(asyncio.sleep(10))
    await asyncio.sleep(0)
    inner.cancel()
    await inner


class _Stubborn:
    """A call that swallows its cancellation and goes on waiting, until released."""

    def __init__(self) -> None:
        self.release = asyncio.Event()
        self.cancelled = 0

    async def __call__(self) -> str:
        while not self.release.is_set():
            try:
                await self.release.wait()
            except asyncio.CancelledError:
                self.cancelled += 1
        return "late"


class _Log:
    """Records what the module logs, by level."""

    def __init__(self) -> None:
        self.lines: list[tuple[str, str, dict[str, Any]]] = []

    def _at(self, level: str) -> Any:
        return lambda event, **kw: self.lines.append((level, event, kw))

    def __getattr__(self, level: str) -> Any:
        return self._at(level)


async def _answer() -> str:
    return "id"


async def _fail() -> str:
    raise KafkaError("broker away")


async def test_within_gives_the_calls_result_or_its_error() -> None:
    assert await within(_answer, 1.0, 1.0) == "id"
    with pytest.raises(KafkaError, match="broker away"):
        await within(_fail, 1.0, 1.0)


async def test_a_call_that_ignores_its_cancellation_is_left_behind_at_the_deadline_plus_grace() -> None:
    stubborn = _Stubborn()
    started = time.monotonic()
    with pytest.raises(KafkaTimeoutError):
        await within(stubborn, 0.05, 0.05)
    assert time.monotonic() - started < 1.0
    assert stubborn.cancelled == 1  # asked to stop once; not waited for after the grace
    stubborn.release.set()
    await asyncio.sleep(0.01)
    assert not incarnation._calls  # the call left behind ended by itself, and is no longer referenced


async def test_a_cancelled_error_of_the_clients_own_fails_the_call_and_not_its_caller() -> None:
    with pytest.raises(KafkaError, match="CancelledError of its own"):
        await within(_cancels_a_task_of_its_own, 1.0, 1.0)
    task = asyncio.current_task()
    assert task is not None and task.cancelling() == 0
    await asyncio.sleep(0)  # this task was not cancelled: it goes on


async def test_the_callers_own_cancellation_goes_on_up_and_cancels_the_call() -> None:
    slow = asyncio.Event()

    async def waits() -> None:
        await slow.wait()

    caller = asyncio.create_task(within(waits, 10.0, 10.0))
    await asyncio.sleep(0.01)
    (call,) = incarnation._calls
    caller.cancel()
    with pytest.raises(asyncio.CancelledError):
        await caller
    await asyncio.sleep(0)
    assert call.cancelled()


async def test_close_quietly_bounds_the_close_and_drops_its_errors_and_stray_cancellations() -> None:
    async def raises() -> None:
        raise KafkaError("connection reset")

    await close_quietly(_cancels_a_task_of_its_own, 1.0)
    await close_quietly(raises, 1.0)
    stubborn_close = asyncio.Event()
    started = time.monotonic()
    await close_quietly(stubborn_close.wait, 0.05)  # a close that never ends is given up
    assert time.monotonic() - started < 1.0


async def test_close_quietly_lets_the_callers_own_cancellation_through() -> None:
    never = asyncio.Event()
    caller = asyncio.create_task(close_quietly(never.wait, 10.0))
    await asyncio.sleep(0.01)
    caller.cancel()
    with pytest.raises(asyncio.CancelledError):
        await caller


class _Watch(IncarnationWatch):
    """A watch whose looks give the scripted outcomes in turn ("stray": the client's own CancelledError)."""

    def __init__(self, outcomes: list[BaseException | bool | str]) -> None:
        super().__init__(Settings(), cast(Redis, None), Keys("t:"), "ledger")
        self.outcomes = outcomes

    async def changed(self) -> bool:
        outcome = self.outcomes.pop(0)
        if outcome == "stray":
            await _cancels_a_task_of_its_own()
        if isinstance(outcome, BaseException):
            raise outcome
        return bool(outcome)


async def test_failed_looks_are_retried_and_said_at_warning_when_they_keep_failing(
        monkeypatch: pytest.MonkeyPatch) -> None:
    log = _Log()
    monkeypatch.setattr(incarnation, "log", log)
    outcomes: list[BaseException | bool | str] = [KafkaTimeoutError("no answer within 15 s")] * 11
    watch = _Watch([*outcomes, True, False])
    assert [await watch.check() for _ in range(13)] == [False] * 11 + [True, False]
    warnings = [kw["failed_looks"] for level, event, kw in log.lines
                if level == "warning" and event == "broker.incarnation_unknown"]
    assert warnings == [3, 6]  # then 12, 24 ...: a broker that stays away, said without a line every look
    assert ("info", "broker.incarnation_known_again", {"role": "ledger", "failed_looks": 11}) in log.lines
    assert watch.failed_looks == 0


async def test_a_stray_cancelled_error_fails_one_look_and_not_the_loop() -> None:
    watch = _Watch(["stray", False])
    assert await watch.check() is False
    assert watch.failed_looks == 1
    assert await watch.check() is False and watch.failed_looks == 0


def test_warnings_come_at_three_failed_looks_then_at_each_doubling() -> None:
    assert [n for n in range(1, 100) if incarnation._said_at_warning(n)] == [3, 6, 12, 24, 48, 96]


class _Ledger:
    """A ledger whose first look for unsent items meets a stray CancelledError; the second stops the loop."""

    def __init__(self, stop: asyncio.Event) -> None:
        self.stop = stop
        self.calls = 0

    async def unsent_again(self, older_than_s: float, limit: int) -> list[Any]:
        self.calls += 1
        if self.calls == 1:
            await _cancels_a_task_of_its_own()
        self.stop.set()
        return []


class _Unchanged:
    """A watch that sees the same broker life at every look."""

    async def check(self) -> bool:
        return False


async def test_the_fetchers_re_emission_loop_outlives_a_stray_cancelled_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(fetcher_service, "CHECK_EVERY_S", 0.01)
    stop = asyncio.Event()
    fetcher = Fetcher.__new__(Fetcher)  # only what run_reemit uses: settings and the ledger
    fetcher.settings = Settings()
    ledger = _Ledger(stop)
    fetcher.ledger = cast(Ledger, ledger)
    await asyncio.wait_for(fetcher.run_reemit(stop, cast(IncarnationWatch, _Unchanged())), 5)
    assert ledger.calls == 2


class _ScriptedWatch:
    """A watch whose first look meets a stray CancelledError; the second stops the loop."""

    def __init__(self, stop: asyncio.Event) -> None:
        self.stop = stop
        self.looks = 0

    async def check(self) -> bool:
        self.looks += 1
        if self.looks == 1:
            await _cancels_a_task_of_its_own()
        self.stop.set()
        return False


async def test_the_notifiers_outbox_drain_outlives_a_stray_cancelled_error() -> None:
    stop = asyncio.Event()
    watch = _ScriptedWatch(stop)
    await asyncio.wait_for(notifier_service.drain_outbox(
        cast(Notifier, None), cast(EventOutbox, None), cast(IncarnationWatch, watch), Settings(), stop), 5)
    assert watch.looks == 2


async def test_the_loops_still_stop_when_their_service_cancels_them() -> None:
    stop = asyncio.Event()
    fetcher = Fetcher.__new__(Fetcher)
    fetcher.settings = Settings()
    never = asyncio.Event()

    class _Waits:
        async def unsent_again(self, older_than_s: float, limit: int) -> list[Any]:
            await never.wait()
            return []

    fetcher.ledger = cast(Ledger, _Waits())
    loop = asyncio.create_task(fetcher.run_reemit(stop))
    await asyncio.sleep(0.01)
    loop.cancel()
    with pytest.raises(asyncio.CancelledError):
        await loop
