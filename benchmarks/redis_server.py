"""The Redis a benchmark runs against: REDIS_URL when set, else an embedded Valkey for the run."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from pydantic import SecretStr

from services.common.embedded import start_valkey
from services.common.settings import Settings


@contextmanager
def redis_for(settings: Settings) -> Iterator[Settings]:
    """`settings` with a Redis URL: theirs, or an embedded Valkey's, stopped when the block ends."""
    if settings.redis_url is not None:
        yield settings
        return
    with tempfile.TemporaryDirectory() as tmp:
        url, child = start_valkey(Path(tmp))
        try:
            yield settings.model_copy(update={"redis_url": SecretStr(url)})
        finally:
            child.stop()
