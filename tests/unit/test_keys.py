"""Redis Cluster hash slots: every multi-key script, MULTI and multi-key command touches one slot.

`SITES` lists each such step of the code with the keys it is given (KEYS and the keys a script builds from
ARGV prefixes); the source scan below fails when a module gains a script, a MULTI, an MGET or an SUNION that
is not listed here, so a new cross-slot step cannot slip in unchecked. tests/scale runs the system on a
real three-node cluster as well.
"""

from __future__ import annotations

import inspect
import re
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest
from redis.crc import key_slot

from services.common.keylayout import tagged_name
from services.common.keys import LEGACY_TAGS, Keys

ROOT = Path(__file__).resolve().parents[2]
K = Keys("ww:")

# (module, what) -> the keys that step touches, for sample ids. What a Lua script builds from a prefix in
# ARGV is listed with a sample suffix.
SITES: dict[tuple[str, str], Callable[[Keys], list[str]]] = {
    ("fetcher/politeness", "script reserve"): lambda k: [k.host_next_request("example.org")],
    ("fetcher/registry", "script claim due"): lambda k: [k.feeds_due],
    ("fetcher/registry", "script add feeds"): lambda k: [k.feeds, k.feeds_due],
    ("fetcher/registry", "script set feed"): lambda k: [k.feeds, k.feeds_due],
    ("fetcher/registry", "MULTI remove"): lambda k: [k.feeds, k.feeds_due, k.feed_state("f1")],
    ("fetcher/registry", "MULTI poll state"): lambda k: [k.feed_state("f1"), k.feeds_due],
    ("api/apikeys", "MULTI create"): lambda k: [k.api_keys, k.api_key_ids],
    ("api/apikeys", "MULTI revoke"): lambda k: [k.api_keys, k.api_key_ids],
    ("api/routes/health", "MGET heartbeats"): lambda k: [k.heartbeat(s) for s in
                                                          ("fetcher", "extractor", "store", "notifier")],
    ("common/ledger", "script claim"): lambda k: [k.seen("https://a.example/x"), k.seen("https://b.example/y"),
                                                  k.pending, k.pending_items, k.pending_attempts, k.unsent],
    ("common/ledger", "script due again"): lambda k: [k.pending, k.unsent, k.pending_items, k.pending_attempts],
    ("common/ledger", "script outbox due"): lambda k: [k.outbox_due, k.outbox],
    ("common/ledger", "MULTI settle"): lambda k: [k.pending, k.unsent, k.pending_items, k.pending_attempts],
    ("common/ledger", "MULTI outbox add"): lambda k: [k.outbox, k.outbox_due],
    ("common/ledger", "MULTI outbox settle"): lambda k: [k.outbox, k.outbox_due],
    ("extractor/aliases", "script resolve and learn"): lambda k: [
        k.entity_aliases, k.entity_names, k.entity_forms, k.entity_filed, k.entity_name_index,
        k.entity_alias_votes_prefix + "person:putin", k.entity_known_as_prefix + "person:vladimir putin",
        k.entity_type_tally("soleimani")],
    ("extractor/aliases", "script forget"): lambda k: [
        k.entity_aliases, k.entity_names, k.entity_forms, k.entity_filed, k.entity_name_index,
        k.entity_alias_votes_prefix + "person:putin", k.entity_known_as_prefix + "person:vladimir putin",
        k.entity_type_tally("soleimani")],
    ("extractor/aliases", "script fold article counts"): lambda k: [k.entity_articles, k.entity_filed],
    ("extractor/aliases", "script fold type votes"): lambda k: [
        k.entity_type_votes_prefix + "soleimani", k.entity_type_tally("soleimani")],
    ("store/lsh", "script insert and query"): lambda k: [
        k.lsh_sketch("a1"), k.lsh_packed_bucket(3, 0, "ff"), k.lsh_packed_bucket(4, 39, "00"),
        k.lsh_packed_epoch_prefix + "3", k.lsh_bucket(3, 0, "ff"), k.lsh_bucket(4, 39, "00"), k.lsh_epoch_prefix + "3"],
    ("store/lsh", "script forget"): lambda k: [k.lsh_sketch("a1"), k.lsh_packed_bucket(3, 7, "ab")],
    ("store/lsh", "script forget earlier"): lambda k: [k.lsh_sketch("a1"), k.lsh_bucket(3, 7, "ab")],
    ("store/lsh", "MGET sketches"): lambda k: [k.lsh_sketch("a1"), k.lsh_sketch("a2")],
    ("store/repository", "script raise high water"): lambda k: [k.high_water("t.articles", 0)],
    ("store/repository", "script read postings"): lambda k: [k.entity_postings("person:x"), k.term_postings("y")],
    ("store/repository", "script commit"): lambda k: [
        k.articles_recent, k.stories_recent, k.document_frequencies, k.document_count,
        k.document_frequencies_sparse, k.story("c1"),
        k.article("a1"), k.article_text("a1"), k.body("h1"), k.story("c2"), k.story_alias("c2"),
        k.entity_postings("gpe:x"), k.term_postings("bridge")],
    ("store/repository", "script read versions"): lambda k: [k.story("c1"), k.story("c2")],
    ("store/repository", "script replace article"): lambda k: [k.article("a1"), k.article_text("a1")],
    ("store/repository", "MGET articles"): lambda k: [k.article("a1"), k.article("a2"), k.article_text("a1")],
    ("store/repository", "MGET bodies"): lambda k: [k.body("h1"), k.body("h2")],
    ("notifier/subscriptions", "script replace"): lambda k: [k.subscriptions],
    ("notifier/subscriptions", "MULTI create"): lambda k: [
        k.subscriptions, k.subscription_index("ent", "person:x"), k.subscription_index("kw", "bridge"),
        k.subscriptions_broad],
    ("notifier/subscriptions", "MULTI delete"): lambda k: [k.subscriptions, k.subscription_index("outlet", "o")],
    ("notifier/subscriptions", "SUNION candidates"): lambda k: [
        k.subscriptions_broad, k.subscription_index("name", "x"), k.subscription_index("outlet", "o")],
    **{("notifier/webhooks/queue", f"script {name}"): (lambda k: [
        k.webhook_delivery("d1"), k.webhook_due, k.webhook_undelivered("s1"), k.webhook_leases,
        k.webhook_paused, k.webhook_in_flight, k.webhook_failures, k.webhook_log("s1"),
        k.webhook_delivery_prefix + "d2"])
       for name in ("enqueue", "refresh", "claim", "begin", "record", "release", "replay")},
    ("notifier/webhooks/queue", "MULTI forget"): lambda k: [
        k.webhook_due, k.webhook_leases, k.webhook_delivery("d1"), k.webhook_undelivered("s1"),
        k.webhook_log("s1"), k.webhook_failures, k.webhook_paused],
    ("notifier/webhooks/queue", "MGET deliveries"): lambda k: [k.webhook_delivery("d1"), k.webhook_delivery("d2")],
}

