"""The `wirewatch` command: run the system or one service; the command groups live in their own modules."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic import ValidationError

from services.cli.apikeys import apikeys_app
from services.cli.articles import articles_app
from services.cli.base import settings_of
from services.cli.config import config
from services.cli.demo import demo
from services.cli.entities import entities_app
from services.cli.evaluate import eval_app
from services.cli.feeds import feeds_app
from services.cli.stories import clusters_app
from services.cli.subscriptions import subscriptions_app
from services.cli.train import train_app
from services.common.lifecycle import run_service
from services.common.logging import configure_logging
from services.common.settings import Settings

# Plain help (rich_markup_mode=None): no "<bool>" beside flags, no boxes or escape codes when piped.
app = typer.Typer(help="wirewatch: streaming news ingestion.", no_args_is_help=True, rich_markup_mode=None)
app.add_typer(feeds_app, name="feeds")
app.add_typer(eval_app, name="eval")
app.add_typer(subscriptions_app, name="subscriptions")
app.add_typer(apikeys_app, name="apikeys")
app.add_typer(entities_app, name="entities")
app.add_typer(train_app, name="train")
app.add_typer(clusters_app, name="clusters")
app.add_typer(articles_app, name="articles")
app.command("config")(config)
app.command("demo")(demo)


@app.callback()
def main(
    ctx: typer.Context,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="debug logging")] = False,
    data_dir: Annotated[Path | None, typer.Option(
        "--data-dir", help="the running system's state directory (default: WIREWATCH_DATA_DIR, else "
                           "$XDG_STATE_HOME/wirewatch or ~/.local/state/wirewatch)")] = None,
) -> None:
    """Load settings from the environment once and configure logging."""
    try:
        settings = Settings(data_dir=str(data_dir)) if data_dir is not None else Settings()
    except ValidationError as exc:
        first = exc.errors()[0]
        typer.echo(f"error: invalid setting {'.'.join(map(str, first['loc']))}: {first['msg']}", err=True)
        raise typer.Exit(2) from exc
    configure_logging(json=settings.log_json, level="DEBUG" if verbose else settings.log_level)
    ctx.obj = settings


@app.command()
def up(
    ctx: typer.Context,
    data_dir: Annotated[Path | None, typer.Option(help="broker/Redis data, logs and runtime.json (default: "
                                                       "WIREWATCH_DATA_DIR, else ~/.local/state/wirewatch)")] = None,
    api_port: Annotated[int | None, typer.Option(help="API port (default 8080; 0 = any free port)")] = None,
) -> None:
    """Run the whole system: embedded broker and Redis (unless configured), all services, the API."""
    from services.system import up as run_up

    settings = settings_of(ctx)
    update: dict[str, Any] = {}
    if data_dir is not None:
        update["data_dir"] = str(data_dir)
    if api_port is not None:
        update["api_port"] = api_port
    run_up(settings.model_copy(update=update))


@app.command()
def fetcher(ctx: typer.Context) -> None:
    """Run the fetcher alone (production: KAFKA_BOOTSTRAP and REDIS_URL set)."""
    from services.fetcher.service import main as service_main

    run_service(service_main, settings_of(ctx))


@app.command()
def extractor(ctx: typer.Context) -> None:
    """Run the extractor alone."""
    from services.extractor.service import main as service_main

    run_service(service_main, settings_of(ctx))


@app.command()
def store(ctx: typer.Context) -> None:
    """Run the store alone."""
    from services.store.service import main as service_main

    run_service(service_main, settings_of(ctx))


@app.command()
def notifier(ctx: typer.Context) -> None:
    """Run the notifier alone: story events -> signed webhooks to matching subscriptions."""
    from services.notifier.service import main as service_main

    run_service(service_main, settings_of(ctx))


@app.command()
def api(ctx: typer.Context) -> None:
    """Run the HTTP API alone."""
    from services.system import serve_api

    run_service(serve_api, settings_of(ctx), uses_topics=False)
