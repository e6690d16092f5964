"""The report benchmark's directory: per partnership, a few hundred raising organisations of
every type, several social care teams that respond, and the partnership business unit.

It is written as a directory CSV and imported through `escalation.casework.directory.import_csv`, as
a partnership's own would be. The organisations of each kind get contiguous ids (the CSV lists
them partnership by partnership, and the import adds them in order), so the copies in
`bench.report_vary` can pick one by arithmetic; `import_directory` checks it.
"""

from __future__ import annotations

import csv
import io
import random
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, select

from escalation.casework import db, directory
from escalation.casework.models import Organisation
from escalation.rules.model import OrgType
from escalation.rules.registry import ProtocolRegistry

RAISING = {  # per partnership: organisations of each type
    "devon": {"school": 300, "health": 40, "police": 12, "early_years": 60, "voluntary": 40},
    "plymouth": {"school": 90, "health": 15, "police": 5, "early_years": 25, "voluntary": 15},
    "torbay": {"school": 50, "health": 8, "police": 3, "early_years": 12, "voluntary": 8},
}
TEAMS = {
    "devon": ["Front Door (MASH)", "Exeter and East locality", "North Devon locality",
              "South and West locality", "Early Help hub", "Children with disabilities team"],
    "plymouth": ["Children's Gateway", "Assessment team", "Early Help hub", "Family support"],
    "torbay": ["Front Door", "Assessment team", "Early Help hub"],
}  # fmt: skip
NAMES = {
    "school": "Primary School",
    "health": "Health Visiting Team",
    "police": "Police Safeguarding Unit",
    "early_years": "Nursery",
    "voluntary": "Family Charity",
    "other": "Housing Service",
}
RAISER_ROLES = ("practitioner", "dsl", "line_manager", "senior_manager")
TEAM_ROLES = ("practitioner", "line_manager", "senior_manager")


@dataclass(frozen=True)
class Organisations:
    """One partnership's organisations as contiguous id ranges (the copies pick by arithmetic)."""

    raising_first: int
    raising_count: int
    responding_first: int
    responding_count: int
    raising_name: str  # the prototypes' raising organisation
    responding_name: str


def directory_csv(seed: int = 2026) -> str:
    """The bench directory: per partnership, raising organisations (types shuffled), then teams."""
    shuffle = random.Random(seed).shuffle
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(directory.COLUMNS)
    for partnership, counts in RAISING.items():
        kinds = [kind for kind, count in counts.items() for _ in range(count)] + ["other"] * 2
        shuffle(kinds)
        for number, kind in enumerate(kinds, start=1):
            name = f"{partnership.title()} {NAMES[kind]} {number:03d} (bench)"
            for role in RAISER_ROLES:
                writer.writerow(_contact(name, kind, partnership, role))
        for team in TEAMS[partnership]:
            for role in TEAM_ROLES:
                writer.writerow(_contact(f"{partnership.title()} {team} (bench)", "social_care",
                                         partnership, role))  # fmt: skip
        unit = f"{partnership.title()} Safeguarding Children Partnership business unit (bench)"
        for role in ("partnership", "senior_manager", "admin"):
            writer.writerow(_contact(unit, "partnership", partnership, role))
    return out.getvalue()


def _contact(organisation: str, kind: str, partnership: str, role: str) -> list[str]:
    slug = "".join(c for c in organisation.lower() if c.isalnum())[:40]
    person = f"{role.replace('_', ' ').title()} of {organisation[:60]}"
    return [organisation, kind, partnership, role, person, f"{role}@{slug}.example.org"]


def import_directory(engine: Engine, registry: ProtocolRegistry) -> dict[str, Organisations]:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "bench_directory.csv"
        path.write_text(directory_csv(), encoding="utf-8")
        directory.import_csv(db.session_factory(engine), path, registry.partnerships())
    with engine.connect() as connection:
        rows = connection.execute(
            select(Organisation.id, Organisation.name, Organisation.type, Organisation.partnership)
            .where(Organisation.name.like("% (bench)"))
            .order_by(Organisation.id)
        ).all()
    return {p: _ranges(p, [r for r in rows if r.partnership == p]) for p in RAISING}


def _ranges(partnership: str, rows: Sequence[Any]) -> Organisations:
    raising = [r for r in rows if r.type not in (OrgType.SOCIAL_CARE, OrgType.PARTNERSHIP)]
    teams = [r for r in rows if r.type == OrgType.SOCIAL_CARE]
    for group in (raising, teams):
        if [r.id for r in group] != list(range(group[0].id, group[0].id + len(group))):
            raise RuntimeError(f"{partnership}: the bench organisations' ids are not contiguous")
    return Organisations(
        raising[0].id, len(raising), teams[0].id, len(teams), raising[0].name, teams[0].name
    )
