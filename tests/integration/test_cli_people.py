"""The CLI for people and scripts (issue 18, points 5 and 6): it finds the running system from any directory,
shows the running system's settings beside its own, shows full ids without wrapping when piped, has commands
for one story and for articles, `--json` everywhere, and help without `<bool>` beside flags."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from services.common.keys import Keys
from services.common.redis import open_redis
from services.common.settings import Settings
from services.store.repository import BatchWrite, JoinReason, Repository, StoredArticle, StoredStory, StoryMember
from tests.support.running import serving_api

pytestmark = pytest.mark.integration
ESC = "\x1b"
STORY = "st_" + "7e5c21" * 5  # as long as real story ids, which the old table cut to "7e5c21…"
TITLE = "Harbour authority of Port Elwin closes the northern breakwater after the third storm surge this winter"


def wirewatch(*args: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    """`wirewatch ...` as a user runs it, output piped (not a terminal)."""
    return subprocess.run([sys.executable, "-m", "services.cli", *args], env=env, cwd=cwd, capture_output=True,
                          text=True, timeout=60, check=False)


@pytest.fixture
def running_api(settings: Settings) -> Iterator[str]:
    """The API of a 'running system' (this test's settings) on a free port; its URL."""
    with serving_api(settings) as url:
        yield url


@pytest.fixture
def user(settings: Settings, running_api: str, tmp_path: Path) -> tuple[dict[str, str], Path]:
    """A user's shell: the system runs with its state in the default per-user directory; the shell sets nothing
    of wirewatch's and works in a directory of its own."""
    state_home = tmp_path / "state"
    data_dir = state_home / "wirewatch"
    data_dir.mkdir(parents=True)
    # What `wirewatch up` writes there; this test process stands in for the running system's pid.
    (data_dir / "runtime.json").write_text(json.dumps({
        "kafka_bootstrap": settings.bootstrap, "redis_url": settings.required_redis_url, "api_url": running_api,
        "pid": str(os.getpid()), "allow_networks": settings.allow_networks, "allow_ports": settings.allow_ports}))
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("WIREWATCH_") and k not in ("REDIS_URL", "KAFKA_BOOTSTRAP")}
    env.update({"XDG_STATE_HOME": str(state_home), "WIREWATCH_KEY_PREFIX": settings.key_prefix,
                "WIREWATCH_TOPIC_PREFIX": settings.topic_prefix, "COLUMNS": "80"})
    elsewhere = tmp_path / "somewhere" / "else"
    elsewhere.mkdir(parents=True)
    return env, elsewhere


async def put_story(settings: Settings) -> None:
    """One story of two articles from two outlets, stored through the repository."""
    async with open_redis(settings) as redis:
        repo = Repository(redis, Keys(settings.key_prefix))
        articles = []
        for i, outlet in enumerate(("Harbour Gazette", "Coastal Times")):
            at = datetime(2026, 1, 1, 12, i, tzinfo=UTC)
            articles.append(StoredArticle(
                id=f"art_{i}_" + "9f" * 14, url=f"https://o{i}.example/breakwater", outlet=outlet, title=TITLE,
                text="The northern breakwater was closed.", fetched_at=at, cluster_id=STORY, body_hash=f"h{i}",
                stored_at=at, joined=JoinReason(rule="new_cluster"), published_at=at))
        story = StoredStory(
            id=STORY, title=TITLE, first_seen=articles[0].stored_at, last_updated=articles[1].stored_at, size=2,
            outlets=[a.outlet for a in articles], entities={"gpe:port elwin": 2},
            members=[StoryMember(id=a.id, outlet=a.outlet, title=a.title, url=a.url, published_at=a.published_at,
                                 language="en") for a in articles])
        write = BatchWrite(expected_versions={STORY: 0}, stories={STORY: story},
                           new_articles={a.id: a for a in articles})
        assert await repo.commit(write) == []


# --- point 5 ---------------------------------------------------------------------------------------------


def test_the_cli_finds_the_running_system_from_any_directory(user: tuple[dict[str, str], Path],
                                                             settings: Settings) -> None:
    env, elsewhere = user
    listed = wirewatch("feeds", "list", "--json", env=env, cwd=elsewhere)
    assert listed.returncode == 0, listed.stderr
    assert json.loads(listed.stdout) == []
    gone = wirewatch("feeds", "list", env={**env, "XDG_STATE_HOME": str(elsewhere)}, cwd=elsewhere)
    assert gone.returncode == 1
    assert f"no running wirewatch found in {elsewhere / 'wirewatch'}" in gone.stderr
    assert "WIREWATCH_DATA_DIR" in gone.stderr


