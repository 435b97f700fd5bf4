"""`wirewatch apikeys ...`: API keys for the HTTP API (read-only or admin), stored hashed."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Annotated

import typer
from rich.table import Table

from services.api.apikeys import SCOPES, ApiKeyStore
from services.cli.base import JsonOpt, T, console, plain, run, settings_of, with_runtime
from services.common.keys import Keys
from services.common.redis import open_redis
from services.common.settings import Settings

apikeys_app = typer.Typer(help="API keys for the HTTP API (read-only or admin); stored hashed.", no_args_is_help=True)


def _with_apikeys(settings: Settings, work: Callable[[ApiKeyStore], Awaitable[T]]) -> T:
    """Run `work` with the API key store on the configured Redis."""

    async def go() -> T:
        async with open_redis(settings) as redis:
            return await work(ApiKeyStore(redis, Keys(settings.key_prefix)))

    return run(go)


@apikeys_app.command("create")
def apikeys_create(
    ctx: typer.Context,
    scope: Annotated[str, typer.Option("--scope", help="read (GET/HEAD only) or admin (everything)")],
    name: Annotated[str, typer.Option("--name", help="what the key is for")] = "",
    as_json: JsonOpt = False,
) -> None:
    """Create an API key; its token is printed this once and cannot be shown again."""
    if scope not in SCOPES:
        typer.echo(f"error: --scope must be one of {', '.join(SCOPES)}", err=True)
        raise typer.Exit(2)
    settings = with_runtime(settings_of(ctx))
    try:
        key_id, token = _with_apikeys(settings, lambda store: store.create(scope, name))
    except ValueError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from exc
    if as_json:
        typer.echo(json.dumps({"id": key_id, "name": name, "scope": scope, "token": token}))
        return
    console.print(f"created {scope} key [bold]{key_id}[/bold]; its token (shown only now):")
    typer.echo(token)


@apikeys_app.command("list")
def apikeys_list(ctx: typer.Context, as_json: JsonOpt = False) -> None:
    """Every API key: id, scope, name, created (never the tokens: they are not stored)."""
    settings = with_runtime(settings_of(ctx))
    keys = _with_apikeys(settings, lambda store: store.list())
    rows = [key.model_dump(mode="json") for key in keys]
    if as_json:
        typer.echo(json.dumps(rows))
        return
    from rich.table import Column

    table = Table(Column("id", no_wrap=True, min_width=16), "scope", "name", "created")
    for row in rows:
        table.add_row(row["id"], row["scope"], plain(row["name"]), row["created_at"][:19])
    console.print(table)


@apikeys_app.command("revoke")
def apikeys_revoke(ctx: typer.Context,
                   key_id: Annotated[str, typer.Argument(help="key id (see `apikeys list`)")],
                   as_json: JsonOpt = False) -> None:
    """Revoke an API key: requests with it get 401 from now on."""
    settings = with_runtime(settings_of(ctx))
    if not _with_apikeys(settings, lambda store: store.revoke(key_id)):
        typer.echo(f"error: no API key {key_id!r} (see `wirewatch apikeys list`)", err=True)
        raise typer.Exit(1)
    if as_json:
        typer.echo(json.dumps({"revoked": key_id}))
    else:
        console.print(f"revoked API key {key_id}")
