"""The webhook delivery queue in Redis: schedule, claims and leases, results, the delivery log, paused endpoints.

* **Once per id.** The caller gives every delivery a stable id (its `webhook-id`); enqueueing an id
  that is already known does nothing, so a replayed story-events topic never sends again. Exactly-once
  HTTP is impossible: a receiver that answers after our timeout may get the same id again, which is
  what the id is for (DESIGN: re-sends of one id are bounded by the retry schedule).
* **Queue.** One STRING per delivery (its JSON) and a ZSET of due times, all under the `{wh}` hash
  tag. `claim_due` is one Lua step that takes due deliveries and pushes their due time out by a lease,
  so several notifier instances never send the same delivery at once; a sender that dies leaves its
  deliveries to be claimed again when the lease ends. Results are written by one Lua step that checks
  the claim token, so a sender whose lease ran out cannot overwrite a newer result.
* **Unknown outcomes are re-sent, and counted.** A sender marks a delivery *in flight* just before the
  request and the result clears the mark. A sender that died mid-request (kill -9) leaves the mark: when
  the lease ends, the next claim logs that attempt as `outcome_unknown`, counts it in the delivery's
  `resends`, and sends again under the same `webhook-id`. A known outcome is never re-sent: a result that
  cannot be written while Redis restarts is retried until it is (services.notifier.webhooks.deliverer).
* **Retries** follow `RETRY_SCHEDULE` (30 s ... 8 h) with full jitter, persisted as the due time, so a
  restart loses nothing; after the last step the delivery is `failed`. The schedule lives here, not in
  the deliverer, because the next due time is written in the same Lua step as the attempt's result.
* **Endpoints that keep failing are paused**: `PAUSE_AFTER_FAILURES` failed attempts in a row, a
  delivery that used up its schedule, or 410 Gone. A paused endpoint's deliveries are kept, not sent;
  `replay` unpauses it and makes them due now.

Owner of the `{wh}` keys: the only writer of them.
"""

from __future__ import annotations

import random
import re
import secrets
import time
from collections.abc import Sequence
from typing import Any, Literal

from pydantic import BaseModel, Field, field_validator

from services.common.keys import Keys
from services.common.logging import get_logger
from services.common.redis import Redis

__all__ = [
    "DEFAULT_LEASE_S",
    "DELIVERED_TTL_S",
    "LOG_LENGTH",
    "PAUSE_AFTER_FAILURES",
    "RETRY_SCHEDULE",
    "DeliveryLogEntry",
    "DeliveryQueue",
    "PauseInfo",
    "State",
    "WebhookDelivery",
    "backoff_delay",
]

log = get_logger(__name__)

#: Waits after the 1st, 2nd, ... failed attempt (upper bounds of the full jitter); after the last one
#: the delivery is given up (`failed`). About 16 hours in all, so a receiver down overnight catches up.
RETRY_SCHEDULE: tuple[float, ...] = (30, 120, 600, 1800, 3600, 7200, 14400, 28800)
#: Failed attempts in a row (over all of an endpoint's deliveries) that pause the endpoint.
PAUSE_AFTER_FAILURES = 20
#: Attempts kept in each subscription's delivery log.
LOG_LENGTH = 200
#: How long a delivered record is kept: enqueueing its id again within this time sends nothing.
DELIVERED_TTL_S = 7 * 24 * 3600
#: How long a claimed delivery is reserved for its sender; must exceed the request timeout.
DEFAULT_LEASE_S = 60.0
# Ids go into Redis keys and into the signed content `id.timestamp.body`: a "." would make the signed
# content ambiguous (Standard Webhooks forbids it), so ids are a plain alphabet.
_ID = re.compile(r"^[A-Za-z0-9_:\-]{1,200}$")

State = Literal["pending", "delivered", "failed"]


# --- records -----------------------------------------------------------------------------------


class WebhookDelivery(BaseModel):
    """One webhook message to one endpoint, and where its delivery stands."""

    id: str = Field(description="the stable webhook-id, the same on every attempt (given by the caller)")
    subscription_id: str
    target_url: str
    secret: str
    body: str = Field(description="the exact JSON text that is sent and signed")
    attempts: int = 0
    next_attempt_at: float = Field(default_factory=time.time)
    created_at: float = Field(default_factory=time.time)
    last_status: int | None = None
    last_error: str | None = None
    state: State = "pending"
    resends: int = Field(0, description="attempts sent again because the previous one's outcome was unknown "
                                        "(its sender stopped mid-request)")

    @field_validator("id", "subscription_id")
    @classmethod
    def _plain_id(cls, value: str) -> str:
        if not _ID.match(value):
            raise ValueError("ids are 1-200 characters of A-Z a-z 0-9 _ : -")
        return value

    @field_validator("body", mode="before")
    @classmethod
    def _body_text(cls, value: Any) -> Any:
        # JSON is UTF-8 (RFC 8259): bytes are kept as text, which encodes back to the same bytes.
        return value.decode() if isinstance(value, bytes | bytearray) else value


