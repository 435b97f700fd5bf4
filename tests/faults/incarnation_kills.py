"""Kill -9 the embedded broker (Tansu) at a chosen call of an incarnation look, while two watches (ledger,
outbox) look as under `wirewatch up`, with its supervisor restarting the broker; then check that both roles
see the broker's new life, and how soon. Not a pytest test (the kill lands at a call, but its effect
depends on timing): a tool to measure the watch before and after a change.

    .venv/bin/python -m tests.faults.incarnation_kills --cycles 26 --seed 5
    .venv/bin/python -m tests.faults.incarnation_kills --cycles 40 --seed 7 --steps AIOKafkaConsumer

Each cycle aims at one aiokafka call of the look (round robin over --steps), killing the broker 0-50 ms after
the call starts; a call that only a new life's look makes (create_topics, the producer's) is reached by
first killing the broker plainly. A watch loop that ended (a CancelledError escaped it) is counted and
started again.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import signal
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient

from services.common.embedded import ChildProcess, start_tansu, start_valkey, supervise
from services.common.incarnation import CHECK_EVERY_S, IncarnationWatch
from services.common.keys import Keys
from services.common.redis import Redis, connect
from services.common.settings import Settings
from services.common.topics import ensure_all

STEPS: list[tuple[type, str]] = [
    (AIOKafkaAdminClient, "start"), (AIOKafkaAdminClient, "list_topics"), (AIOKafkaAdminClient, "create_topics"),
    (AIOKafkaAdminClient, "describe_topics"), (AIOKafkaAdminClient, "close"),
    (AIOKafkaConsumer, "start"), (AIOKafkaConsumer, "seek_to_beginning"), (AIOKafkaConsumer, "getmany"),
    (AIOKafkaConsumer, "end_offsets"), (AIOKafkaConsumer, "stop"),
    (AIOKafkaProducer, "start"), (AIOKafkaProducer, "send_and_wait"), (AIOKafkaProducer, "stop"),
]
#: Seconds after a kill within which both roles must have seen the new life.
SEE_WITHIN_S = 90.0


def say(line: str) -> None:
    """One line of the report, at once."""
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


class Aim:
    """Kills the broker `delay` s after the next call of `label` starts (once per arming)."""

    def __init__(self, children: list[ChildProcess]) -> None:
        self.children = children
        self.target: tuple[str, float] | None = None
        self.fired: float | None = None

    def wrap(self, cls: type, name: str) -> None:
        original: Callable[..., Awaitable[Any]] = getattr(cls, name)
        label = f"{cls.__name__}.{name}"

        async def aimed(client: Any, *args: Any, **kwargs: Any) -> Any:
            if self.target is not None and self.target[0] == label:
                delay, self.target = self.target[1], None
                asyncio.get_running_loop().call_later(delay, self.kill)
            return await original(client, *args, **kwargs)

        setattr(cls, name, aimed)

    def kill(self) -> None:
        self.fired = time.monotonic()
        os.kill(self.children[0].pid, signal.SIGKILL)


async def watch_loop(settings: Settings, redis: Redis, role: str, changed_at: dict[str, float]) -> None:
    """Look as the fetcher and the notifier do, and note when the role saw a new life."""
    watch = IncarnationWatch(settings, redis, Keys(settings.key_prefix), role)
    while True:
        if await watch.check():
            changed_at[role] = time.monotonic()
        await asyncio.sleep(CHECK_EVERY_S)


async def run(cycles: int, seed: int, steps: list[tuple[type, str]]) -> int:
    """Returns the number of cycles after which a role did not see the new life."""
    rng = random.Random(seed)
    work = Path(tempfile.mkdtemp(prefix="incarnation-kills-"))
    redis_url, valkey = await asyncio.to_thread(start_valkey, work / "valkey", None)
    bootstrap, tansu = await asyncio.to_thread(start_tansu, work / "tansu", None)
    settings = Settings(kafka_bootstrap=bootstrap, redis_url=redis_url, topic_prefix="k.", key_prefix="k:")
    await ensure_all(settings)
    redis = connect(redis_url)
    children = [tansu]
    stop = asyncio.Event()
    supervisor = asyncio.create_task(supervise(children, stop, after_restart=lambda _: ensure_all(settings)))
    aim = Aim(children)
    for cls, name in STEPS:
        aim.wrap(cls, name)
    changed_at = {"ledger": 0.0, "outbox": 0.0}
    loops = {role: asyncio.create_task(watch_loop(settings, redis, role, changed_at)) for role in changed_at}
    ended: dict[str, int] = {}
    stuck, seen_in = 0, list[float]()
    cycle = 0
    try:
        await asyncio.sleep(3)
        for cycle in range(cycles):
            cls, name = steps[cycle % len(steps)]
            label, delay = f"{cls.__name__}.{name}", rng.choice([0.0, 0.002, 0.01, 0.05])
            aim.fired, aim.target = None, (label, delay)
            armed, provoked = time.monotonic(), False
            while aim.fired is None and time.monotonic() - armed < 30:
                if aim.target is not None and not provoked and time.monotonic() - armed > 3:
                    provoked = True  # a call only a new life's look makes: give it one
                    os.kill(children[0].pid, signal.SIGKILL)
                await asyncio.sleep(0.005)
            if aim.fired is None:
                aim.target = None
                say(f"cycle {cycle}: {label} never reached")
                continue
            killed = aim.fired
            while time.monotonic() - killed < SEE_WITHIN_S and min(changed_at.values()) <= killed:  # noqa: ASYNC110
                await asyncio.sleep(0.05)
            blind = [role for role, at in changed_at.items() if at <= killed]
            stuck += bool(blind)
            if not blind:
                seen_in.append(max(changed_at.values()) - killed)
            outcome = f"NOT SEEN by {','.join(blind)}" if blind else f"both saw the new life in {seen_in[-1]:.1f} s"
            after = " (after a plain kill)" if provoked else ""
            say(f"cycle {cycle}: kill {delay:.3f} s into {label}{after}: {outcome}")
            for role, task in loops.items():
                if task.done():  # it ended (a CancelledError escaped it): count it, start it again
                    ended[role] = ended.get(role, 0) + 1
                    loops[role] = asyncio.create_task(watch_loop(settings, redis, role, changed_at))
            await asyncio.sleep(rng.uniform(0.5, 2.5))
    finally:
        stop.set()
        for task in loops.values():
            task.cancel()
        await asyncio.gather(*loops.values(), return_exceptions=True)
        await supervisor
        children[0].stop()
        valkey.stop()
        await redis.aclose()
    seen_in.sort()
    say(f"RESULT {stuck} of {cycle + 1} cycles not seen within {SEE_WITHIN_S:g} s; watch loops ended {ended}; "
        f"seen in median {seen_in[len(seen_in) // 2] if seen_in else float('nan'):.1f} s, "
        f"max {seen_in[-1] if seen_in else float('nan'):.1f} s")
    return stuck


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--cycles", type=int, default=26)
    parser.add_argument("--seed", type=int, default=5)
    parser.add_argument("--steps", default="", help="comma-separated prefixes of Class.call to aim at")
    args = parser.parse_args()
    prefixes = tuple(p for p in args.steps.split(",") if p)
    steps = [(c, n) for c, n in STEPS if not prefixes or f"{c.__name__}.{n}".startswith(prefixes)]
    sys.exit(1 if asyncio.run(run(args.cycles, args.seed, steps)) else 0)


if __name__ == "__main__":
    main()