# What the source scan counts, per module: steps whose keys must share a slot.
STEPS = {
    "script": re.compile(r"\bredis\.register_script\("),
    "MULTI": re.compile(r"pipeline\(transaction=True\)"),
    "MGET": re.compile(r"\.mget\(|execute_command\(\"MGET\""),
    "SUNION": re.compile(r"\.sunion\("),
}


@pytest.mark.parametrize("site", sorted(SITES), ids=lambda s: f"{s[0]}:{s[1]}")
@pytest.mark.parametrize("prefix", ["ww:", "t0123456789:", ""])
def test_every_step_touches_one_slot(site: tuple[str, str], prefix: str) -> None:
    keys = SITES[site](Keys(prefix))
    slots = {key: key_slot(key.encode()) for key in keys}
    assert len(set(slots.values())) == 1, f"{site} touches several slots: {slots}"


def test_every_script_multi_and_multi_key_command_of_the_code_is_listed() -> None:
    found: Counter[tuple[str, str]] = Counter()
    for path in sorted((ROOT / "services").rglob("*.py")):
        module = str(path.relative_to(ROOT / "services").with_suffix(""))
        text = path.read_text()
        for kind, pattern in STEPS.items():
            found[(module, kind)] += len(pattern.findall(text))
    listed = Counter((module, what.split()[0]) for module, what in SITES)
    found = +found  # drop zeros
    assert found == listed, ("a script, MULTI, MGET or SUNION was added or removed: list its keys in SITES "
                             f"(found {dict(found - listed)}, listed but not found {dict(listed - found)})")


