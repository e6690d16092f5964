"""Loading protocol (workflow) files and the closures file, and the registry (PROTOCOL.md §2-§5).

A protocol file is YAML (format: workflows/README.md). Loading happens in two steps: the parsed
data is first checked completely (`escalation.rules.checks`), collecting *every* problem as a
line of the form `devon.yaml: levels[2].response_due: <what is wrong>`; only data with no problems
is then turned, here, into the frozen values of `escalation.rules.model`. A `ProtocolError`
carries the whole list, so a partnership business manager fixing a file sees all of it at once.

`load_registry` reads a folder (or a list of files): every `*.yaml` is a protocol except
`closures.yaml`, the closures file. `ProtocolRegistry` also checks what no single file can:
(id, version) pairs are unique, each partnership has one protocol id (and each id one
partnership), reference prefixes tell partnerships apart, and the closures file names only
partnerships that some protocol is for.

`describe` (the text of `escalation workflows show`, from `escalation.rules.describe`) is
re-exported here, so callers need only this module.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Hashable, Iterable, Mapping, Sequence
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

from escalation.errors import NotFound, ProtocolError
from escalation.resources import workflows_dir
from escalation.rules.canonical import canonical_text, content_hash
from escalation.rules.checks import (
    OUTCOME_CHECK_KEYS,
    RISK_KEYS,
    check_closures_file,
    check_protocol_file,
)
from escalation.rules.describe import describe
from escalation.rules.model import (
    TO_CONFIRM,
    ClosuresFile,
    Level,
    OutcomeCheck,
    OverdueReminders,
    Protocol,
    Provenance,
    RiskContact,
    Role,
    Source,
    Timescales,
    parse_on_lapse,
)
from escalation.rules.reading import parse_date, parse_hours
from escalation.rules.workdays import WEEKDAYS, BusinessHours, Closures, Duration

if TYPE_CHECKING:
    from escalation.rules.pinning import Drift

__all__ = [
    "CLOSURES_FILE",
    "ProtocolRegistry",
    "describe",
    "load_closures_file",
    "load_protocol_file",
    "load_registry",
]

CLOSURES_FILE = "closures.yaml"


# --- Building the frozen protocol (only from data that passed every check) -------------------


def build_protocol(data: dict[str, Any], path: Path, closures: ClosuresFile | None) -> Protocol:
    partnership: str = data["partnership"]
    fmt: int = data.get("format", 1)
    return Protocol(
        id=data["id"],
        version=data["version"],
        name=data["name"],
        partnership=partnership,
        reference_prefix=data["reference_prefix"],
        source_file=path.name,
        business_hours=_build_hours(data["business_hours"]),
        levels=tuple(sorted((_build_level(raw, fmt) for raw in data["levels"]), key=_number)),
        levels_of_need=dict(sorted(data["levels_of_need"].items())),
        raiser_decision_reminder=Duration.parse(data["raiser_decision_reminder"]),
        outcome_check=OutcomeCheck(*(_durations(data["outcome_check"], OUTCOME_CHECK_KEYS))),
        immediate_risk=tuple(_risk_contact(c, fmt) for c in data["immediate_risk"]),
        provenance=_provenance(data["provenance"], fmt),
        source=data["source"],
        format=fmt,
        closures=closures.for_partnership(partnership) if closures else Closures(),
        content=canonical_text(data),
        content_hash=content_hash(data),
    )  # fmt: skip


def _durations(data: Mapping[str, Any], keys: Sequence[str]) -> list[Duration]:
    return [Duration.parse(data[key]) for key in keys]


def _pick(data: Mapping[str, Any], keys: Sequence[str]) -> dict[str, Any]:
    return {key: data[key] for key in keys}


def _number(level: Level) -> int:
    return level.number


def _provenance(entries: Mapping[Any, Any], fmt: int) -> dict[str, Provenance]:
    if fmt == 1:
        return {str(key): Provenance.of_text(str(value)) for key, value in entries.items()}
    return {str(key): _structured(value) for key, value in entries.items()}


def _risk_contact(data: Mapping[str, Any], fmt: int) -> RiskContact:
    if fmt == 1:
        return RiskContact(**_pick(data, RISK_KEYS))
    source = _structured(data["source"])
    label, phone, hours = (data[key] for key in ("label", "phone", "hours"))
    return RiskContact(label, phone, hours, source.text, source.to_confirm)


def _structured(entry: Mapping[str, Any]) -> Provenance:
    raw = entry.get("source")
    source = None if raw is None else Source(**{k: str(v).strip() for k, v in raw.items()})
    note = str(entry.get("note", "")).strip()
    return Provenance.structured(source, entry.get("status") == TO_CONFIRM, note)


def _build_hours(days: Mapping[str, str]) -> BusinessHours:
    return BusinessHours({WEEKDAYS.index(name): parse_hours(text) for name, text in days.items()})


def _build_level(data: dict[str, Any], fmt: int) -> Level:
    overdue = data.get("overdue_reminders")
    on_lapse, follow_up = parse_on_lapse(data["on_lapse"])
    return Level(
        number=data["level"],
        name=data["name"],
        raiser_roles=tuple(Role(role) for role in data["raiser_roles"]),
        responder_roles=tuple(Role(role) for role in data["responder_roles"]),
        copy_partnership=data["copy_partnership"],
        normal=_build_timescales(data, ""),
        urgent=_build_timescales(data, "urgent_"),
        on_lapse=on_lapse,
        overdue_reminders=None
        if overdue is None
        else OverdueReminders(Duration.parse(overdue["every"]), overdue["max"]),
        provenance=_provenance(data["provenance"], fmt),
        lapse_follow_up=follow_up,
    )


def _build_timescales(data: Mapping[str, Any], prefix: str) -> Timescales:
    reminders = sorted((Duration.parse(text) for text in data[f"{prefix}reminders"]), reverse=True)
    return Timescales(
        acknowledge_due=Duration.parse(data[f"{prefix}acknowledge_due"]),
        response_due=Duration.parse(data[f"{prefix}response_due"]),
        reminders=tuple(reminders),
    )


def _read_protocol(path: Path, closures: ClosuresFile | None) -> tuple[Protocol | None, list[str]]:
    data, problems = check_protocol_file(path)
    if problems:
        return None, problems
    return build_protocol(data, path, closures), []


def load_protocol_file(path: Path, closures: ClosuresFile | None = None) -> Protocol:
    """One protocol file, checked completely; raises ProtocolError listing every problem."""
    protocol, problems = _read_protocol(Path(path), closures)
    if protocol is None:
        raise ProtocolError(problems)
    return protocol


# --- The closures file -----------------------------------------------------------------------


def _build_closures(data: dict[str, Any]) -> ClosuresFile:
    bank = data["bank_holidays"]
    reviewed = bank["reviewed_until"]
    return ClosuresFile(
        bank_holiday_extra=_build_days(bank["add"]),
        bank_holiday_removed=frozenset(_build_days(bank["remove"])),
        reviewed_until=None if reviewed is None else parse_date(reviewed),
        partnership_closures={
            str(name): _build_days(entries) for name, entries in data["partnerships"].items()
        },
    )


def _build_days(entries: list[dict[str, Any]] | None) -> dict[date, str]:
    return {parse_date(entry["date"]): entry["name"] for entry in entries or []}


def _read_closures(path: Path) -> tuple[ClosuresFile | None, list[str]]:
    data, problems = check_closures_file(path)
    if problems:
        return None, problems
    return _build_closures(data), []


def _closures_problems(
    file: str, closures: ClosuresFile, partnerships: Collection[str]
) -> list[str]:
    known = ", ".join(sorted(partnerships)) or "none"
    return [
        f'{file}: partnerships.{name}: no protocol is for partnership "{name}" (partnerships: '
        f"{known}); a misspelt name would silently drop its closure days"
        for name in closures.partnership_closures
        if name not in partnerships
    ]


def load_closures_file(path: Path, partnerships: Collection[str] | None = None) -> ClosuresFile:
    """The closures file, checked completely; with `partnerships`, its names are checked too."""
    path = Path(path)
    closures, problems = _read_closures(path)
    if closures is not None and partnerships is not None:
        problems = _closures_problems(path.name, closures, partnerships)
    if closures is None or problems:
        raise ProtocolError(problems)
    return closures


# --- The registry ----------------------------------------------------------------------------


class ProtocolRegistry:
    """Every loaded protocol, by id and version, and by partnership."""

    def __init__(self, protocols: Iterable[Protocol], closures: ClosuresFile | None = None) -> None:
        listed = list(protocols)
        problems = _registry_problems(listed)
        if problems:
            raise ProtocolError(problems)
        self.closures = closures
        # Pinned versions whose file was edited in place or removed (rules.pinning.with_pins).
        self.drifts: dict[tuple[str, int], Drift] = {}
        self._by_id: dict[str, dict[int, Protocol]] = {}
        for protocol in sorted(listed, key=lambda p: (p.id, p.version)):
            self._by_id.setdefault(protocol.id, {})[protocol.version] = protocol

    def get(self, id: str, version: int | None = None) -> Protocol:
        """The protocol `id` at `version`, or at its highest version when None."""
        versions = self._by_id.get(id)
        if versions is None:
            raise NotFound(f'no protocol with id "{id}"; protocols: {self._listing()}')
        if version is None:
            return versions[max(versions)]
        if version not in versions:
            known = ", ".join(str(v) for v in sorted(versions))
            raise NotFound(f'protocol "{id}" has no version {version}; versions: {known}')
        return versions[version]

    def for_partnership(self, partnership: str) -> Protocol:
        """The highest version of the partnership's protocol."""
        for id, versions in self._by_id.items():
            if versions[max(versions)].partnership == partnership:
                return self.get(id)
        known = ", ".join(self.partnerships()) or "none"
        raise NotFound(f'no protocol for partnership "{partnership}"; partnerships: {known}')

    def all(self) -> list[Protocol]:
        """Every protocol version, by id then version."""
        return [protocol for versions in self._by_id.values() for protocol in versions.values()]

    def partnerships(self) -> list[str]:
        return sorted({protocol.partnership for protocol in self.all()})

    def _listing(self) -> str:
        parts = [
            f"{id} (version{'s' if len(versions) > 1 else ''} {', '.join(map(str, versions))})"
            for id, versions in self._by_id.items()
        ]
        return ", ".join(parts) or "none"


