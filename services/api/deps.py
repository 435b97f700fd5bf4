"""Typed dependencies of the API routes."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from services.common.keys import Keys
from services.common.redis import Redis
from services.common.settings import Settings
from services.fetcher.registry import FeedRegistry
from services.fetcher.websub import WebSubStore
from services.notifier.subscriptions import SubscriptionStore
from services.notifier.webhooks import DeliveryQueue
from services.store.repository import Repository


def _settings(request: Request) -> Settings:
    return request.app.state.settings  # type: ignore[no-any-return]


def _redis(request: Request) -> Redis:
    return request.app.state.redis  # type: ignore[no-any-return]


def _keys(request: Request) -> Keys:
    return request.app.state.keys  # type: ignore[no-any-return]


def _repo(request: Request) -> Repository:
    return request.app.state.repo  # type: ignore[no-any-return]


def _feeds(request: Request) -> FeedRegistry:
    return request.app.state.feeds  # type: ignore[no-any-return]


def _websub(request: Request) -> WebSubStore:
    return request.app.state.websub  # type: ignore[no-any-return]


def _subscriptions(request: Request) -> SubscriptionStore:
    return request.app.state.subscriptions  # type: ignore[no-any-return]


def _webhooks(request: Request) -> DeliveryQueue:
    return request.app.state.webhooks  # type: ignore[no-any-return]


SettingsDep = Annotated[Settings, Depends(_settings)]
RedisDep = Annotated[Redis, Depends(_redis)]
KeysDep = Annotated[Keys, Depends(_keys)]
RepoDep = Annotated[Repository, Depends(_repo)]
FeedsDep = Annotated[FeedRegistry, Depends(_feeds)]
WebSubDep = Annotated[WebSubStore, Depends(_websub)]
SubscriptionsDep = Annotated[SubscriptionStore, Depends(_subscriptions)]
WebhooksDep = Annotated[DeliveryQueue, Depends(_webhooks)]
