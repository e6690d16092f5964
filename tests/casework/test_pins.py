"""Pinned protocol versions in the database (casework.store_pins, casework.pins), on SQLite and
PostgreSQL: one copy per version whoever pins first, a copy that rebuilds the same protocol, and
the counts `workflows validate` quotes."""

from __future__ import annotations

import dataclasses
import logging
from datetime import timedelta

import pytest
from sqlalchemy.orm import Session, sessionmaker

from escalation.casework import pins, store_pins
from escalation.casework.models import PinnedProtocol
from escalation.casework.service import Service
from escalation.rules.pinning import ProtocolDrifted, protocol_from_copy, with_pins
from escalation.rules.registry import ProtocolRegistry
from tests.conftest import london, raise_request

MONDAY = london("2026-12-07 10:00")


def test_the_first_pin_of_a_version_is_kept_and_a_different_content_is_told_apart(
    sessions: sessionmaker[Session], registry: ProtocolRegistry
) -> None:
    devon = registry.get("devon", 1)
    edited = dataclasses.replace(devon, content="edited: true\n", content_hash="f" * 64)
    with sessions.begin() as session:
        assert store_pins.pin(session, devon, MONDAY) == devon.content_hash
    with sessions.begin() as session:
        # A second process, holding the file as edited, learns the stored hash, not its own.
        assert store_pins.pin(session, edited, MONDAY + timedelta(days=1)) == devon.content_hash
    with sessions.begin() as session:
        [copy] = store_pins.pinned_copies(session)
    assert (copy.protocol_id, copy.version, copy.source_file) == ("devon", 1, "devon.yaml")
    assert copy.content_hash == devon.content_hash


def test_a_pinned_copy_rebuilds_the_protocol_the_file_gave(
    sessions: sessionmaker[Session], registry: ProtocolRegistry
) -> None:
    for protocol in registry.all():
        with sessions.begin() as session:
            store_pins.pin(session, protocol, MONDAY)
    with sessions.begin() as session:
        copies = store_pins.pinned_copies(session)
    assert [c.key for c in copies] == ["devon@1", "plymouth@1", "torbay@1"]
    for copy in copies:
        rebuilt = protocol_from_copy(copy, registry)
        assert rebuilt == registry.get(copy.protocol_id, copy.version)
        assert rebuilt.content_hash == copy.content_hash
    assert with_pins(registry, copies).drifts == {}


def test_raising_pins_the_version_and_refuses_one_edited_since(
    service: Service, registry: ProtocolRegistry
) -> None:
    reference = service.raise_challenge(raise_request(), MONDAY)
    with service.sessions.begin() as session:
        assert [c.key for c in store_pins.pinned_copies(session)] == ["devon@1"]
        assert store_pins.open_challenges_by_version(session) == {("devon", 1): 1}
        assert store_pins.unpinned_in_use(session) == []
    devon = registry.get("devon", 1)
    edited = dataclasses.replace(devon, content="x: 1\n", content_hash="e" * 64)
    drifted = ProtocolRegistry(
        [edited, registry.get("plymouth", 1), registry.get("torbay", 1)], registry.closures
    )
    other = Service(service.sessions, drifted)  # a process that read the file after the edit
    with pytest.raises(ProtocolDrifted, match=r"devon@1: devon\.yaml differs from the copy pinned"):
        other.raise_challenge(raise_request(), MONDAY + timedelta(hours=1))
    with service.sessions.begin() as session:
        assert store_pins.open_challenges_by_version(session) == {("devon", 1): 1}
    assert reference.startswith("DSCP-")


def test_versions_in_use_before_pinning_are_pinned_from_their_files_on_start(
    service: Service, registry: ProtocolRegistry, caplog: pytest.LogCaptureFixture
) -> None:
    service.raise_challenge(raise_request(), MONDAY)
    with service.sessions.begin() as session:  # as a database upgraded to 0008 would be
        session.query(PinnedProtocol).delete()
    with caplog.at_level(logging.WARNING, logger="escalation.casework.pins"):
        pinned = pins.pinned_registry(service.sessions, registry, MONDAY)
    assert "pinned devon@1 from devon.yaml" in caplog.text
    assert pinned.drifts == {}
    with service.sessions.begin() as session:
        assert store_pins.unpinned_in_use(session) == []
