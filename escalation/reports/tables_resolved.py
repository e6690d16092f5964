"""The partnership report's tables of how challenges ended and how quickly: resolved in the
period (by level, working days taken, the share resolved at the protocol's aim, outcomes and
outcome checks), and escalations and response times by receiving organisation.

Laid out in order by `reports.tables.sections`, under the same rules: a stable id and a note
each, counts and names only, rows never sorted by their counts.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from escalation.reports.figures import Days, Timeliness
from escalation.reports.labels import OUTCOME_LABELS, WORKING_DAY, Context, vocabulary_rows
from escalation.reports.model import Cell, Chart, Section, Table
from escalation.rules.model import Outcome

AIM_LEVEL = 2  # the protocol's aim: resolved at level 1 or 2
STATUSES = ("on_time", "late", "missed", "pending")


# --- Resolved in the period ------------------------------------------------------------------


def resolved_section(c: Context) -> Section:
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


def _resolution_times(c: Context, levels: list[int], cells: dict[int, Cell]) -> Table:
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
    c: Context, groups: tuple[list[int], list[int]], totals: list[int], cells: Sequence[Cell]
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


def _outcomes(c: Context) -> Table:
    counts = c.figures.resolved.by_outcome
    return Table(
        "resolved_outcomes",
        "Challenges resolved, by outcome",
        ("Outcome", "Resolved"),
        vocabulary_rows(c, Outcome, OUTCOME_LABELS, counts),
        Chart.BARH,
        "Challenges resolved in the period (as above), by the outcome recorded.",
    )


def _checks(c: Context) -> Table:
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


def timeliness_section(c: Context) -> Section:
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


def _escalations(c: Context) -> Table:
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


def _timely(c: Context, t: Timeliness, what: str, done: str, verb: str, extra: str) -> Table:
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