def test_a_cross_slot_step_is_caught() -> None:
    # The check above can fail: two untagged keys of different names fall in different slots.
    assert key_slot(b"ww:websub:a") != key_slot(b"ww:host:a:next")


def test_the_layout_1_names_map_to_the_current_keys() -> None:
    current = [K.feeds, K.feeds_due, K.feed_state("f1"), K.seen("https://a.example/x"), K.pending,
               K.pending_items, K.pending_attempts, K.article("a1"), K.articles_recent, K.body("h"),
               K.story("c1"), K.story_alias("c1"), K.stories_recent, K.entity_postings("gpe:x"),
               K.term_postings("t"), K.document_frequencies, K.document_count, K.high_water("t.a", 2),
               K.entity_aliases, K.entity_names, K.entity_alias_votes_prefix + "x", K.entity_known_as_prefix + "y",
               K.heartbeat("store")]
    for key in current:
        tag = key[len("ww:") + 1:key.index("}")]
        old = "ww:" + key[len("ww:") + len(tag) + 3:]  # "<prefix>{tag}:<rest>" -> "<prefix><rest>"
        assert tagged_name(old, "ww:") == key
    assert set(LEGACY_TAGS.values()) == {"feeds", "ledger", "store", "entities", "health"}


def test_keys_of_today_and_other_prefixes_are_left_alone() -> None:
    assert tagged_name(K.article("a1"), "ww:") is None  # already tagged
    assert tagged_name("other:article:a1", "ww:") is None
    assert tagged_name("ww:websub:f1", "ww:") is None  # never tagged
    assert tagged_name("ww:feedsx", "ww:") is None  # a whole name, not a prefix


# Keys only ever used alone (never in a script, MULTI or multi-key command with another key): no hash tag.
UNTAGGED = {"host_next_request", "websub", "broker_incarnation", "alert_snapshots", "subscription_stories",
            "story_streamed", "story_stream"}


def _sample_keys() -> dict[str, str]:
    samples: dict[str, str] = {}
    for name, member in vars(Keys).items():
        if name.startswith("_") or name == "prefix":
            continue
        if isinstance(member, property):
            samples[name] = member.fget(K)  # type: ignore[misc]
        elif callable(member):
            params = list(inspect.signature(member).parameters.values())[1:]
            samples[name] = member(K, *(1 if p.annotation in (int, "int") else "x" for p in params))
    return samples


def test_every_key_but_the_lone_ones_carries_its_domain_tag() -> None:
    # A key added to a domain without its tag lands in another slot than the domain's scripts (an untagged
    # entity key broke the alias script on a cluster while the listed sites above still passed).
    samples = _sample_keys()
    assert UNTAGGED <= samples.keys()
    untagged = {name for name, key in samples.items() if "{" not in key}
    assert untagged == UNTAGGED, f"untagged keys: {sorted(untagged - UNTAGGED)}"
    # and the tag the layout-1 migration gives a name is the tag the code uses for it
    for name, key in samples.items():
        if name in UNTAGGED:
            continue
        tag, rest = key[len(K.prefix) + 1:].split("}:", 1)
        owners = {LEGACY_TAGS[p] for p in LEGACY_TAGS if (rest.startswith(p) if p.endswith(":") else rest == p)}
        assert owners <= {tag}, f"{name}: {key} is migrated under {owners}"
