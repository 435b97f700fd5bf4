"""The dense-news replay (pure): a labelled stream with publication dates compressed so events overlap.

A live monitor sees many events of one kind in the same days (shootings across a
country, one government's affairs). The dev file spreads them over years; this
squeezes them together while keeping the stream's order:

* GVA (and any corpus without topics): each calendar month's articles are mapped
  linearly into that month's first `days` days (relative order and spacing kept,
  scaled by days/len(month)). Follow-ups stay in their own month.
* ECB+ (records with a `topic`): every article of a topic (both of its events, the
  original ECB texts, which have no date, included) is dated on one day: the
  topic's earliest known date (the replay's fetch time if none is known).

Stream order is unchanged (`order`), so only time-based signals see a difference.
"""

from __future__ import annotations

import calendar
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Protocol, TypeVar


class Dated(Protocol):
    """What compression reads of a record."""

    @property
    def corpus(self) -> str: ...
    @property
    def published(self) -> datetime | None: ...
    @property
    def topic(self) -> str | None: ...


R = TypeVar("R", bound=Dated)

#: Days a month of GVA is squeezed into.
MONTH_DAYS = 2.0


def squeeze_month(when: datetime, days: float = MONTH_DAYS) -> datetime:
    """`when` mapped linearly from its calendar month into the month's first `days` days."""
    start = when.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    length = calendar.monthrange(when.year, when.month)[1] * 86400.0
    return start + timedelta(seconds=(when - start).total_seconds() * days * 86400.0 / length)


def compress_dates(records: Sequence[R], *, days: float = MONTH_DAYS, undated: datetime | None = None) -> list[R]:
    """The records with dense dates (see the module docstring); records are frozen dataclasses with `published`."""
    topic_day: dict[str, datetime] = {}
    for r in records:
        if r.topic is not None and r.published is not None:
            day = r.published.replace(hour=12, minute=0, second=0, microsecond=0)
            topic_day[r.topic] = min(topic_day.get(r.topic, day), day)
    fallback = undated or datetime(2026, 1, 1, 12, tzinfo=UTC)
    out: list[R] = []
    for r in records:
        if r.topic is not None:
            when: datetime | None = topic_day.get(r.topic, fallback)
        else:
            when = squeeze_month(r.published, days) if r.published is not None else None
        out.append(replace(r, published=when))  # type: ignore[type-var]
    return out
