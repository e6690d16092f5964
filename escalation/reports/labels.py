"""What the partnership report's tables call things, and what every table is made with.

The labels of organisation types, categories of disagreement and outcomes, in the vocabulary's
own order; the wording of working days the notes share; and `Context`: the figures, the
publishable `Rule` and the names of levels, levels of need and organisations, as every table of
`reports.tables` and `reports.tables_resolved` uses them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from escalation.reports.figures import Figures
from escalation.reports.publishable import Rule
from escalation.rules.model import Category, OrgType, Outcome, Protocol

TYPE_LABELS: dict[str, str] = {
    OrgType.SCHOOL: "Schools",
    OrgType.SOCIAL_CARE: "Children's social care",
    OrgType.HEALTH: "Health",
    OrgType.POLICE: "Police",
    OrgType.EARLY_YEARS: "Early years",
    OrgType.VOLUNTARY: "Voluntary and community",
    OrgType.PARTNERSHIP: "Partnership business unit",
    OrgType.OTHER: "Other",
}
CATEGORY_LABELS: dict[str, str] = {
    Category.THRESHOLD: "Risk, threshold or level of need",
    Category.ROLES: "Roles and responsibilities",
    Category.INFORMATION_SHARING: "Information sharing",
    Category.SERVICE_PROVISION: "Service provision",
    Category.PLAN_NOT_PROGRESSING: "Plan not progressing",
    Category.STEP_CHANGE: "Step-up, step-down or closure",
}
OUTCOME_LABELS: dict[str, str] = {
    Outcome.DECISION_UPHELD: "Decision upheld",
    Outcome.DECISION_CHANGED: "Decision changed",
    Outcome.NEW_REFERRAL_ACCEPTED: "New referral accepted",
    Outcome.STEPPED_UP: "Stepped up",
    Outcome.STEPPED_DOWN: "Stepped down",
    Outcome.SERVICE_PROVIDED: "Service provided",
    Outcome.INFORMATION_SHARED: "Information shared",
    Outcome.OTHER: "Other",
}
WORKING_DAY = (
    "Working days follow the partnership's protocol calendar: Monday to Friday, not an England "
    "and Wales bank holiday or a partnership closure day. "
)


class Context:
    """The figures, the rule and the labels every table is made with."""

    def __init__(
        self, figures: Figures, rule: Rule, protocols: Sequence[Protocol], partnership: str | None
    ) -> None:
        self.figures, self.rule, self.partnership = figures, rule, partnership
        self.level_names = _agreed({lv.number: lv.name for lv in p.levels} for p in protocols)
        self.need_names = _agreed(p.levels_of_need for p in protocols)

    def level(self, number: int) -> str:
        name = self.level_names.get(number)
        return f"Level {number} ({name})" if name else f"Level {number}"

    def levels(self, *seen: Iterable[int]) -> list[int]:
        return sorted(set(self.level_names).union(*seen))

    def need(self, number: int | None) -> str:
        if number is None:
            return "Not recorded"
        name = self.need_names.get(number)
        return f"{number} {name}" if name else str(number)

    def org(self, org_id: int) -> str:
        """An organisation's name, with its partnership when that is not the report's."""
        org = self.figures.organisations[org_id]
        return (
            org.name if org.partnership == self.partnership else f"{org.name} ({org.partnership})"
        )

    def by_name(self, org_ids: Iterable[int]) -> list[int]:
        """Organisations in alphabetical order, never by their counts."""
        return sorted(org_ids, key=lambda org_id: self.org(org_id).casefold())


def _agreed(protocols: Iterable[dict[int, str]]) -> dict[int, str | None]:
    """Number -> name where every protocol that has the number names it alike, else None (with
    every partnership in one report, a level named differently is shown by number)."""
    agreed: dict[int, str | None] = {}
    for names in protocols:
        for number, name in names.items():
            agreed[number] = name if agreed.get(number, name) == name else None
    return agreed


def ordered(known: Iterable[str], seen: Iterable[str | None]) -> list[str]:
    """The vocabulary in its own order, then anything else the records hold."""
    values = list(known)
    return values + sorted({value for value in seen if value is not None} - set(values))


def vocabulary_rows(
    c: Context, known: Iterable[str], labels: Mapping[str, str], counts: Mapping[str, int]
) -> tuple[tuple[Any, ...], ...]:
    """One row per value of a vocabulary (its labels, its order, then anything else the records
    hold), with the publishable rule applied to the counts."""
    keys = ordered(known, counts)
    cells = c.rule.counts([counts[k] for k in keys])
    return tuple((labels.get(k, k), cell) for k, cell in zip(keys, cells, strict=True))