def test_config_shows_the_running_systems_settings_beside_this_shells(user: tuple[dict[str, str], Path],
                                                                      settings: Settings) -> None:
    env, elsewhere = user
    shown = wirewatch("config", "--json", env={**env, "WIREWATCH_POLL_INTERVAL_S": "90"}, cwd=elsewhere)
    assert shown.returncode == 0, shown.stderr
    both = json.loads(shown.stdout)
    assert both["local"]["poll_interval_s"] == 90.0
    assert both["running"]["poll_interval_s"] == settings.poll_interval_s == 1.0
    assert "***" not in json.dumps(both["running"]) or "redis_url" in json.dumps(both["running"])
    table = wirewatch("config", env={**env, "WIREWATCH_POLL_INTERVAL_S": "90"}, cwd=elsewhere)
    line = next(row for row in table.stdout.splitlines() if row.startswith("poll_interval_s"))
    assert "90.0" in line and "1.0" in line, "a setting that differs shows both values"


# --- point 6 ---------------------------------------------------------------------------------------------


async def test_clusters_and_articles_for_people_and_scripts(user: tuple[dict[str, str], Path],
                                                            settings: Settings) -> None:
    env, elsewhere = user
    await put_story(settings)

    table = wirewatch("clusters", env=env, cwd=elsewhere)
    assert table.returncode == 0, table.stderr
    row = next(line for line in table.stdout.splitlines() if STORY in line)
    assert TITLE in row, "piped: one line per story, the id and the title whole"
    assert ESC not in table.stdout + table.stderr and "…" not in table.stdout

    shown = wirewatch("clusters", "show", STORY, env=env, cwd=elsewhere)
    assert shown.returncode == 0, shown.stderr
    assert TITLE in shown.stdout and "Coastal Times" in shown.stdout and "art_1_" + "9f" * 14 in shown.stdout
    detail = json.loads(wirewatch("clusters", "show", STORY, "--json", env=env, cwd=elsewhere).stdout)
    assert detail["id"] == STORY and len(detail["members"]) == 2
    missing = wirewatch("clusters", "show", "nope", env=env, cwd=elsewhere)
    assert missing.returncode == 1 and "no story 'nope'" in missing.stderr

    listed = json.loads(wirewatch("articles", "--json", env=env, cwd=elsewhere).stdout)
    assert [a["outlet"] for a in listed] == ["Coastal Times", "Harbour Gazette"]
    by_outlet = json.loads(wirewatch("articles", "--outlet", "Harbour Gazette", "--json", env=env,
                                     cwd=elsewhere).stdout)
    assert [a["id"] for a in by_outlet] == ["art_0_" + "9f" * 14]
    since = json.loads(wirewatch("articles", "--since", "2026-01-01T12:01:00Z", "--json", env=env,
                                 cwd=elsewhere).stdout)
    assert [a["outlet"] for a in since] == ["Coastal Times"]
    articles = wirewatch("articles", env=env, cwd=elsewhere)
    assert "art_0_" + "9f" * 14 in articles.stdout and ESC not in articles.stdout
    article = wirewatch("articles", "show", "art_0_" + "9f" * 14, env=env, cwd=elsewhere)
    assert "The northern breakwater was closed." in article.stdout and STORY in article.stdout
    assert json.loads(wirewatch("articles", "show", "art_0_" + "9f" * 14, "--json", env=env,
                                cwd=elsewhere).stdout)["cluster_id"] == STORY


@pytest.mark.parametrize("command", [[], ["clusters"], ["articles"], ["feeds", "add"], ["feeds", "remove"],
                                     ["subscriptions", "remove"], ["apikeys", "revoke"], ["config"], ["demo"]])
def test_help_has_no_bool_beside_flags_and_every_command_speaks_json(command: list[str], tmp_path: Path) -> None:
    env = {**os.environ, "COLUMNS": "80"}
    helped = wirewatch(*command, "--help", env=env, cwd=tmp_path)
    assert helped.returncode == 0, helped.stderr
    assert "<bool>" not in helped.stdout and ESC not in helped.stdout
    if command:
        assert "--json" in helped.stdout
