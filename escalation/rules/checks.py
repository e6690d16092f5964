"""Checking protocol (workflow) files and the closures file (format: workflows/README.md).

Owns what a valid file looks like: the allowed and required keys at every level, the id and
reference-prefix patterns, and every `_check_*` rule (PROTOCOL.md §2-§5), each noting its problems
in a `Check` (`escalation.rules.reading`) so that a file's problems are all reported at once.
`check_protocol_file` and `check_closures_file` read and check one file; building the frozen values
from data with no problems is `escalation.rules.registry`'s job.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import date
from pathlib import Path
from typing import Any

from escalation.rules.model import OnLapse, Role, parse_on_lapse
from escalation.rules.provenance import (
    FORMAT_2_ENTRY,
    check_entry,
    check_format,
    check_provenance,
)
from escalation.rules.reading import (
    MAX_NUMBER,
    Check,
    Reader,
    join,
    parse_hours,
    read_checked,
    read_checked_text,
    read_field,
    root_mapping,
    show,
)
from escalation.rules.workdays import WEEKDAYS, Duration

# At most 64 characters: the columns that keep a challenge's protocol id and partnership.
ID_PATTERN = re.compile(r"^[a-z][a-z0-9_-]{0,63}$")
PREFIX_PATTERN = re.compile(r"^[A-Z]{2,8}$")
PHONE_PATTERN = re.compile(r"^\+?[\d ()-]*\d[\d ()-]*\d[\d ()-]*$")

TOP_KEYS = (
    "id", "version", "name", "partnership", "reference_prefix", "source", "business_hours",
    "levels_of_need", "raiser_decision_reminder", "outcome_check", "provenance",
    "immediate_risk", "levels",
)  # fmt: skip
TOP_OPTIONAL_KEYS = ("format",)
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
# Format 2: every rule too, not only the numbers: what happens when a level lapses, and who is
# emailed at each level (who reads about a child is what a data protection officer asks first).
LEVEL_NEEDS_PROVENANCE_2 = (
    *LEVEL_NEEDS_PROVENANCE, "on_lapse", "raiser_roles", "responder_roles", "copy_partnership",
)  # fmt: skip
OUTCOME_CHECK_KEYS = ("ask_after", "answer_due", "close_after_reminder")
OVERDUE_KEYS = ("every", "max")
RISK_KEYS = ("label", "phone", "hours", "source")
CLOSURES_KEYS = ("bank_holidays", "partnerships")
BANK_HOLIDAY_KEYS = ("source", "reviewed_until", "add", "remove")
BANK_HOLIDAY_OPTIONAL_KEYS = ("reviewed_source",)
CLOSURE_ENTRY_KEYS = ("date", "name", "source")
# The protocol-wide `source` text is Protocol.source, not a per-field provenance entry; a
# provenance entry in the file may therefore not name it.
SOURCE_KEY = "source"

_PHONE_HINT = "digits, spaces, brackets and hyphens; + allowed first"


def check_protocol_file(path: Path) -> tuple[Any, list[str]]:
    """The parsed protocol file and every problem in it (build from the data only if none)."""
    return read_checked(path, _check_protocol)


def check_protocol_text(name: str, text: str) -> tuple[Any, list[str]]:
    """As `check_protocol_file`, for a protocol's text held elsewhere (a pinned copy)."""
    return read_checked_text(name, text, _check_protocol)


def check_closures_file(path: Path) -> tuple[Any, list[str]]:
    """The parsed closures file and every problem in it (build from the data only if none)."""
    return read_checked(path, _check_closures)


# --- Checking a protocol file ----------------------------------------------------------------


def _check_protocol(check: Check, data: Any) -> None:
    top = root_mapping(check, data, TOP_KEYS, TOP_OPTIONAL_KEYS)
    if top is None:
        return
    fmt = read_field(check, top, "", "format", check_format) if "format" in top else 1
    if fmt is None:
        return  # a format this engine does not read: its other problems would mislead
    for key, reader in _TOP_READERS.items():
        read_field(check, top, "", key, reader)
    if "immediate_risk" in top:
        _check_immediate_risk(check, top["immediate_risk"], "immediate_risk", fmt)
    if "levels" in top:
        _check_levels(check, top["levels"], "levels", fmt)
    check_provenance(check, top, "", TOP_NEEDS_PROVENANCE, fmt, forbidden=(SOURCE_KEY, "format"))


def _pattern(pattern: re.Pattern[str], explain: str) -> Reader:
    def read(check: Check, value: Any, where: str) -> str | None:
        text = check.text(value, where)
        if text is not None and not pattern.fullmatch(text):
            check.add(where, f"{show(text)} does not match {pattern.pattern} ({explain})")
        return text

    return read


