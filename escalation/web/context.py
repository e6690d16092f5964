"""What every request handler needs, built once per app: settings, database, service, templates."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

from jinja2 import ChoiceLoader, Environment, FileSystemLoader, PackageLoader, PrefixLoader
from sqlalchemy.orm import Session, sessionmaker
from starlette.concurrency import run_in_threadpool
from starlette.templating import Jinja2Templates

from escalation import resources
from escalation.casework.recording import real_clock
from escalation.casework.service import Service
from escalation.config import ConfigError, Settings
from escalation.mail.links import Links, link_source
from escalation.rules.dates import uk_date, uk_datetime
from escalation.rules.registry import ProtocolRegistry

T = TypeVar("T")


@dataclass
class Web:
    settings: Settings
    sessions: sessionmaker[Session]
    registry: ProtocolRegistry
    service: Service
    frontend_dir: Path
    clock: Callable[[], datetime] = real_clock
    templates: Jinja2Templates = field(init=False)

    def __post_init__(self) -> None:
        self.templates = Jinja2Templates(env=template_environment())
        self._links = link_source(self.settings.base_url, self.settings.secret_key)

    def now(self) -> datetime:
        return self.clock()

    def links(self, session: Session) -> Links:
        return self._links(session, self.now())

    def key_links(self) -> Links:
        """The service's links (and key). `link_source` keeps them once read, and a session
        connects only when it runs a statement: after the first call this does no I/O."""
        with self.sessions.begin() as session:
            return self.links(session)

    def csrf_token(self, seed: str) -> str:
        key = self.key_links().key
        return hmac.new(key.encode(), f"csrf:{seed}".encode(), hashlib.sha256).hexdigest()

    async def run(self, func: Callable[..., T], *args: Any) -> T:
        """Run blocking database work off the event loop."""
        return await run_in_threadpool(func, *args)


def template_environment() -> Environment:
    """Our page templates first, then the GOV.UK Frontend macros under `govuk_frontend_jinja/`.

    Not StrictUndefined (our emails use it): the GOV.UK macros read optional parameters that
    callers leave out, exactly as their Nunjucks originals do.
    """
    env = Environment(
        loader=ChoiceLoader(
            [
                FileSystemLoader(resources.templates_dir() / "web"),
                PrefixLoader({"govuk_frontend_jinja": PackageLoader("govuk_frontend_jinja")}),
            ]
        ),
        autoescape=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["uk_datetime"] = uk_datetime
    env.filters["uk_date"] = uk_date
    return env


def find_frontend(settings: Settings) -> Path:
    """The node_modules folder holding govuk-frontend (installed by `npm ci`)."""
    if settings.frontend_dir is not None:
        return settings.frontend_dir
    for candidate in (Path.cwd() / "node_modules", resources.package_root() / "node_modules"):
        if (candidate / "govuk-frontend" / "dist" / "govuk").is_dir():
            return candidate
    raise ConfigError(
        "ESCALATION_FRONTEND_DIR: govuk-frontend is not installed here; run `npm ci` in the "
        "escalation checkout (it reads package-lock.json), or set ESCALATION_FRONTEND_DIR to "
        "the node_modules folder that holds it"
    )


def build(settings: Settings, clock: Callable[[], datetime] = real_clock) -> Web:
    """The web service's parts, from settings; fails fast (ConfigError, a schema not at head,
    govuk-frontend not installed) before the server starts listening."""
    from escalation.wiring import Wiring

    parts = Wiring(settings)
    sessions = parts.sessions  # the schema is checked first, as before the server listens
    return Web(settings, sessions, parts.registry, parts.service, find_frontend(settings), clock)
