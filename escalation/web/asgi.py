"""The app for uvicorn's worker processes: `uvicorn --factory escalation.web.asgi:app_factory`.

Each worker process builds its own engine and service from the environment, as every CLI
command does."""

from __future__ import annotations

from fastapi import FastAPI

from escalation.config import Settings
from escalation.web.app import create_app
from escalation.web.context import build


def app_factory() -> FastAPI:
    return create_app(build(Settings.from_env()))
