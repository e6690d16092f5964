"""Reading and validating protocol (workflow) files and the closures file (PROTOCOL.md §2-§5).

A protocol file is YAML (format: workflows/README.md). Loading happens in two steps: the parsed
data is first checked completely, collecting *every* problem as a line of the form
`devon.yaml: levels[2].response_due: <what is wrong>`; only data with no problems is then turned
into the frozen values of `escalation.protocol_model`. A `ProtocolError` carries the whole list,
so a partnership business manager fixing a file sees all of it at once.

`load_registry` reads a folder (or a list of files): every `*.yaml` is a protocol except
`closures.yaml`, the closures file. It also checks what no single file can: (id, version) pairs
are unique, each partnership has one protocol id, and the closures file names only partnerships
that some protocol is for.

YAML is read with a safe loader that keeps dates as text (this module checks them, so a bad date
is a reported problem rather than a crash) and reports a key given twice in one mapping (plain
PyYAML silently keeps the last one).
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Collection, Hashable, Iterable, Mapping, Sequence
from datetime import date, datetime, time
from pathlib import Path
from typing import Any, TypeVar

import yaml

from escalation.errors import DurationError, NotFound, ProtocolError
from escalation.protocol_model import (
    ClosuresFile,
    Level,
    OnLapse,
    OutcomeCheck,
    OverdueReminders,
    Protocol,
    RiskContact,
    Role,
    Timescales,
)
from escalation.resources import workflows_dir
from escalation.workdays import WEEKDAYS, BusinessHours, Closures, Duration

CLOSURES_FILE = "closures.yaml"
ID_PATTERN = re.compile(r"^[a-z][a-z0-9_-]*$")
PREFIX_PATTERN = re.compile(r"^[A-Z]{2,8}$")
_HOURS_PATTERN = re.compile(r"^(\d{2}):(\d{2})\s*-\s*(\d{2}):(\d{2})$")
_DATE_PATTERN = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_PHONE_PATTERN = re.compile(r"^\+?[\d ()-]*\d[\d ()-]*\d[\d ()-]*$")

TOP_KEYS = (
    "id", "version", "name", "partnership", "reference_prefix", "source", "business_hours",
    "levels_of_need", "raiser_decision_reminder", "outcome_check", "provenance",
    "immediate_risk", "levels",
)  # fmt: skip
TOP_NEEDS_PROVENANCE = (
    "business_hours", "levels_of_need", "raiser_decision_reminder", "outcome_check",
)  # fmt: skip
LEVEL_KEYS = (
    "level", "name", "raiser_roles", "responder_roles", "copy_partnership",
    "acknowledge_due", "response_due", "reminders",
    "urgent_acknowledge_due", "urgent_response_due", "urgent_reminders",
    "on_lapse", "provenance",
)  # fmt: skip
LEVEL_OPTIONAL_KEYS = ("overdue_reminders",)
LEVEL_NEEDS_PROVENANCE = (
    "acknowledge_due", "response_due", "reminders",
    "urgent_acknowledge_due", "urgent_response_due", "urgent_reminders", "overdue_reminders",
)  # fmt: skip
OUTCOME_CHECK_KEYS = ("ask_after", "answer_due", "close_after_reminder")
OVERDUE_KEYS = ("every", "max")
RISK_KEYS = ("label", "phone", "hours", "source")
CLOSURES_KEYS = ("bank_holidays", "partnerships")
BANK_HOLIDAY_KEYS = ("source", "reviewed_until", "add", "remove")
BANK_HOLIDAY_OPTIONAL_KEYS = ("reviewed_source",)
CLOSURE_ENTRY_KEYS = ("date", "name", "source")
# The protocol-wide `source` text is kept in Protocol.provenance under this key (the model has
# no field of its own for it); a provenance entry in the file may therefore not name it.
SOURCE_KEY = "source"

_PHONE_HINT = "digits, spaces, brackets and hyphens; + allowed first"
_UNREADABLE = object()
_T = TypeVar("_T")
_TIMESTAMP_TAG = "tag:yaml.org,2002:timestamp"


# --- YAML ------------------------------------------------------------------------------------


class _Loader(yaml.SafeLoader):
    """Safe loading that keeps dates as text and notes any key given twice in one mapping."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self.repeated: list[tuple[int, str]] = []

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Hashable, Any]:
        seen: set[tuple[str, str]] = set()
        for key_node, _ in node.value:
            if isinstance(key_node, yaml.ScalarNode):
                if (key_node.tag, key_node.value) in seen:
                    self.repeated.append((key_node.start_mark.line + 1, key_node.value))
                seen.add((key_node.tag, key_node.value))
        return super().construct_mapping(node, deep)


