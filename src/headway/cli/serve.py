"""``headway serve``: run the gateway under uvicorn (uvloop + httptools, chosen by measurement)."""

from __future__ import annotations

import logging
import os

import uvicorn
from starlette.applications import Starlette

from headway.api.app import build_app
from headway.config.loader import load_config
from headway.config.models import HeadwayConfig

CONFIG_ENV = "HEADWAY_CONFIG"


def configure_logging(config: HeadwayConfig) -> None:
    logging.basicConfig(
        level=config.logging.level.upper(),
        format="%(asctime)s %(levelname)s %(name)s %(message)s",
    )


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
        timeout_graceful_shutdown=10,
        server_header=False,
    )