def _registry_problems(protocols: Sequence[Protocol]) -> list[str]:
    """What no single file can check: unique (id, version), one id per partnership, …"""
    return [problem for rule in _REGISTRY_RULES for problem in rule(protocols)]


def _first_claims(
    protocols: Sequence[Protocol], key: Callable[[Protocol], Hashable],
    clash: Callable[[Protocol, Protocol], bool], message: Callable[[Protocol, Protocol], str],
) -> list[str]:  # fmt: skip
    """`message(later, first)` for each protocol whose key was first claimed by a clashing one."""
    first: dict[Hashable, Protocol] = {}
    problems: list[str] = []
    for protocol in protocols:
        earlier = first.setdefault(key(protocol), protocol)
        if earlier is not protocol and clash(protocol, earlier):
            problems.append(message(protocol, earlier))
    return problems


def _unique_versions(protocols: Sequence[Protocol]) -> list[str]:
    return _first_claims(
        protocols,
        lambda p: (p.id, p.version),
        lambda p, q: True,
        lambda p, q: (
            f"{p.source_file}: version: {p.id} version {p.version} is also defined in "
            f"{q.source_file}; a changed protocol is a copy with a new version number"
        ),
    )


def _one_id_per_partnership(protocols: Sequence[Protocol]) -> list[str]:
    return _first_claims(
        protocols,
        lambda p: p.partnership,
        lambda p, q: p.id != q.id,
        lambda p, q: (
            f'{p.source_file}: id: partnership "{p.partnership}" already has protocol '
            f'"{q.id}" ({q.source_file}); one protocol id per partnership: make a new version of '
            f'"{q.id}" instead'
        ),
    )