_Loader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != _TIMESTAMP_TAG]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


# --- Collecting problems ---------------------------------------------------------------------


class _Check:
    """Collects the problems of one file, each as `file: field.path: problem`."""

    def __init__(self, file: str) -> None:
        self.file = file
        self.problems: list[str] = []

    def add(self, where: str, message: str) -> None:
        prefix = f"{self.file}: {where}: " if where else f"{self.file}: "
        self.problems.append(prefix + message)

    def mapping(
        self, value: Any, where: str, required: Sequence[str], optional: Sequence[str] = ()
    ) -> dict[Any, Any] | None:
        """`value` as a mapping with exactly the allowed keys (problems noted), or None."""
        data = self.table(value, where)
        if data is None:
            return None
        allowed = [*required, *optional]
        for key in data:
            if key not in allowed:
                self.add(_join(where, key), f"unknown key{_did_you_mean(key, allowed)}")
        for key in required:
            if key not in data:
                self.add(_join(where, key), "required key is missing")
        return data

    def table(self, value: Any, where: str) -> dict[Any, Any] | None:
        if isinstance(value, dict):
            return value
        self.add(where, f"must be a mapping of keys to values, not {_show(value)}")
        return None

    def items(self, value: Any, where: str) -> list[Any] | None:
        if isinstance(value, list):
            return value
        self.add(where, f"must be a list, not {_show(value)}")
        return None

    def text(self, value: Any, where: str, hint: str = "") -> str | None:
        if not isinstance(value, str):
            quote = f' (put it in quotes: "{value}")' if _is_number(value) else ""
            self.add(where, f"must be text, not {_show(value)}{quote}")
            return None
        if not value.strip():
            self.add(where, f"must not be empty{hint}")
            return None
        return value

    def positive(self, value: Any, where: str) -> int | None:
        if isinstance(value, int) and not isinstance(value, bool) and value > 0:
            return value
        self.add(where, f"must be a positive whole number, not {_show(value)}")
        return None

    def flag(self, value: Any, where: str) -> bool | None:
        if isinstance(value, bool):
            return value
        self.add(where, f"must be true or false, not {_show(value)}")
        return None

    def duration(self, value: Any, where: str) -> Duration | None:
        try:
            return Duration.parse(value)
        except DurationError as exc:
            self.add(where, str(exc))
            return None

    def day(self, value: Any, where: str) -> date | None:
        try:
            return _parse_date(value)
        except ValueError:
            self.add(where, f"{_show(value)} is not a valid ISO date like 2027-12-31")
            return None


_Reader = Callable[[_Check, Any, str], Any]


def _field(check: _Check, data: Mapping[Any, Any], where: str, key: str, reader: _Reader) -> Any:
    """Read `data[key]` with `reader`; a missing key gives None (already reported as missing)."""
    if key not in data:
        return None
    return reader(check, data[key], _join(where, key))


def _join(where: str, key: object) -> str:
    return f"{where}.{key}" if where else str(key)


def _show(value: Any) -> str:
    if isinstance(value, str):
        return f'"{value}"'
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "an empty value"
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, list):
        return "a list"
    return "a mapping" if isinstance(value, dict) else type(value).__name__


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _did_you_mean(key: object, allowed: Sequence[str]) -> str:
    close = difflib.get_close_matches(str(key), allowed, n=1)
    if close:
        return f' (did you mean "{close[0]}"?)'
    return f" (allowed: {', '.join(allowed)})"


def _parse_date(value: Any) -> date:
    if isinstance(value, date) and not isinstance(value, datetime):
        return value
    if isinstance(value, str) and _DATE_PATTERN.fullmatch(value):
        return date.fromisoformat(value)
    raise ValueError(value)


def _parse_hours(text: str) -> tuple[time, time]:
    match = _HOURS_PATTERN.fullmatch(text.strip())
    if match is None:
        raise ValueError(text)
    h1, m1, h2, m2 = (int(part) for part in match.groups())
    return time(h1, m1), time(h2, m2)


# --- Reading files ---------------------------------------------------------------------------


