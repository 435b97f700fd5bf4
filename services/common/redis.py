"""Redis client factory: one place that opens and closes connections, and rides out a Redis restart.

Redis restarting (a crash, a failover, the embedded Valkey started again by `wirewatch up`) must cost
a pause, never a service. Two layers:

* the client retries a command that lost its connection, with exponential back-off and jitter, for
  about `RETRY_WINDOW_S` (redis-py's `Retry`; a loading server answers LOADING, which counts too);
* past that, `is_outage(exc)` tells a loop that the error was the infrastructure, not its input: the
  consume loop waits and tries the same message again without counting an attempt
  (services.common.bus), and the other loops log, back off and go on (`wait_out_outage`).

Redis Cluster: a URL whose scheme ends in `+cluster` (`redis+cluster://host:port`, `rediss+cluster://` for
TLS) opens a cluster client (redis-py's RedisCluster) that finds the other nodes from that one and
routes each command by its key's slot; every multi-key script and MULTI of wirewatch touches one slot
(the hash tags of services.common.keys). Any other URL opens a plain client.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import asynccontextmanager
from typing import Any, cast

import redis.asyncio as aioredis
from redis import exceptions as redis_errors
from redis.asyncio.cluster import ClusterPipeline, RedisCluster
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialWithJitterBackoff
from redis.commands.core import AsyncScript
from redis.typing import EncodableT, KeyT, ScriptTextT

from services.common.keylayout import upgrade
from services.common.keys import Keys
from services.common.settings import Settings

Redis = aioredis.Redis
#: URL scheme suffix that asks for a Redis Cluster client.
CLUSTER_SUFFIX = "+cluster"

#: Retries of one command (about 10 s in all with the back-off below) before the caller sees the error.
RETRIES = 8
BACKOFF_BASE_S = 0.05
BACKOFF_CAP_S = 2.0
OUTAGE_ERRORS: tuple[type[Exception], ...] = (
    redis_errors.ConnectionError, redis_errors.TimeoutError, redis_errors.BusyLoadingError, ConnectionRefusedError)


def client_retry() -> Retry:
    """The retry policy of every client: exponential back-off with jitter on connection errors."""
    return Retry(ExponentialWithJitterBackoff(base=BACKOFF_BASE_S, cap=BACKOFF_CAP_S), RETRIES,
                 supported_errors=OUTAGE_ERRORS)


class _ClusterScript(AsyncScript):
    """A script that also runs inside a cluster pipeline on a node that never saw it.

    redis-py queues a pipelined cluster script as EVALSHA without loading it first (a plain pipeline loads
    it), so a node that has not cached the script refuses with NOSCRIPT. In a cluster pipeline this sends
    the script's text (EVAL; the node caches it); elsewhere it is the usual EVALSHA-then-load.
    """

    async def __call__(self, keys: Sequence[KeyT] | None = None, args: Iterable[EncodableT] | None = None,
                       client: Any = None) -> Any:
        if isinstance(client, ClusterPipeline):
            keys = list(keys or [])
            text = self.script if isinstance(self.script, str) else bytes(self.script).decode()
            return client.eval(text, len(keys), *keys, *(args or []))
        return await super().__call__(keys, args, client)


class _RedisCluster(RedisCluster):
    """RedisCluster whose scripts work in pipelines too (`_ClusterScript`)."""

    def register_script(self, script: ScriptTextT) -> AsyncScript:  # type: ignore[override]
        """A callable script (see `_ClusterScript`)."""
        return _ClusterScript(self, script)


def is_cluster_url(url: str) -> bool:
    """True if `url` names a Redis Cluster (`redis+cluster://`, `rediss+cluster://`)."""
    return url.partition("://")[0].endswith(CLUSTER_SUFFIX)


def is_cluster(client: Redis) -> bool:
    """True if `client` is a Redis Cluster client."""
    return isinstance(client, RedisCluster)


def connect(url: str) -> Redis:
    """A client for `url` (strings decoded as UTF-8) that retries through a restart of the server; a
    `redis+cluster://` URL gives a cluster client."""
    if is_cluster_url(url):
        scheme, _, rest = url.partition("://")
        cluster = _RedisCluster.from_url(
            f"{scheme.removesuffix(CLUSTER_SUFFIX)}://{rest}",
            decode_responses=True,
            socket_timeout=10,
            socket_connect_timeout=5,
            health_check_interval=30,
            retry=client_retry(),
            retry_on_error=list(OUTAGE_ERRORS),
        )
        # The cluster client speaks the same commands, scripts and pipelines (routed by slot); typed as the
        # plain client so the services need not know which one they hold.
        return cast(Redis, cluster)
    client: Redis = aioredis.Redis.from_url(
        url,
        decode_responses=True,
        socket_timeout=10,
        socket_connect_timeout=5,
        health_check_interval=30,
        retry=client_retry(),
        retry_on_error=list(OUTAGE_ERRORS),
    )
    return client


@asynccontextmanager
async def open_redis(settings: Settings) -> AsyncIterator[Redis]:
    """A client for settings.redis_url, closed on exit; an old data dir's keys are renamed to the current
    layout first (services.common.keylayout)."""
    client = connect(settings.required_redis_url)
    try:
        if not is_cluster(client):
            # Redis down now: the caller waits for it (services.common.lifecycle) and its next client upgrades.
            with contextlib.suppress(*OUTAGE_ERRORS):
                await upgrade(client, Keys(settings.key_prefix))
        yield client
    finally:
        with contextlib.suppress(*OUTAGE_ERRORS):
            await client.aclose()


def is_outage(exc: BaseException) -> bool:
    """True if `exc` (or what caused it) means Redis is unreachable, not that the work is bad."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if isinstance(current, OUTAGE_ERRORS):
            return True
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return False


async def wait_out_outage(stop: asyncio.Event, delay_s: float) -> float:
    """Wait `delay_s` (or until `stop`) after an outage error; returns the next, doubled delay (capped)."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), delay_s)
    return min(delay_s * 2, 5.0)