def _one_partnership_per_id(protocols: Sequence[Protocol]) -> list[str]:
    return _first_claims(
        protocols,
        lambda p: p.id,
        lambda p, q: p.partnership != q.partnership,
        lambda p, q: (
            f'{p.source_file}: partnership: protocol "{p.id}" is for partnership '
            f'"{q.partnership}" in {q.source_file}; every version of a protocol is for one '
            "partnership"
        ),
    )


def _unique_prefixes(protocols: Sequence[Protocol]) -> list[str]:
    return _first_claims(
        protocols,
        lambda p: p.reference_prefix,
        lambda p, q: p.partnership != q.partnership,
        lambda p, q: (
            f'{p.source_file}: reference_prefix: "{p.reference_prefix}" is already used '
            f'by partnership "{q.partnership}" ({q.source_file}); references must tell '
            "partnerships apart"
        ),
    )


_REGISTRY_RULES = (
    _unique_versions, _one_id_per_partnership, _one_partnership_per_id, _unique_prefixes,
)  # fmt: skip


def _registry_paths(directory: Path | None, files: list[Path] | None) -> list[Path]:
    if files is not None:
        if directory is not None:
            raise ValueError("give load_registry a directory or a list of files, not both")
        return [Path(file) for file in files]
    folder = Path(directory) if directory is not None else workflows_dir()
    return sorted(folder.glob("*.yaml"))


