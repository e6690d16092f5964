"""The partnership report's tables: what each shows, its stable id, and its note.

Each table has a stable id (its CSV and JSON key) and a note saying what it counts and what "in
the period" means for it. Counts, organisation names and levels only: never a child's reference,
initials, year of birth or any free text. Rows are never sorted by their counts, so a withheld
cell's place in a table says nothing about its size. What a publishable report withholds is
decided by the `reports.Rule` each table is built with.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from escalation.reports.model import Cell, Chart, Section, Table
from escalation.reports.queries import Days, Figures, Org, Timeliness
from escalation.rules.model import Category, OrgType, Outcome, Protocol

if TYPE_CHECKING:  # `reports` builds the report from these tables
    from escalation.reports.build import Rule


# --- Vocabulary --------------------------------------------------------------------------------

AGE_BANDS = (("0–5", 0, 5), ("6–10", 6, 10), ("11–20", 11, 20), ("over 20", 21, None))
AIM_LEVEL = 2  # the protocol's aim: resolved at level 1 or 2
# Organisations expected to raise challenges; social care teams mostly receive them and the
# partnership business unit hears them at level 4, so neither signals under-use.
RAISING_TYPES = (
    OrgType.SCHOOL,
    OrgType.HEALTH,
    OrgType.POLICE,
    OrgType.EARLY_YEARS,
    OrgType.VOLUNTARY,
    OrgType.OTHER,
)
STATUSES = ("on_time", "late", "missed", "pending")
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
RAISED = "Challenges raised in the period (the UK date on which they were raised)"


def sections(
    figures: Figures, protocols: Sequence[Protocol], partnership: str | None, rule: Rule
) -> tuple[Section, ...]:
    """Every section of the report, in order; `partnership` None: every partnership."""
    c = _Context(figures, rule, protocols, partnership)
    return (_open_now(c), _raised(c), _resolved(c), _timeliness(c), _unused(c))


class _Context:
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


def _ordered(known: Iterable[str], seen: Iterable[str | None]) -> list[str]:
    """The vocabulary in its own order, then anything else the records hold."""
    values = list(known)
    return values + sorted({value for value in seen if value is not None} - set(values))


# --- Open now --------------------------------------------------------------------------------


def _open_now(c: _Context) -> Section:
    f = c.figures.open_now
    levels = c.levels(f.by_level)
    open_cells = c.rule.counts([f.by_level[n] for n in levels])
    overdue_cells = c.rule.counts([f.overdue_by_level[n] for n in levels])
    bands = [
        sum(n for days, n in f.age.items() if low <= days and (high is None or days <= high))
        for _, low, high in AGE_BANDS
    ]
    overdue_rule = (
        "Overdue now: awaiting a response and the current level's due time is before the "
        "report's date and time (the daily digest's rule)."
    )
    return Section(
        "Open now",
        (
            Table(
                "open_summary",
                "Open challenges now",
                ("Figure", "Challenges"),
                (
                    ("Open challenges", c.rule.each(sum(f.by_level.values()))),
                    ("Overdue now", c.rule.each(sum(f.overdue_by_level.values()))),
                ),
                note="Open: a level is in play (awaiting a response, responded, paused or "
                "overdue), as the records stand when the report is made. " + overdue_rule,
            ),
            Table(
                "open_by_level",
                "Open challenges by level",
                ("Level", "Open", "Overdue now"),
                tuple(zip(map(c.level, levels), open_cells, overdue_cells, strict=True)),
                Chart.GROUPED,
                "The level each open challenge is at now. " + overdue_rule,
            ),
            Table(
                "open_by_age",
                "Open challenges by working days since raised",
                ("Working days since raised", "Open"),
                tuple(zip((band for band, _, _ in AGE_BANDS), c.rule.counts(bands), strict=True)),
                Chart.BAR,
                "Age: the working days after the UK date the challenge was raised, up to and "
                "including the report's date (raised that day: 0). " + WORKING_DAY,
            ),
        ),
    )


# --- Raised in the period --------------------------------------------------------------------


def _raised(c: _Context) -> Section:
    f = c.figures
    escalated = Counter(kind for _, kind in f.escalations.elements())
    summary = (
        ("Challenges raised", f.raised.total),
        ("Challenges resolved", sum(sum(d.values()) for d in f.resolved.days_by_level.values())),
        ("Challenges withdrawn", f.resolved.withdrawn),
        ("Levels escalated by the raiser", escalated["raiser"]),
        ("Levels escalated automatically (unanswered)", escalated["unanswered"]),
    )
    return Section(
        "In the period",
        (
            Table(
                "period_summary",
                "The period at a glance",
                ("Figure", "Count"),
                tuple((label, c.rule.each(n)) for label, n in summary),
                note="Each event counted when its UK date falls in the period: raised, resolved "
                "(the latest resolution), withdrawn, or a level escalated.",
            ),
            *_raisers(c),
            *_receivers(c),
            _categories(c),
            _needs(c),
            _repeats(c),
        ),
    )


def _raisers(c: _Context) -> tuple[Table, Table]:
    by_org, orgs = c.figures.raised.by_org, c.figures.organisations
    types = _ordered(OrgType, (orgs[i].type for i in by_org))
    per_type = Counter({t: sum(n for i, n in by_org.items() if orgs[i].type == t) for t in types})
    type_cells = c.rule.counts([per_type[t] for t in types])
    rows: list[tuple[Cell, ...]] = []
    for kind, total in zip(types, type_cells, strict=True):
        members = c.by_name(i for i in by_org if orgs[i].type == kind)
        cells = c.rule.within(total, [by_org[i] for i in members])
        rows += [
            (c.org(i), TYPE_LABELS.get(kind, kind), cell)
            for i, cell in zip(members, cells, strict=True)
        ]
    note = f"{RAISED}, by the type of the raising organisation."
    return (
        Table(
            "raised_by_org_type",
            "Challenges raised, by type of raising organisation",
            ("Raising organisation type", "Challenges raised"),
            tuple((TYPE_LABELS.get(t, t), cell) for t, cell in zip(types, type_cells, strict=True)),
            Chart.BAR,
            note,
        ),
        Table(
            "raised_by_org",
            "Challenges raised, by raising organisation",
            ("Raising organisation", "Type", "Challenges raised"),
            tuple(rows),
            Chart.BARH,
            f"{RAISED}; organisations that raised none are listed under 'Organisations that "
            "raised no challenge'.",
        ),
    )


def _receivers(c: _Context) -> tuple[Table, Table]:
    by_receiver = c.figures.raised.by_receiver
    per_org: Counter[int] = Counter()
    for (org, _), n in by_receiver.items():
        per_org[org] += n
    orgs = c.by_name(per_org)
    org_cells = c.rule.counts([per_org[org] for org in orgs])
    rows: list[tuple[Cell, ...]] = []
    for org, total in zip(orgs, org_cells, strict=True):
        teams = sorted((t for o, t in by_receiver if o == org), key=lambda t: (t is None, t or ""))
        if teams == [None]:
            continue  # no team named: the organisation's row says it all
        cells = c.rule.within(total, [by_receiver[(org, team)] for team in teams])
        rows += [
            (f"{c.org(org)}: {team or 'no team given'}", cell)
            for team, cell in zip(teams, cells, strict=True)
        ]
    return (
        Table(
            "raised_by_receiving_org",
            "Challenges raised, by receiving organisation",
            ("Receiving organisation", "Challenges raised"),
            tuple(zip(map(c.org, orgs), org_cells, strict=True)),
            Chart.BARH,
            f"{RAISED}, by the organisation whose decision is challenged.",
        ),
        Table(
            "raised_by_receiving_team",
            "Challenges raised, by receiving team",
            ("Receiving organisation and team", "Challenges raised"),
            tuple(rows),
            Chart.BARH,
            f"{RAISED}, by the team named when raising; organisations for which no team was "
            "named are left out.",
        ),
    )


def _categories(c: _Context) -> Table:
    counts = c.figures.raised.by_category
    return Table(
        "raised_by_category",
        "Challenges raised, by category of disagreement",
        ("Category", "Challenges raised"),
        _vocabulary_rows(c, Category, CATEGORY_LABELS, counts),
        Chart.BARH,
        f"{RAISED}.",
    )


def _vocabulary_rows(
    c: _Context, known: Iterable[str], labels: Mapping[str, str], counts: Mapping[str, int]
) -> tuple[tuple[Any, ...], ...]:
    """One row per value of a vocabulary (its labels, its order, then anything else the records
    hold), with the publishable rule applied to the counts."""
    keys = _ordered(known, counts)
    cells = c.rule.counts([counts[k] for k in keys])
    return tuple((labels.get(k, k), cell) for k, cell in zip(keys, cells, strict=True))


def _needs(c: _Context) -> Table:
    by_need = c.figures.raised.by_need
    seen = {n for pair in by_need for n in pair if n is not None}
    levels: list[int | None] = [*sorted(set(c.need_names) | seen), None]
    cells = c.rule.counts([by_need[(raiser, decision)] for raiser in levels for decision in levels])
    width = len(levels)
    return Table(
        "raised_by_need",
        "Challenges raised: level of need in the raiser's view against the decision",
        ("Raiser's view (rows), decision (columns)", *map(c.need, levels)),
        tuple(
            (c.need(raiser), *cells[i * width : (i + 1) * width]) for i, raiser in enumerate(levels)
        ),
        Chart.GROUPED,
        f"{RAISED}. Each row is the level of need the raiser sees; "
        "each column the level the challenged decision set; left of the diagonal, the raiser "
        "sees more need than the decision did.",
    )


def _repeats(c: _Context) -> Table:
    r = c.figures.repeats
    return Table(
        "repeat_children",
        "Repeat challenges for the same child",
        ("Figure", "Children"),
        (
            ("Children with a challenge raised in the period", c.rule.each(r.children)),
            ("… of whom 2 or more raised in the period", c.rule.each(r.twice_in_period)),
            (
                "… of whom 2 or more raised ever, to the end of the period",
                c.rule.each(r.twice_ever),
            ),
        ),
        note="Children are told apart by the child reference recorded on the challenge, exactly "
        "as typed, within one partnership; the references themselves are never shown.",
    )


# --- Resolved in the period ------------------------------------------------------------------


def _resolved(c: _Context) -> Section:
    days = c.figures.resolved.days_by_level
    levels = c.levels(days)
    counts = {n: sum(days.get(n, Counter()).values()) for n in levels}
    groups = ([n for n in levels if n <= AIM_LEVEL], [n for n in levels if n > AIM_LEVEL])
    totals = [sum(counts[n] for n in group) for group in groups]
    group_cells = c.rule.counts(totals)
    cells: dict[int, Cell] = {}
    for group, total in zip(groups, group_cells, strict=True):
        cells.update(zip(group, c.rule.within(total, [counts[n] for n in group]), strict=True))
    note = (
        "Challenges whose latest resolution has a UK date in the period, by the level at "
        "which they were resolved, which is the highest level they reached."
    )
    return Section(
        "Resolved in the period",
        (
            Table(
                "resolved_by_level",
                "Challenges resolved, by level at which resolved",
                ("Level at which resolved", "Resolved"),
                tuple((c.level(n), cells[n]) for n in levels),
                Chart.BAR,
                note,
            ),
            _resolution_times(c, levels, cells),
            _shares(c, groups, totals, group_cells),
            _outcomes(c),
            _checks(c),
        ),
    )


def _resolution_times(c: _Context, levels: list[int], cells: dict[int, Cell]) -> Table:
    days = c.figures.resolved.days_by_level
    every: Days = sum(days.values(), Counter())
    rows = [(c.level(n), cells[n], *c.rule.spread_of(days.get(n, Counter()))) for n in levels]
    rows.append(("All levels", c.rule.each(sum(every.values())), *c.rule.spread_of(every)))
    return Table(
        "resolution_working_days",
        "Working days from raising to resolution, by level reached",
        ("Level reached", "Resolved", "Median working days", "90th percentile working days"),
        tuple(rows),
        note="Challenges resolved in the period (as above). Working days after the UK date "
        "raised up to and including the UK date resolved (resolved the same day: 0). Median: "
        "the middle value, or the mean of the two middle values; 90th percentile by nearest "
        "rank: the smallest value that at least 90% of challenges took no longer than. "
        + WORKING_DAY,
    )


def _shares(
    c: _Context, groups: tuple[list[int], list[int]], totals: list[int], cells: Sequence[Cell]
) -> Table:
    def label(group: list[int]) -> str:
        return f"Levels {group[0]}–{group[-1]}" if len(group) > 1 else f"Level {group[0]}"

    whole = sum(totals)
    return Table(
        "resolved_share",
        "Share resolved at levels 1–2 (the protocol's aim) against levels 3 and above",
        ("Resolved at", "Challenges", "Share of resolved (%)"),
        tuple(
            (label(group), cell, c.rule.share(cell, total, whole))
            for group, total, cell in zip(groups, totals, cells, strict=True)
            if group
        ),
        Chart.BAR,
        "Challenges resolved in the period (as above). Resolved at level 3 or 4 means the "
        "challenge reached level 3 or 4.",
    )


def _outcomes(c: _Context) -> Table:
    counts = c.figures.resolved.by_outcome
    return Table(
        "resolved_outcomes",
        "Challenges resolved, by outcome",
        ("Outcome", "Resolved"),
        _vocabulary_rows(c, Outcome, OUTCOME_LABELS, counts),
        Chart.BARH,
        "Challenges resolved in the period (as above), by the outcome recorded.",
    )


def _checks(c: _Context) -> Table:
    checks = c.figures.checks
    cells = c.rule.counts([checks.yes, checks.no, checks.not_confirmed], total_shown=False)
    labels = ("Yes", "No", "Not confirmed (no answer; closed)")
    return Table(
        "outcome_checks",
        "Outcome checks: has the child's situation improved?",
        ("Answer", "Challenges"),
        tuple(zip(labels, cells, strict=True)),
        Chart.BAR,
        "Answers given in the period, and checks closed unanswered ('outcome not confirmed') in "
        "it, by UK date. A 'no' counts even if the challenge was then reopened or escalated.",
    )


# --- Escalations and timeliness --------------------------------------------------------------


def _timeliness(c: _Context) -> Section:
    f = c.figures
    return Section(
        "Escalations and response times",
        (
            _escalations(c),
            _timely(
                c, f.acknowledgement, "acknowledgement", "Acknowledged", "acknowledge",
                "A response counts as the acknowledgement when none was recorded before it. ",
            ),
            _timely(c, f.response, "response", "Responded", "respond", ""),
        ),
    )  # fmt: skip


def _escalations(c: _Context) -> Table:
    escalations = c.figures.escalations
    orgs = c.by_name({org for org, _ in escalations})
    raiser = c.rule.counts([escalations[(org, "raiser")] for org in orgs])
    unanswered = c.rule.counts([escalations[(org, "unanswered")] for org in orgs])
    return Table(
        "escalations_by_receiving_org",
        "Levels escalated, by receiving organisation",
        ("Receiving organisation", "By the raiser", "Automatically (unanswered)"),
        tuple(zip(map(c.org, orgs), raiser, unanswered, strict=True)),
        Chart.GROUPED,
        "Levels escalated in the period (by UK date): by the raiser (reason recorded), or "
        "automatically when a level's response deadline passed with no response.",
    )


def _timely(c: _Context, t: Timeliness, what: str, done: str, verb: str, extra: str) -> Table:
    orgs = c.by_name({org for org, _ in t.status})
    opened = c.rule.counts([sum(t.status[(org, s)] for s in STATUSES) for org in orgs])
    rows = []
    for org, total in zip(orgs, opened, strict=True):
        cells = c.rule.within(total, [t.status[(org, status)] for status in STATUSES])
        rows.append((c.org(org), total, *cells, c.rule.median_of(t.days.get(org, Counter()))))
    return Table(
        f"{what}_by_receiving_org",
        f"{what.capitalize()} of levels opened in the period, by receiving organisation",
        (
            "Receiving organisation",
            "Levels opened",
            f"{done} on time",
            f"{done} late",
            f"Not {done.lower()} by the due time",
            "Not yet due, paused, or ended before due",
            f"Median working days to {verb}",
        ),
        tuple(rows),
        note=f"Levels (a challenge's stages) opened in the period (by UK date), against the "
        f"{what} due time the engine set (after any pause or agreed extension), as of the "
        "report's date and time. " + extra + "Median: working days after the UK date the level "
        f"opened up to and including the UK date of the {what} (same day: 0), over those with "
        "one. " + WORKING_DAY,
    )


# --- Under-use -------------------------------------------------------------------------------


def _unused(c: _Context) -> Section:
    orgs, used = c.figures.organisations, c.figures.raisers
    ours = [i for i, org in orgs.items() if org.type in RAISING_TYPES and _in_scope(c, org)]
    idle = c.by_name(i for i in ours if i not in used)
    count = Counter(orgs[i].type for i in ours)
    silent = Counter(orgs[i].type for i in idle)
    return Section(
        "Organisations that raised no challenge in the period",
        (
            Table(
                "no_challenge_by_type",
                "Organisations that raised no challenge, by type",
                ("Organisation type", "In the directory", "Raised no challenge"),
                tuple((TYPE_LABELS[t], count[t], silent[t]) for t in RAISING_TYPES),
                Chart.GROUPED,
                "Organisations of the types that raise challenges (not social care or the "
                "partnership business unit) in the partnership's directory, and those that "
                "raised no challenge in the period (by UK date), in any partnership. Counts of "
                "organisations, not of challenges: never withheld.",
            ),
            Table(
                "no_challenge_orgs",
                "Organisations that raised no challenge in the period",
                ("Organisation", "Type"),
                tuple((c.org(i), TYPE_LABELS[orgs[i].type]) for i in idle),
                note="A possible sign of under-use of the protocol (as the table above).",
            ),
        ),
    )


def _in_scope(c: _Context, org: Org) -> bool:
    return c.partnership is None or org.partnership == c.partnership
