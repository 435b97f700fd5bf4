"""Webhook delivery: what the notifier decided to send, made sure to arrive.

* `signing`: Standard Webhooks signatures, and the one generator and checker of signing secrets;
* `queue`: the durable queue in Redis (schedule, claims and leases, results, log, paused endpoints, replay);
* `deliverer`: the engine that claims due deliveries, POSTs them signed and records each result.

What to send and to whom is decided elsewhere (services.notifier.service). The names below are the
package's public face, so callers need not know which module holds what.
"""

from services.notifier.webhooks.deliverer import Deliverer
from services.notifier.webhooks.queue import (
    RETRY_SCHEDULE,
    DeliveryLogEntry,
    DeliveryQueue,
    PauseInfo,
    WebhookDelivery,
    backoff_delay,
)
from services.notifier.webhooks.signing import SECRET_PREFIX, generate_secret, sign, signature_headers, verify

__all__ = [
    "RETRY_SCHEDULE",
    "SECRET_PREFIX",
    "Deliverer",
    "DeliveryLogEntry",
    "DeliveryQueue",
    "PauseInfo",
    "WebhookDelivery",
    "backoff_delay",
    "generate_secret",
    "sign",
    "signature_headers",
    "verify",
]
