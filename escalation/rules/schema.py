"""A JSON Schema for protocol files, generated from the checks (`escalation workflows schema`).

An editor with a YAML language server checks a protocol file against it as a business manager
types (workflows/README.md, "Checking a file as you type"). It is built from the same key lists,
patterns and vocabularies that `rules.checks` enforces, so the two cannot drift apart; it says
less than the checks do (a reminder shorter than its due time, levels numbered without a gap,
a source for every number) and the engine's checks remain the authority. Pure.
"""

from __future__ import annotations

import re
from typing import Any

from escalation.rules import checks, provenance
from escalation.rules.model import TO_CONFIRM, OnLapse, Role
from escalation.rules.reading import MAX_NUMBER
from escalation.rules.workdays import WEEKDAYS

SCHEMA_ID = "urn:escalation:protocol-file"  # not an address: the schema is printed, not served

# Duration.parse's grammar, spelled without flags (JSON Schema patterns are ECMA-262 and have
# none): a whole number of 1 or more, then "working day(s)" or "working hour(s)", any case.
DURATION_PATTERN = (
    r"^\s*0*[1-9][0-9]*\s+[Ww][Oo][Rr][Kk][Ii][Nn][Gg]\s+"
    r"([Dd][Aa][Yy][Ss]?|[Hh][Oo][Uu][Rr][Ss]?)\s*$"
)
FOLLOW_UP_PATTERN = (
    r"^\s*[Pp][Rr][Oo][Mm][Pp][Tt]\s*,\s*[Tt][Hh][Ee][Nn]\s+"
    r"([Ee][Ss][Cc][Aa][Ll][Aa][Tt][Ee]|[Aa][Ll][Ee][Rr][Tt]\s+[Tt][Hh][Ee]\s+"
    r"[Pp][Aa][Rr][Tt][Nn][Ee][Rr][Ss][Hh][Ii][Pp])\s+[Aa][Ff][Tt][Ee][Rr]\s+"
    + DURATION_PATTERN.removeprefix("^\\s*")
)
HOURS_PATTERN = r"^\s*\d{2}:\d{2}\s*-\s*\d{2}:\d{2}\s*$"
ADDRESS_PATTERN = r"^\s*https?://[^\s/]+\.\S+\s*$"

_DESCRIBE = {
    "format": "The file's format: 2 gives each provenance a structured source or status; "
    "without it, format 1",
    "id": "The protocol's id, the same for every version, e.g. devon",
    "version": "This version of the id; a version in use is never edited in place",
    "name": "The protocol's name as the partnership calls it",
    "partnership": "The partnership it belongs to, as named in closures.yaml",
    "reference_prefix": "Challenge references look like DSCP-2026-00042",
    "source": "Where the protocol as a whole comes from",
    "business_hours": "Opening hours by weekday, e.g. monday: 09:00-17:00",
    "levels_of_need": "The partnership's levels of need, by number",
    "raiser_decision_reminder": "After a response, the raiser is reminded if they neither "
    "accept nor escalate within this",
    "outcome_check": "When the raiser is asked whether the child's situation improved",
    "provenance": "Where each value comes from, by the key of the value",
    "immediate_risk": "The phone numbers for immediate risk of significant harm",
    "levels": "The escalation levels, 1 (practitioners) upwards",
    "level": "The level's number: 1, 2, 3, … with none missing",
    "raiser_roles": "Contact roles on the raiser's side at this level",
    "responder_roles": "Contact roles on the responder's side at this level",
    "copy_partnership": "Whether the partnership business unit is copied at this level",
    "acknowledge_due": "The responder acknowledges within this",
    "response_due": "The responder responds within this",
    "reminders": "Reminders before the response is due, e.g. [2 working days, 1 working day]",
    "urgent_acknowledge_due": "As acknowledge_due, for urgent challenges",
    "urgent_response_due": "As response_due, for urgent challenges",
    "urgent_reminders": "As reminders, for urgent challenges",
    "on_lapse": "What happens when the response deadline passes unanswered",
    "overdue_reminders": "Reminders while an unanswered level stays overdue (on_lapse: stay)",
}


def _pattern(compiled: re.Pattern[str]) -> str:
    return compiled.pattern


def _text() -> dict[str, Any]:
    return {"type": "string", "pattern": r"\S"}


def _positive() -> dict[str, Any]:
    return {"type": "integer", "minimum": 1, "maximum": MAX_NUMBER}


def _duration() -> dict[str, Any]:
    return {
        "type": "string",
        "pattern": DURATION_PATTERN,
        "description": 'A duration like "5 working days" or "4 working hours"',
    }


def _durations() -> dict[str, Any]:
    return {"type": "array", "items": _duration(), "uniqueItems": True}


