"""`wirewatch demo`: the whole system on this machine, fed by five local outlets serving the project's own sample
news (services.demo.stories), with a guide printed to standard output: where to look, the first story as soon
as it exists, then an update and a late re-post arriving while it runs."""

from __future__ import annotations

import asyncio
import contextlib
import json
from pathlib import Path
from typing import Annotated, Any

import httpx
import typer

from services.cli.base import JsonOpt, settings_of
from services.common.keys import Keys
from services.common.logging import configure_logging
from services.common.redis import open_redis
from services.common.settings import Settings
from services.demo.outlets import OutletServer
from services.demo.stories import publish, publish_later

#: Seconds after the first story until the re-posts of the wire story and the update are published.
LATER_AFTER_S = 30.0
#: Where the demo's outlets are served (when the port is free).
OUTLETS_PORT = 8900
#: The demo's outlets are polled this often, whatever their Cache-Control (a real feed's interval adapts to its
#: publishing rate, up to an hour).
DEMO_POLL_INTERVAL_S = 10.0


def demo(
    ctx: typer.Context,
    data_dir: Annotated[Path | None, typer.Option(help="broker/Redis data, logs and runtime.json (default: "
                                                       "WIREWATCH_DATA_DIR, else ~/.local/state/wirewatch)")] = None,
    api_port: Annotated[int | None, typer.Option(help="API port (default 8080; 0 = any free port)")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Run the system with local outlets serving sample news (no internet needed): several events, several
    outlets each, a wire story and its re-posts, an updated article. Prints where to look; Ctrl-C stops it.
    With --json the guide is printed as JSON lines."""
    from services.system import up

    settings = settings_of(ctx)
    if "log_level" not in settings.model_fields_set and not ctx.find_root().params.get("verbose"):
        # The guide on stdout is what to read; the services' progress would bury it (WIREWATCH_LOG_LEVEL=INFO shows it).
        configure_logging(json=settings.log_json, level="WARNING")
    outlets = _outlet_server()
    feeds = publish(outlets)
    # The outlets' one loopback address is trusted, nothing more of this machine (the SSRF guard keeps the rest).
    allowed = ",".join(filter(None, [settings.allow_networks, "127.0.0.1/32"]))
    update: dict[str, Any] = {"allow_networks": allowed}
    if data_dir is not None:
        update["data_dir"] = str(data_dir)
    if api_port is not None:
        update["api_port"] = api_port
    for name in ("poll_interval_s", "poll_max_interval_s"):  # unless this shell sets them
        if name not in settings.model_fields_set:
            update[name] = DEMO_POLL_INTERVAL_S
    guide = Guide(outlets, feeds, as_json=as_json)
    try:
        up(Settings.model_validate({**dict(settings), **update}), companion=guide.run)
    finally:
        outlets.stop()


def _outlet_server() -> OutletServer:
    """The outlets on 127.0.0.1:8900, so a second demo finds its feeds registered; any free port if it is taken."""
    try:
        return OutletServer("127.0.0.1", OUTLETS_PORT).start()
    except OSError:
        return OutletServer("127.0.0.1", 0).start()


class Guide:
    """Registers the outlets' feeds once the system runs, and tells the user what to look at."""

    def __init__(self, outlets: OutletServer, feeds: list[str], *, as_json: bool) -> None:
        self.outlets = outlets
        self.feeds = feeds
        self.as_json = as_json

    def say(self, text: str, **fields: Any) -> None:
        """One line of the guide (stdout: the logs go to stderr)."""
        typer.echo(json.dumps({"event": text, **fields}) if self.as_json else
                   "  ".join([text, *(f"{value}" for value in fields.values())]))

    async def run(self, settings: Settings, stop: asyncio.Event) -> None:
        """Add the feeds (fetched and named as any feed is), guide the user, and remove the feeds at the end."""
        from services.api.registration import register_feed
        from services.fetcher.registry import FeedRegistry
        from services.store.repository import Repository
        from services.system import api_url

        api = api_url(settings)
        async with open_redis(settings) as redis, httpx.AsyncClient(base_url=api, timeout=5) as client:
            keys = Keys(settings.key_prefix)
            registry = FeedRegistry(redis, keys)
            await self._wait_for_api(client, stop)
            self.say("wirewatch demo: outlets serving sample news at", url=f"{self.outlets.base_url}/")
            added = []
            try:
                for url in self.feeds:
                    registered = await register_feed(registry, settings, url)
                    added.append(registered.feed.id)
                    self.say(f"feed {registered.feed.name!r}:", url=registered.feed.url)
                await self._guide(api, stop, client, Repository(redis, keys))
            finally:
                # The outlets stop with the demo: their feeds must not stay registered, failing, in this data dir.
                for feed_id in added:
                    await registry.remove(feed_id)

    async def _guide(self, api: str, stop: asyncio.Event, client: httpx.AsyncClient, repo: Any) -> None:
        """Point at the API and the first story, then publish the update and the late re-post."""
        self.say("API:", url=api, docs=f"{api}/docs", stories=f"{api}/v1/clusters", metrics=f"{api}/metrics")
        self.say("try:", command="wirewatch clusters", then="wirewatch clusters show ID")
        story = await self._first_story(repo, stop)
        if story is not None:
            shown = {"api": f"{api}/v1/clusters/{story}"}
            page = f"{api}/stories/{story}"
            with contextlib.suppress(httpx.HTTPError):
                if (await client.get(page)).status_code == 200:
                    shown["page"] = page
            self.say("first story:", **shown)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), LATER_AFTER_S)
        if stop.is_set():
            return
        publish_later(self.outlets)
        self.say("published: two re-posts of Meridian Wire's drone recall story (copies, not new reports) and an "
                 "update of The Harbour Gazette's breakwater report (a revision); they arrive within a poll or two. "
                 "Ctrl-C stops the demo")
        await stop.wait()

    async def _wait_for_api(self, client: httpx.AsyncClient, stop: asyncio.Event) -> None:
        while not stop.is_set():
            with contextlib.suppress(httpx.HTTPError):
                await client.get("/healthz")
                return
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), 0.2)

    async def _first_story(self, repo: Any, stop: asyncio.Event) -> str | None:
        while not stop.is_set():
            recent = await repo.recent_stories(limit=1)
            if recent:
                return str(recent[0][0])
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), 1.0)
        return None
