"""zstd for what the store keeps, with dictionaries learned from the store's own first articles.

A news text of ~2 KB, an article record or a story summary is too short for zstd to find much to reuse
within itself; what it shares is with the others (the record's field names and entity shapes, an
outlet's phrasing, the language). A zstd dictionary trained on earlier ones carries that: on the dev
set, trained on the first 1,000 and judged on later ones, texts 999 -> 761 bytes, records 909 -> 468,
story summaries 2,949 -> 2,470.

So until a store has seen `samples` of a kind it compresses as before (no dictionary) and keeps the
plain bytes as samples; then it trains a dictionary (a fraction of a second, in a thread), publishes it
in Redis under its id and compresses with it from then on. The first store process to publish a kind's
dictionary wins; another adopts it. Every frame names its dictionary (zstd's frame header), so a
reader needs only the dictionaries of the frames it reads, fetched by id the first time and kept
(they never change); frames without one, and everything older data dirs hold, read as before.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Sequence

import cramjam
import zstandard
from redis.client import NEVER_DECODE

from services.common.keys import Keys
from services.common.logging import get_logger
from services.common.redis import Redis
from services.common.settings import Settings

log = get_logger(__name__)

#: What the store compresses, each with its own dictionary.
KINDS = ("text", "record", "story", "member")
#: zstd level: 1,824 -> 945 bytes for a dev-set text without a dictionary; above 3 gains little for short texts.
LEVEL = 3
MAGIC = b"\x28\xb5\x2f\xfd"
#: Writes between two looks for dictionaries another store process published, while a kind has none.
ADOPT_EVERY = 50


class MissingDictionary(LookupError):
    """A frame names a dictionary this process has not loaded: a reader calls Codec.load_for before decoding."""


class Codec:
    """The compressors and dictionaries of one store's data (one key prefix) in this process."""

    def __init__(self, redis: Redis, keys: Keys, *, samples: int, dictionary_bytes: int) -> None:
        """`samples`: plain values of a kind to train its dictionary on (0: never train; dictionaries another
        process published are still used); `dictionary_bytes`: the size of a trained dictionary."""
        self.redis = redis
        self.keys = keys
        self.samples = samples
        self.dictionary_bytes = dictionary_bytes
        self._compressors: dict[str, zstandard.ZstdCompressor] = {}
        self._decompressors: dict[int, zstandard.ZstdDecompressor] = {}
        self._samples: dict[str, list[bytes]] = {kind: [] for kind in KINDS}
        self._untrainable: set[str] = set()
        self._writes = 0

    @classmethod
    def for_store(cls, redis: Redis, keys: Keys, settings: Settings) -> Codec:
        """The store's codec: it trains dictionaries as the settings say."""
        return cls(redis, keys, samples=settings.store_dictionary_samples,
                   dictionary_bytes=settings.store_dictionary_bytes)

    # --- writes ----------------------------------------------------------------------------
    async def prepare(self) -> None:
        """Before a write: the published dictionaries adopted (at the first write, then every ADOPT_EVERY while a
        kind has none), and any kind with enough samples trained and published (or the dictionary another
        process published first adopted)."""
        # Another store process may publish first: look again now and then while a kind has none.
        if self._writes % ADOPT_EVERY == 0 and len(self._compressors) < len(KINDS):
            await self._adopt_published()
        self._writes += 1
        published = False
        for kind in KINDS:
            if (kind in self._compressors or kind in self._untrainable or not self.samples
                    or len(self._samples[kind]) < self.samples):
                continue
            samples: list[bytes | bytearray | memoryview] = list(self._samples[kind])
            self._samples[kind] = []
            try:
                trained = await asyncio.to_thread(zstandard.train_dictionary, self.dictionary_bytes, samples)
            except zstandard.ZstdError as error:
                # Too little to learn from (short values): plain zstd, as before; not tried again.
                self._untrainable.add(kind)
                log.warning("store.dictionary_not_trained", kind=kind, samples=len(samples), error=str(error),
                            hint="raise WIREWATCH_STORE_DICTIONARY_SAMPLES or lower WIREWATCH_STORE_DICTIONARY_BYTES")
                continue
            ident = trained.dict_id()
            log.info("store.dictionary_trained", kind=kind, samples=len(samples), id=ident)
            await self.redis.hsetnx(self.keys.store_dictionaries, str(ident), trained.as_bytes())
            if not await self.redis.hsetnx(self.keys.store_dictionary_current, kind, str(ident)):
                await self.redis.hdel(self.keys.store_dictionaries, str(ident))  # another process won
            published = True
        if published:  # ours, or the one another process published first
            await self._adopt_published()

    def compress(self, kind: str, data: bytes) -> bytes:
        """`data` as stored: with the kind's dictionary once there is one, else plain zstd (kept as a sample)."""
        compressor = self._compressors.get(kind)
        if compressor is not None:
            return compressor.compress(data)
        if self.samples and kind not in self._untrainable and len(self._samples[kind]) < self.samples:
            self._samples[kind].append(data)
        return bytes(cramjam.zstd.compress(data, level=LEVEL))

    async def _adopt_published(self) -> None:
        current = await self.redis.hgetall(self.keys.store_dictionary_current)
        for kind, ident in current.items():
            if str(kind) in KINDS and str(kind) not in self._compressors:
                found = await self._dictionary(int(ident))
                if found is not None:
                    self.use(str(kind), found)

    def use(self, kind: str, dictionary: zstandard.ZstdCompressionDict) -> None:
        """Compress `kind` with `dictionary` from now on (and read what it compressed)."""
        self._compressors[kind] = zstandard.ZstdCompressor(level=LEVEL, dict_data=dictionary)
        self._decompressors.setdefault(dictionary.dict_id(), zstandard.ZstdDecompressor(dict_data=dictionary))
        self._samples[kind] = []

    # --- reads -----------------------------------------------------------------------------
    def decompress(self, data: bytes) -> bytes:
        """The plain bytes of a stored zstd frame; raises MissingDictionary when its dictionary is not loaded."""
        ident = zstandard.get_frame_parameters(data).dict_id
        if not ident:
            return bytes(cramjam.zstd.decompress(data))
        decompressor = self._decompressors.get(ident)
        if decompressor is None:
            raise MissingDictionary(ident)
        return bytes(decompressor.decompress(data))

    def decompress_many(self, frames: Sequence[bytes]) -> list[bytes]:
        """The plain bytes of many frames, in order (a big story's members): those of one dictionary in one call,
        a third faster than one by one for thousands of small frames."""
        idents = [zstandard.get_frame_parameters(f).dict_id for f in frames]
        out: list[bytes | None] = [None] * len(frames)
        for ident in set(idents):
            at = [i for i, d in enumerate(idents) if d == ident]
            decompressor = self._decompressors.get(ident) if ident else None
            if decompressor is None:
                for i in at:
                    out[i] = self.decompress(frames[i])
                continue
            # Our compressors write each frame's content size, which the batch call needs.
            plain = decompressor.multi_decompress_to_buffer([frames[i] for i in at])
            for j, i in enumerate(at):
                out[i] = plain[j].tobytes()
        return [b for b in out if b is not None]

    async def load_for(self, frames: Iterable[bytes | None]) -> None:
        """Load the dictionaries `frames` name that this process has not loaded yet (one read for all)."""
        wanted = {zstandard.get_frame_parameters(f).dict_id for f in frames if f and f.startswith(MAGIC)}
        for ident in wanted - {0} - self._decompressors.keys():
            await self._dictionary(ident)

    async def _dictionary(self, ident: int) -> zstandard.ZstdCompressionDict | None:
        raw = await self.redis.execute_command(  # type: ignore[no-untyped-call]
            "HGET", self.keys.store_dictionaries, str(ident), **{NEVER_DECODE: True})
        if raw is None:
            return None
        found = zstandard.ZstdCompressionDict(bytes(raw))
        self._decompressors[ident] = zstandard.ZstdDecompressor(dict_data=found)
        return found
