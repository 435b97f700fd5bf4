"""A consumer whose broker lost its log (the embedded broker restarted) reads the new life from offset 0."""

from __future__ import annotations

from typing import Any

from aiokafka import TopicPartition

from services.common.bus import Bus, ConsumeLoop
from services.common.messages import FeedItem
from services.common.settings import Settings
from services.common.topics import FEED_ITEMS


class _Consumer:
    """What ConsumeLoop reads of an aiokafka consumer for the lag report: positions, high-water marks, seeks."""

    def __init__(self, positions: dict[TopicPartition, int], high_water: dict[TopicPartition, int | None]) -> None:
        self.positions = positions
        self.high_water = high_water
        self.seeks: list[tuple[TopicPartition, int]] = []

    def assignment(self) -> set[TopicPartition]:
        return set(self.positions)

    def highwater(self, tp: TopicPartition) -> int | None:
        return self.high_water[tp]

    async def position(self, tp: TopicPartition) -> int:
        return self.positions[tp]

    def seek(self, tp: TopicPartition, offset: int) -> None:
        self.seeks.append((tp, offset))
        self.positions[tp] = offset


async def _handle(message: FeedItem, delivery: Any) -> None:  # never called here
    raise AssertionError(message)


def _loop(consumer: _Consumer) -> ConsumeLoop[FeedItem]:
    loop: ConsumeLoop[FeedItem] = ConsumeLoop(Bus(Settings(), client_id="test"), FEED_ITEMS, group="g", stage="s",
                                              handle=_handle, concurrency=1, on_assign=None, on_dead_letter=None)
    loop.consumer = consumer
    return loop


async def test_a_partition_whose_log_is_shorter_than_the_position_is_read_again_from_the_start() -> None:
    lost, kept, unknown = TopicPartition("t", 0), TopicPartition("t", 1), TopicPartition("t", 2)
    consumer = _Consumer({lost: 8, kept: 5, unknown: 3}, {lost: 2, kept: 9, unknown: None})
    await _loop(consumer)._check_positions()
    assert consumer.seeks == [(lost, 0)]
    assert consumer.positions == {lost: 0, kept: 5, unknown: 3}


async def test_a_consumer_at_the_end_of_its_log_stays_where_it_is() -> None:
    tp = TopicPartition("t", 0)
    consumer = _Consumer({tp: 9}, {tp: 9})
    await _loop(consumer)._check_positions()
    assert consumer.seeks == []
