"""`wirewatch config`: this shell's settings beside the running system's (read through its API)."""

from __future__ import annotations

import json
from typing import Annotated, Any

import httpx
import typer

from services.cli.base import JsonOpt, console, plain, running_api, settings_of, table


def config(
    ctx: typer.Context,
    as_json: JsonOpt = False,
    differences: Annotated[bool, typer.Option("--differences", help="only settings whose values differ")] = False,
) -> None:
    """Print the effective settings (secrets masked): this shell's, and the running system's beside them."""
    settings = settings_of(ctx)
    local = json.loads(json.dumps(settings.redacted(), default=str))
    api = running_api(settings)
    running, why = _fetch_running(api) if api else (None, f"no running wirewatch found in {settings.data_dir}")
    if as_json:
        typer.echo(json.dumps({"local": local, "running": running, "api": api, "running_unavailable": why},
                              indent=2))
        return
    out = table("setting", "this shell", "running system")
    for name in sorted(set(local) | set(running or {})):
        mine, theirs = local.get(name), (running or {}).get(name)
        if differences and running is not None and mine == theirs:
            continue
        marker = "" if running is None or mine == theirs else "  (differs)"
        out.add_row(name, plain(_shown(mine)), plain(("-" if running is None else _shown(theirs)) + marker))
    console.print(out)
    if why:
        typer.echo(f"running system: {why}", err=True)


def _fetch_running(api: str) -> tuple[dict[str, Any] | None, str | None]:
    """The running system's settings from GET /v1/config, or None and why not."""
    try:
        response = httpx.get(f"{api}/v1/config", timeout=5)
    except httpx.HTTPError as exc:
        return None, f"its API at {api} does not answer ({exc})"
    if response.status_code in (401, 403):
        return None, f"its API at {api} needs an admin or read key (`wirewatch apikeys create`)"
    if response.status_code != 200:
        return None, f"its API at {api} answered {response.status_code}"
    found: dict[str, Any] = response.json()
    return found, None


def _shown(value: Any) -> str:
    return "-" if value is None else (value if isinstance(value, str) else json.dumps(value))
