"""Settings from the environment, read once and strictly by the entry points.

Every variable is documented in the README's configuration table. A bad value fails at start-up
with a message naming the variable, never later in the middle of a sweep.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import time, timedelta
from email.headerregistry import Address
from email.utils import parseaddr
from pathlib import Path

from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

from escalation.errors import EscalationError

DEFAULT_DATABASE_FILE = "escalation.db"
DEFAULT_MAIL_FROM = "Case Resolution Protocol <no-reply@localhost>"
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
DIGEST_DAYS = ("working", "daily")


class ConfigError(EscalationError):
    """An environment variable with a bad value; the message names it."""


@dataclass(frozen=True)
class Settings:
    database_url: URL
    workflows_dir: Path | None
    base_url: str
    log_level: int
    outbox_dir: Path
    mail_from: str
    smtp_url: str | None
    smtp_password_file: str | None
    sweep_every: timedelta = timedelta(minutes=5)
    digest_at: time = time(7, 30)
    digest_days: str = "working"
    health_sweep_max_age: timedelta = timedelta(minutes=30)
    health_outbox_max_failing: timedelta = timedelta(hours=1)
    secret_key: str | None = None
    frontend_dir: Path | None = None

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, cwd: Path | None = None) -> Settings:
        env = os.environ if env is None else env
        return cls(
            database_url=_database_url(env.get("ESCALATION_DATABASE_URL"), cwd or Path.cwd()),
            workflows_dir=_workflows_dir(env.get("ESCALATION_WORKFLOWS_DIR")),
            base_url=_base_url(env.get("ESCALATION_BASE_URL", "http://localhost:8000")),
            log_level=_log_level(env.get("ESCALATION_LOG_LEVEL", "WARNING")),
            outbox_dir=(cwd or Path.cwd()) / env.get("ESCALATION_OUTBOX_DIR", "outbox"),
            mail_from=_mail_from(env.get("ESCALATION_MAIL_FROM", DEFAULT_MAIL_FROM)),
            smtp_url=env.get("ESCALATION_SMTP_URL") or None,
            smtp_password_file=env.get("ESCALATION_SMTP_PASSWORD_FILE") or None,
            sweep_every=_minutes(env, "ESCALATION_SWEEP_EVERY_MINUTES", 5, maximum=24 * 60),
            digest_at=_local_time(env.get("ESCALATION_DIGEST_AT", "07:30")),
            digest_days=_digest_days(env.get("ESCALATION_DIGEST_DAYS", "working")),
            health_sweep_max_age=_minutes(env, "ESCALATION_HEALTH_SWEEP_MAX_AGE_MINUTES", 30),
            health_outbox_max_failing=_minutes(
                env, "ESCALATION_HEALTH_OUTBOX_MAX_FAILING_MINUTES", 60
            ),
            secret_key=_secret_key(env.get("ESCALATION_SECRET_KEY")),
            frontend_dir=_frontend_dir(env.get("ESCALATION_FRONTEND_DIR")),
        )


def _database_url(raw: str | None, cwd: Path) -> URL:
    if not raw:
        return make_url(f"sqlite:///{cwd / DEFAULT_DATABASE_FILE}")
    try:
        url = make_url(raw)
    except ArgumentError as exc:
        raise ConfigError(f"ESCALATION_DATABASE_URL: {raw!r} is not a database URL") from exc
    backend = url.get_backend_name()
    if backend == "postgres":
        backend = "postgresql"
    if backend not in ("sqlite", "postgresql"):
        raise ConfigError(
            f"ESCALATION_DATABASE_URL: '{backend}' is not supported; use sqlite:///FILE or "
            "postgresql://USER@HOST/DB"
        )
    if backend == "postgresql" and "+" not in url.drivername:
        # psycopg 3 is the driver we install; SQLAlchemy's default differs between versions.
        url = url.set(drivername="postgresql+psycopg")
    return url


def _workflows_dir(raw: str | None) -> Path | None:
    if not raw:
        return None
    path = Path(raw)
    if not path.is_dir():
        raise ConfigError(f"ESCALATION_WORKFLOWS_DIR: {raw!r} is not a directory")
    return path


def _secret_key(raw: str | None) -> str | None:
    if not raw:
        return None  # the database's own key (made on first use) signs links
    if len(raw) < 32:
        raise ConfigError(
            "ESCALATION_SECRET_KEY: must be at least 32 characters (for example the output of "
            "`python3 -c 'import secrets; print(secrets.token_hex(32))'`)"
        )
    return raw


def _frontend_dir(raw: str | None) -> Path | None:
    if not raw:
        return None
    path = Path(raw)
    if not (path / "govuk-frontend" / "dist" / "govuk").is_dir():
        raise ConfigError(
            f"ESCALATION_FRONTEND_DIR: {raw!r} has no govuk-frontend/dist/govuk; point it at the "
            "node_modules folder that `npm ci` made"
        )
    return path


def _base_url(raw: str) -> str:
    if not raw.startswith(("http://", "https://")):
        raise ConfigError(f"ESCALATION_BASE_URL: {raw!r} must start with http:// or https://")
    return raw.rstrip("/")


def _mail_from(raw: str) -> str:
    try:
        address = Address(addr_spec=parseaddr(raw)[1])
    except (ValueError, IndexError) as exc:
        raise ConfigError(f"ESCALATION_MAIL_FROM: {raw!r} is not an email address") from exc
    if "@" not in address.addr_spec:
        raise ConfigError(f"ESCALATION_MAIL_FROM: {raw!r} is not an email address")
    return raw


def _log_level(raw: str) -> int:
    if raw.upper() not in LOG_LEVELS:
        raise ConfigError(f"ESCALATION_LOG_LEVEL: {raw!r} is not one of {', '.join(LOG_LEVELS)}")
    return int(getattr(logging, raw.upper()))


def _minutes(
    env: Mapping[str, str], name: str, default: int, maximum: int = 7 * 24 * 60
) -> timedelta:
    raw = env.get(name)
    if not raw:
        return timedelta(minutes=default)
    try:
        minutes = int(raw)
    except ValueError:
        raise ConfigError(f"{name}: {raw!r} is not a whole number of minutes") from None
    if not 1 <= minutes <= maximum:
        raise ConfigError(f"{name}: {minutes} is out of range (1 to {maximum} minutes)")
    return timedelta(minutes=minutes)


def _local_time(raw: str) -> time:
    try:
        hours, minutes = (int(part) for part in raw.split(":"))
        return time(hours, minutes)
    except ValueError:
        raise ConfigError(
            f"ESCALATION_DIGEST_AT: {raw!r} is not a local time like 07:30 (24-hour HH:MM)"
        ) from None


def _digest_days(raw: str) -> str:
    if raw not in DIGEST_DAYS:
        raise ConfigError(f"ESCALATION_DIGEST_DAYS: {raw!r} is not one of {', '.join(DIGEST_DAYS)}")
    return raw