def _read_yaml(path: Path, check: _Check) -> Any:
    """The parsed file, or `_UNREADABLE` with the reason noted in `check`."""
    try:
        loader = _Loader(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        check.add("", f"cannot read the file: {exc}")
        return _UNREADABLE
    try:
        data = loader.get_single_data()
    except yaml.YAMLError as exc:
        check.add(*_yaml_problem(exc))
        return _UNREADABLE
    finally:
        loader.dispose()
    for line, key in loader.repeated:
        check.add(f"line {line}", f'key "{key}" is given twice in the same mapping')
    return data


def _yaml_problem(exc: yaml.YAMLError) -> tuple[str, str]:
    if not isinstance(exc, yaml.MarkedYAMLError):
        return "", f"YAML syntax error: {exc}"
    mark = exc.problem_mark or exc.context_mark
    context = exc.context or ""
    if exc.context_mark and exc.problem_mark and exc.context_mark.line != exc.problem_mark.line:
        context += f" ({_at(exc.context_mark)})"
    what = ": ".join(part for part in (context, exc.problem) if part)
    return (_at(mark) if mark else ""), f"YAML syntax error: {what}"


def _at(mark: yaml.Mark) -> str:
    return f"line {mark.line + 1}, column {mark.column + 1}"


def _root(check: _Check, data: Any, keys: Sequence[str], optional: Sequence[str] = ()) -> Any:
    if data is None:
        check.add("", "the file is empty")
        return None
    if not isinstance(data, dict):
        check.add("", f"the file must be a mapping of keys to values, not {_show(data)}")
        return None
    return check.mapping(data, "", keys, optional)


# --- Checking a protocol file ----------------------------------------------------------------


def _check_protocol(check: _Check, data: Any) -> None:
    top = _root(check, data, TOP_KEYS)
    if top is None:
        return
    for key, reader in _TOP_READERS.items():
        _field(check, top, "", key, reader)
    _check_provenance(check, top, "", TOP_NEEDS_PROVENANCE, forbidden=(SOURCE_KEY,))


def _pattern(pattern: re.Pattern[str], explain: str) -> _Reader:
    def read(check: _Check, value: Any, where: str) -> str | None:
        text = check.text(value, where)
        if text is not None and not pattern.fullmatch(text):
            check.add(where, f"{_show(text)} does not match {pattern.pattern} ({explain})")
        return text

    return read


def _check_business_hours(check: _Check, value: Any, where: str) -> None:
    days = check.table(value, where)
    if days is None:
        return
    if not days:
        check.add(where, "no open day: give the hours of at least one weekday")
    for name, hours in days.items():
        if name in WEEKDAYS:
            _check_day_hours(check, hours, _join(where, name))
        else:
            check.add(
                _join(where, name), f"{_show(name)} is not a weekday name ({', '.join(WEEKDAYS)})"
            )


def _check_day_hours(check: _Check, value: Any, where: str) -> None:
    text = check.text(value, where)
    if text is None:
        return
    try:
        opens, closes = _parse_hours(text)
    except ValueError:
        check.add(where, f'"{text}" is not opening and closing times like "09:00-17:00"')
        return
    if opens >= closes:
        check.add(where, f"opening {opens:%H:%M} is not before closing {closes:%H:%M}")


def _check_levels_of_need(check: _Check, value: Any, where: str) -> None:
    needs = check.table(value, where)
    if needs is None:
        return
    if not needs:
        check.add(where, "must name at least one level of need")
    for key, label in needs.items():
        if isinstance(key, int) and not isinstance(key, bool) and key > 0:
            check.text(label, _join(where, key))
        else:
            check.add(where, f"key {_show(key)} is not a positive whole number")


def _check_outcome_check(check: _Check, value: Any, where: str) -> None:
    data = check.mapping(value, where, OUTCOME_CHECK_KEYS)
    if data is not None:
        for key in OUTCOME_CHECK_KEYS:
            _field(check, data, where, key, _Check.duration)


def _check_immediate_risk(check: _Check, value: Any, where: str) -> None:
    contacts = check.items(value, where)
    if contacts is None:
        return
    if not contacts:
        check.add(where, "must list at least one contact: every screen and email shows them")
    for index, raw in enumerate(contacts):
        _check_risk_contact(check, raw, f"{where}[{index}]")


def _check_risk_contact(check: _Check, value: Any, where: str) -> None:
    contact = check.mapping(value, where, RISK_KEYS)
    if contact is None:
        return
    for key in ("label", "hours"):
        _field(check, contact, where, key, _Check.text)
    _field(check, contact, where, "phone", _check_phone)
    hint = ": say where the number comes from"
    _field(check, contact, where, "source", lambda c, v, w: c.text(v, w, hint))


def _check_phone(check: _Check, value: Any, where: str) -> None:
    text = check.text(value, where)
    if text is not None and not _PHONE_PATTERN.fullmatch(text.strip()):
        check.add(where, f"{_show(text)} is not a phone number ({_PHONE_HINT})")


def _check_provenance(
    check: _Check, data: Mapping[Any, Any], where: str, needed: Sequence[str],
    forbidden: Sequence[str] = (),
) -> None:  # fmt: skip
    """Every present field in `needed` has a source; every entry names a present field."""
    path = _join(where, "provenance")
    entries = _field(check, data, where, "provenance", _Check.table)
    if entries is None:
        return
    fields = [key for key in data if key != "provenance" and key not in forbidden]
    for key, text in entries.items():
        if key in fields:
            check.text(text, _join(path, key))
        else:
            message = f'there is no field "{key}" here to give a source for'
            check.add(_join(path, key), message + _did_you_mean(key, fields))
    for key in needed:
        if key in data and key not in entries:
            check.add(_join(path, key), _NO_SOURCE)


_NO_SOURCE = 'missing: say where the value comes from, or "default — confirm with the partnership"'


# --- Checking levels -------------------------------------------------------------------------


def _check_levels(check: _Check, value: Any, where: str) -> None:
    levels = check.items(value, where)
    if levels is None:
        return
    if not levels:
        check.add(where, "there must be at least one level")
        return
    numbers = _level_numbers(check, levels, where)
    top = max(numbers.values(), default=0)
    for index, raw in enumerate(levels):
        _check_level(check, raw, f"{where}[{index}]", numbers.get(index) == top)


def _level_numbers(check: _Check, levels: list[Any], where: str) -> dict[int, int]:
    """The valid level numbers by list index; duplicates and gaps are reported."""
    numbers: dict[int, int] = {}
    for index, raw in enumerate(levels):
        if isinstance(raw, dict) and "level" in raw:
            path = f"{where}[{index}].level"
            number = check.positive(raw["level"], path)
            first = next((i for i, n in numbers.items() if n == number), None)
            if first is not None:
                check.add(path, f"level {number} is given twice (also {where}[{first}])")
            elif number is not None:
                numbers[index] = number
    expected = set(range(1, max(numbers.values(), default=0) + 1))
    for missing in sorted(expected - set(numbers.values())):
        check.add(where, f"level {missing} is missing (numbered 1, 2, 3, … with none missing)")
    return numbers


def _check_level(check: _Check, value: Any, where: str, is_last: bool) -> None:
    data = check.mapping(value, where, LEVEL_KEYS, LEVEL_OPTIONAL_KEYS)
    if data is None:
        return
    _field(check, data, where, "name", _Check.text)
    for key in ("raiser_roles", "responder_roles"):
        _field(check, data, where, key, _check_roles)
    _field(check, data, where, "copy_partnership", _Check.flag)
    for prefix in ("", "urgent_"):
        _check_timescales(check, data, where, prefix)
    on_lapse = _field(check, data, where, "on_lapse", _check_on_lapse)
    _check_lapse(check, data, where, on_lapse, is_last)
    _check_provenance(check, data, where, LEVEL_NEEDS_PROVENANCE)


def _check_roles(check: _Check, value: Any, where: str) -> None:
    roles = check.items(value, where)
    if roles is None:
        return
    if not roles:
        check.add(where, "must name at least one role")
    known = [role.value for role in Role]
    for index, role in enumerate(roles):
        if role not in known:
            check.add(f"{where}[{index}]", f"{_show(role)} is not a role ({', '.join(known)})")


def _check_timescales(check: _Check, data: Mapping[Any, Any], where: str, prefix: str) -> None:
    acknowledge = _field(check, data, where, f"{prefix}acknowledge_due", _Check.duration)
    due = _field(check, data, where, f"{prefix}response_due", _Check.duration)
    reminders = _field(check, data, where, f"{prefix}reminders", _check_durations) or []
    if due is None:
        return
    due_key = f"{prefix}response_due"
    if acknowledge is not None and _is_after(acknowledge, due):
        check.add(
            _join(where, f"{prefix}acknowledge_due"),
            f'"{acknowledge}" is after {due_key} ({due}): the acknowledgement is due no later '
            "than the response",
        )
    for index, reminder in enumerate(reminders):
        problem = _reminder_problem(reminder, due, due_key) if reminder else ""
        if problem:
            check.add(f"{_join(where, prefix + 'reminders')}[{index}]", problem)


def _is_after(first: Duration, second: Duration) -> bool:
    return first.unit is second.unit and first.amount > second.amount


def _check_durations(check: _Check, value: Any, where: str) -> list[Duration | None] | None:
    items = check.items(value, where)
    if items is None:
        return None
    durations = [check.duration(item, f"{where}[{index}]") for index, item in enumerate(items)]
    for index, duration in enumerate(durations):
        if duration is not None and duration in durations[:index]:
            check.add(f"{where}[{index}]", f'"{duration}" is given twice')
    return durations


def _reminder_problem(reminder: Duration, due: Duration, due_key: str) -> str:
    if reminder.unit is not due.unit:
        return (
            f'"{reminder}" is in {reminder.unit} but {due_key} ({due}) is in {due.unit}: '
            "a reminder must use the same unit as the due time"
        )
    if reminder.amount >= due.amount:
        return (
            f'"{reminder}" is at or after the due time: a reminder must be shorter than '
            f"{due_key} ({due})"
        )
    return ""


def _check_on_lapse(check: _Check, value: Any, where: str) -> OnLapse | None:
    text = check.text(value, where)
    if text is None:
        return None
    if text in {lapse.value for lapse in OnLapse}:
        return OnLapse(text)
    allowed = ", ".join(f'"{lapse.value}"' for lapse in OnLapse)
    check.add(where, f"{_show(text)} is not one of {allowed}")
    return None


def _check_lapse(
    check: _Check, data: Mapping[Any, Any], where: str, on_lapse: OnLapse | None, is_last: bool
) -> None:
    if is_last and on_lapse in (OnLapse.ESCALATE, OnLapse.PROMPT):
        check.add(
            _join(where, "on_lapse"),
            f'"{on_lapse}" on the last level (level {data.get("level")}): there is no higher '
            'level to escalate to; use "stay"',
        )
    if "overdue_reminders" not in data:
        return
    if on_lapse is not None and on_lapse is not OnLapse.STAY:
        check.add(
            _join(where, "overdue_reminders"),
            f'only allowed when on_lapse is "stay" (this level\'s on_lapse is "{on_lapse}")',
        )
    _check_overdue(check, data["overdue_reminders"], _join(where, "overdue_reminders"))


def _check_overdue(check: _Check, value: Any, where: str) -> None:
    data = check.mapping(value, where, OVERDUE_KEYS)
    if data is not None:
        _field(check, data, where, "every", _Check.duration)
        _field(check, data, where, "max", _Check.positive)


_TOP_READERS: dict[str, _Reader] = {
    "id": _pattern(ID_PATTERN, 'lower-case letters, digits, "-" and "_", starting with a letter'),
    "version": _Check.positive,
    "name": _Check.text,
    "partnership": _pattern(ID_PATTERN, 'lower-case letters, digits, "-" and "_"'),
    "reference_prefix": _pattern(PREFIX_PATTERN, "2 to 8 capital letters"),
    "source": _Check.text,
    "business_hours": _check_business_hours,
    "levels_of_need": _check_levels_of_need,
    "raiser_decision_reminder": _Check.duration,
    "outcome_check": _check_outcome_check,
    "immediate_risk": _check_immediate_risk,
    "levels": _check_levels,
}


# --- Building the frozen protocol (only from data that passed every check) -------------------


def _build_protocol(data: dict[str, Any], path: Path, closures: ClosuresFile | None) -> Protocol:
    partnership: str = data["partnership"]
    return Protocol(
        id=data["id"],
        version=data["version"],
        name=data["name"],
        partnership=partnership,
        reference_prefix=data["reference_prefix"],
        source_file=path.name,
        business_hours=_build_hours(data["business_hours"]),
        levels=tuple(sorted((_build_level(raw) for raw in data["levels"]), key=_number)),
        levels_of_need=dict(sorted(data["levels_of_need"].items())),
        raiser_decision_reminder=Duration.parse(data["raiser_decision_reminder"]),
        outcome_check=OutcomeCheck(*(_durations(data["outcome_check"], OUTCOME_CHECK_KEYS))),
        immediate_risk=tuple(RiskContact(**_pick(c, RISK_KEYS)) for c in data["immediate_risk"]),
        provenance={**_texts(data["provenance"]), SOURCE_KEY: data[SOURCE_KEY]},
        closures=closures.for_partnership(partnership) if closures else Closures(),
    )  # fmt: skip


def _durations(data: Mapping[str, Any], keys: Sequence[str]) -> list[Duration]:
    return [Duration.parse(data[key]) for key in keys]


def _pick(data: Mapping[str, Any], keys: Sequence[str]) -> dict[str, Any]:
    return {key: data[key] for key in keys}


def _number(level: Level) -> int:
    return level.number


def _texts(entries: Mapping[Any, Any]) -> dict[str, str]:
    return {str(key): str(value) for key, value in entries.items()}


def _build_hours(days: Mapping[str, str]) -> BusinessHours:
    return BusinessHours({WEEKDAYS.index(name): _parse_hours(text) for name, text in days.items()})


def _build_level(data: dict[str, Any]) -> Level:
    overdue = data.get("overdue_reminders")
    return Level(
        number=data["level"],
        name=data["name"],
        raiser_roles=tuple(Role(role) for role in data["raiser_roles"]),
        responder_roles=tuple(Role(role) for role in data["responder_roles"]),
        copy_partnership=data["copy_partnership"],
        normal=_build_timescales(data, ""),
        urgent=_build_timescales(data, "urgent_"),
        on_lapse=OnLapse(data["on_lapse"]),
        overdue_reminders=None
        if overdue is None
        else OverdueReminders(Duration.parse(overdue["every"]), overdue["max"]),
        provenance=_texts(data["provenance"]),
    )


def _build_timescales(data: Mapping[str, Any], prefix: str) -> Timescales:
    reminders = sorted((Duration.parse(text) for text in data[f"{prefix}reminders"]), reverse=True)
    return Timescales(
        acknowledge_due=Duration.parse(data[f"{prefix}acknowledge_due"]),
        response_due=Duration.parse(data[f"{prefix}response_due"]),
        reminders=tuple(reminders),
    )


def _read_protocol(path: Path, closures: ClosuresFile | None) -> tuple[Protocol | None, list[str]]:
    check = _Check(path.name)
    data = _read_yaml(path, check)
    if data is _UNREADABLE:
        return None, check.problems
    _check_protocol(check, data)
    if check.problems:
        return None, check.problems
    return _build_protocol(data, path, closures), []


def load_protocol_file(path: Path, closures: ClosuresFile | None = None) -> Protocol:
    """One protocol file, checked completely; raises ProtocolError listing every problem."""
    protocol, problems = _read_protocol(Path(path), closures)
    if protocol is None:
        raise ProtocolError(problems)
    return protocol


# --- The closures file -----------------------------------------------------------------------


def _check_closures(check: _Check, data: Any) -> None:
    top = _root(check, data, CLOSURES_KEYS)
    if top is None:
        return
    _field(check, top, "", "bank_holidays", _check_bank_holidays)
    partnerships = _field(check, top, "", "partnerships", _Check.table) or {}
    for name, entries in partnerships.items():
        _check_entries(check, entries, _join("partnerships", name))


def _check_bank_holidays(check: _Check, value: Any, where: str) -> None:
    data = check.mapping(value, where, BANK_HOLIDAY_KEYS, BANK_HOLIDAY_OPTIONAL_KEYS)
    if data is None:
        return
    for key in ("source", "reviewed_source"):
        _field(check, data, where, key, _Check.text)
    if data.get("reviewed_until") is not None:
        _field(check, data, where, "reviewed_until", _Check.day)
    added = _field(check, data, where, "add", _check_entries) or []
    removed = _field(check, data, where, "remove", _check_entries) or []
    for day in sorted(set(added) & set(removed)):
        check.add(where, f"{day} is both added and removed")


def _check_entries(check: _Check, value: Any, where: str) -> list[date]:
    """A list (or nothing) of {date, name, source}; returns the valid dates."""
    entries = [] if value is None else check.items(value, where) or []
    days: list[date] = []
    for index, raw in enumerate(entries):
        path = f"{where}[{index}]"
        entry = check.mapping(raw, path, CLOSURE_ENTRY_KEYS)
        if entry is None:
            continue
        for key in ("name", "source"):
            _field(check, entry, path, key, _Check.text)
        day = _field(check, entry, path, "date", _Check.day)
        if day in days:
            check.add(_join(path, "date"), f"{day} is listed twice")
        elif day is not None:
            days.append(day)
    return days


def _build_closures(data: dict[str, Any]) -> ClosuresFile:
    bank = data["bank_holidays"]
    reviewed = bank["reviewed_until"]
    return ClosuresFile(
        bank_holiday_extra=_build_days(bank["add"]),
        bank_holiday_removed=frozenset(_build_days(bank["remove"])),
        reviewed_until=None if reviewed is None else _parse_date(reviewed),
        partnership_closures={
            str(name): _build_days(entries) for name, entries in data["partnerships"].items()
        },
    )


def _build_days(entries: list[dict[str, Any]] | None) -> dict[date, str]:
    return {_parse_date(entry["date"]): entry["name"] for entry in entries or []}


def _read_closures(path: Path) -> tuple[ClosuresFile | None, list[str]]:
    check = _Check(path.name)
    data = _read_yaml(path, check)
    if data is _UNREADABLE:
        return None, check.problems
    _check_closures(check, data)
    if check.problems:
        return None, check.problems
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
    directory: Path | None = None, files: list[Path] | None = None
) -> ProtocolRegistry:
    """Every protocol in `directory` (default: the shipped workflows) or in `files`.

    `closures.yaml` among them is the closures file. Raises ProtocolError listing every
    problem in every file, and across files.
    """
    paths = _registry_paths(directory, files)
    protocol_paths = [path for path in paths if path.name != CLOSURES_FILE]
    if not protocol_paths:
        where = directory if directory is not None else workflows_dir()
        raise ProtocolError([f"{where}: no protocol files (*.yaml) found"])
    closures, problems = _load_closures_of(paths)
    protocols, file_problems = _read_protocols(protocol_paths, closures)
    problems += file_problems + _registry_problems(protocols)
    if closures is not None and not file_problems:
        problems += _closures_problems(CLOSURES_FILE, closures, {p.partnership for p in protocols})
    if problems:
        raise ProtocolError(problems)
    return ProtocolRegistry(protocols, closures)


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


