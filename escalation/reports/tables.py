"""The partnership report's tables: what each shows, its stable id, and its note; this module
lays out the report's sections in order, with the tables of what is open now, what was raised
in the period and which organisations raised nothing (`tables_resolved` has those of how
challenges ended and how quickly).

Each table has a stable id (its CSV and JSON key) and a note saying what it counts and what "in
the period" means for it. Counts, organisation names and levels only: never a child's reference,
initials, year of birth or any free text. Rows are never sorted by their counts, so a withheld
cell's place in a table says nothing about its size. What a publishable report withholds is
decided by the `publishable.Rule` each table is built with.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from escalation.reports.figures import Figures, Org
from escalation.reports.labels import (
    CATEGORY_LABELS,
    TYPE_LABELS,
    WORKING_DAY,
    Context,
    ordered,
    vocabulary_rows,
)
from escalation.reports.model import Cell, Chart, Section, Table
from escalation.reports.publishable import Rule
from escalation.reports.tables_resolved import resolved_section, timeliness_section
from escalation.rules.model import Category, OrgType, Protocol

AGE_BANDS = (("0–5", 0, 5), ("6–10", 6, 10), ("11–20", 11, 20), ("over 20", 21, None))
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
RAISED = "Challenges raised in the period (the UK date on which they were raised)"


def sections(
    figures: Figures, protocols: Sequence[Protocol], partnership: str | None, rule: Rule
) -> tuple[Section, ...]:
    """Every section of the report, in order; `partnership` None: every partnership."""
    c = Context(figures, rule, protocols, partnership)
    return (_open_now(c), _raised(c), resolved_section(c), timeliness_section(c), _unused(c))


# --- Open now --------------------------------------------------------------------------------


def _open_now(c: Context) -> Section:
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


def _raised(c: Context) -> Section:
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


def _raisers(c: Context) -> tuple[Table, Table]:
    by_org, orgs = c.figures.raised.by_org, c.figures.organisations
    types = ordered(OrgType, (orgs[i].type for i in by_org))
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


def _receivers(c: Context) -> tuple[Table, Table]:
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


def _categories(c: Context) -> Table:
    counts = c.figures.raised.by_category
    return Table(
        "raised_by_category",
        "Challenges raised, by category of disagreement",
        ("Category", "Challenges raised"),
        vocabulary_rows(c, Category, CATEGORY_LABELS, counts),
        Chart.BARH,
        f"{RAISED}.",
    )


def _needs(c: Context) -> Table:
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


def _repeats(c: Context) -> Table:
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


# --- Under-use -------------------------------------------------------------------------------


def _unused(c: Context) -> Section:
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


def _in_scope(c: Context, org: Org) -> bool:
    return c.partnership is None or org.partnership == c.partnership
