"""Every Redis key wirewatch uses, spelled once, under one configurable prefix.

Owner = the one module that writes the key (readers may be anywhere).
Keys are plain strings so a single primary with AOF is the system of record;
multi-key atomic steps go through Lua scripts in their owning module.

Redis Cluster: a Lua script or MULTI may only touch keys of one hash slot, so every key that such a step
touches carries its owner's hash tag (`{ledger}`, `{feeds}`, `{store}`, `{entities}`, `{health}`, `{lsh}`,
`{outbox}`, `{subs}`, `{wh}`, `{apikeys}`): each domain lives in one slot and the domains spread over the
cluster's primaries. A key that is only ever used alone (`websub:`, `host:`, `alerts:`, ...) has no tag.
On one node the tags change nothing but the names; `LEGACY_TAGS` maps the names before the tags
(layout 1) to them, and services.common.keylayout renames an old data dir's keys on first connect.
tests/unit/test_keys.py checks that the keys of every script and MULTI share one slot.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

#: Layout 1 (before hash tags): what a key's name started with after the prefix -> the tag it now carries
#: (`<prefix><rest>` became `<prefix>{<tag>}:<rest>`). An entry ending in ':' is a prefix, else a whole name.
LEGACY_TAGS: dict[str, str] = {
    "feeds": "feeds", "feeds:due": "feeds", "feed:": "feeds",
    "seen:": "ledger", "pending": "ledger", "pending:items": "ledger", "pending:attempts": "ledger",
    "article:": "store", "articles:recent": "store", "body:": "store", "cluster:": "store",
    "cluster-alias:": "store", "clusters:recent": "store", "idx:ent:": "store", "idx:term:": "store",
    "stats:df-buckets": "store", "stats:df-documents": "store", "hw:": "store",
    "entity:": "entities", "heartbeat:": "health",
}


def _digest(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()[:24]


@dataclass(frozen=True)
class Keys:
    """Key builder bound to a prefix (settings.key_prefix; tests use a unique one each)."""

    prefix: str

    # --- feed registry and schedule (owner: services.fetcher.registry) -------------------------
    @property
    def feeds(self) -> str:
        """HASH feed id -> Feed JSON."""
        return f"{self.prefix}{{feeds}}:feeds"

    def feed_state(self, feed_id: str) -> str:
        """HASH of one feed's poll state: etag, last_modified, last_poll, status, error, counters."""
        return f"{self.prefix}{{feeds}}:feed:{feed_id}:state"

    @property
    def feeds_due(self) -> str:
        """ZSET feed id -> unix time of its next poll."""
        return f"{self.prefix}{{feeds}}:feeds:due"

    def host_next_request(self, host: str) -> str:
        """STRING (ms, with TTL): the earliest time the next request to `host` may start (politeness,
        shared by every fetcher). Owner: services.fetcher.politeness."""
        return f"{self.prefix}host:{host}:next"

    def websub(self, feed_id: str) -> str:
        """STRING: the feed's WebSub subscription as JSON (hub, topic, secret, state, lease, last push).
        Owner: services.fetcher.websub."""
        return f"{self.prefix}websub:{feed_id}"

    # --- seen URLs and the in-flight ledger (owner: services.common.ledger) ----------------
    def seen(self, canonical_url: str) -> str:
        """STRING with TTL (settings.seen_ttl_days): this URL was emitted once."""
        return f"{self.prefix}{{ledger}}:seen:{_digest(canonical_url)}"

    @property
    def pending(self) -> str:
        """ZSET canonical URL -> unix time it was (re-)emitted; removed when the store has it."""
        return f"{self.prefix}{{ledger}}:pending"

    @property
    def pending_items(self) -> str:
        """HASH canonical URL -> FeedItem JSON, so a pending item can be emitted again."""
        return f"{self.prefix}{{ledger}}:pending:items"

    @property
    def unsent(self) -> str:
        """ZSET canonical URL -> unix time it was claimed (or taken again), until the broker acknowledged it:
        a fetcher that died between claim and send leaves it here, and it is emitted again soon."""
        return f"{self.prefix}{{ledger}}:pending:unsent"

    @property
    def pending_attempts(self) -> str:
        """HASH canonical URL -> times emitted."""
        return f"{self.prefix}{{ledger}}:pending:attempts"

    @property
    def outbox(self) -> str:
        """HASH story-event id -> StoryEvent JSON: emitted by the store, not yet handled by the notifier.
        Owner: services.common.ledger.EventOutbox."""
        return f"{self.prefix}{{outbox}}:events"

    @property
    def outbox_due(self) -> str:
        """ZSET story-event id -> unix time it was (re-)emitted. Owner: services.common.ledger.EventOutbox."""
        return f"{self.prefix}{{outbox}}:due"

    def broker_incarnation(self, role: str) -> str:
        """STRING: the broker incarnation `role` (ledger, outbox) last saw; a new one means the broker lost
        its log. Owner: services.common.incarnation."""
        return f"{self.prefix}incarnation:{role}"

    # --- articles, clusters, indexes (owner: services.store.repository) ---------------------
    def article(self, article_id: str) -> str:
        """STRING: the stored article without its text, zstd-compressed JSON (StoredArticle); older data dirs
        hold plain JSON with the text inside, which is still read."""
        return f"{self.prefix}{{store}}:article:{article_id}"

    def article_text(self, article_id: str) -> str:
        """STRING: the stored article's text, zstd-compressed UTF-8 (apart: placement never reads it)."""
        return f"{self.prefix}{{store}}:text:{article_id}"

    @property
    def store_dictionaries(self) -> str:
        """HASH dictionary id -> a zstd dictionary the store trained on its first texts, records or story
        summaries (services.store.compression); kept as long as any frame may name it, i.e. always."""
        return f"{self.prefix}{{store}}:zdict"

    @property
    def store_dictionary_current(self) -> str:
        """HASH kind ('text', 'record', 'story') -> the id of the dictionary new values of that kind use."""
        return f"{self.prefix}{{store}}:zdict-current"

    @property
    def articles_recent(self) -> str:
        """ZSET article id -> unix time stored (listing, `since`)."""
        return f"{self.prefix}{{store}}:articles:recent"

    def body(self, body_hash: str) -> str:
        """STRING: id of the first article with this normalised-body hash."""
        return f"{self.prefix}{{store}}:body:{body_hash}"

    def story(self, cluster_id: str) -> str:
        """HASH: `json` = the cluster summary (StoredStory without its members, kept apart: `story_members`),
        zstd-compressed JSON (older data dirs: plain JSON with the members inline, still read), `v` = times written
        (optimistic concurrency)."""
        return f"{self.prefix}{{store}}:cluster:{cluster_id}"

    def story_members(self, cluster_id: str) -> str:
        """LIST: the cluster's members (StoryMember) in the order they joined, each its zstd-compressed JSON. A join
        appends one, so it costs the same whatever the story's size; the summary (`story`) holds their counts."""
        return f"{self.prefix}{{store}}:members:{cluster_id}"

    def story_alias(self, cluster_id: str) -> str:
        """STRING: the cluster a merged-away cluster id now lives on as."""
        return f"{self.prefix}{{store}}:cluster-alias:{cluster_id}"

    @property
    def stories_recent(self) -> str:
        """ZSET cluster id -> unix time last updated (latest-first listing)."""
        return f"{self.prefix}{{store}}:clusters:recent"

    def entity_postings(self, entity_key: str) -> str:
        """ZSET cluster id -> unix time, stories whose articles mention an entity (candidate search)."""
        return f"{self.prefix}{{store}}:idx:ent:{entity_key}"

    def term_postings(self, term: str) -> str:
        """ZSET cluster id -> unix time, stories whose articles have a salient term (candidate search)."""
        return f"{self.prefix}{{store}}:idx:term:{term}"

    @property
    def document_frequencies(self) -> str:
        """STRING of big-endian u32 counters (BITFIELD), one per term hash bucket: articles containing
        a term of that bucket (IDF statistics for clustering)."""
        return f"{self.prefix}{{store}}:stats:df-buckets"

    @property
    def document_frequencies_sparse(self) -> str:
        """HASH term hash bucket -> articles containing a term of that bucket: the document frequencies while
        few buckets are counted; they move into `document_frequencies` when there are too many for a HASH."""
        return f"{self.prefix}{{store}}:stats:df-sparse"

    @property
    def document_count(self) -> str:
        """STRING counter: articles counted in the document frequencies."""
        return f"{self.prefix}{{store}}:stats:df-documents"

    # --- entity alias table (owner: services.extractor.aliases) ---------------------------
    @property
    def entity_aliases(self) -> str:
        """HASH alias entity key -> the entity key it stands for ('person:putin' -> 'person:vladimir putin')."""
        return f"{self.prefix}{{entities}}:entity:aliases"

    @property
    def entity_names(self) -> str:
        """HASH entity key -> display name, the fullest form seen."""
        return f"{self.prefix}{{entities}}:entity:names"

    @property
    def entity_alias_votes_prefix(self) -> str:
        """Prefix of the HASH per alias: candidate entity key -> articles that used the alias for it."""
        return f"{self.prefix}{{entities}}:entity:alias-votes:"

    @property
    def entity_known_as_prefix(self) -> str:
        """Prefix of the SET per entity key: the aliases that resolve to it (API: an entity's aliases)."""
        return f"{self.prefix}{{entities}}:entity:known-as:"

    @property
    def entity_forms(self) -> str:
        """HASH match form -> the first entity key written in that form ('org:revolutionary guard' -> 'org:irgc')."""
        return f"{self.prefix}{{entities}}:entity:forms"

    @property
    def entity_type_votes_prefix(self) -> str:
        """Prefix of the HASH per name (no type) of older data dirs: type -> articles that named an entity so
        ('soleimani'). Folded into `entity_type_tally`'s bucket by the extractor's first start, then deleted."""
        return f"{self.prefix}{{entities}}:entity:type-votes:"

    @property
    def entity_type_votes_folded(self) -> str:
        """STRING, set once every per-name HASH under `entity_type_votes_prefix` is folded into its bucket."""
        return f"{self.prefix}{{entities}}:entity:type-votes-folded"

    def entity_type_tally(self, name: str) -> str:
        """The bucket HASH holding the type tally of `name` (no type): the alias script computes the same
        suffix with redis.sha1hex."""
        return self.entity_type_tallies_prefix + hashlib.sha1(name.encode()).hexdigest()[:3]

    @property
    def entity_type_tallies_prefix(self) -> str:
        """Prefix of the 4,096 HASHes (suffix: the first three hex digits of the name's SHA-1):
        name (no type) -> its type tally 'person=2;gpe=1', types in the order first voted. One small HASH
        per name cost ~105 B of Redis per name; a bucket of a few names stays a listpack (~30 B a name)."""
        return f"{self.prefix}{{entities}}:entity:type-tallies:"

    @property
    def entity_articles(self) -> str:
        """HASH entity key -> articles filed under it, of older data dirs: folded into `entity_filed` by the
        extractor's first start (each field once), then gone."""
        return f"{self.prefix}{{entities}}:entity:articles"

    @property
    def entity_filed(self) -> str:
        """ZSET entity key -> the articles filed under it and the hour the last one was, packed in the score
        (services.extractor.aliases.filed_score): ranks the candidates of an ambiguous name, and finds the
        entities no article named within the retention, which the extractor forgets."""
        return f"{self.prefix}{{entities}}:entity:filed"

    @property
    def entity_name_index(self) -> str:
        """ZSET, all scores 0, members '<name or name tail>\\x1f<entity key>' in lexicographic order: finds
        entities by a name's prefix ('soleim' -> 'person:qassem soleimani') or by surname (ZRANGEBYLEX)."""
        return f"{self.prefix}{{entities}}:entity:name-index"

    def high_water(self, topic: str, partition: int) -> str:
        """STRING: highest offset of topic/partition whose work the store has finished."""
        return f"{self.prefix}{{store}}:hw:{topic}:{partition}"

    # --- liveness (owner: services.common.lifecycle) ------------------------------------------
    def heartbeat(self, service: str) -> str:
        """STRING with TTL: the service is alive (read by /healthz)."""
        return f"{self.prefix}{{health}}:heartbeat:{service}"

    # --- copy detection: LSH buckets and MinHash sketches (owner: services.store.lsh) ------
    # All carry the Redis Cluster hash tag {lsh}: one insert-and-query touches 16+ of them
    # in a single Lua script, so they must live in one slot.
    def lsh_bucket(self, epoch: int, band: int, bucket: str) -> str:
        """HASH for one (time epoch, LSH band, band-hash prefix): field = rest of the band hash,
        value = space-joined ids of the articles with that band, oldest first (capped). Bands 0-31 are the
        body's, 32-35 the lead's. The earlier layout: read, never written, until it expires (lsh_packed_bucket
        replaced it). Owner: services.store.lsh.
        """
        return f"{self.lsh_bucket_prefix}{epoch}:{band}:{bucket}"

    @property
    def lsh_epoch_prefix(self) -> str:
        """Prefix of the STRING (with TTL) marking that an LSH epoch has buckets: `<prefix><epoch>`."""
        return f"{self.prefix}{{lsh}}:epoch:"

    @property
    def lsh_bucket_prefix(self) -> str:
        """What every lsh_bucket key starts with (the insert script builds bucket keys from it)."""
        return f"{self.prefix}{{lsh}}:b:"

    def lsh_packed_bucket(self, epoch: int, band: int, bucket: str) -> str:
        """HASH for one (time epoch, LSH band, band-hash prefix in hex): field = the next 5 bytes of the band
        hash (raw), value = the packed ids of the articles with that band, concatenated, oldest first (capped).
        Bands 0-31 are the body's, 32-35 the lead's. Owner: services.store.lsh."""
        return f"{self.lsh_packed_bucket_prefix}{epoch}:{band}:{bucket}"

    @property
    def lsh_packed_bucket_prefix(self) -> str:
        """What every lsh_packed_bucket key starts with (the insert script builds bucket keys from it)."""
        return f"{self.prefix}{{lsh}}:p:"

    @property
    def lsh_packed_epoch_prefix(self) -> str:
        """Prefix of the STRING (with TTL) marking that an LSH epoch has packed buckets: `<prefix><epoch>`."""
        return f"{self.prefix}{{lsh}}:e:"

    def lsh_sketch(self, article_id: str) -> str:
        """STRING with TTL: an article's MinHash sketches, packed (services.store.lsh.pack_sketch); older data
        dirs hold `size:base64(signature):base64(lead)` (Sketch.encode), still read. Owner: services.store.lsh."""
        return f"{self.prefix}{{lsh}}:sig:{article_id}"

    # --- alerts (owner: services.notifier.service) ------------------------------------------------
    def alert_snapshots(self, story_id: str) -> str:
        """HASH subscription id -> what it was last told about the story (services.notifier.alerts.StorySnapshot)."""
        return f"{self.prefix}alerts:{story_id}"

    def subscription_stories(self, subscription_id: str) -> str:
        """ZSET story id -> unix time of the latest alert about it to this subscription (its feed, newest first).
        Owner: services.notifier.subscriptions."""
        return f"{self.prefix}alerted:{subscription_id}"

    def story_streamed(self, event_digest: str) -> str:
        """STRING with TTL: this story event was added to the live stream already (a replay adds it once).
        Owner: services.notifier.live."""
        return f"{self.prefix}stream:streamed:{event_digest}"

    @property
    def story_stream(self) -> str:
        """STREAM of story events (field `z`: StoryEvent JSON, zstd-compressed; older entries hold it plain in
        `event`), capped to STORY_STREAM_MAX entries: the replay window of the live SSE stream (entry ids are the
        SSE event ids). Owner: services.notifier.live."""
        return f"{self.prefix}stream:story-events"

    # --- subscriptions (owner: services.notifier.subscriptions) -------------------------------
    # All carry the Redis Cluster hash tag {subs}: creating or deleting a subscription updates its
    # record and its index sets in one MULTI, and a story's candidates are one SUNION over index sets.
    @property
    def subscriptions(self) -> str:
        """HASH subscription id -> Subscription JSON."""
        return f"{self.prefix}{{subs}}:all"

    def subscription_index(self, kind: str, value: str) -> str:
        """SET of the subscription ids indexed under one criterion value: kind is `ent` (entity key),
        `name` (entity name), `kw` (first word of a keyword) or `outlet` (lower-cased outlet name)."""
        return f"{self.prefix}{{subs}}:idx:{kind}:{value}"

    @property
    def subscriptions_broad(self) -> str:
        """SET of the subscription ids with no entity, keyword or outlet criterion (candidates for every story)."""
        return f"{self.prefix}{{subs}}:idx:broad"

    # --- webhook deliveries (owner: services.notifier.webhooks.queue) --------------------------
    # All carry the hash tag {wh}: one delivery's result touches its record, the due schedule, the
    # endpoint's counters and log in a single Lua script, so they must live in one slot.
    def webhook_delivery(self, delivery_id: str) -> str:
        """STRING: one WebhookDelivery as JSON (expires some days after it was delivered)."""
        return f"{self.webhook_delivery_prefix}{delivery_id}"

    @property
    def webhook_delivery_prefix(self) -> str:
        """What every webhook_delivery key starts with (the claim script builds them from it)."""
        return f"{self.prefix}{{wh}}:delivery:"

    @property
    def webhook_due(self) -> str:
        """ZSET delivery id -> unix time of its next attempt (or the end of the lease of one in flight)."""
        return f"{self.prefix}{{wh}}:due"

    @property
    def webhook_leases(self) -> str:
        """HASH delivery id -> token of the sender that claimed it (a stale sender's result is ignored)."""
        return f"{self.prefix}{{wh}}:leases"

    @property
    def webhook_in_flight(self) -> str:
        """HASH delivery id -> the claim token of a request being sent now; left behind by a sender that died
        mid-request, it marks that attempt's outcome as unknown (the next claim re-sends and counts it)."""
        return f"{self.prefix}{{wh}}:in-flight"

    def webhook_undelivered(self, subscription_id: str) -> str:
        """SET of a subscription's delivery ids not delivered yet (pending or failed; what a replay resends)."""
        return f"{self.prefix}{{wh}}:undelivered:{subscription_id}"

    def webhook_log(self, subscription_id: str) -> str:
        """LIST (capped, newest first) of a subscription's delivery attempts as JSON."""
        return f"{self.prefix}{{wh}}:log:{subscription_id}"

    @property
    def webhook_failures(self) -> str:
        """HASH subscription id -> failed attempts in a row (reset by a success)."""
        return f"{self.prefix}{{wh}}:failures"

    @property
    def webhook_paused(self) -> str:
        """HASH subscription id -> why its endpoint is paused, as JSON (reason, since)."""
        return f"{self.prefix}{{wh}}:paused"

    # --- API keys (owner: services.api.apikeys) ---------------------------------------------
    # Both carry the hash tag {apikeys}: creating or revoking a key writes both in one MULTI.
    @property
    def api_keys(self) -> str:
        """HASH sha256(token) hex -> ApiKey JSON (id, name, scope, created_at); tokens are never stored."""
        return f"{self.prefix}{{apikeys}}:by-hash"

    @property
    def api_key_ids(self) -> str:
        """HASH key id -> sha256(token) hex (revoking a key by its id)."""
        return f"{self.prefix}{{apikeys}}:ids"