def _closed(properties: dict[str, Any], required: tuple[str, ...], **more: Any) -> dict[str, Any]:
    described = {
        key: ({"description": _DESCRIBE[key]} | value if key in _DESCRIBE else value)
        for key, value in properties.items()
    }
    return {
        "type": "object",
        "properties": described,
        "required": list(required),
        "additionalProperties": False,
        **more,
    }


def _provenance(fmt: int) -> dict[str, Any]:
    if fmt == 1:
        entry: dict[str, Any] = {
            **_text(),
            "description": 'Where the value comes from; text beginning "default" marks it as '
            "still to confirm with the partnership",
        }
    else:
        entry = {"$ref": "#/$defs/provenance_entry"}
    return {"type": "object", "additionalProperties": entry}


def _level(fmt: int) -> dict[str, Any]:
    roles = {
        "type": "array",
        "items": {"enum": [role.value for role in Role]},
        "minItems": 1,
    }
    properties: dict[str, Any] = {
        "level": _positive(),
        "name": _text(),
        "raiser_roles": roles,
        "responder_roles": roles,
        "copy_partnership": {"type": "boolean"},
        "acknowledge_due": _duration(),
        "response_due": _duration(),
        "reminders": _durations(),
        "urgent_acknowledge_due": _duration(),
        "urgent_response_due": _duration(),
        "urgent_reminders": _durations(),
        "on_lapse": {
            "anyOf": [
                {"enum": [lapse.value for lapse in OnLapse]},
                {"type": "string", "pattern": FOLLOW_UP_PATTERN},
            ]
        },
        "provenance": _provenance(fmt),
        "overdue_reminders": _closed(
            {"every": _duration(), "max": _positive()}, checks.OVERDUE_KEYS
        ),
    }
    return _closed(properties, checks.LEVEL_KEYS)


def _protocol(fmt: int) -> dict[str, Any]:
    properties: dict[str, Any] = {
        "format": {"const": fmt} if fmt != 1 else {"enum": [1]},
        "id": {"type": "string", "pattern": _pattern(checks.ID_PATTERN)},
        "version": _positive(),
        "name": _text(),
        "partnership": {"type": "string", "pattern": _pattern(checks.ID_PATTERN)},
        "reference_prefix": {"type": "string", "pattern": _pattern(checks.PREFIX_PATTERN)},
        "source": _text(),
        "business_hours": {
            "type": "object",
            "propertyNames": {"enum": list(WEEKDAYS)},
            "additionalProperties": {"type": "string", "pattern": HOURS_PATTERN},
            "minProperties": 1,
        },
        "levels_of_need": {
            "type": "object",
            "propertyNames": {"pattern": r"^[1-9][0-9]*$"},
            "additionalProperties": _text(),
            "minProperties": 1,
        },
        "raiser_decision_reminder": _duration(),
        "outcome_check": _closed(
            {key: _duration() for key in checks.OUTCOME_CHECK_KEYS}, checks.OUTCOME_CHECK_KEYS
        ),
        "provenance": _provenance(fmt),
        "immediate_risk": {
            "type": "array",
            "minItems": 1,
            "items": _closed(
                {
                    "label": _text(),
                    "phone": {"type": "string", "pattern": _pattern(checks.PHONE_PATTERN)},
                    "hours": _text(),
                    "source": _text() if fmt == 1 else {"$ref": "#/$defs/provenance_entry"},
                },
                checks.RISK_KEYS,
            ),
        },
        "levels": {"type": "array", "minItems": 1, "items": {"$ref": f"#/$defs/level_{fmt}"}},
    }
    required = (*checks.TOP_KEYS, "format") if fmt != 1 else checks.TOP_KEYS
    return _closed(properties, required)


def protocol_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of a protocol file, formats 1 and 2."""
    source = _closed(
        {
            "document": {**_text(), "description": "The document's title"},
            "section": {**_text(), "description": "Its section, paragraph or page"},
            "address": {
                "type": "string",
                "pattern": ADDRESS_PATTERN,
                "description": "An http(s) address where it can be read",
            },
        },
        provenance.SOURCE_KEYS,
    )
    entry = _closed(
        {
            "source": source,
            "status": {"const": TO_CONFIRM, "description": "Not yet confirmed by the partnership"},
            "note": _text(),
        },
        (),
        anyOf=[{"required": ["source"]}, {"required": ["status"]}],
    )
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_ID,
        "title": "Case Resolution Protocol file (escalation)",
        "description": "A partnership's protocol, as workflows/README.md describes it. "
        "`escalation workflows validate` checks more than this schema can and has the last word.",
        "if": {"required": ["format"], "properties": {"format": {"const": 2}}},
        "then": {"$ref": "#/$defs/protocol_2"},
        "else": {"$ref": "#/$defs/protocol_1"},
        "$defs": {
            "protocol_1": _protocol(1),
            "protocol_2": _protocol(2),
            "level_1": _level(1),
            "level_2": _level(2),
            "provenance_entry": entry,
        },
    }