# --- Describing a protocol -------------------------------------------------------------------


def describe(protocol: Protocol) -> str:
    """A human-readable account of `protocol`, every value with its provenance, for
    `escalation workflows show ID`; it ends with the values still to confirm."""
    sections = [
        _describe_header(protocol),
        _describe_calendar(protocol),
        *(_describe_level(protocol, level) for level in protocol.levels),
        _describe_after_response(protocol),
        _describe_risk(protocol),
        _describe_to_confirm(protocol),
    ]
    return "\n\n".join("\n".join(lines) for lines in sections) + "\n"


def _with_source(label: str, value: str, provenance: Mapping[str, str], key: str) -> list[str]:
    lines = [f"  {label}: {value}"]
    if key in provenance:
        lines.append(f"      provenance: {provenance[key]}")
    return lines


def _describe_header(protocol: Protocol) -> list[str]:
    return [
        protocol.name,
        f"  Protocol {protocol.id} version {protocol.version} ({protocol.key}), "
        f"file {protocol.source_file}",
        f"  Partnership: {protocol.partnership}; challenge references look like "
        f"{protocol.reference_prefix}-2026-00042",
        f"  Source: {protocol.provenance.get(SOURCE_KEY, 'not recorded')}",
    ]


def _describe_calendar(protocol: Protocol) -> list[str]:
    closures, provenance = protocol.closures, protocol.provenance
    reviewed = closures.reviewed_until or "never (set reviewed_until in closures.yaml)"
    hours, needs = _hours_text(protocol.business_hours), _needs_text(protocol.levels_of_need)
    return [
        "Working days and hours (Europe/London)",
        *_with_source("Business hours", hours, provenance, "business_hours"),
        *_with_source("Levels of need", needs, provenance, "levels_of_need"),
        f"  Not working days: England & Wales bank holidays, plus {len(closures.extra)} listed "
        f"closure or extra day(s), minus {len(closures.removed)} removed; holiday data reviewed "
        f"until {reviewed}",
    ]  # fmt: skip


