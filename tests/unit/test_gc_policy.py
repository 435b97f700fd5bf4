"""The store's full-collection timer."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from services.store.gc_policy import FullCollections


@pytest.fixture
def thresholds() -> Iterator[None]:
    saved = gc.get_threshold()
    gc.set_threshold(700, 10, 10)  # CPython's defaults (a store started earlier in this process installed its own)
    yield
    gc.set_threshold(*saved)


def test_not_installed_never_collects(thresholds: None) -> None:
    policy = FullCollections(every_s=0.0)
    assert not policy.run_if_due()
    assert gc.get_threshold() == (700, 10, 10)


def test_installed_stops_automatic_full_collections_and_collects_when_due(thresholds: None) -> None:
    young = gc.get_threshold()[0]
    policy = FullCollections(every_s=3600.0)
    policy.install()
    assert gc.get_threshold()[0] == young and gc.get_threshold()[2] >= 1 << 30
    assert not policy.run_if_due(), "not due for an hour"
    policy.every_s = 0.0
    cycle: list[object] = []
    cycle.append(cycle)
    del cycle
    before = gc.get_stats()[2]["collections"]
    assert policy.run_if_due()
    assert gc.get_stats()[2]["collections"] == before + 1
    policy.uninstall()
    assert gc.get_threshold() == (700, 10, 10)
    assert not policy.run_if_due()
