"""Logging: one configuration for every service. On a terminal, structlog's console renderer (aligned, coloured
lines for people); when stderr is not a terminal (a file, a pipe, a container's log collector), one JSON object
per line, and never an escape code. WIREWATCH_LOG_JSON=true/false chooses either way."""

from __future__ import annotations

import logging
import sys

import structlog


def configure_logging(*, json: bool | None = None, level: str = "INFO") -> None:
    """Route structlog and stdlib loggers (aiokafka, httpx, uvicorn) through one renderer."""
    on_terminal = sys.stderr.isatty()
    as_json = (not on_terminal) if json is None else json
    shared: list[structlog.types.Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    renderer: structlog.types.Processor = (
        structlog.processors.JSONRenderer() if as_json else structlog.dev.ConsoleRenderer(colors=on_terminal)
    )
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
            foreign_pre_chain=shared,
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # uvicorn (when something ran it with its own log config) keeps handlers of its own and stops propagating:
    # its lines would bypass our renderer, so they go through the root's handler again.
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        library = logging.getLogger(name)
        library.handlers[:] = []
        library.propagate = True
    # Library chatter only at WARNING unless we are debugging.
    quiet = logging.DEBUG if level.upper() == "DEBUG" else logging.WARNING
    for name in ("aiokafka", "kafka", "httpx", "httpcore", "uvicorn.access", "trafilatura", "htmldate"):
        logging.getLogger(name).setLevel(quiet)


def get_logger(name: str) -> structlog.stdlib.BoundLogger:
    """A structured logger; pass values as fields, never pre-formatted strings."""
    return structlog.stdlib.get_logger(name)