def load_registry(
    directory: Path | None = None, files: list[Path] | None = None, closure_names: bool = True
) -> ProtocolRegistry:
    """Every protocol in `directory` (default: the shipped workflows) or in `files`.

    `closures.yaml` among them is the closures file. Raises ProtocolError listing every
    problem in every file, and across files. `closure_names=False` leaves out the check that
    the closures file names only partnerships of these files, for a caller that adds pinned
    versions whose files are gone and checks the names after (`closure_name_problems`).
    """
    paths = _registry_paths(directory, files)
    protocol_paths = [path for path in paths if path.name != CLOSURES_FILE]
    if not protocol_paths:
        where = directory if directory is not None else workflows_dir()
        raise ProtocolError([f"{where}: no protocol files (*.yaml) found"])
    closures, problems = _load_closures_of(paths)
    protocols, file_problems = _read_protocols(protocol_paths, closures)
    problems += file_problems + _registry_problems(protocols)
    if closures is not None and not file_problems and closure_names:
        problems += _closures_problems(CLOSURES_FILE, closures, {p.partnership for p in protocols})
    if problems:
        raise ProtocolError(problems)
    return ProtocolRegistry(protocols, closures)


def closure_name_problems(registry: ProtocolRegistry) -> list[str]:
    """The closures file's partnerships that no protocol of `registry` is for."""
    if registry.closures is None:
        return []
    return _closures_problems(CLOSURES_FILE, registry.closures, set(registry.partnerships()))


def _read_protocols(
    paths: Sequence[Path], closures: ClosuresFile | None
) -> tuple[list[Protocol], list[str]]:
    """The protocols that load, and the problems of those that do not."""
    protocols: list[Protocol] = []
    problems: list[str] = []
    for path in paths:
        protocol, file_problems = _read_protocol(path, closures)
        problems += file_problems
        protocols += [protocol] if protocol else []
    return protocols, problems


def _load_closures_of(paths: Sequence[Path]) -> tuple[ClosuresFile | None, list[str]]:
    found = [path for path in paths if path.name == CLOSURES_FILE]
    if len(found) > 1:
        listed = ", ".join(str(path) for path in found)
        return None, [f"{CLOSURES_FILE}: more than one closures file given ({listed})"]
    return _read_closures(found[0]) if found else (None, [])
