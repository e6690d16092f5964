"""The text of `escalation workflows show ID`: a protocol described for a person to check.

Owns `describe(protocol)`: every value in words with its provenance, level by level, the
immediate-risk contacts, and at the end the values still to be confirmed with the partnership
(format 1: provenance text beginning "default"; format 2: `status: to confirm`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import time
from typing import TypeVar

from escalation.rules.model import FollowUp, Level, OnLapse, OverdueReminders, Protocol, Provenance
from escalation.rules.workdays import WEEKDAYS, BusinessHours, Duration

_T = TypeVar("_T")


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


def _with_source(
    label: str, value: str, provenance: Mapping[str, Provenance], key: str
) -> list[str]:
    lines = [f"  {label}: {value}"]
    if key in provenance:
        lines.append(f"      provenance: {provenance[key].text}")
    return lines


def _describe_header(protocol: Protocol) -> list[str]:
    return [
        protocol.name,
        f"  Protocol {protocol.id} version {protocol.version} ({protocol.key}), "
        f"file {protocol.source_file}",
        f"  Partnership: {protocol.partnership}; challenge references look like "
        f"{protocol.reference_prefix}-2026-00042",
        f"  Source: {protocol.source or 'not recorded'}",
        _FORMATS[protocol.format],
    ]


_FORMATS = {
    1: "  File format 1: each provenance is free text, and a value is to confirm when its text "
    'begins with "default". Format 2 gives each a `source` or `status: to confirm` of its own '
    "(workflows/README.md, Moving a file to format 2).",
    2: "  File format 2: each value has a source, or is marked to confirm.",
}


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
    return f"every {overdue.every} after the lapse, at opening, at most {overdue.max}"


def _lapse_text(level: Level) -> str:
    after = level.number + 1
    if level.on_lapse is OnLapse.ESCALATE:
        return (
            f"escalate automatically to level {after}, emailing both sides' level {after} "
            "contacts and the raiser"
        )
    if level.on_lapse is OnLapse.PROMPT:
        asked = f"ask the raiser and their manager to confirm escalation to level {after}"
        follow_up = level.lapse_follow_up
        if follow_up is None:
            return asked
        then = (
            f"escalate to level {after}"
            if follow_up.action is FollowUp.ESCALATE
            else "alert the partnership business unit"
        )
        return f"{asked}; if they have not within {follow_up.after}, {then}"
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
    "on_lapse": lambda level: str(level.lapse_follow_up or level.on_lapse.value),
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
    """(what, value, provenance) for every value still to confirm (Provenance.to_confirm)."""
    found = [
        (key.replace("_", " "), _value_of(_TOP_VALUES, key, protocol), entry)
        for key, entry in protocol.provenance.items()
    ]
    for level in protocol.levels:
        label = f"level {level.number} "
        found += [
            (label + key.replace("_", " "), _value_of(_LEVEL_VALUES, key, level), entry)
            for key, entry in level.provenance.items()
        ]
    listed = [(what, value, entry.text) for what, value, entry in found if entry.to_confirm]
    listed += [
        (f"immediate risk {contact.label}", contact.phone, contact.source)
        for contact in protocol.immediate_risk
        if contact.to_confirm
    ]
    return listed


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
