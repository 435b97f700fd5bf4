"""The kill -9 matrix at CI size: a stream of real-text articles through the real system, one fault per test
after 20-60 % progress, then the consistency checker (benchmarks/faults.py has the full size)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from benchmarks.faults import matrix, run_one, stream

pytestmark = pytest.mark.e2e

#: Per broker lane: the faults CI runs (each run costs about a minute on two cores).
CI_FAULTS = {
    "embedded": ["up_tree", "pool_worker", "redis", "broker", "notifier"],
    "apache": ["broker", "store", "extractor"],
}
ARTICLES, OUTLETS = 24, 4


@pytest.mark.parametrize("fault", sorted({f for faults in CI_FAULTS.values() for f in faults}))
async def test_a_kill_9_loses_nothing_and_duplicates_nothing(fault: str, request: pytest.FixtureRequest,
                                                             tmp_path: Path) -> None:
    broker = request.config.getoption("--kafka")
    if fault not in CI_FAULTS[broker]:
        pytest.skip(f"{fault} runs in the other broker lane (CI time); benchmarks.faults runs every pair")
    result = await run_one(fault, broker, stream(ARTICLES, OUTLETS, seed=19), OUTLETS, tmp_path, seed=19,
                           recovery_bound_s=120, drain_s=150)
    sys.stderr.write(f"\n{matrix([result])}\n")  # the figures, shown with -s or on failure
    assert result.killed, "the fault was never injected"
    assert result.lost == 0 and result.stored == result.served, result
    assert result.duplicated == 0, result
    assert result.pending == 0 and result.outbox == 0, result
    assert result.created_ids_per_story_max == 1 and result.stories_alerted >= result.stories, result
    assert result.undelivered == 0 and result.repeats_received <= result.resends_counted, result
    assert result.recovery_s is not None and result.recovery_s <= 120, result
