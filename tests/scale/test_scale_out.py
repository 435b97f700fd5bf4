"""Scale-out: two instances of every service (separate processes) on the session's broker and Redis give the
same copies, nearly the same stories (online clustering depends on the order of placement) and an alert for
every story, as one of each. In the Apache Kafka lane the session's Redis is a Redis
Cluster (scripts/test passes --redis=cluster); benchmarks/scale.py runs it at full size with throughput."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from benchmarks.faults import stream
from benchmarks.scale import alerts_follow_stories, compare, report, run_scaled, story_agreement
from tests.conftest import Infra

pytestmark = pytest.mark.e2e

ARTICLES, OUTLETS = 30, 6


@pytest.mark.timeout(900)
async def test_two_instances_of_each_service_give_what_one_gives(infra: Infra, tmp_path: Path) -> None:
    if infra.kind != "apache":
        pytest.skip("runs in the Apache Kafka lane (3 partitions per topic, Redis Cluster); CI time")
    articles = stream(ARTICLES, OUTLETS, seed=19)
    one = await run_scaled(1, articles, OUTLETS, tmp_path / "one", infra=(infra.bootstrap, infra.redis_url),
                           timeout_s=300)
    two = await run_scaled(2, articles, OUTLETS, tmp_path / "two", infra=(infra.bootstrap, infra.redis_url),
                           timeout_s=300)
    sys.stderr.write(f"\n{report([one, two])}\n")
    for outcome in (one, two):
        assert outcome.settled and outcome.stored == outcome.articles > ARTICLES, outcome
        assert outcome.duplicated == 0, outcome
        assert outcome.alerts["every story"] and outcome.copies, outcome  # the comparison compares something
        assert alerts_follow_stories(outcome), outcome  # every story alerted once, whatever the stories are
    same = compare(one, two)
    # Copies do not depend on the order articles are placed in: exactly the same. Stories may: with two
    # stores an article near the join threshold can meet a story in another state than one store shows it
    # (benchmarks.scale, 36 articles: identical in 1 of 3 two-instance runs, else one article placed otherwise:
    # pairwise F1 0.92), so they are held to near-identity, one or two articles placed otherwise.
    assert same["copies"], (one.copies, two.copies)
    assert story_agreement(one, two) >= 0.8, (one.stories, two.stories)
