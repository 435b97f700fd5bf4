"""API keys over a real Redis: the API asks for them when configured to (or when it listens beyond loopback),
read keys only read, admin keys do everything, revoked keys stop working, tokens are stored hashed; the CLI
creates, lists and revokes them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from services.api.apikeys import ApiKeyStore, hash_token
from services.api.app import create_app
from services.common.keys import Keys
from services.common.redis import open_redis
from services.common.settings import Settings

pytestmark = pytest.mark.integration


@pytest.fixture
def secured(settings: Settings) -> Settings:
    return settings.model_copy(update={"api_auth": "on"})


@pytest.fixture
def api(secured: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(secured)) as client:
        yield client


async def make_key(settings: Settings, scope: str, name: str = "") -> tuple[str, str]:
    async with open_redis(settings) as redis:
        return await ApiKeyStore(redis, Keys(settings.key_prefix)).create(scope, name)  # type: ignore[arg-type]


def cli(settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "REDIS_URL": settings.required_redis_url, "KAFKA_BOOTSTRAP": settings.bootstrap,
           "WIREWATCH_KEY_PREFIX": settings.key_prefix, "WIREWATCH_TOPIC_PREFIX": settings.topic_prefix}
    return subprocess.run([sys.executable, "-m", "services.cli", *args], env=env, capture_output=True, text=True,
                          timeout=60, check=False)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_requests_without_a_valid_key_get_401(api: TestClient) -> None:
    for response in (api.get("/v1/feeds"), api.get("/v1/clusters"),
                     api.post("/v1/feeds", json={"url": "https://x.example/"}),
                     api.get("/v1/feeds", headers=bearer("ww_not-a-key")),
                     api.get("/v1/feeds", headers={"X-API-Key": "nope"}),
                     api.get("/v1/feeds", headers={"Authorization": "Basic dXNlcjpwdw=="})):
        assert response.status_code == 401, response.request.url
        assert response.headers["www-authenticate"] == "Bearer"
        assert response.json()["detail"]


async def test_read_keys_read_and_admin_keys_write(api: TestClient, secured: Settings) -> None:
    _, read = await make_key(secured, "read", "dashboard")
    _, admin = await make_key(secured, "admin", "ops")
    assert api.get("/v1/feeds", headers=bearer(read)).status_code == 200
    assert api.get("/v1/clusters", headers={"X-API-Key": read}).status_code == 200
    assert api.get("/v1/subscriptions", headers=bearer(read)).status_code == 200
    refused = api.post("/v1/feeds", json={"url": "https://news.example/rss"}, headers=bearer(read))
    assert refused.status_code == 403 and refused.json()["detail"]
    assert api.delete("/v1/feeds/whatever", headers=bearer(read)).status_code == 403
    created = api.post("/v1/feeds", json={"url": "https://news.example/rss", "force": True},
                       headers=bearer(admin))
    assert created.status_code == 201
    assert api.delete(f"/v1/feeds/{created.json()['id']}", headers={"X-API-Key": admin}).status_code == 204


def test_health_and_websub_callbacks_need_no_key(api: TestClient) -> None:
    assert api.get("/healthz").status_code in (200, 503)
    verify = api.get("/v1/websub/nofeed", params={"hub.mode": "subscribe", "hub.topic": "https://x.example/feed",
                                                  "hub.challenge": "c"})
    assert verify.status_code == 404, "hubs are not asked for our keys: unknown subscription as before"
    assert api.post("/v1/websub/nofeed", content=b"<rss/>").status_code == 404


async def test_revoked_keys_stop_working(api: TestClient, secured: Settings) -> None:
    key_id, token = await make_key(secured, "admin")
    assert api.get("/v1/feeds", headers=bearer(token)).status_code == 200
    async with open_redis(secured) as redis:
        store = ApiKeyStore(redis, Keys(secured.key_prefix))
        assert await store.revoke(key_id) and not await store.revoke(key_id)
        assert await store.verify(token) is None
    assert api.get("/v1/feeds", headers=bearer(token)).status_code == 401


async def test_tokens_are_stored_only_as_hashes(secured: Settings) -> None:
    key_id, token = await make_key(secured, "read", "reader")
    async with open_redis(secured) as redis:
        stored: list[str] = []
        async for name in redis.scan_iter(match=f"{secured.key_prefix}*"):
            assert token not in name
            stored.extend(f"{k!s}={v!s}" for k, v in (await redis.hgetall(name)).items())
        assert stored and not any(token in entry for entry in stored)
        assert any(hash_token(token) in entry for entry in stored)
        listed = await ApiKeyStore(redis, Keys(secured.key_prefix)).list()
    assert [(k.id, k.scope, k.name) for k in listed] == [(key_id, "read", "reader")]


async def test_openapi_documents_the_keys_only_when_required(api: TestClient, settings: Settings,
                                                             secured: Settings) -> None:
    _, token = await make_key(secured, "read")
    assert api.get("/openapi.json").status_code == 401  # the schema is keyed like the routes it describes
    schema = api.get("/openapi.json", headers=bearer(token)).json()
    assert set(schema["components"]["securitySchemes"]) == {"bearer", "apiKey"}
    assert "401" in schema["paths"]["/v1/feeds"]["get"]["responses"]
    assert "security" not in schema["paths"]["/healthz"]["get"]
    assert "security" not in schema["paths"]["/v1/websub/{feed_id}"]["post"]
    with TestClient(create_app(settings)) as open_api:
        assert "securitySchemes" not in open_api.get("/openapi.json").json().get("components", {})


def test_a_local_api_stays_open_by_default(settings: Settings) -> None:
    assert settings.api_auth == "auto" and settings.api_host == "127.0.0.1"
    with TestClient(create_app(settings)) as client:
        assert client.get("/v1/feeds").status_code == 200
        assert client.post("/v1/feeds", json={"url": "https://open.example/rss", "force": True}).status_code == 201
    beyond = settings.model_copy(update={"api_host": "0.0.0.0"})
    with TestClient(create_app(beyond)) as client:
        assert client.get("/v1/feeds").status_code == 401


def test_cli_creates_lists_and_revokes_keys(settings: Settings) -> None:
    created = cli(settings, "apikeys", "create", "--scope", "read", "--name", "grafana", "--json")
    assert created.returncode == 0, created.stderr
    key = json.loads(created.stdout)
    assert key["scope"] == "read" and key["name"] == "grafana" and key["token"].startswith("ww_")
    plain = cli(settings, "apikeys", "create", "--scope", "admin")
    assert plain.returncode == 0 and "ww_" in plain.stdout
    assert cli(settings, "apikeys", "create", "--scope", "root").returncode != 0
    listed = cli(settings, "apikeys", "list", "--json")
    rows = json.loads(listed.stdout)
    assert {r["scope"] for r in rows} == {"read", "admin"} and key["id"] in {r["id"] for r in rows}
    assert key["token"] not in listed.stdout and all("token" not in r for r in rows)
    assert cli(settings, "apikeys", "list").returncode == 0
    with TestClient(create_app(settings.model_copy(update={"api_auth": "on"}))) as client:
        assert client.get("/v1/feeds", headers=bearer(key["token"])).status_code == 200
        assert cli(settings, "apikeys", "revoke", key["id"]).returncode == 0
        assert client.get("/v1/feeds", headers=bearer(key["token"])).status_code == 401
    gone = cli(settings, "apikeys", "revoke", key["id"])
    assert gone.returncode == 1 and "no API key" in gone.stderr
    assert [r["scope"] for r in json.loads(cli(settings, "apikeys", "list", "--json").stdout)] == ["admin"]
