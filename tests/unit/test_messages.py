"""Wire schema: round trips, versioning, poison detection, settings parsing."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from services.common.errors import InvalidMessage
from services.common.messages import Article, FeedItem, article_id
from services.common.settings import Settings
from services.common.topics import ARTICLES, FEED_ITEMS


def item() -> FeedItem:
    return FeedItem(url="https://a.example/x", feed_id="f1", feed_url="https://a.example/feed", outlet="A",
                    seen_at=datetime(2026, 1, 1, tzinfo=UTC))


def test_round_trip_keeps_every_field() -> None:
    original = item()
    assert FEED_ITEMS.decode(FEED_ITEMS.encode(original)) == original


def test_unknown_fields_are_ignored_so_old_readers_survive_new_writers() -> None:
    raw = FEED_ITEMS.encode(item()).replace(b'"schema_version":1', b'"schema_version":1,"future":true')
    assert FEED_ITEMS.decode(raw).url == "https://a.example/x"


@pytest.mark.parametrize("raw", [b"\xff\xfe", b"", None, b"{}", b'{"schema_version": 2, "url": "x"}', b"[1,2]"])
def test_undecodable_or_wrong_version_is_invalid_message(raw: bytes | None) -> None:
    with pytest.raises(InvalidMessage):
        FEED_ITEMS.decode(raw)


def test_article_needs_timezone_aware_dates() -> None:
    with pytest.raises(ValidationError):
        Article(id="x", url="u", outlet="o", title="t", text="x", fetched_at=datetime(2026, 1, 1))
    ok = Article(id="x", url="u", outlet="o", title="t", text="x", fetched_at=datetime(2026, 1, 1, tzinfo=UTC))
    assert ARTICLES.decode(ARTICLES.encode(ok)) == ok


def test_article_id_is_stable_and_distinct() -> None:
    assert article_id("https://a.example/x") == article_id("https://a.example/x")
    assert article_id("https://a.example/x") != article_id("https://a.example/y")


def test_settings_read_plain_kafka_and_redis_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KAFKA_BOOTSTRAP", "k1:9092,k2:9093")
    monkeypatch.setenv("REDIS_URL", "redis://:secret@r:6380/0")
    monkeypatch.setenv("WIREWATCH_ALLOW_NETWORKS", "127.0.0.0/8, 10.1.0.0/16")
    settings = Settings()
    assert settings.bootstrap == "k1:9092,k2:9093"
    assert settings.own_ports == {9092, 9093, 6380}
    assert len(settings.allowed_networks) == 2
    assert "secret" not in str(settings.redacted())


def test_settings_refuse_a_bad_cidr() -> None:
    with pytest.raises(ValidationError, match="not a CIDR"):
        Settings(allow_networks="127.0.0.0/8,nonsense")


def test_missing_broker_is_a_clear_error() -> None:
    with pytest.raises(RuntimeError, match="KAFKA_BOOTSTRAP"):
        _ = Settings(kafka_bootstrap=None).bootstrap
