"""The registry a running engine uses: the protocol files, with every pinned version taken from
its copy in the database (rules.pinning), so an edited or deleted file cannot move a running
challenge's deadlines.

Versions that challenges were raised on before versions were pinned (a database upgraded to
revision 0008) are pinned from their files the first time this runs, and logged.
"""

from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy.orm import Session, sessionmaker

from escalation.casework import store_pins
from escalation.errors import NotFound
from escalation.rules.pinning import Drift, with_pins
from escalation.rules.registry import ProtocolRegistry

log = logging.getLogger(__name__)


def pinned_registry(
    sessions: sessionmaker[Session], files: ProtocolRegistry, now: datetime
) -> ProtocolRegistry:
    """`files` with the pinned copies in force; `drifts` names each file that parts from its copy
    (logged as an error when edited in place)."""
    with sessions.begin() as session:
        for protocol_id, version in store_pins.unpinned_in_use(session):
            try:
                protocol = files.get(protocol_id, version)
            except NotFound:
                log.error(
                    "protocols: %s@%s is in use but has neither a file nor a pinned copy",
                    protocol_id,
                    version,
                )
                continue
            store_pins.pin(session, protocol, now)
            log.warning(
                "protocols: pinned %s from %s (challenges were raised on it before versions "
                "were pinned)",
                protocol.key,
                protocol.source_file,
            )
        copies = store_pins.pinned_copies(session)
    registry = with_pins(files, copies)
    if not registry.drifts:  # as on nearly every start: nothing to count
        return registry
    with sessions.begin() as session:
        running = store_pins.open_challenges_by_version(session)
    for key, drift in registry.drifts.items():
        words = drift.words(running.get(key, 0))
        if drift.edited:
            log.error("protocols: %s", words)
        else:
            log.info("protocols: %s", words)
    return registry


def drift_report(
    sessions: sessionmaker[Session], registry: ProtocolRegistry
) -> list[tuple[Drift, int]]:
    """Each drift with the number of open challenges pinned to its version."""
    if not registry.drifts:
        return []
    with sessions.begin() as session:
        running = store_pins.open_challenges_by_version(session)
    return [(drift, running.get(key, 0)) for key, drift in sorted(registry.drifts.items())]