def _hours_text(hours: BusinessHours) -> str:
    """E.g. "Monday to Thursday 09:00-17:00; Friday 09:00-16:00"."""
    groups: list[tuple[list[int], tuple[time, time]]] = []
    for day in sorted(hours.days):
        span = hours.days[day]
        if groups and groups[-1][1] == span and groups[-1][0][-1] == day - 1:
            groups[-1][0].append(day)
        else:
            groups.append(([day], span))
    return "; ".join(f"{_days_text(days)} {o:%H:%M}-{c:%H:%M}" for days, (o, c) in groups)


def _days_text(days: list[int]) -> str:
    first, last = WEEKDAYS[days[0]].capitalize(), WEEKDAYS[days[-1]].capitalize()
    return first if len(days) == 1 else f"{first} to {last}"


def _needs_text(needs: Mapping[int, str]) -> str:
    return ", ".join(f"{number} {label}" for number, label in needs.items())


def _reminders_text(reminders: Sequence[Duration]) -> str:
    if not reminders:
        return "none"
    return ", ".join(str(reminder) for reminder in reminders) + " before the due time"


def _overdue_text(overdue: OverdueReminders | None) -> str:
    if overdue is None:
        return "none"
    return f"every {overdue.every} after the due time, at most {overdue.max}"


