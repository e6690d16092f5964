"""Checking the provenance of a protocol file's values, in the file's format (rules.checks).

Format 1 (no `format:`): each entry is text, and text beginning "default" marks a value still to
confirm. Format 2: each entry is a mapping with a `source` (document, section, address) and/or
`status: to confirm`, and an optional `note`; a value with neither is an error
(workflows/README.md, "Provenance").
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from escalation.rules.model import FORMATS, TO_CONFIRM
from escalation.rules.reading import Check, did_you_mean, join, read_field, show


def check_format(check: Check, value: Any, where: str) -> int | None:
    if isinstance(value, int) and not isinstance(value, bool) and value in FORMATS:
        return value
    formats = " or ".join(str(f) for f in FORMATS)
    quoted = (
        ": write it without quotes" if isinstance(value, str) and value.strip().isdigit() else ""
    )
    check.add(where, f"{show(value)} is not a format this engine reads ({formats}){quoted}")
    return None


def check_provenance(
    check: Check, data: Mapping[Any, Any], where: str, needed: Sequence[str], fmt: int,
    forbidden: Sequence[str] = (),
) -> None:  # fmt: skip
    """Every present field in `needed` has a source; every entry names a present field."""
    path = join(where, "provenance")
    entries = read_field(check, data, where, "provenance", Check.table)
    if entries is None:
        return
    fields = [key for key in data if key != "provenance" and key not in forbidden]
    for key, entry in entries.items():
        if key not in fields:
            message = f'there is no field "{key}" here to give a source for'
            check.add(join(path, key), message + did_you_mean(key, fields))
        elif fmt == 1 and isinstance(entry, dict):
            check.add(join(path, key), FORMAT_2_ENTRY)
        elif fmt == 1:
            check.text(entry, join(path, key))
        else:
            check_entry(check, entry, join(path, key))
    for key in needed:
        if key in data and key not in entries:
            check.add(join(path, key), _NO_SOURCE if fmt == 1 else _NO_SOURCE_2)


_NO_SOURCE = 'missing: say where the value comes from, or "default — confirm with the partnership"'
_NO_SOURCE_2 = "missing: give its `source` (document, section, address) or `status: to confirm`"
FORMAT_2_ENTRY = (
    "must be text in a file of format 1; a `source:` or `status:` entry is format 2: put "
    "`format: 2` at the top of the file (workflows/README.md, Moving a file to format 2)"
)
_WRITE_2 = "in format 2 write `source: {document: …, section: …}` or `status: to confirm`"
PROVENANCE_KEYS = ("source", "status", "note")
SOURCE_KEYS = ("document",)
SOURCE_OPTIONAL_KEYS = ("section", "address")
_ADDRESS = re.compile(r"^https?://[^\s/]+\.[^\s]+$")


def check_entry(check: Check, value: Any, where: str) -> None:
    """Format 2: `source: {document, section, address}` and/or `status: to confirm`, and an
    optional `note`; never neither."""
    if isinstance(value, str):
        check.add(where, f"{show(value)} is text, as in format 1: {_WRITE_2}")
        return
    entry = check.mapping(value, where, (), PROVENANCE_KEYS)
    if entry is None:
        return
    if "source" not in entry and "status" not in entry:
        check.add(where, _NO_SOURCE_2.removeprefix("missing: "))
    if "status" in entry and entry["status"] != TO_CONFIRM:
        check.add(
            join(where, "status"),
            f'{show(entry["status"])} is not a status: the only one is "{TO_CONFIRM}" (a value '
            "with a source needs none)",
        )
    read_field(check, entry, where, "note", Check.text)
    read_field(check, entry, where, "source", _check_source)


def _check_source(check: Check, value: Any, where: str) -> None:
    if isinstance(value, str):
        check.add(where, f"{show(value)} is text: write `source: {{document: {value}}}`")
        return
    source = check.mapping(value, where, SOURCE_KEYS, SOURCE_OPTIONAL_KEYS)
    if source is None:
        return
    for key in (*SOURCE_KEYS, "section"):
        read_field(check, source, where, key, Check.text)
    address = read_field(check, source, where, "address", Check.text)
    if address is not None and not _ADDRESS.fullmatch(address.strip()):
        check.add(
            join(where, "address"),
            f"{show(address)} is not a web address like https://www.example.gov.uk/protocol.pdf",
        )
