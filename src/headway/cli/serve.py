"""``headway serve``: run the gateway under uvicorn (uvloop + httptools, chosen by measurement)."""

from __future__ import annotations

import logging
import os
from typing import TextIO

import uvicorn
from starlette.applications import Starlette

from headway.api.app import build_app
from headway.config.loader import load_config
from headway.config.models import HeadwayConfig
from headway.guards.logs import structlog_processor
from headway.guards.pii import Redactor
from headway.observe.logs import configure_logging as configure_structured_logging

CONFIG_ENV = "HEADWAY_CONFIG"


def configure_logging(config: HeadwayConfig, *, stream: TextIO | None = None) -> logging.Handler:
    """JSON lines (or console lines) through structlog, every line with request and trace ids,
    redacted by the guards part (wired here: observe does not depend on guards)."""
    return configure_structured_logging(config.logging, stream=stream, redact=structlog_processor(Redactor()))


def app_factory() -> Starlette:
    """Entry point for uvicorn worker processes: the config path travels in the environment."""
    config = load_config(os.environ[CONFIG_ENV])
    configure_logging(config)
    return build_app(config)


def serve(config_path: str, config: HeadwayConfig, *, host: str, port: int, workers: int) -> None:
    os.environ[CONFIG_ENV] = os.path.abspath(config_path)
    uvicorn.run(
        "headway.cli.serve:app_factory",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        loop="uvloop",
        http="httptools",
        access_log=False,
        log_level=config.logging.level,
        log_config=None,  # uvicorn's lines go through the root handler configure_logging set up
        timeout_graceful_shutdown=10,
        server_header=False,
    )
