"""The one place that builds the engine's parts from the settings: the protocol registry, the
database, the email renderer, the notifier and the service. The CLI, the worker, the web and the
demo all take them from here, so they cannot be put together differently.

Each part is built the first time it is asked for, and its libraries are imported only then:
`escalation workflows validate` needs no database, and `escalation --help` imports no ORM.
"""

from __future__ import annotations

from functools import cached_property
from typing import TYPE_CHECKING

from escalation import resources
from escalation.config import Settings

if TYPE_CHECKING:
    from sqlalchemy import Engine
    from sqlalchemy.orm import Session, sessionmaker

    from escalation.casework.service import Service
    from escalation.mail.emails import EmailRenderer
    from escalation.mail.outbox import OutboxNotifier
    from escalation.rules.registry import ProtocolRegistry


class Wiring:
    """The parts, built lazily from `settings`.

    `check_schema=False` is for the commands that create or upgrade the schema themselves;
    `signed_links=False` (the demo) writes plain links with no database-held signing key.
    """

    def __init__(
        self, settings: Settings, *, check_schema: bool = True, signed_links: bool = True
    ) -> None:
        self.settings = settings
        self.check_schema = check_schema
        self.signed_links = signed_links

    @cached_property
    def file_registry(self) -> ProtocolRegistry:
        """The protocol files as they are now (no database needed)."""
        from escalation.rules.registry import load_registry

        return load_registry(self.settings.workflows_dir or resources.workflows_dir())

    @cached_property
    def registry(self) -> ProtocolRegistry:
        """The files with every pinned version from its copy in the database: what runs."""
        from escalation.casework.pins import pinned_registry
        from escalation.casework.recording import real_clock
        from escalation.rules.registry import load_registry

        folder = self.settings.workflows_dir or resources.workflows_dir()
        files = load_registry(folder, closure_names=False)  # a pinned copy may supply one
        return pinned_registry(self._session_factory, files, real_clock())

    @cached_property
    def engine(self) -> Engine:
        from escalation.casework import db

        return db.make_engine(self.settings.database_url)

    @cached_property
    def _session_factory(self) -> sessionmaker[Session]:
        from escalation.casework import db

        if self.check_schema:
            db.require_current_schema(self.engine)
        return db.session_factory(self.engine)

    @property
    def sessions(self) -> sessionmaker[Session]:
        """Sessions on the database. The registry (which reads the pinned versions) is built
        first when the schema is checked: built lazily inside a caller's transaction, it would
        wait on that transaction's own lock (SQLite's BEGIN IMMEDIATE)."""
        if self.check_schema:
            self.registry  # noqa: B018
        return self._session_factory

    @cached_property
    def renderer(self) -> EmailRenderer:
        from escalation.mail.emails import EmailRenderer

        return EmailRenderer(resources.templates_dir())

    @cached_property
    def notifier(self) -> OutboxNotifier:
        from escalation.mail.links import link_source
        from escalation.mail.outbox import OutboxNotifier

        base_url = self.settings.base_url
        if not self.signed_links:
            return OutboxNotifier(self.registry, self.renderer, base_url)
        links = link_source(base_url, self.settings.secret_key)
        return OutboxNotifier(self.registry, self.renderer, base_url, links)

    @cached_property
    def service(self) -> Service:
        from escalation.casework.service import Service

        return Service(self.sessions, self.registry, self.notifier)
