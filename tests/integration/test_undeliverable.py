"""What can never be delivered is refused when it is made (issue 18, points 9 and 10): a subscription whose
target the SSRF guard refuses, an empty query, and a JSON body sent with another content type."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from services.api.app import create_app
from services.cli.app import app as cli_app
from services.common.settings import Settings

pytestmark = pytest.mark.integration
HOOK = "https://hooks.example/wirewatch"


@pytest.fixture
def api(settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings)) as client:
        yield client


def messages(response: object) -> str:
    """Every message of a 422 in one string."""
    return " | ".join(error["msg"] for error in response.json()["detail"])  # type: ignore[attr-defined]


@pytest.mark.parametrize(("target", "said"), [
    ("http://169.254.169.254/latest/meta-data/", "cloud metadata endpoint"),
    ("http://10.0.0.7/hook", "private network"),
    ("http://[::1]:8080/hook", "loopback"),
    ("http://93.184.216.34:2375/hook", "port 2375"),
])
def test_a_target_the_ssrf_guard_refuses_is_refused_at_creation(api: TestClient, target: str, said: str) -> None:
    # The test settings trust 127.0.0.0/8 only: IPv6 loopback is still refused.
    response = api.post("/v1/subscriptions", json={"target_url": target, "query": {"keywords": ["flood"]}})
    assert response.status_code == 422, response.text
    assert "SSRF guard refused" in messages(response) and said in messages(response)
    assert "WIREWATCH_ALLOW" in messages(response)
    assert response.json()["detail"][0]["loc"] == ["body", "target_url"]
    assert api.get("/v1/subscriptions").json() == [], "nothing was registered"


def test_an_allow_listed_target_is_accepted(api: TestClient) -> None:
    response = api.post("/v1/subscriptions", json={"target_url": "http://127.0.0.1:9/hook",
                                                   "query": {"keywords": ["flood"]}})
    assert response.status_code == 201, response.text


@pytest.mark.parametrize("body", [{"target_url": HOOK}, {"target_url": HOOK, "query": {}},
                                  {"target_url": HOOK, "query": {"events": ["created"], "digest_minutes": 5}}])
def test_an_empty_query_is_refused_at_creation(api: TestClient, body: dict[str, object]) -> None:
    response = api.post("/v1/subscriptions", json=body)
    assert response.status_code == 422, response.text
    assert "every story" in messages(response) and response.json()["detail"][0]["loc"] == ["body", "query"]


def test_the_cli_refuses_the_same(settings: Settings) -> None:
    runner = CliRunner()
    env = {"REDIS_URL": settings.required_redis_url, "WIREWATCH_KEY_PREFIX": settings.key_prefix}
    metadata = runner.invoke(cli_app, ["subscriptions", "add", "http://169.254.169.254/x", "-k", "flood"], env=env)
    assert metadata.exit_code == 1 and "SSRF guard refused" in metadata.output
    empty = runner.invoke(cli_app, ["subscriptions", "add", HOOK], env=env)
    assert empty.exit_code == 1 and "every story" in empty.output
    listed = runner.invoke(cli_app, ["subscriptions", "list", "--json"], env=env)
    assert listed.output.strip() == "[]"


@pytest.mark.parametrize(("path", "body"), [
    ("/v1/subscriptions", b'{"target_url": "https://hooks.example/x", "query": {"keywords": ["flood"]}}'),
    ("/v1/feeds", b'{"url": "https://news.example/rss", "force": true}'),
])
@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded"])
def test_a_json_body_with_another_content_type_gets_an_error_naming_it(api: TestClient, path: str, body: bytes,
                                                                        content_type: str) -> None:
    response = api.post(path, content=body, headers={"Content-Type": content_type})
    assert response.status_code == 422, response.text
    text = messages(response)
    assert "Content-Type: application/json" in text and content_type in text