def _lapse_text(level: Level) -> str:
    after = level.number + 1
    if level.on_lapse is OnLapse.ESCALATE:
        return (
            f"escalate automatically to level {after}, emailing both sides' level {after} "
            "contacts and the raiser"
        )
    if level.on_lapse is OnLapse.PROMPT:
        return f"ask the raiser and their manager to confirm escalation to level {after}"
    return f"stay at level {level.number}, overdue"


_LEVEL_VALUES: dict[str, Callable[[Level], str]] = {
    "name": lambda level: level.name,
    "raiser_roles": lambda level: ", ".join(level.raiser_roles),
    "responder_roles": lambda level: ", ".join(level.responder_roles),
    "copy_partnership": lambda level: "yes" if level.copy_partnership else "no",
    "acknowledge_due": lambda level: str(level.normal.acknowledge_due),
    "response_due": lambda level: str(level.normal.response_due),
    "reminders": lambda level: _reminders_text(level.normal.reminders),
    "urgent_acknowledge_due": lambda level: str(level.urgent.acknowledge_due),
    "urgent_response_due": lambda level: str(level.urgent.response_due),
    "urgent_reminders": lambda level: _reminders_text(level.urgent.reminders),
    "on_lapse": lambda level: level.on_lapse.value,
    "overdue_reminders": lambda level: _overdue_text(level.overdue_reminders),
}
_LEVEL_LABELS = {
    "raiser_roles": "Raiser side (roles emailed)",
    "responder_roles": "Responder side (roles emailed)",
    "copy_partnership": "Partnership business unit copied",
    "acknowledge_due": "Acknowledge within",
    "response_due": "Response due within",
    "reminders": "Reminders",
    "urgent_acknowledge_due": "Urgent: acknowledge within",
    "urgent_response_due": "Urgent: response due within",
    "urgent_reminders": "Urgent: reminders",
}