class DeliveryLogEntry(BaseModel):
    """One attempt as shown in a subscription's delivery log."""

    delivery_id: str
    attempt: int
    status: int | None = Field(None, description="HTTP status, None when no answer came")
    latency_ms: int
    error: str | None = None
    at: float
    state: State
    next_attempt_at: float | None = Field(None, description="when it is tried again, None when it is not")
    outcome_unknown: bool = Field(False, description="the sender stopped during this attempt: it may or may not "
                                                     "have arrived, and is sent again under the same webhook-id")


class PauseInfo(BaseModel):
    """Why an endpoint is paused, and since when."""

    reason: str
    since: float


def backoff_delay(attempts: int, schedule: Sequence[float] = RETRY_SCHEDULE, *,
                  rng: random.Random | None = None) -> float | None:
    """Seconds to wait after the `attempts`-th failed attempt, or None when the schedule is used up.

    Full jitter (uniform over [0, step]): many deliveries failing together (an endpoint back up after
    an outage) spread over the whole step instead of coming back as one burst.
    """
    if attempts < 1 or attempts > len(schedule):
        return None
    return (rng or random).uniform(0, schedule[attempts - 1])


# --- the queue -----------------------------------------------------------------------------------

# KEYS: delivery, due, undelivered set, paused. ARGV: JSON, due time, subscription id.
# Stores a delivery whose id is new; an endpoint that is paused keeps it parked (not in the schedule).
_ENQUEUE = """
if redis.call('SET', KEYS[1], ARGV[1], 'NX') == false then
  return 0
end
redis.call('SADD', KEYS[3], ARGV[4])
if redis.call('HEXISTS', KEYS[4], ARGV[3]) == 0 then
  redis.call('ZADD', KEYS[2], ARGV[2], ARGV[4])
end
return 1
"""

# KEYS: the delivery's record, leases. ARGV: the new body. A delivery not sent yet (pending, never tried,
# not claimed) takes the new body; anything else is left alone.
_REFRESH = """
local raw = redis.call('GET', KEYS[1])
if not raw then return 0 end
local d = cjson.decode(raw)
if d['state'] ~= 'pending' or tonumber(d['attempts']) > 0 or redis.call('HEXISTS', KEYS[2], d['id']) == 1 then
  return 0
end
d['body'] = ARGV[1]
redis.call('SET', KEYS[1], cjson.encode(d), 'KEEPTTL')
return 1
"""

# KEYS: due, leases, paused, in flight. ARGV: now, limit, lease end, token, delivery key prefix, log key prefix,
#       log length.
# Takes the due deliveries, pushes each one's due time to the end of a lease and records the claim
# token; a delivery of a paused endpoint leaves the schedule (parked until a replay), a vanished one too.
# A delivery still marked in flight was being sent by a sender that died: that attempt's outcome is unknown,
# so it is logged as such and counted (attempts, resends) before this claim sends it again.
_CLAIM_DUE = """
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[2]))
local out = {}
for _, id in ipairs(ids) do
  local raw = redis.call('GET', ARGV[5] .. id)
  if not raw then
    redis.call('ZREM', KEYS[1], id)
    redis.call('HDEL', KEYS[4], id)
  else
    local d = cjson.decode(raw)
    if d['state'] ~= 'pending' or redis.call('HEXISTS', KEYS[3], d['subscription_id']) == 1 then
      redis.call('ZREM', KEYS[1], id)
    else
      if redis.call('HEXISTS', KEYS[4], id) == 1 then
        redis.call('HDEL', KEYS[4], id)
        d['attempts'] = tonumber(d['attempts']) + 1
        d['resends'] = tonumber(d['resends'] or 0) + 1
        raw = cjson.encode(d)
        redis.call('SET', ARGV[5] .. id, raw, 'KEEPTTL')
        local logkey = ARGV[6] .. d['subscription_id']
        redis.call('LPUSH', logkey, cjson.encode({delivery_id = id, attempt = d['attempts'], latency_ms = 0,
          error = 'outcome unknown: the sender stopped during the request; sent again under the same webhook-id',
          at = tonumber(ARGV[1]), state = 'pending', outcome_unknown = true}))
        redis.call('LTRIM', logkey, 0, tonumber(ARGV[7]) - 1)
      end
      redis.call('ZADD', KEYS[1], ARGV[3], id)
      redis.call('HSET', KEYS[2], id, ARGV[4])
      out[#out + 1] = raw
    end
  end
end
return out
"""

