"""What every command shares: the `App` (settings, the clock, the engine's parts), `pass_app`
to hand it to a command, the `--now`-style instant option, `emit_json` and `fail`, the one way
an error ends a command.

Nothing here imports more than click at module level: this module is loaded for every
`escalation --help`. The settings are read, and each part built (by `escalation.wiring`), only
once a command runs.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from functools import update_wrapper
from pathlib import Path
from typing import TYPE_CHECKING, Any, Concatenate, NoReturn, ParamSpec, TypeVar

import click

from escalation.errors import CalendarError, InvalidInput  # no imports of their own

if TYPE_CHECKING:
    from sqlalchemy import Engine
    from sqlalchemy.engine import URL
    from sqlalchemy.orm import Session, sessionmaker

    from escalation.casework.service import Service
    from escalation.config import Settings
    from escalation.mail.emails import EmailRenderer
    from escalation.mail.outbox import OutboxNotifier
    from escalation.rules.registry import ProtocolRegistry
    from escalation.wiring import Wiring

P = ParamSpec("P")
R = TypeVar("R")


class App:
    """What a command needs: the settings, the clock and the parts, which come from a `Wiring`.

    The environment is read when the command starts (`pass_app`), not when the top-level group
    runs: click answers `escalation COMMAND --help` after the group but before the command, and
    reading the settings imports SQLAlchemy (config parses the database URL with it). Each part
    is built the first time it is asked for, so `workflows validate` needs no database.
    """

    def __init__(self, now: datetime | None) -> None:
        self.fixed_now = now
        self._wiring: Wiring | None = None

    def start(self) -> Wiring:
        """The wiring, from the environment read now (once), with logging set up as it says."""
        if self._wiring is None:
            from escalation.config import Settings
            from escalation.wiring import Wiring

            settings = Settings.from_env()  # a bad ESCALATION_* variable: one `error:` line
            logging.basicConfig(
                level=settings.log_level,
                stream=sys.stderr,
                format="%(asctime)s %(levelname)s %(name)s: %(message)s",
            )
            self._wiring = Wiring(settings)
        return self._wiring

    def database(self) -> URL | None:
        """The configured database, for an error line; None if the settings were never read."""
        return self._wiring.settings.database_url if self._wiring else None

    @property
    def settings(self) -> Settings:
        return self.start().settings

    @property
    def now(self) -> datetime:
        return self.fixed_now or datetime.now(UTC)

    @property
    def registry(self) -> ProtocolRegistry:
        """What runs: the files with the pinned versions from the database (needs it)."""
        return self.start().registry

    @property
    def file_registry(self) -> ProtocolRegistry:
        """The protocol files as they are (no database)."""
        return self.start().file_registry

    @property
    def engine(self) -> Engine:
        return self.start().engine

    @property
    def sessions(self) -> sessionmaker[Session]:
        return self.start().sessions  # refuses a database whose schema is not current

    @property
    def renderer(self) -> EmailRenderer:
        return self.start().renderer

    @property
    def notifier(self) -> OutboxNotifier:
        return self.start().notifier

    @property
    def service(self) -> Service:
        return self.start().service


def pass_app(func: Callable[Concatenate[App, P], R]) -> Callable[P, R]:
    """`click.make_pass_decorator(App)`, but the settings are read before the command's body:
    every command fails on a bad environment before it does anything, as it always has."""

    def run(*args: P.args, **kwargs: P.kwargs) -> R:
        ctx = click.get_current_context()
        app = ctx.find_object(App)
        if app is None:  # only if a command is run outside `main`
            raise RuntimeError(f"{func.__name__} needs the App that `escalation` creates")
        app.start()
        result: R = ctx.invoke(func, app, *args, **kwargs)
        return result

    return update_wrapper(run, func)


def instant(ctx: click.Context, param: click.Parameter, value: str | None) -> datetime | None:
    """An ISO-8601 option (`--now`, `--start`); without an offset, Europe/London local time."""
    if value is None:
        return None
    # Only when the option is given: the working-day rules import `holidays`, slow for --help.
    from escalation.rules.workdays import parse_instant

    try:
        return parse_instant(value)
    except CalendarError as exc:  # one `error:` line naming the option, like every other error
        click.echo(f"error: --{param.name}: {exc}", err=True)
        ctx.exit(1)


def emit_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, ensure_ascii=False))


def fail(exc: BaseException, database: URL | None) -> NoReturn:
    """One `error:` line per problem and the exit status; nothing the exception carried about a
    child (a database error's text and parameters are never shown: see `failures`)."""
    from escalation import failures  # imports SQLAlchemy, for its exceptions

    failure = failures.describe(exc, database)
    for line in failure.lines:
        click.echo(f"error: {line}", err=True)
    sys.exit(failure.status)


def write_atomically(path: Path, text: str) -> None:
    """Write `text` (UTF-8) to `path` through a temporary file renamed over it, so that a
    failure leaves the old file, or none, never half a file (a report, a schema)."""
    import tempfile  # with shutil, random and the compressors: too slow to load for --help

    folder = path.parent
    if not folder.is_dir():
        raise InvalidInput("--output", f"the folder {folder} does not exist")
    try:
        handle, temporary = tempfile.mkstemp(dir=folder, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as exc:
        raise InvalidInput("--output", f"cannot write in {folder}: {exc.strerror}") from None
    try:
        with os.fdopen(handle, "w", encoding="utf-8", newline="") as stream:
            stream.write(text)
            stream.flush()
            os.fsync(stream.fileno())
        os.chmod(temporary, _mode_for(path))  # mkstemp makes it 0600; the output is a plain file
        os.replace(temporary, path)
    except BaseException as exc:
        Path(temporary).unlink(missing_ok=True)
        if isinstance(exc, OSError):
            raise InvalidInput("--output", f"cannot write {path}: {exc.strerror}") from None
        raise


def _mode_for(path: Path) -> int:
    """The existing file's permissions, or those a new file gets under the umask."""
    try:
        return path.stat().st_mode & 0o777
    except FileNotFoundError:
        umask = os.umask(0)
        os.umask(umask)
        return 0o666 & ~umask