def _describe_level(protocol: Protocol, level: Level) -> list[str]:
    lines = [f"Level {level.number}: {level.name}"]
    for key, label in _LEVEL_LABELS.items():
        lines += _with_source(label, _LEVEL_VALUES[key](level), level.provenance, key)
    lines += _with_source("If unanswered", _lapse_text(level), level.provenance, "on_lapse")
    if level.overdue_reminders is not None:
        overdue = _overdue_text(level.overdue_reminders)
        lines += _with_source("Overdue reminders", overdue, level.provenance, "overdue_reminders")
    return lines


def _describe_after_response(protocol: Protocol) -> list[str]:
    check = protocol.outcome_check
    return [
        "After a response and after resolution",
        *_with_source(
            "Raiser decision reminder",
            f"if the raiser neither accepts nor escalates within "
            f"{protocol.raiser_decision_reminder} of a response, they are reminded (the case "
            "does not escalate on its own)",
            protocol.provenance, "raiser_decision_reminder",
        ),
        *_with_source(
            "Outcome check",
            f'{check.ask_after} after resolution the raiser is asked "has the child\'s situation '
            f'improved?"; no answer within {check.answer_due}: one reminder; then closed as '
            f'"outcome not confirmed" {check.close_after_reminder} after the reminder',
            protocol.provenance, "outcome_check",
        ),
    ]  # fmt: skip