# KEYS: leases, in flight. ARGV: id, token.
# Marks a claimed delivery as being sent now (only while the caller holds the claim).
_BEGIN = """
if redis.call('HGET', KEYS[1], ARGV[1]) ~= ARGV[2] then
  return 0
end
redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
return 1
"""

# KEYS: delivery, due, leases, undelivered set, failures, paused, log, in flight.
# ARGV: id, token, new JSON, state, next due ('' = none), TTL s ('' = none), log entry, log length,
#       subscription id, pause-after count, pause reason ('' = none), now, success (1/0).
# Writes one attempt's result if the caller still holds the claim. Returns {written, paused now}.
_RECORD = """
if redis.call('HGET', KEYS[3], ARGV[1]) ~= ARGV[2] then
  return {0, 0}
end
redis.call('HDEL', KEYS[3], ARGV[1])
redis.call('HDEL', KEYS[8], ARGV[1])
if ARGV[6] == '' then
  redis.call('SET', KEYS[1], ARGV[3])
else
  redis.call('SET', KEYS[1], ARGV[3], 'EX', ARGV[6])
end
if ARGV[5] == '' then
  redis.call('ZREM', KEYS[2], ARGV[1])
else
  redis.call('ZADD', KEYS[2], ARGV[5], ARGV[1])
end
if ARGV[4] == 'delivered' then
  redis.call('SREM', KEYS[4], ARGV[1])
end
redis.call('LPUSH', KEYS[7], ARGV[7])
redis.call('LTRIM', KEYS[7], 0, tonumber(ARGV[8]) - 1)
local reason = ARGV[11]
if ARGV[13] == '1' then
  redis.call('HDEL', KEYS[5], ARGV[9])
else
  local failures = redis.call('HINCRBY', KEYS[5], ARGV[9], 1)
  if reason == '' and failures >= tonumber(ARGV[10]) then
    reason = failures .. ' failed attempts in a row'
  end
end
if reason ~= '' and redis.call('HEXISTS', KEYS[6], ARGV[9]) == 0 then
  redis.call('HSET', KEYS[6], ARGV[9], cjson.encode({reason = reason, since = tonumber(ARGV[12])}))
  return {1, 1}
end
return {1, 0}
"""

# KEYS: delivery, due, leases. ARGV: id, token, due time.
# Hands a claimed delivery back unsent (its endpoint is busy here): due again at ARGV[3].
_RELEASE = """
if redis.call('HGET', KEYS[3], ARGV[1]) ~= ARGV[2] then
  return 0
end
redis.call('HDEL', KEYS[3], ARGV[1])
if redis.call('EXISTS', KEYS[1]) == 1 then
  redis.call('ZADD', KEYS[2], ARGV[3], ARGV[1])
end
return 1
"""

# KEYS: undelivered set, due, paused, failures. ARGV: subscription id, now, delivery key prefix.
# Unpauses the endpoint and makes each of its undelivered deliveries due now with a fresh schedule.
_REPLAY = """
redis.call('HDEL', KEYS[3], ARGV[1])
redis.call('HDEL', KEYS[4], ARGV[1])
local n = 0
for _, id in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  local key = ARGV[3] .. id
  local raw = redis.call('GET', key)
  if not raw then
    redis.call('SREM', KEYS[1], id)
  else
    local d = cjson.decode(raw)
    if d['state'] == 'delivered' then
      redis.call('SREM', KEYS[1], id)
    else
      d['state'] = 'pending'
      d['attempts'] = 0
      d['next_attempt_at'] = tonumber(ARGV[2])
      redis.call('SET', key, cjson.encode(d))
      redis.call('ZADD', KEYS[2], ARGV[2], id)
      n = n + 1
    end
  end
end
return n
"""


