"""The ASGI entry point for uvicorn: `server.main:app` (a factory)."""

from __future__ import annotations

import os

from starlette.applications import Starlette

from domain.config import Settings
from server import logging as logs
from server.app import create_app


def app() -> Starlette:
    settings = Settings.from_env(os.environ)
    logs.configure(settings.log_format, settings.log_level)
    return create_app(settings)