def _describe_risk(protocol: Protocol) -> list[str]:
    lines = ["Immediate risk of significant harm is never an escalation: phone"]
    for contact in protocol.immediate_risk:
        lines.append(f"  {contact.label}: {contact.phone} ({contact.hours})")
        lines.append(f"      source: {contact.source}")
    return lines


_TOP_VALUES: dict[str, Callable[[Protocol], str]] = {
    "business_hours": lambda p: _hours_text(p.business_hours),
    "levels_of_need": lambda p: _needs_text(p.levels_of_need),
    "raiser_decision_reminder": lambda p: str(p.raiser_decision_reminder),
    "outcome_check": lambda p: (
        f"ask after {p.outcome_check.ask_after}, answer due {p.outcome_check.answer_due}, "
        f"closed {p.outcome_check.close_after_reminder} after the reminder"
    ),
}


def _to_confirm(protocol: Protocol) -> list[tuple[str, str, str]]:
    """(what, value, provenance) for every value whose provenance starts with "default"."""
    found = [
        (key.replace("_", " "), _value_of(_TOP_VALUES, key, protocol), text)
        for key, text in protocol.provenance.items()
    ]
    for level in protocol.levels:
        label = f"level {level.number} "
        found += [
            (label + key.replace("_", " "), _value_of(_LEVEL_VALUES, key, level), text)
            for key, text in level.provenance.items()
        ]
    return [item for item in found if item[2].strip().lower().startswith("default")]


def _value_of(shown: Mapping[str, Callable[[_T], str]], key: str, item: _T) -> str:
    return shown[key](item) if key in shown else ""


def _describe_to_confirm(protocol: Protocol) -> list[str]:
    items = _to_confirm(protocol)
    if not items:
        return ["To confirm with the partnership: nothing (every value has a source)"]
    lines = ["To confirm with the partnership:"]
    for what, value, text in items:
        shown = f" ({value})" if value else ""
        lines.append(f"  - {what}{shown}: {text}")
    return lines
