"""The app for uvicorn's worker processes: `uvicorn --factory escalation.web.asgi:app_factory`.

Each worker process builds its own engine and service from the environment, as every CLI
command does. `escalation serve` checks the same first, but a worker started later (uvicorn
restarts one that died) may find the database gone: it says so in one line, as the CLI does,
instead of uvicorn printing the traceback.
"""

from __future__ import annotations

import sys

from fastapi import FastAPI

from escalation import failures
from escalation.config import Settings
from escalation.web.app import create_app
from escalation.web.context import build


def app_factory() -> FastAPI:
    settings = None
    try:
        settings = Settings.from_env()
        return create_app(build(settings))
    except Exception as exc:
        failure = failures.describe(exc, settings.database_url if settings else None)
        for line in failure.lines:
            print(f"error: {line}", file=sys.stderr, flush=True)
        raise SystemExit(failure.status) from None
