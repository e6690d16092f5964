"""Pinned protocol versions (issue 13): a challenge runs on the version it started under, as it
was then, whatever later happens to the file.

The first challenge raised on a version stores that version's canonical content in the database
(`casework.store.pin`); `with_pins` then builds the registry from the files with every pinned
version taken from its stored copy. A file whose content differs from the pinned copy of the same
version (edited in place) is a `Drift`: running challenges keep their deadlines, `workflows
validate` and the worker's start report it, and no new challenge may be raised on it until it is
saved as a new version. A pinned version whose file is gone keeps running from its copy. Pure.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from escalation.errors import EscalationError, ProtocolError
from escalation.rules.checks import check_protocol_text
from escalation.rules.model import Protocol
from escalation.rules.registry import ProtocolRegistry, build_protocol, closure_name_problems


class ProtocolDrifted(EscalationError):
    """A protocol version in use was edited in place: it must be saved as a new version."""


@dataclass(frozen=True)
class PinnedCopy:
    """A version as stored when its first challenge was raised."""

    protocol_id: str
    version: int
    source_file: str
    content: str
    content_hash: str

    @property
    def key(self) -> str:
        return f"{self.protocol_id}@{self.version}"


@dataclass(frozen=True)
class Drift:
    """A pinned version whose file now says something else (`edited`) or is gone (`missing`)."""

    protocol_id: str
    version: int
    source_file: str  # the file that holds the version now, or held it when it was pinned
    edited: bool

    @property
    def key(self) -> str:
        return f"{self.protocol_id}@{self.version}"

    def words(self, open_challenges: int) -> str:
        one = open_challenges == 1
        running = f"{open_challenges} open challenge{'' if one else 's'} pinned to it"
        if not self.edited:
            return (
                f"{self.source_file}: {self.key} is no longer in the workflows folder; "
                f"{running} {'runs' if one else 'run'} from the copy stored when it was first used"
            )
        return (
            f"{self.source_file}: version {self.version} of {self.protocol_id} differs from the "
            f"copy pinned when it was first used ({running} {'keeps' if one else 'keep'} the "
            f"pinned copy). A version in use is never edited in place: restore the file, and "
            f"save the change as a new version (copy the file, set `version: "
            f"{self.version + 1}`), then restart the web service and the worker"
        )


def protocol_from_copy(copy: PinnedCopy, registry: ProtocolRegistry) -> Protocol:
    """The protocol a pinned copy describes, checked as a file would be."""
    name = f"{copy.source_file} (pinned copy of {copy.key})"
    data, problems = check_protocol_text(name, copy.content)
    if problems:
        raise ProtocolError(problems)
    return build_protocol(data, Path(copy.source_file), registry.closures)


def with_pins(registry: ProtocolRegistry, copies: Iterable[PinnedCopy]) -> ProtocolRegistry:
    """`registry` with each pinned version running from its stored copy; `drifts` says where a
    file and its pinned copy part. The closures file may name a partnership whose only protocol
    is a pinned copy (load the files with `closure_names=False`)."""
    protocols = {(p.id, p.version): p for p in registry.all()}
    drifts: dict[tuple[str, int], Drift] = {}
    for copy in copies:
        key = (copy.protocol_id, copy.version)
        current = protocols.get(key)
        if current is not None and current.content_hash == copy.content_hash:
            continue
        if current is None:
            drifts[key] = Drift(copy.protocol_id, copy.version, copy.source_file, edited=False)
        else:
            drifts[key] = Drift(copy.protocol_id, copy.version, current.source_file, edited=True)
        protocols[key] = protocol_from_copy(copy, registry)
    pinned = ProtocolRegistry(protocols.values(), registry.closures)
    pinned.drifts = drifts
    problems = closure_name_problems(pinned)
    if problems:
        raise ProtocolError(problems)
    return pinned


def refuse_drifted(registry: ProtocolRegistry, protocol: Protocol) -> None:
    """Raise ProtocolDrifted if `protocol`'s file was edited in place since it was pinned."""
    drift = registry.drifts.get((protocol.id, protocol.version))
    if drift is not None and drift.edited:
        raise ProtocolDrifted(
            f"no new challenge can be raised on {drift.key}: {drift.source_file} was edited "
            f"in place after challenges were raised on it. Restore version {drift.version} as "
            f"it was, and save the change as a new version (copy the file, set "
            f"`version: {drift.version + 1}`), then restart the web service and the worker"
        )
