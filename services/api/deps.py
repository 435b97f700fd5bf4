"""The API's state, built once by the app's lifespan, and the typed dependencies routes take from it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request

from services.api.apikeys import ApiKeyStore
from services.common.keys import Keys
from services.common.redis import Redis
from services.common.settings import Settings
from services.extractor.aliases import AliasTable
from services.fetcher.registry import FeedRegistry
from services.fetcher.websub import WebSubStore
from services.notifier.subscriptions import SubscriptionStore
from services.notifier.webhooks import DeliveryQueue
from services.store.repository import Repository


@dataclass(frozen=True)
class ApiState:
    """Everything a request may use, opened by the lifespan and closed after the last request."""

    settings: Settings
    redis: Redis
    keys: Keys
    repo: Repository
    feeds: FeedRegistry
    websub: WebSubStore
    subscriptions: SubscriptionStore
    webhooks: DeliveryQueue
    apikeys: ApiKeyStore
    aliases: AliasTable

    @classmethod
    def open(cls, settings: Settings, redis: Redis) -> ApiState:
        """The state over one Redis connection pool; each owner's store reads and writes its own keys."""
        keys = Keys(settings.key_prefix)
        aliases = AliasTable(redis, keys)
        return cls(settings=settings, redis=redis, keys=keys, repo=Repository(redis, keys),
                   feeds=FeedRegistry(redis, keys), websub=WebSubStore(redis, keys),
                   subscriptions=SubscriptionStore(redis, keys, canonical=aliases.entity_key),
                   webhooks=DeliveryQueue(redis, keys), apikeys=ApiKeyStore(redis, keys), aliases=aliases)


def api_state(request: Request) -> ApiState:
    """The state the lifespan stored on the app (the one untyped step: Starlette's `State` holds anything)."""
    state: ApiState = request.app.state.api
    return state


StateDep = Annotated[ApiState, Depends(api_state)]


def _settings(state: StateDep) -> Settings:
    return state.settings


def _redis(state: StateDep) -> Redis:
    return state.redis


def _keys(state: StateDep) -> Keys:
    return state.keys


def _repo(state: StateDep) -> Repository:
    return state.repo


def _feeds(state: StateDep) -> FeedRegistry:
    return state.feeds


def _websub(state: StateDep) -> WebSubStore:
    return state.websub


def _subscriptions(state: StateDep) -> SubscriptionStore:
    return state.subscriptions


def _webhooks(state: StateDep) -> DeliveryQueue:
    return state.webhooks


def _aliases(state: StateDep) -> AliasTable:
    return state.aliases


SettingsDep = Annotated[Settings, Depends(_settings)]
RedisDep = Annotated[Redis, Depends(_redis)]
KeysDep = Annotated[Keys, Depends(_keys)]
RepoDep = Annotated[Repository, Depends(_repo)]
FeedsDep = Annotated[FeedRegistry, Depends(_feeds)]
WebSubDep = Annotated[WebSubStore, Depends(_websub)]
SubscriptionsDep = Annotated[SubscriptionStore, Depends(_subscriptions)]
WebhooksDep = Annotated[DeliveryQueue, Depends(_webhooks)]
AliasesDep = Annotated[AliasTable, Depends(_aliases)]
