"""Extraction and tagging in a process pool, batched per worker so spaCy tags several pages in one pass.

Natural batching: each worker slot takes the page waiting longest and, without
waiting for more, every other page already queued (up to `max_batch`), and sends
them to the pool as one task. An idle extractor adds no latency (a lone page goes
alone); a busy one tags pages in batches (batched spaCy is ~10 % cheaper per page,
benchmarks/extractor.py). The queue is bounded: when every slot is busy and the
queue is full, `submit` waits, and so does the consumer that called it
(back-pressure up to the broker, which simply keeps the records).

**A dead worker never stops or hangs the extractor.** When a worker dies (kill -9, out of memory, a
crash in native code) the executor is broken: `WorkerProcesses.replace` shuts the broken one down off
the event loop (its surviving workers are killed, so nothing waits on them) and starts a new one, and
the pages that were in flight are done again, each alone. A page on which workers died `MAX_CRASHES`
times is given up (ExtractionFailed, so it is dead-lettered), so one poison page cannot crash-loop the
pool. Workers are *spawned*, not forked: they inherit neither the event loop's signal handlers (a forked
worker kept asyncio's SIGTERM handler and ignored `terminate()`) nor the API's listening socket, they
ignore Ctrl-C (the parent stops them in order) and they die with the extractor (a parent-death signal).
"""

from __future__ import annotations

import asyncio
import collections
import multiprocessing
import os
import signal
from collections.abc import Awaitable, Callable
from concurrent.futures import BrokenExecutor, Executor, ProcessPoolExecutor
from dataclasses import dataclass, field
from functools import partial

from services.common.errors import ExtractionFailed
from services.common.logging import get_logger
from services.common.messages import Entity, Fingerprint
from services.common.procs import die_with_parent
from services.extractor import entities
from services.extractor.extract import ExtractedPage, RawPage, extract_and_tag_many

Extracted = tuple[ExtractedPage, list[Entity], Fingerprint]
log = get_logger(__name__)

#: Worker deaths a page may take part in before it is given up as the likely cause.
MAX_CRASHES = 3


def worker_init(parent_pid: int, model: str) -> None:
    """Pool initializer: default SIGTERM, no SIGINT, die with the extractor, then load spaCy."""
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # a terminal's Ctrl-C goes to the parent, which stops us
    die_with_parent(parent_pid)
    entities.load(model)


class WorkerProcesses:
    """The extractor's worker processes: a process pool that is replaced, not fatal, when a worker dies."""

    def __init__(self, workers: int, model: str) -> None:
        self.workers = workers
        self.model = model
        self.replaced = 0
        self.executor = self._new()
        self._lock = asyncio.Lock()

    def _new(self) -> ProcessPoolExecutor:
        # Created (and its workers started, by submit) on the event-loop thread: the parent-death
        # signal follows the thread that started a worker, and this one lives as long as the service.
        return ProcessPoolExecutor(self.workers, mp_context=multiprocessing.get_context("spawn"),
                                   initializer=worker_init, initargs=(os.getpid(), self.model))

    async def start(self) -> None:
        """Start every worker and load spaCy in each now, not on the first article."""
        loop = asyncio.get_running_loop()
        await asyncio.gather(*(loop.run_in_executor(self.executor, entities.load, self.model)
                               for _ in range(self.workers)))

    async def replace(self, broken: Executor) -> Executor:
        """A working executor in place of `broken` (once, however many slots saw it break)."""
        async with self._lock:
            if self.executor is broken:
                old, self.executor = self.executor, self._new()
                self.replaced += 1
                log.warning("extractor.pool_replaced", replaced=self.replaced)
                await asyncio.to_thread(_shut_down, old)
            return self.executor

    async def close(self) -> None:
        """Stop the workers, off the event loop and bounded (a stuck worker is killed)."""
        await asyncio.to_thread(_shut_down, self.executor)


def _shut_down(executor: ProcessPoolExecutor, grace_s: float = 5.0) -> None:
    """Shut an executor down without waiting forever on a worker that no longer answers."""
    processes = list((getattr(executor, "_processes", None) or {}).values())
    executor.shutdown(wait=False, cancel_futures=True)
    for process in processes:
        process.join(grace_s)
        if process.is_alive():
            process.kill()
            process.join(grace_s)


@dataclass
class _Job:
    page: RawPage
    done: asyncio.Future[Extracted] = field(default_factory=lambda: asyncio.get_running_loop().create_future())
    crashes: int = 0


class ExtractionPool:
    """Pages to extract and tag, run by `slots` concurrent pool tasks of up to `max_batch` pages each.

    With `replace` (WorkerProcesses.replace) a broken executor is swapped for a new one and the pages in
    flight are redone; without it a broken executor fails the pages it held.
    """

    def __init__(self, executor: Executor, *, slots: int, model: str, ner_max_chars: int,
                 max_batch: int = 8, queue_size: int = 64,
                 replace: Callable[[Executor], Awaitable[Executor]] | None = None) -> None:
        self.executor = executor
        self.slots = slots
        self.model = model
        self.ner_max_chars = ner_max_chars
        self.max_batch = max_batch
        self.replace = replace
        self._queue: asyncio.Queue[_Job] = asyncio.Queue(queue_size)
        # Pages whose worker died: redone first, one at a time, so a poison page only costs itself.
        self._redo: collections.deque[_Job] = collections.deque()
        self._redo_ready = asyncio.Event()

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

    async def _next_batch(self) -> list[_Job]:
        while not self._redo:
            getter = asyncio.ensure_future(self._queue.get())
            redo = asyncio.ensure_future(self._redo_ready.wait())
            try:
                await asyncio.wait({getter, redo}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                redo.cancel()
                if not getter.done():
                    getter.cancel()
            if getter.done() and not getter.cancelled():
                batch = [getter.result()]
                while len(batch) < self.max_batch:
                    try:
                        batch.append(self._queue.get_nowait())
                    except asyncio.QueueEmpty:
                        break
                return batch
            self._redo_ready.clear()
        return [self._redo.popleft()]

    async def _slot(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            batch = [j for j in await self._next_batch() if not j.done.done()]  # drop pages given up on
            if not batch:
                continue
            executor = self.executor
            work = partial(extract_and_tag_many, [j.page for j in batch],
                           model=self.model, ner_max_chars=self.ner_max_chars)
            try:
                results = await loop.run_in_executor(executor, work)
            except asyncio.CancelledError:
                for job in batch:
                    job.done.cancel()
                raise
            except BrokenExecutor as exc:
                await self._worker_died(executor, batch, exc)
                continue
            for job, result in zip(batch, results, strict=True):
                if job.done.done():  # the caller gave up (deadline, shutdown)
                    continue
                if isinstance(result, ExtractionFailed):
                    job.done.set_exception(result)
                else:
                    job.done.set_result(result)

    async def _worker_died(self, executor: Executor, batch: list[_Job], exc: BrokenExecutor) -> None:
        """A worker died under this batch: replace the pool and redo its pages (or give up on a poison one)."""
        if self.replace is None:
            for job in batch:
                if not job.done.done():
                    job.done.set_exception(exc)
            return
        self.executor = await self.replace(executor)
        for job in batch:
            job.crashes += 1
            if job.done.done():
                continue
            if job.crashes >= MAX_CRASHES:
                log.error("extractor.page_given_up", url=job.page.url, crashes=job.crashes)
                job.done.set_exception(ExtractionFailed(f"extraction workers died {job.crashes} times on this page"))
            else:
                self._redo.append(job)
        self._redo_ready.set()