class DeliveryQueue:
    """Deliveries, their schedule, the per-subscription log and paused endpoints, in Redis.

    The only writer of the webhook keys. `schedule` and `pause_after` exist so tests can make hours
    into fractions of a second; production uses the defaults.
    """

    def __init__(self, redis: Redis, keys: Keys, *, schedule: Sequence[float] = RETRY_SCHEDULE,
                 pause_after: int = PAUSE_AFTER_FAILURES, log_length: int = LOG_LENGTH,
                 delivered_ttl_s: int = DELIVERED_TTL_S, rng: random.Random | None = None) -> None:
        if pause_after < 1 or log_length < 1 or delivered_ttl_s < 1:
            raise ValueError("pause_after, log_length and delivered_ttl_s must be positive")
        self.redis = redis
        self.keys = keys
        self.schedule = tuple(schedule)
        self.pause_after = pause_after
        self.log_length = log_length
        self.delivered_ttl_s = delivered_ttl_s
        self._rng = rng or random.Random()
        self._enqueue = redis.register_script(_ENQUEUE)
        self._refresh = redis.register_script(_REFRESH)
        self._claim = redis.register_script(_CLAIM_DUE)
        self._begin = redis.register_script(_BEGIN)
        self._record = redis.register_script(_RECORD)
        self._release = redis.register_script(_RELEASE)
        self._replay = redis.register_script(_REPLAY)

    async def enqueue(self, delivery: WebhookDelivery) -> bool:
        """Store `delivery` and schedule it at its `next_attempt_at`; False (and nothing done) when its
        id is already known, whatever state it is in, so one webhook-id is never queued twice."""
        k = self.keys
        added = await self._enqueue(
            keys=[k.webhook_delivery(delivery.id), k.webhook_due, k.webhook_undelivered(delivery.subscription_id),
                  k.webhook_paused],
            args=[delivery.model_dump_json(), delivery.next_attempt_at, delivery.subscription_id, delivery.id],
        )
        return bool(added)

    async def refresh(self, delivery_id: str, body: str) -> bool:
        """Replace the body of a delivery not sent yet (a digest gathering updates until its window ends);
        False when it is unknown, being sent, tried or done."""
        k = self.keys
        return bool(await self._refresh(keys=[k.webhook_delivery(delivery_id), k.webhook_leases], args=[body]))

    async def claim_due(self, limit: int, lease_s: float = DEFAULT_LEASE_S, *,
                        now: float | None = None) -> list[tuple[WebhookDelivery, str]]:
        """Take up to `limit` deliveries due now, each reserved for `lease_s`, with the claim token that
        `record_result` / `release` need. Atomic: concurrent callers never get the same delivery."""
        if limit <= 0:
            return []
        current = time.time() if now is None else now
        token = secrets.token_hex(8)
        k = self.keys
        raws = await self._claim(keys=[k.webhook_due, k.webhook_leases, k.webhook_paused, k.webhook_in_flight],
                                 args=[current, limit, current + lease_s, token, k.webhook_delivery_prefix,
                                       k.webhook_log(""), self.log_length])
        return [(WebhookDelivery.model_validate_json(raw), token) for raw in raws]

    async def begin(self, delivery: WebhookDelivery, token: str) -> bool:
        """Mark a claimed delivery as being sent now; False if the claim has expired (then do not send)."""
        k = self.keys
        return bool(await self._begin(keys=[k.webhook_leases, k.webhook_in_flight], args=[delivery.id, token]))

    async def release(self, delivery: WebhookDelivery, token: str, *, delay_s: float = 1.0) -> bool:
        """Give a claimed delivery back unsent, due again in `delay_s` (its attempts unchanged)."""
        k = self.keys
        done = await self._release(keys=[k.webhook_delivery(delivery.id), k.webhook_due, k.webhook_leases],
                                   args=[delivery.id, token, time.time() + delay_s])
        return bool(done)

    async def record_result(self, delivery: WebhookDelivery, token: str, *, status: int | None, error: str | None,
                            latency_ms: int, pause_reason: str | None = None,
                            retry_after_s: float | None = None) -> WebhookDelivery | None:
        """Record one attempt: 2xx `status` = delivered; anything else schedules the next attempt per the
        schedule (at least `retry_after_s` away) or, when it is used up, marks it failed and pauses the
        endpoint. `pause_reason` pauses the endpoint at once (410 Gone). Returns the updated delivery,
        or None when the claim had expired and another sender owns the delivery now."""
        now = time.time()
        attempts = delivery.attempts + 1
        success = status is not None and 200 <= status < 300 and error is None
        next_at: float | None = None
        if success:
            state: State = "delivered"
        else:
            delay = backoff_delay(attempts, self.schedule, rng=self._rng)
            if delay is None:
                state = "failed"
                pause_reason = pause_reason or f"delivery {delivery.id} failed all {attempts} attempts"
            else:
                state = "pending"
                next_at = now + max(delay, retry_after_s or 0.0)
        updated = delivery.model_copy(update={
            "attempts": attempts, "state": state, "last_status": status, "last_error": error,
            "next_attempt_at": next_at if next_at is not None else delivery.next_attempt_at,
        })
        entry = DeliveryLogEntry(delivery_id=delivery.id, attempt=attempts, status=status, latency_ms=latency_ms,
                                 error=error, at=now, state=state, next_attempt_at=next_at)
        k = self.keys
        written, paused = await self._record(
            keys=[k.webhook_delivery(delivery.id), k.webhook_due, k.webhook_leases,
                  k.webhook_undelivered(delivery.subscription_id), k.webhook_failures, k.webhook_paused,
                  k.webhook_log(delivery.subscription_id), k.webhook_in_flight],
            args=[delivery.id, token, updated.model_dump_json(), state, "" if next_at is None else next_at,
                  self.delivered_ttl_s if success else "", entry.model_dump_json(), self.log_length,
                  delivery.subscription_id, self.pause_after, pause_reason or "", now, 1 if success else 0],
        )
        if not written:
            log.warning("webhook.result_dropped", delivery=delivery.id, attempt=attempts,
                        reason="the claim had expired")
            return None
        if paused:
            log.warning("webhook.endpoint_paused", subscription=delivery.subscription_id, delivery=delivery.id)
        return updated

    async def get(self, delivery_id: str) -> WebhookDelivery | None:
        """The delivery with this id, if known (delivered ones are kept for `delivered_ttl_s`)."""
        raw = await self.redis.get(self.keys.webhook_delivery(delivery_id))
        return WebhookDelivery.model_validate_json(raw) if raw else None

    async def log(self, subscription_id: str, limit: int = 50) -> list[DeliveryLogEntry]:
        """The subscription's latest delivery attempts, newest first."""
        raws = await self.redis.lrange(self.keys.webhook_log(subscription_id), 0, max(limit, 1) - 1)
        return [DeliveryLogEntry.model_validate_json(raw) for raw in raws]

    async def paused(self, subscription_id: str) -> PauseInfo | None:
        """Why the subscription's endpoint is paused, or None when it is not."""
        raw = await self.redis.hget(self.keys.webhook_paused, subscription_id)
        return PauseInfo.model_validate_json(raw) if raw else None

    async def undelivered(self, subscription_id: str) -> list[WebhookDelivery]:
        """The subscription's deliveries not delivered yet (pending or failed)."""
        ids = sorted(str(i) for i in await self.redis.smembers(self.keys.webhook_undelivered(subscription_id)))
        raws = await self.redis.mget([self.keys.webhook_delivery(i) for i in ids]) if ids else []
        found = [WebhookDelivery.model_validate_json(raw) for raw in raws if raw]
        return [d for d in found if d.state != "delivered"]

    async def forget(self, subscription_id: str) -> int:
        """Drop everything kept for a deleted subscription: its undelivered deliveries, log, failure count
        and pause. Delivered records are left to expire (they still stop a repeated id). Returns how many
        undelivered deliveries were dropped."""
        k = self.keys
        ids = [str(i) for i in await self.redis.smembers(k.webhook_undelivered(subscription_id))]
        async with self.redis.pipeline(transaction=True) as pipe:
            if ids:
                pipe.zrem(k.webhook_due, *ids)
                pipe.hdel(k.webhook_leases, *ids)
                pipe.hdel(k.webhook_in_flight, *ids)
                pipe.delete(*(k.webhook_delivery(i) for i in ids))
            pipe.delete(k.webhook_undelivered(subscription_id), k.webhook_log(subscription_id))
            pipe.hdel(k.webhook_failures, subscription_id)
            pipe.hdel(k.webhook_paused, subscription_id)
            await pipe.execute()
        return len(ids)

    async def replay(self, subscription_id: str) -> int:
        """Unpause the endpoint and make all its undelivered (pending or failed) deliveries due now, each
        with a fresh retry schedule. Returns how many were rescheduled."""
        k = self.keys
        count = await self._replay(
            keys=[k.webhook_undelivered(subscription_id), k.webhook_due, k.webhook_paused, k.webhook_failures],
            args=[subscription_id, time.time(), k.webhook_delivery_prefix],
        )
        return int(count)