def _check_business_hours(check: Check, value: Any, where: str) -> None:
    days = check.table(value, where)
    if days is None:
        return
    if not days:
        check.add(where, "no open day: give the hours of at least one weekday")
    for name, hours in days.items():
        if name in WEEKDAYS:
            _check_day_hours(check, hours, join(where, name))
        else:
            check.add(
                join(where, name), f"{show(name)} is not a weekday name ({', '.join(WEEKDAYS)})"
            )


def _check_day_hours(check: Check, value: Any, where: str) -> None:
    text = check.text(value, where)
    if text is None:
        return
    try:
        opens, closes = parse_hours(text)
    except ValueError:
        check.add(where, f'"{text}" is not opening and closing times like "09:00-17:00"')
        return
    if opens >= closes:
        check.add(where, f"opening {opens:%H:%M} is not before closing {closes:%H:%M}")


def _check_levels_of_need(check: Check, value: Any, where: str) -> None:
    needs = check.table(value, where)
    if needs is None:
        return
    if not needs:
        check.add(where, "must name at least one level of need")
    for key, label in needs.items():
        if not isinstance(key, int) or isinstance(key, bool) or key <= 0:
            check.add(where, f"key {show(key)} is not a positive whole number")
        elif key > MAX_NUMBER:
            check.add(where, f"key {show(key)} is more than {MAX_NUMBER}")
        else:
            check.text(label, join(where, key))


def _check_outcome_check(check: Check, value: Any, where: str) -> None:
    data = check.mapping(value, where, OUTCOME_CHECK_KEYS)
    if data is not None:
        for key in OUTCOME_CHECK_KEYS:
            read_field(check, data, where, key, Check.duration)


def _check_immediate_risk(check: Check, value: Any, where: str, fmt: int) -> None:
    contacts = check.items(value, where)
    if contacts is None:
        return
    if not contacts:
        check.add(where, "must list at least one contact: every screen and email shows them")
    for index, raw in enumerate(contacts):
        _check_risk_contact(check, raw, f"{where}[{index}]", fmt)


def _check_risk_contact(check: Check, value: Any, where: str, fmt: int) -> None:
    contact = check.mapping(value, where, RISK_KEYS)
    if contact is None:
        return
    for key in ("label", "hours"):
        read_field(check, contact, where, key, Check.text)
    read_field(check, contact, where, "phone", _check_phone)
    hint = ": say where the number comes from"
    if fmt == 1 and isinstance(contact.get("source"), dict):
        check.add(join(where, "source"), FORMAT_2_ENTRY)
    elif fmt == 1:
        read_field(check, contact, where, "source", lambda c, v, w: c.text(v, w, hint))
    else:  # a phone number is a number: sourced, or to confirm, like every other
        read_field(check, contact, where, "source", check_entry)


def _check_phone(check: Check, value: Any, where: str) -> None:
    text = check.text(value, where)
    if text is not None and not PHONE_PATTERN.fullmatch(text.strip()):
        check.add(where, f"{show(text)} is not a phone number ({_PHONE_HINT})")


# --- Checking levels -------------------------------------------------------------------------


def _check_levels(check: Check, value: Any, where: str, fmt: int) -> None:
    levels = check.items(value, where)
    if levels is None:
        return
    if not levels:
        check.add(where, "there must be at least one level")
        return
    numbers = _level_numbers(check, levels, where)
    top = max(numbers.values(), default=0)
    for index, raw in enumerate(levels):
        _check_level(check, raw, f"{where}[{index}]", numbers.get(index) == top, fmt)


def _level_numbers(check: Check, levels: list[Any], where: str) -> dict[int, int]:
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


def _check_level(check: Check, value: Any, where: str, is_last: bool, fmt: int) -> None:
    data = check.mapping(value, where, LEVEL_KEYS, LEVEL_OPTIONAL_KEYS)
    if data is None:
        return
    read_field(check, data, where, "name", Check.text)
    for key in ("raiser_roles", "responder_roles"):
        read_field(check, data, where, key, _check_roles)
    read_field(check, data, where, "copy_partnership", Check.flag)
    for prefix in ("", "urgent_"):
        _check_timescales(check, data, where, prefix)
    on_lapse = read_field(check, data, where, "on_lapse", _check_on_lapse)
    _check_lapse(check, data, where, on_lapse, is_last)
    needed = LEVEL_NEEDS_PROVENANCE if fmt == 1 else LEVEL_NEEDS_PROVENANCE_2
    check_provenance(check, data, where, needed, fmt)


def _check_roles(check: Check, value: Any, where: str) -> None:
    roles = check.items(value, where)
    if roles is None:
        return
    if not roles:
        check.add(where, "must name at least one role")
    known = [role.value for role in Role]
    for index, role in enumerate(roles):
        if role not in known:
            check.add(f"{where}[{index}]", f"{show(role)} is not a role ({', '.join(known)})")


