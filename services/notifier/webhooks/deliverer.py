"""The webhook sender: claims due deliveries from the queue, POSTs them signed, records each result.

Retries with jitter and pauses are decided when a result is recorded (services.notifier.webhooks.queue);
this engine makes the attempts. **A slow receiver delays nobody else**: it bounds requests per endpoint
and in total, and hands a claimed delivery straight back when its endpoint is busy here.
"""

from __future__ import annotations

import asyncio
import time

from services.common import metrics
from services.common.errors import BlockedAddress, UpstreamRejected, WirewatchError
from services.common.http import SafeHttpClient, UpstreamBusy
from services.common.logging import get_logger
from services.common.redis import is_outage
from services.notifier.webhooks.queue import DeliveryQueue, WebhookDelivery
from services.notifier.webhooks.signing import signature_headers

__all__ = ["Deliverer"]

log = get_logger(__name__)

#: Response bodies are not used; read a little of them at most.
_MAX_RESPONSE_BYTES = 64 * 1024


class Deliverer:
    """Claims due deliveries and POSTs them, signed, through the SSRF-guarded client.

    At most `per_endpoint_concurrency` requests per subscription and `max_in_flight` in all run in this
    process; a claimed delivery whose endpoint is already busy here is handed back at once (due again
    a second later), so a slow receiver holds only its own slots and never a fast receiver's.
    """

    def __init__(self, queue: DeliveryQueue, http: SafeHttpClient, *, per_endpoint_concurrency: int = 2,
                 timeout_s: float = 10.0, max_in_flight: int = 64, poll_interval_s: float = 0.5,
                 lease_s: float | None = None) -> None:
        if per_endpoint_concurrency < 1 or max_in_flight < 1 or timeout_s <= 0:
            raise ValueError("concurrency limits and timeout_s must be positive")
        self.queue = queue
        self.http = http
        self.per_endpoint = per_endpoint_concurrency
        self.timeout_s = timeout_s
        self.max_in_flight = max_in_flight
        self.poll_interval_s = poll_interval_s
        # The lease outlasts the request (the client's own deadline may be longer than ours) so a
        # delivery in flight is never claimed by another sender.
        self.lease_s = lease_s if lease_s is not None else max(timeout_s, http.timeout_s) + 30.0
        self._busy: dict[str, int] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._woken = asyncio.Event()
        self.sent = 0
        """Requests made by this instance (all outcomes)."""

    async def run(self, stop: asyncio.Event) -> None:
        """Deliver until `stop` is set, then let the requests in flight finish."""
        try:
            while not stop.is_set():
                try:
                    claimed = await self.queue.claim_due(self.max_in_flight - len(self._tasks), self.lease_s)
                except Exception:  # Redis down for a moment: keep the loop alive and try again
                    log.exception("webhook.claim_failed")
                    claimed = []
                for delivery, token in claimed:
                    await self._start(delivery, token)
                # Full batch: more may be due at once; otherwise wait for the next poll (or a free slot).
                if claimed and len(self._tasks) < self.max_in_flight:
                    continue
                await self._pause(stop)
        finally:
            if self._tasks:
                await asyncio.gather(*self._tasks, return_exceptions=True)

    def wake(self) -> None:
        """Look for due deliveries now rather than at the next poll (called when something was queued)."""
        self._woken.set()

    async def _pause(self, stop: asyncio.Event) -> None:
        waiters = {asyncio.ensure_future(stop.wait()), asyncio.ensure_future(self._woken.wait())}
        try:
            await asyncio.wait({*waiters, *self._tasks}, timeout=self.poll_interval_s,
                               return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiter in waiters:
                waiter.cancel()
            self._woken.clear()

    async def _start(self, delivery: WebhookDelivery, token: str) -> None:
        sub = delivery.subscription_id
        if self._busy.get(sub, 0) >= self.per_endpoint:
            try:
                await self.queue.release(delivery, token)
            except Exception:  # the lease runs out by itself: the delivery comes back then
                log.exception("webhook.release_failed", delivery=delivery.id)
            return
        self._busy[sub] = self._busy.get(sub, 0) + 1
        task = asyncio.create_task(self._deliver(delivery, token))
        self._tasks.add(task)
        task.add_done_callback(lambda t: self._done(t, sub))

    def _done(self, task: asyncio.Task[None], sub: str) -> None:
        self._tasks.discard(task)
        left = self._busy.get(sub, 1) - 1
        if left > 0:
            self._busy[sub] = left
        else:
            self._busy.pop(sub, None)

    async def deliver_once(self, delivery: WebhookDelivery, token: str) -> WebhookDelivery | None:
        """Send one claimed delivery and record the result (what `run` does for each); returns the
        updated delivery, or None if the claim had expired."""
        if not await self.queue.begin(delivery, token):
            return None  # the lease ran out before we started: another sender owns it now
        headers = signature_headers(delivery.secret, delivery.id, delivery.body)  # signed now: fresh timestamp
        headers["content-type"] = "application/json"
        status: int | None = None
        error: str | None = None
        pause_reason: str | None = None
        retry_after: float | None = None
        started = time.monotonic()
        try:
            async with asyncio.timeout(self.timeout_s):
                response = await self.http.post(delivery.target_url, max_bytes=_MAX_RESPONSE_BYTES,
                                                content=delivery.body.encode(), headers=headers)
            status = response.status
        except TimeoutError:
            error = f"no answer within {self.timeout_s:g} s"
        except UpstreamBusy as exc:  # 429 / 5xx
            status, error, retry_after = exc.status, str(exc), exc.retry_after_s
        except UpstreamRejected as exc:  # 4xx, or a redirect (not followed)
            status, error = exc.status, str(exc)
            if exc.status == 410:
                pause_reason = "endpoint answered 410 Gone"
        except BlockedAddress as exc:
            # Retried like any failure: an allow-list or DNS fix makes it pass; it pauses in time.
            error = str(exc)
        except WirewatchError as exc:
            error = f"{type(exc).__name__}: {exc}"
        finally:
            self.sent += 1
        latency_ms = int((time.monotonic() - started) * 1000)
        # The outcome is known now: write it even through a Redis restart, or it would be sent again.
        delay = 0.2
        while True:
            try:
                updated = await self.queue.record_result(delivery, token, status=status, error=error,
                                                         latency_ms=latency_ms, pause_reason=pause_reason,
                                                         retry_after_s=retry_after)
                metrics.count_delivery(None if updated is None else updated.state, queued_at=delivery.created_at,
                                       now=time.time())
                return updated
            except Exception as exc:
                if not is_outage(exc) or time.monotonic() - started > self.lease_s:
                    raise  # past the lease another sender owns it; its claim will count this one as unknown
                log.warning("webhook.record_waiting", delivery=delivery.id, error=repr(exc)[:200])
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)

    async def _deliver(self, delivery: WebhookDelivery, token: str) -> None:
        try:
            await self.deliver_once(delivery, token)
        except Exception:  # one bad delivery must not end the loop; its lease brings it back
            log.exception("webhook.delivery_crashed", delivery=delivery.id)
