"""Extraction and tagging in a process pool, batched per worker so spaCy tags several pages in one pass.

Natural batching: each worker slot takes the page waiting longest and, without
waiting for more, every other page already queued (up to `max_batch`), and sends
them to the pool as one task. An idle extractor adds no latency (a lone page goes
alone); a busy one tags pages in batches (batched spaCy is ~10 % cheaper per page,
benchmarks/extractor.py). The queue is bounded: when every slot is busy and the
queue is full, `submit` waits, and so does the consumer that called it
(back-pressure up to the broker, which simply keeps the records).
"""

from __future__ import annotations

import asyncio
from concurrent.futures import BrokenExecutor, Executor
from dataclasses import dataclass, field
from functools import partial

from services.common.errors import ExtractionFailed
from services.common.messages import Entity, Fingerprint
from services.extractor.extract import ExtractedPage, RawPage, extract_and_tag_many

Extracted = tuple[ExtractedPage, list[Entity], Fingerprint]


@dataclass
class _Job:
    page: RawPage
    done: asyncio.Future[Extracted] = field(default_factory=lambda: asyncio.get_running_loop().create_future())


class ExtractionPool:
    """Pages to extract and tag, run by `slots` concurrent pool tasks of up to `max_batch` pages each."""

    def __init__(self, executor: Executor, *, slots: int, model: str, ner_max_chars: int,
                 max_batch: int = 8, queue_size: int = 64) -> None:
        self.executor = executor
        self.slots = slots
        self.model = model
        self.ner_max_chars = ner_max_chars
        self.max_batch = max_batch
        self._queue: asyncio.Queue[_Job] = asyncio.Queue(queue_size)

    async def submit(self, page: RawPage) -> Extracted:
        """Decode, extract and tag one page; raises ExtractionFailed for a page that holds no article.

        Waits for queue space first (back-pressure). Cancelling the caller abandons
        the page (its batch still runs; the result is dropped).
        """
        job = _Job(page)
        await self._queue.put(job)
        return await job.done

    async def run(self) -> None:
        """Serve submitted pages until cancelled (one coroutine per slot)."""
        async with asyncio.TaskGroup() as slots:
            for _ in range(self.slots):
                slots.create_task(self._slot())

    async def _slot(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            batch = [await self._queue.get()]
            while len(batch) < self.max_batch:
                try:
                    batch.append(self._queue.get_nowait())
                except asyncio.QueueEmpty:
                    break
            work = partial(extract_and_tag_many, [j.page for j in batch],
                           model=self.model, ner_max_chars=self.ner_max_chars)
            try:
                results = await loop.run_in_executor(self.executor, work)
            except asyncio.CancelledError:
                for job in batch:
                    job.done.cancel()
                raise
            except BrokenExecutor as exc:
                # A worker died (killed, out of memory) and the pool cannot recover: stop the service so it is
                # restarted; the pages stay uncommitted and come back.
                for job in batch:
                    if not job.done.done():
                        job.done.set_exception(exc)
                raise
            for job, result in zip(batch, results, strict=True):
                if job.done.done():  # the caller gave up (deadline, shutdown)
                    continue
                if isinstance(result, ExtractionFailed):
                    job.done.set_exception(result)
                else:
                    job.done.set_result(result)

