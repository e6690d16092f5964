"""The directory: organisations and their contacts by role, imported from CSV.

An import is all or nothing: every row is checked first, every problem is reported with its line
number, and only a file with no problem is written, in one transaction. Importing the same file
again changes nothing (organisations are matched by partnership and name, contacts by
organisation, role and email).
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from pathlib import Path

from email_validator import EmailNotValidError, validate_email
from sqlalchemy.orm import Session, sessionmaker

from escalation.casework import store
from escalation.casework.intake import column_length
from escalation.casework.models import Contact, Organisation
from escalation.errors import ImportProblem
from escalation.rules.model import OrgType, Role

COLUMNS = ("organisation", "type", "partnership", "role", "name", "email")
# Each column's limit is its model column's: PostgreSQL refuses a longer value mid-import.
LIMITS = {
    "organisation": column_length(Organisation, "name"),
    "type": column_length(Organisation, "type"),
    "partnership": column_length(Organisation, "partnership"),
    "role": column_length(Contact, "role"),
    "name": column_length(Contact, "name"),
    "email": column_length(Contact, "email"),
}


@dataclass(frozen=True)
class Row:
    line: int
    organisation: str
    type: str
    partnership: str
    role: str
    name: str
    email: str


@dataclass(frozen=True)
class ImportResult:
    organisations_added: int
    contacts_added: int
    rows: int


def read_rows(text: str, source: str, partnerships: list[str]) -> list[Row]:
    """Parse and check every row; raise ImportProblem listing every bad one."""
    reader = csv.DictReader(io.StringIO(text))
    header = [h.strip().lower() for h in (reader.fieldnames or [])]
    missing = [c for c in COLUMNS if c not in header]
    if missing:
        raise ImportProblem(
            f"{source}: line 1: missing column(s) {', '.join(missing)}; "
            f"expected {', '.join(COLUMNS)}"
        )
    reader.fieldnames = header
    rows, problems = [], []
    ended = reader.line_num  # a quoted field can span lines: a row starts after the last ended
    for raw in reader:
        first, ended = ended + 1, reader.line_num
        values = {k: (raw.get(k) or "").strip() for k in COLUMNS}
        found = _row_problems(values, partnerships)
        if found:
            problems += [f"{source}: line {first}: {p}" for p in found]
        else:
            rows.append(Row(first, **values))
    problems += _conflicts(rows, source)
    if problems:
        raise ImportProblem("nothing was imported:\n" + "\n".join(problems))
    return rows


def _row_problems(values: dict[str, str], partnerships: list[str]) -> list[str]:
    problems = [f"{column}: is empty" for column in COLUMNS if not values[column]]
    too_long = [
        f"{column}: is {len(values[column])} characters long; the limit is {LIMITS[column]}"
        for column in COLUMNS
        if len(values[column]) > LIMITS[column]
    ]
    if too_long:  # and not echoed whole in the other problems
        return problems + too_long
    problems += [
        f"{column}: contains a line break or control character; it must be one line"
        for column in COLUMNS
        if any(ord(char) < 32 or ord(char) == 127 for char in values[column])
    ]
    if values["type"] and values["type"] not in OrgType.__members__.values():
        problems.append(
            f"type: {values['type']!r} is not one of {', '.join(t.value for t in OrgType)}"
        )
    if values["role"] and values["role"] not in Role.__members__.values():
        problems.append(
            f"role: {values['role']!r} is not one of {', '.join(r.value for r in Role)}"
        )
    if values["partnership"] and values["partnership"] not in partnerships:
        problems.append(
            f"partnership: {values['partnership']!r} has no protocol "
            f"(known: {', '.join(partnerships)})"
        )
    if values["email"]:
        try:
            values["email"] = validate_email(values["email"], check_deliverability=False).normalized
        except EmailNotValidError as exc:
            problems.append(f"email: {values['email']!r} is not a valid email address ({exc})")
    return problems


def _conflicts(rows: list[Row], source: str) -> list[str]:
    types: dict[tuple[str, str], Row] = {}
    problems = []
    for row in rows:
        key = (row.partnership, row.organisation.casefold())
        first = types.setdefault(key, row)
        if first.type != row.type:
            problems.append(
                f"{source}: line {row.line}: type: {row.organisation!r} is "
                f"{first.type!r} on line {first.line} but {row.type!r} here"
            )
    return problems


def import_csv(
    sessions: sessionmaker[Session], path: Path, partnerships: list[str]
) -> ImportResult:
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise ImportProblem(f"{path}: cannot be read ({exc})") from exc
    return import_text(sessions, text, path.name, partnerships)


def import_text(
    sessions: sessionmaker[Session], text: str, source: str, partnerships: list[str]
) -> ImportResult:
    """Import directory rows (CSV with the header line) in one transaction: all or nothing."""
    rows = read_rows(text, source, partnerships)
    with sessions.begin() as session:
        return _write(session, rows, source)


def _write(session: Session, rows: list[Row], source: str) -> ImportResult:
    orgs_added = contacts_added = 0
    cache: dict[tuple[str, str], Organisation] = {}
    for row in rows:
        key = (row.partnership, row.organisation.casefold())
        org = cache.get(key) or store.organisation_in(session, row.partnership, row.organisation)
        if org is None:
            org = Organisation(name=row.organisation, type=row.type, partnership=row.partnership)
            session.add(org)
            session.flush()
            orgs_added += 1
        elif org.type != row.type:
            raise ImportProblem(
                f"nothing was imported:\n{source}: line {row.line}: type: "
                f"{org.name!r} is already in the directory as {org.type!r}"
            )
        cache[key] = org
        if store.contact_at(session, org.id, row.role, row.email) is None:
            session.add(
                Contact(organisation_id=org.id, role=row.role, name=row.name, email=row.email)
            )
            contacts_added += 1
    return ImportResult(orgs_added, contacts_added, len(rows))
