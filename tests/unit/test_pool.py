"""Batched extraction: the same results as one page at a time, bad pages isolated, batches formed under load."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from services.common.errors import ExtractionFailed
from services.extractor import entities
from services.extractor import pool as pool_module
from services.extractor.extract import RawPage, extract_and_tag_many, extract_page
from services.extractor.pool import ExtractionPool

MODEL = "en_core_web_sm"
SENTENCES = [
    "Russian President Vladimir Putin met Iranian officials in Moscow on Tuesday, the Kremlin said.",
    "Putin told reporters that the talks with Tehran had been constructive and would continue.",
    "The meeting came a week after Qassem Soleimani visited the Russian capital, Fars news agency reported.",
    "Soleimani, who commands the Quds Force, has not commented on the visit.",
]


def page(n: int) -> str:
    paragraphs = "".join(f"<p>{s} (Report {n}, part {i}.)</p>" for i, s in enumerate(SENTENCES * 2))
    return f"<html><head><title>Report {n}</title></head><body><article>{paragraphs}</article></body></html>"


BROKEN = "<html><body><nav><a href='/'>Home</a></nav></body></html>"


@pytest.fixture(scope="module", autouse=True)
def nlp_loaded() -> None:
    entities.load(MODEL)


def test_a_batch_gives_what_each_page_gives_alone_and_isolates_a_bad_page() -> None:
    pages = [RawPage(page(1).encode(), None, "https://x.example/1"), RawPage(BROKEN.encode(), None, "https://x.example/2"),
             RawPage(page(3).encode("cp1252"), "windows-1252", "https://x.example/3", "Fallback")]
    out = extract_and_tag_many(pages, model=MODEL, ner_max_chars=20_000)
    assert isinstance(out[1], ExtractionFailed)
    for i in (0, 2):
        result = out[i]
        assert not isinstance(result, ExtractionFailed)
        extracted, ents, fingerprint = result
        assert extracted == extract_page(page(i + 1), pages[i].url)
        assert ents == entities.tag_entities(extracted.text, title=extracted.title, language=extracted.language,
                                             model=MODEL, ner_max_chars=20_000)
        assert "person:vladimir putin" in {e.key for e in ents}
        assert fingerprint.body_hash


async def test_the_pool_batches_waiting_pages_and_fails_only_the_bad_one(monkeypatch: pytest.MonkeyPatch) -> None:
    sizes: list[int] = []

    def recording(pages: list[Any], **kw: Any) -> Any:
        sizes.append(len(pages))
        return extract_and_tag_many(pages, **kw)

    monkeypatch.setattr(pool_module, "extract_and_tag_many", recording)
    with ThreadPoolExecutor(1) as executor:
        extraction = ExtractionPool(executor, slots=1, model=MODEL, ner_max_chars=20_000, max_batch=4)
        serving = asyncio.create_task(extraction.run())
        try:
            htmls = [page(n) if n != 5 else BROKEN for n in range(10)]
            results = await asyncio.gather(*(extraction.submit(RawPage(h.encode(), "utf-8", f"https://x.example/{n}"))
                                             for n, h in enumerate(htmls)), return_exceptions=True)
        finally:
            serving.cancel()
    assert isinstance(results[5], ExtractionFailed)
    for n, result in enumerate(results):
        if n != 5:
            assert not isinstance(result, BaseException)
            assert f"Report {n}" in result[0].text
    # one slot, ten pages waiting: batches of at most 4, so at least three pool calls and far fewer than ten
    assert sum(sizes) == 10 and max(sizes) == 4 and 3 <= len(sizes) <= 4, sizes


async def test_a_killed_worker_is_replaced_and_its_pages_are_redone() -> None:
    import os
    import signal
    import time

    from services.extractor.pool import WorkerProcesses

    workers = WorkerProcesses(2, MODEL)
    try:
        await workers.start()
        extraction = ExtractionPool(workers.executor, slots=2, model=MODEL, ner_max_chars=20_000, max_batch=2,
                                    replace=workers.replace)
        serving = asyncio.create_task(extraction.run())
        pages = [asyncio.ensure_future(extraction.submit(RawPage(page(n).encode(), "utf-8", f"https://x.example/{n}")))
                 for n in range(24)]
        await asyncio.sleep(0.3)
        first_pids = list(workers.executor._processes)
        os.kill(first_pids[0], signal.SIGKILL)  # dies mid-batch, as under the OOM killer
        results = await asyncio.wait_for(asyncio.gather(*pages, return_exceptions=True), 120)
        serving.cancel()
    finally:
        started = time.monotonic()
        await workers.close()
        closed_in = time.monotonic() - started
    assert workers.replaced == 1
    texts = [r[0].text for r in results if not isinstance(r, BaseException)]
    assert len(texts) == 24 and all(f"Report {n}" in text for n, text in enumerate(texts))
    assert closed_in < 15, "shutting the pool down must not wait on a worker that no longer answers"
    for pid in first_pids:  # the broken pool's survivors were ended, not orphaned
        assert not _alive(pid), pid


def _alive(pid: int) -> bool:
    import os

    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True
