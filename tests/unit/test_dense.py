"""The dense replay's dates (services.evaluation.dense): months squeezed, ECB+ topics on one day."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import pytest

from services.evaluation.dense import compress_dates, squeeze_month


@dataclass(frozen=True)
class Rec:
    corpus: str
    published: datetime | None
    topic: str | None = None


def test_squeeze_month_is_linear_and_keeps_order() -> None:
    first = squeeze_month(datetime(2015, 3, 1, tzinfo=UTC))
    mid = squeeze_month(datetime(2015, 3, 16, 12, tzinfo=UTC))
    last = squeeze_month(datetime(2015, 3, 31, 23, tzinfo=UTC))
    assert first == datetime(2015, 3, 1, tzinfo=UTC)
    assert first < mid < last < datetime(2015, 3, 3, tzinfo=UTC)
    assert (mid - first).total_seconds() == pytest.approx(86400.0)


def test_topics_share_one_day() -> None:
    day = datetime(2010, 5, 4, 9, tzinfo=UTC)
    recs = [Rec("ecbplus", None, "t1"), Rec("ecbplus", day, "t1"),
            Rec("ecbplus", datetime(2011, 1, 1, tzinfo=UTC), "t1"),
            Rec("ecbplus", None, "t2"), Rec("gva", datetime(2014, 2, 28, tzinfo=UTC))]
    out = compress_dates(recs, undated=datetime(2026, 1, 1, tzinfo=UTC))
    assert {r.published for r in out[:3]} == {day.replace(hour=12)}
    assert out[3].published == datetime(2026, 1, 1, tzinfo=UTC)
    assert out[4].published is not None and out[4].published < datetime(2014, 2, 3, tzinfo=UTC)