def _check_timescales(check: Check, data: Mapping[Any, Any], where: str, prefix: str) -> None:
    acknowledge = read_field(check, data, where, f"{prefix}acknowledge_due", Check.duration)
    due = read_field(check, data, where, f"{prefix}response_due", Check.duration)
    reminders = read_field(check, data, where, f"{prefix}reminders", _check_durations) or []
    if due is None:
        return
    due_key = f"{prefix}response_due"
    if acknowledge is not None and _is_after(acknowledge, due):
        check.add(
            join(where, f"{prefix}acknowledge_due"),
            f'"{acknowledge}" is after {due_key} ({due}): the acknowledgement is due no later '
            "than the response",
        )
    for index, reminder in enumerate(reminders):
        problem = _reminder_problem(reminder, due, due_key) if reminder else ""
        if problem:
            check.add(f"{join(where, prefix + 'reminders')}[{index}]", problem)


def _is_after(first: Duration, second: Duration) -> bool:
    return first.unit is second.unit and first.amount > second.amount


def _check_durations(check: Check, value: Any, where: str) -> list[Duration | None] | None:
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


def _check_on_lapse(check: Check, value: Any, where: str) -> OnLapse | None:
    text = check.text(value, where)
    if text is None:
        return None
    try:
        return parse_on_lapse(text)[0]
    except ValueError as exc:
        check.add(where, str(exc))
        return None


def _check_lapse(
    check: Check, data: Mapping[Any, Any], where: str, on_lapse: OnLapse | None, is_last: bool
) -> None:
    if is_last and on_lapse in (OnLapse.ESCALATE, OnLapse.PROMPT):
        check.add(
            join(where, "on_lapse"),
            f'"{on_lapse}" on the last level (level {data.get("level")}): there is no higher '
            'level to escalate to; use "stay"',
        )
    if "overdue_reminders" not in data:
        return
    if on_lapse is not None and on_lapse is not OnLapse.STAY:
        check.add(
            join(where, "overdue_reminders"),
            f'only allowed when on_lapse is "stay" (this level\'s on_lapse is "{on_lapse}")',
        )
    _check_overdue(check, data["overdue_reminders"], join(where, "overdue_reminders"))


def _check_overdue(check: Check, value: Any, where: str) -> None:
    data = check.mapping(value, where, OVERDUE_KEYS)
    if data is not None:
        read_field(check, data, where, "every", Check.duration)
        read_field(check, data, where, "max", Check.positive)


_TOP_READERS: dict[str, Reader] = {
    "id": _pattern(
        ID_PATTERN, 'at most 64 lower-case letters, digits, "-" and "_", starting with a letter'
    ),
    "version": Check.positive,
    "name": Check.text,
    "partnership": _pattern(ID_PATTERN, 'at most 64 lower-case letters, digits, "-" and "_"'),
    "reference_prefix": _pattern(PREFIX_PATTERN, "2 to 8 capital letters"),
    "source": Check.text,
    "business_hours": _check_business_hours,
    "levels_of_need": _check_levels_of_need,
    "raiser_decision_reminder": Check.duration,
    "outcome_check": _check_outcome_check,
}  # then "immediate_risk" and "levels", read with the file's format


# --- The closures file -----------------------------------------------------------------------


def _check_closures(check: Check, data: Any) -> None:
    top = root_mapping(check, data, CLOSURES_KEYS)
    if top is None:
        return
    read_field(check, top, "", "bank_holidays", _check_bank_holidays)
    partnerships = read_field(check, top, "", "partnerships", Check.table) or {}
    for name, entries in partnerships.items():
        _check_entries(check, entries, join("partnerships", name))


def _check_bank_holidays(check: Check, value: Any, where: str) -> None:
    data = check.mapping(value, where, BANK_HOLIDAY_KEYS, BANK_HOLIDAY_OPTIONAL_KEYS)
    if data is None:
        return
    for key in ("source", "reviewed_source"):
        read_field(check, data, where, key, Check.text)
    if data.get("reviewed_until") is not None:
        read_field(check, data, where, "reviewed_until", Check.day)
    added = read_field(check, data, where, "add", _check_entries) or []
    removed = read_field(check, data, where, "remove", _check_entries) or []
    for day in sorted(set(added) & set(removed)):
        check.add(where, f"{day} is both added and removed")


def _check_entries(check: Check, value: Any, where: str) -> list[date]:
    """A list (or nothing) of {date, name, source}; returns the valid dates."""
    entries = [] if value is None else check.items(value, where) or []
    days: list[date] = []
    for index, raw in enumerate(entries):
        path = f"{where}[{index}]"
        entry = check.mapping(raw, path, CLOSURE_ENTRY_KEYS)
        if entry is None:
            continue
        for key in ("name", "source"):
            read_field(check, entry, path, key, Check.text)
        day = read_field(check, entry, path, "date", Check.day)
        if day in days:
            check.add(join(path, "date"), f"{day} is listed twice")
        elif day is not None:
            days.append(day)
    return days
