"""When the store process runs CPython's full garbage collections.

The store keeps thousands of stories in memory (the cluster cache). A full
(generation-2) collection traverses every one of them: about 0.5 s at 10,000
cached stories. With the default thresholds CPython ran one every few seconds
at the store's rate, 7-10 % of its time at 100k stored articles
(benchmarks.store). The store's objects form no reference cycles (refcounting
frees an evicted story at once), so there is little for a full collection to
find: the store runs one on a timer instead, between batches.
"""

from __future__ import annotations

import gc
import time

#: Seconds between full collections once installed (0.5 s of work every 5 minutes: ~0.2 %).
FULL_COLLECTION_EVERY_S = 300.0
_NEVER = 1 << 30


class FullCollections:
    """Full collections on a timer instead of CPython's allocation-count trigger."""

    def __init__(self, every_s: float = FULL_COLLECTION_EVERY_S) -> None:
        self.every_s = every_s
        self.installed = False
        self._saved: tuple[int, int, int] | None = None
        self._last = time.monotonic()

    def install(self) -> None:
        """Stop automatic full collections in this process (young generations stay automatic)."""
        self._saved = gc.get_threshold()
        young, middle, _ = self._saved
        gc.set_threshold(young, middle, _NEVER)
        self.installed = True
        self._last = time.monotonic()

    def uninstall(self) -> None:
        """Give the process its previous thresholds back (the store stopped)."""
        if self._saved is not None:
            gc.set_threshold(*self._saved)
        self.installed = False

    def run_if_due(self) -> bool:
        """Run a full collection if installed and one is due; whether it ran."""
        if not self.installed or time.monotonic() - self._last < self.every_s:
            return False
        gc.collect()
        self._last = time.monotonic()
        return True
