"""All configuration, from the environment, loaded once and passed down.

Variables are `WIREWATCH_<FIELD>`; `KAFKA_BOOTSTRAP` and `REDIS_URL` are
accepted as they are (how production and docker-compose name them).
"""

from __future__ import annotations

import ipaddress
import os
from functools import cached_property
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import AliasChoices, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


class Settings(BaseSettings):
    """Every setting of every service. Env: WIREWATCH_*; KAFKA_BOOTSTRAP and REDIS_URL as they are."""

    model_config = SettingsConfigDict(
        env_prefix="WIREWATCH_", frozen=True, extra="ignore", populate_by_name=True
    )

    # --- infrastructure -------------------------------------------------------------------
    kafka_bootstrap: str | None = Field(
        None,
        validation_alias=AliasChoices("WIREWATCH_KAFKA_BOOTSTRAP", "KAFKA_BOOTSTRAP", "kafka_bootstrap"),
        description="Kafka bootstrap servers; unset under `wirewatch up` = start the embedded broker",
    )
    redis_url: SecretStr | None = Field(
        None,
        validation_alias=AliasChoices("WIREWATCH_REDIS_URL", "REDIS_URL", "redis_url"),
        description="Redis URL (`redis+cluster://host:port` for a Redis Cluster); unset under `wirewatch up` = "
                    "start the embedded Valkey",
    )
    topic_prefix: str = Field("wirewatch.", description="prefix of every topic name")
    key_prefix: str = Field("ww:", description="prefix of every Redis key")
    data_dir: str = Field(
        default_factory=lambda: default_data_dir(),
        description="where `wirewatch up` keeps broker/Redis data, logs and the running system's addresses "
                    "(runtime.json, read by every other command); default $XDG_STATE_HOME/wirewatch, "
                    "else ~/.local/state/wirewatch")
    api_host: str = Field("127.0.0.1", description="API bind address")
    api_port: int = Field(8080, ge=0, le=65535, description="API port (0 = any free port)")
    api_auth: Literal["auto", "on", "off"] = Field(
        "auto", description="API keys required: auto = when api_host is not a loopback address"
    )
    log_level: str = Field("INFO", description="DEBUG, INFO, WARNING, ERROR")
    metrics_port: int = Field(0, ge=0, le=65535, description="a service run alone (`wirewatch fetcher`, ...) serves "
                              "/metrics on this port; 0 = not (under `wirewatch up` the API serves them)")
    metrics_host: str = Field("0.0.0.0", description="address a service run alone serves /metrics on")
    log_json: bool | None = Field(
        None, description="JSON logs; default: readable lines on a terminal, JSON when stderr is not one")

    # --- bus ------------------------------------------------------------------------------
    max_attempts: int = Field(3, ge=1, description="tries per message before it goes to dead letters")
    retry_backoff_s: float = Field(0.5, ge=0, description="first retry delay; doubles per attempt")
    batch_size: int = Field(50, ge=1, description="records taken per poll")
    send_timeout_s: float = Field(15.0, gt=0, description="deadline for one produce acknowledgement")
    session_timeout_ms: int = Field(
        10_000, ge=1000, description="consumer group session timeout (Tansu holds a join for half of it)"
    )
    startup_wait_s: float = Field(60.0, gt=0, description="how long a service waits for broker and Redis")
    shutdown_grace_s: float = Field(10.0, gt=0, description="how long SIGTERM waits for in-flight work")

    # --- in-flight ledger -------------------------------------------------------------------
    pending_grace_s: float = Field(
        300.0, gt=0, description="an emitted item not stored after this long is emitted again"
    )

    # --- outbound HTTP -------------------------------------------------------------------
    allow_networks: str = Field(
        "", description="comma-separated CIDRs the SSRF guard lets through (tests: 127.0.0.0/8)"
    )
    allow_ports: str = Field("80,443", description="comma-separated ports outbound HTTP may reach")
    user_agent: str = Field(
        "wirewatch/0.1 (+https://github.com/wirewatch/wirewatch)", description="User-Agent of every request"
    )
    http_timeout_s: float = Field(15.0, gt=0, description="total deadline of one HTTP request")
    max_redirects: int = Field(5, ge=0, description="redirect hops followed, each re-checked by the guard")
    max_feed_bytes: int = Field(10_000_000, gt=0, description="feed body cap, after decompression")
    max_page_bytes: int = Field(5_000_000, gt=0, description="article page cap, after decompression")

    # --- fetcher -----------------------------------------------------------------------------
    poll_interval_s: float = Field(60.0, gt=0, description="interval of a feed whose publishing rate is not known yet")
    poll_min_interval_s: float | None = Field(
        None, gt=0, description="shortest interval the schedule adapts down to (default: poll_interval_s)")
    poll_max_interval_s: float = Field(3600.0, gt=0, description="longest interval the schedule adapts up to")
    feed_disable_after_hours: float = Field(72.0, gt=0, description="a feed failing this long is disabled")
    feed_revive_interval_hours: float = Field(24.0, gt=0, description="a disabled feed is retried this often")
    host_concurrency: int = Field(2, ge=1, description="requests in flight to one host, per fetcher")
    host_min_delay_s: float = Field(
        1.0, ge=0, description="seconds between two requests to one host, across fetchers (Crawl-delay raises it)")
    respect_robots: bool = Field(True, description="honour robots.txt (a disallowed feed is not polled)")
    websub_callback_url: str | None = Field(
        None, description="public base URL of the API for WebSub hubs to push to (unset: no WebSub, polling only)")
    websub_lease_days: float = Field(10.0, gt=0, description="lease asked of WebSub hubs")
    fetch_concurrency: int = Field(16, ge=1, description="feeds polled at once by one fetcher")
    seen_ttl_days: float = Field(30.0, gt=0, description="how long an emitted URL is remembered")

    # --- extractor ---------------------------------------------------------------------------
    spacy_model: str = Field("en_core_web_sm", description="spaCy pipeline used for named entities")
    extract_workers: int = Field(0, ge=0, description="extraction processes (0 = one per core)")
    ner_max_chars: int = Field(20_000, gt=0, description="text given to NER is capped at this length")
    ner_lead_chars: int = Field(
        400, ge=0, description="the NER model reads the title, this many characters of the text and the sentences "
        "naming someone not known yet; known names are matched in the rest (services.extractor.fast_ner; ~26 % "
        "less NER CPU, recurring story entities F1 0.986 against full text on the dev set); 0 = the model reads "
        "everything")
    extract_concurrency: int = Field(
        16, ge=1, description="pages in flight in one extractor (enough to fill a batch per worker)")
    extract_batch: int = Field(
        8, ge=1, description="pages a worker extracts and tags in one go when several are waiting (spaCy batches)")

    # --- store -------------------------------------------------------------------------------
    # Two years: a trial or an anniversary account still meets its event's story, and the join decision
    # weighs the gap (dev, grouped CV: pairwise F1 0.892 -> 0.902 from one year). Live stories expire
    # sooner (retention_days): this bounds backfills and replays.
    cluster_window_hours: float = Field(
        17520.0, gt=0, description="an article joins only clusters with a member within this many hours of it"
    )
    cluster_time_scale_days: float = Field(
        5.0, gt=0, description="text similarity counts half when the article is this many days from the story"
    )
    cluster_threshold: float = Field(0.13, ge=0, le=1, description="score needed to join a cluster")
    copy_window_hours: float = Field(336.0, gt=0, description="a re-post is recognised within this many hours")
    copy_min_jaccard: float = Field(0.45, ge=0, le=1, description="5-shingle Jaccard that makes a copy")
    copy_min_containment: float = Field(
        0.85, ge=0, le=1, description="share of the shorter text inside the longer that makes a (trimmed) copy"
    )
    copy_min_shingles: int = Field(30, ge=1, description="containment counts only with this many shingles")
    copy_min_lead_jaccard: float = Field(
        0.6, ge=0, le=1, description="Jaccard of the two texts' leads (first 60 shingles) that marks the same opening"
    )
    copy_min_lead_containment: float = Field(
        0.5, ge=0, le=1, description="share of the shorter text inside the longer that makes a copy of the same opening"
    )
    retention_days: float = Field(
        90.0, gt=0, description="articles and stories not updated for this long expire from Redis, and entities "
        "no article named for this long are forgotten (the alias table)"
    )
    cluster_merge_threshold: float = Field(
        0.3, ge=0, le=1, description="an article scoring this high with two stories merges them"
    )
    store_batch_size: int = Field(500, ge=1, description="articles the store takes per poll")
    # services.store.compression: trained on the first 1,000, dev-set texts compress 24 % smaller, records
    # 49 %, story summaries 16 %; 300 samples give most of it for texts.
    store_dictionary_samples: int = Field(
        1000, ge=0, description="texts, records, story summaries and story members the store compresses plainly "
        "before it trains a zstd dictionary of each kind from them (0: never train)")
    store_dictionary_bytes: int = Field(
        65_536, ge=1024, le=1_048_576, description="size of each trained zstd dictionary")
    cluster_max_candidates: int = Field(
        10, ge=1, description="stories scored per article (those sharing the most index keys): bounded work"
    )
    cluster_min_shared_keys: int = Field(
        2, ge=1, description="a story is scored only if it shares this many index keys (entities, salient words)"
    )
    cluster_centroid_members: int = Field(
        10, ge=0, description="a story's centroid is the sum of its first this many members (0: all): later "
        "members join by resembling them, without widening what the story is about")
    store_cache_clusters: int = Field(
        10_000, ge=0, description="stories the store keeps parsed in memory (re-read only when changed elsewhere)"
    )
    cluster_weight_body: float = Field(0.6, ge=0, description="weight of body TF-IDF cosine in the score")
    cluster_weight_title: float = Field(0.1, ge=0, description="weight of title TF-IDF cosine in the score")
    cluster_weight_entities: float = Field(0.3, ge=0, description="weight of entity TF-IDF cosine in the score")
    cluster_join_model: str = Field(
        "builtin", description="the join decision: 'builtin' (the learned model shipped in the package), 'none' "
        "(the weighted score >= cluster_threshold), or the path of a model JSON written by `wirewatch train stories`")
    cluster_merge_probability: float = Field(
        0.95, ge=0, le=1,
        description="with the learned join model: an article this probably in two stories merges them")

    @field_validator("allow_networks")
    @classmethod
    def _valid_networks(cls, value: str) -> str:
        for part in _split(value):
            try:
                ipaddress.ip_network(part, strict=False)
            except ValueError as exc:
                raise ValueError(f"WIREWATCH_ALLOW_NETWORKS: {part!r} is not a CIDR") from exc
        return value

    @cached_property
    def allowed_networks(self) -> tuple[IPNetwork, ...]:
        """The parsed `allow_networks` allow-list."""
        return tuple(ipaddress.ip_network(p, strict=False) for p in _split(self.allow_networks))

    @cached_property
    def allowed_ports(self) -> frozenset[int]:
        """The parsed `allow_ports` list."""
        return frozenset(int(p) for p in _split(self.allow_ports))

    @property
    def own_ports(self) -> frozenset[int]:
        """Ports of wirewatch's own broker and Redis: outbound HTTP must never reach them."""
        ports: set[int] = set()
        for part in (self.kafka_bootstrap or "").split(","):
            if part.rpartition(":")[2].isdigit():
                ports.add(int(part.rpartition(":")[2]))
        if self.redis_url is not None:
            port = urlsplit(self.redis_url.get_secret_value()).port
            ports.add(port or 6379)
        return frozenset(ports)

    @property
    def bootstrap(self) -> str:
        """The Kafka bootstrap servers; an error if none is configured."""
        if not self.kafka_bootstrap:
            raise RuntimeError("KAFKA_BOOTSTRAP is not set (or run `wirewatch up` for the embedded broker)")
        return self.kafka_bootstrap

    @property
    def required_redis_url(self) -> str:
        """The Redis URL, revealed; an error if none is configured."""
        if self.redis_url is None:
            raise RuntimeError("REDIS_URL is not set (or run `wirewatch up` for the embedded Redis)")
        return self.redis_url.get_secret_value()

    def redacted(self) -> dict[str, Any]:
        """Effective settings with secrets masked, for `wirewatch config`."""
        out = self.model_dump()
        if self.redis_url is not None:
            out["redis_url"] = _mask_url(self.redis_url.get_secret_value())
        return out


def default_data_dir() -> str:
    """The per-user state directory (XDG Base Directory): one place every shell finds the running system in."""
    state_home = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return str(Path(state_home) / "wirewatch")


def _split(value: str) -> list[str]:
    return [p.strip() for p in value.split(",") if p.strip()]


def _mask_url(url: str) -> str:
    if "@" in url and "://" in url:
        scheme, rest = url.split("://", 1)
        return f"{scheme}://***@{rest.split('@', 1)[1]}"
    return url
