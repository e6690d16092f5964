"""The partnership report: periods, the publishable rule, and every table of a report built from
challenges raised, acknowledged, answered, escalated, lapsed, resolved, withdrawn and checked
through the real Service and sweep, with every figure worked out by hand in a comment.

Runs on SQLite and PostgreSQL. Devon and Plymouth calendars: Monday to Friday, England & Wales
bank holidays (Mon 31 Aug, Fri 25 Dec and Mon 28 Dec — the Boxing Day substitute — in 2026);
Devon's Friday closes at 16:00. "N working days after D" never counts D itself.
"""

from __future__ import annotations

from collections import Counter
from datetime import date, timedelta
from typing import Any

import pytest

from escalation.casework import directory, sweep
from escalation.casework.intake import Resolution
from escalation.casework.service import Service
from escalation.errors import InvalidInput
from escalation.reports.build import build_report, parse_period
from escalation.reports.model import SUPPRESSED, Cell, Period, Report
from escalation.reports.publishable import Rule, median, percentile, suppress, suppress_within
from escalation.reports.queries_dates import WorkingDays
from escalation.rules.registry import ProtocolRegistry
from tests.conftest import (
    BUSINESS_MANAGER,
    FIXTURES,
    SCHOOL_DSL,
    SOCIAL_WORKER,
    TEAM_MANAGER,
    london,
    raise_request,
)

S = SUPPRESSED
Q2 = parse_period(None, "2026-27-Q2", None, None)
Q3 = parse_period(None, "2026-27-Q3", None, None)
AS_OF = london("2026-12-29 10:00")  # Tuesday, the first working day after Christmas
ASHCOMBE = "Ashcombe Primary School"
BIDEFORD = "Bideford College"
EXETER_HV = "Exeter Health Visiting"
POLICE = "Devon and Cornwall Police"
NURSERY = "Little Acorns Nursery"
YOUNG_CARERS = "Devon Young Carers"
FRONT_DOOR = "Devon Front Door"
EARLY_HELP = "Devon Early Help"
GATEWAY = "Plymouth Gateway"
PLYMOUTH_HIGH = "Plymouth High School"
CONCERN = "Bruising seen at school; the child is frightened to go home"
LEVELS = (
    "Level 1 (Practitioner to practitioner)",
    "Level 2 (Line managers and designated safeguarding leads)",
    "Level 3 (Senior managers)",
    "Level 4 (Safeguarding partnership)",
)
NEEDS = ("1 Universal", "2 Early Help", "3 Targeted", "4 Specialist", "Not recorded")


# --- Periods ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("year", "quarter", "start", "end", "expected"),
    [
        ("2026-27", None, None, None, Period(date(2026, 4, 1), date(2027, 3, 31), "2026-27")),
        (" 2099-00 ", None, None, None, Period(date(2099, 4, 1), date(2100, 3, 31), "2099-00")),
        (None, "2026-27-Q1", None, None,
         Period(date(2026, 4, 1), date(2026, 6, 30), "2026-27 Q1 (April to June 2026)")),
        (None, "2026-27-Q2", None, None,
         Period(date(2026, 7, 1), date(2026, 9, 30), "2026-27 Q2 (July to September 2026)")),
        (None, "2026-27-q3", None, None,
         Period(date(2026, 10, 1), date(2026, 12, 31), "2026-27 Q3 (October to December 2026)")),
        (None, "2026-27-Q4", None, None,
         Period(date(2027, 1, 1), date(2027, 3, 31), "2026-27 Q4 (January to March 2027)")),
        (None, None, date(2026, 4, 1), date(2026, 6, 30),
         Period(date(2026, 4, 1), date(2026, 6, 30), "1 April to 30 June 2026")),
        (None, None, date(2026, 12, 1), date(2027, 1, 31),
         Period(date(2026, 12, 1), date(2027, 1, 31), "1 December 2026 to 31 January 2027")),
        (None, None, date(2026, 12, 24), date(2026, 12, 24),
         Period(date(2026, 12, 24), date(2026, 12, 24), "24 December 2026")),
    ],
)  # fmt: skip
def test_it_parses_a_financial_year_a_quarter_or_dates(
    year: str | None, quarter: str | None, start: date | None, end: date | None, expected: Period
) -> None:
    assert parse_period(year, quarter, start, end) == expected


@pytest.mark.parametrize(
    ("year", "quarter", "start", "end", "field", "problem"),
    [
        ("2026", None, None, None, "year", "'2026' is not a financial year like 2026-27"),
        ("2026-28", None, None, None, "year",
         "2026-28 is not one year: a financial year runs from 1 April to 31 March, like 2026-27"),
        (None, "2026-Q3", None, None, "quarter", "'2026-Q3' is not a quarter like 2026-27-Q3"),
        (None, "2026-27-Q5", None, None, "quarter", "'2026-27-Q5' is not a quarter like"),
        (None, "2026-28-Q1", None, None, "quarter", "2026-28 is not one year"),
        (None, None, date(2026, 7, 1), date(2026, 6, 30), "to",
         "--to 2026-06-30 is before --from 2026-07-01"),
        (None, None, date(2026, 7, 1), None, "to", "is required with --from"),
        (None, None, None, date(2026, 7, 1), "from", "is required with --to"),
        ("2026-27", "2026-27-Q3", None, None, "quarter",
         "give one period only, not --year and --quarter"),
        (None, "2026-27-Q3", None, date(2026, 7, 1), "to",
         "give one period only, not --quarter and --to"),
        (None, None, None, None, "period", "give one period: --year (like 2026-27)"),
    ],
)  # fmt: skip
def test_it_refuses_a_period_naming_the_option_and_the_problem(
    year: str | None,
    quarter: str | None,
    start: date | None,
    end: date | None,
    field: str,
    problem: str,
) -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_period(year, quarter, start, end)
    assert caught.value.field == field
    assert caught.value.problem.startswith(problem), caught.value.problem


# --- The publishable rule and the statistics ---------------------------------------------------


@pytest.mark.parametrize(
    ("counts", "total_shown", "expected"),
    [
        ([0, 0], True, (0, 0)),  # 0 stays 0
        ([5, 12], True, (5, 12)),
        ([4], False, (S,)),
        ([1, 0, 0], True, (S, 0, 0)),  # nothing else to withhold: the total is 1 and withheld too
        # One withheld and the total shown: the smallest other non-zero (7, not 0 or 12) goes too.
        ([0, 3, 7, 12], True, (0, S, S, 12)),
        ([0, 3, 7, 12], False, (0, S, 7, 12)),  # no total shown: nothing to subtract from
        ([6, 2, 6], True, (S, S, 6)),  # of equals, the first
        ([2, 3, 9], True, (S, S, 9)),  # two withheld already: neither can be worked out
    ],
)
def test_it_withholds_counts_from_1_to_4_and_one_more_when_a_total_would_give_one_away(
    counts: list[int], total_shown: bool, expected: tuple[Cell, ...]
) -> None:
    assert suppress(counts, total_shown) == expected


@pytest.mark.parametrize(
    ("total", "counts", "expected"),
    [
        (9, [1, 8], (S, S)),  # the total is shown: the ordinary rule
        (S, [6, 7], (S, 7)),  # a withheld total of 13: one part withheld so they cannot add up
        (S, [1, 9], (S, 9)),  # one part withheld already
        (S, [0, 0], (0, 0)),
    ],
)
def test_it_keeps_a_withheld_figure_from_being_added_up_from_its_parts(
    total: Cell, counts: list[int], expected: tuple[Cell, ...]
) -> None:
    assert suppress_within(total, counts) == expected


def test_it_withholds_medians_and_shares_of_fewer_than_5_only_when_publishable() -> None:
    rule, open_rule = Rule(publishable=True), Rule(publishable=False)
    assert (rule.figure(3, 4), rule.figure(3, 5), rule.figure(None, 0)) == (S, 3, None)
    assert open_rule.figure(3, 1) == 3
    assert (rule.share(S, 2, 40), rule.share(6, 6, 8), rule.share(3, 3, 4)) == (S, 75.0, S)
    assert (open_rule.share(3, 3, 4), rule.share(0, 0, 0)) == (75.0, None)
    assert (rule.counts([2, 7]), open_rule.counts([2, 7]), rule.each(2)) == ((S, S), (2, 7), S)


def test_it_takes_the_median_and_the_nearest_rank_90th_percentile() -> None:
    days = Counter({2: 1, 3: 1, 13: 1, 29: 1})
    # Median of 2, 3, 13, 29: (3 + 13) / 2 = 8. 90th percentile: rank ceil(0.9 × 4) = 4 → 29.
    assert (median(days), percentile(days, 90)) == (8, 29)
    # 1, 1, 1, 2, 2, 2, 12: the 4th of 7 is 2; rank ceil(6.3) = 7 → 12.
    assert (median(Counter({1: 3, 2: 3, 12: 1})), percentile(Counter({1: 3, 2: 3, 12: 1}), 90)) == (
        2,
        12,
    )
    assert (median(Counter({2: 1, 3: 1})), median(Counter())) == (2.5, None)
    # Ten values 1..10: rank 9 → 9.
    assert percentile(Counter(range(1, 11)), 90) == 9


def test_it_counts_working_days_as_the_calendar_does(registry: ProtocolRegistry) -> None:
    calendar = registry.for_partnership("devon").calendar()
    days = [date(2026, 12, 1) + timedelta(days=n) for n in range(60)]
    counter = WorkingDays(calendar, days)
    for start in days[::3]:
        for end in days[::2]:
            assert counter.between(start, end) == calendar.working_days_between(start, end)
    # Thu 24 Dec to Tue 29 Dec: 25 (Christmas), 26-27 (weekend), 28 (Boxing Day substitute).
    assert counter.between(date(2026, 12, 24), date(2026, 12, 29)) == 1


# --- The hand-built data -----------------------------------------------------------------------


def request(**overrides: Any) -> Any:
    fields = {"decision_date": "2026-06-01", "child_initials": "QZ", "concern": CONCERN}
    return raise_request(**{**fields, **overrides})


def resolution(outcome: str) -> Resolution:
    return Resolution(outcome, "Agreed in writing", "Seen weekly by a social worker", True)


def at(text: str) -> Any:
    return london(f"2026-{text}")


class Story:
    """Two quarters of Devon challenges and two in Plymouth, told in time order through the real
    Service; the sweep runs only at the moments written here, so every lapse happens where a
    comment says it does. `refs` holds the references by name."""

    def __init__(self, service: Service, registry: ProtocolRegistry) -> None:
        directory.import_csv(
            service.sessions, FIXTURES / "report_directory.csv", registry.partnerships()
        )
        self.service, self.refs = service, {}
        self.quarter_2()
        self.october()
        self.november()
        self.december()

    def new(self, name: str, when: str, **overrides: Any) -> str:
        self.refs[name] = self.service.raise_challenge(request(**overrides), at(when))
        return self.refs[name]

    def sweep(self, when: str) -> None:
        sweep.run_once(self.service, at(when))

    def quarter_2(self) -> None:
        """2026-27 Q2 (July to September), Devon."""
        s = self.service
        # P1: resolved at level 1 on Fri 3 Jul (2 working days after Wed 1 Jul: 2, 3 Jul). Its
        # outcome check is due at the opening of the 20th working day after (6–10, 13–17, 20–24,
        # 27–31 Jul) = Fri 31 Jul 09:00, and is answered "yes".
        p1 = self.new("p1", "07-01 10:00", child_ref="CHILD-P")
        s.acknowledge(p1, SOCIAL_WORKER, at("07-01 14:00"))
        s.respond(p1, SOCIAL_WORKER, "upheld", "Threshold not met", [], at("07-02 10:00"))
        s.accept(p1, SCHOOL_DSL, resolution("decision_upheld"), at("07-03 10:00"))
        # P2: resolved by the partnership at level 1 on Mon 6 Jul, never acknowledged. Its check
        # (20th working day after 6 Jul = Mon 3 Aug) goes unanswered: reminded at the opening of
        # the 11th working day after 3 Aug (Tue 18 Aug) and closed "outcome not confirmed" at
        # the close of the 5th after that (19, 20, 21, 24, 25 Aug).
        p2 = self.new("p2", "07-02 10:00", raising_org=BIDEFORD, child_ref="CHILD-C")
        s.resolve(p2, BUSINESS_MANAGER, resolution("decision_changed"), at("07-06 10:00"))
        self.sweep("07-31 09:05")
        s.answer_outcome(p1, SCHOOL_DSL, True, None, at("07-31 11:00"))
        self.sweep("08-03 09:05")
        # P3: unanswered at level 1 (due Mon 10 Aug 17:00), so it lapses to level 2 at the sweep
        # of Tue 11 Aug; then it is withdrawn.
        p3 = self.new("p3", "08-03 10:00", responding_org=EARLY_HELP, child_ref="CHILD-P")
        self.sweep("08-11 09:05")
        s.withdraw(p3, SCHOOL_DSL, "Family moved out of area", at("08-12 10:00"))
        self.sweep("08-18 09:05")
        self.sweep("08-25 17:05")

    def october(self) -> None:
        s = self.service
        # R1 (CHILD-A): acknowledged the same day, answered the next, accepted Wed 7 Oct: level
        # 1, 2 working days (6, 7 Oct). Its check (due Wed 4 Nov) is asked on 11 Nov: "yes".
        r1 = self.new("r1", "10-05 10:00", child_ref="CHILD-A")
        s.acknowledge(r1, SOCIAL_WORKER, at("10-05 11:00"))
        # PL1 (Plymouth, CHILD-D): resolved at level 1 on Wed 7 Oct; its check is asked on 11
        # Nov and closed "outcome not confirmed" on Thu 3 Dec, as R3's below.
        pl1 = self.new(
            "pl1", "10-05 10:00", partnership="plymouth", raising_org=PLYMOUTH_HIGH,
            responding_org=GATEWAY, child_ref="CHILD-D",
        )  # fmt: skip
        s.acknowledge(pl1, "Casey Worker", at("10-05 12:00"))
        # R2 (CHILD-B) to the Front Door's Exeter team: acknowledged Wed 7 Oct (due then at
        # 17:00), answered Thu 8 Oct, escalated by the raiser Fri 9 Oct to level 2 (acknowledge
        # by Mon 12 Oct 17:00, respond by Tue 13 Oct 17:00: both met), accepted Wed 14 Oct.
        r2 = self.new(
            "r2", "10-06 10:00", raising_org=EXETER_HV, responding_team="Exeter",
            child_ref="CHILD-B", category="information_sharing", need_raiser_view=3,
            need_decision=3,
        )  # fmt: skip
        s.respond(r1, SOCIAL_WORKER, "upheld", "Threshold not met", [], at("10-06 10:00"))
        s.respond(pl1, "Casey Worker", "upheld", "Threshold not met", [], at("10-06 10:00"))
        s.acknowledge(r2, SOCIAL_WORKER, at("10-07 10:00"))
        s.accept(r1, SCHOOL_DSL, resolution("decision_upheld"), at("10-07 10:00"))
        s.accept(pl1, "Hal Lead", resolution("service_provided"), at("10-07 10:00"))
        # R3 (CHILD-A again): acknowledged Mon 12 Oct, after its due time (Fri 9 Oct 16:00);
        # answered in time (due Thu 15 Oct); accepted Tue 13 Oct: level 1, 3 working days (9,
        # 12, 13 Oct). Its check, asked 11 Nov, is closed "not confirmed" on Thu 3 Dec.
        r3 = self.new(
            "r3", "10-08 10:00", raising_org=POLICE, child_ref="CHILD-A",
            category="service_provision", need_raiser_view=2, need_decision=1,
        )  # fmt: skip
        s.respond(r2, SOCIAL_WORKER, "upheld", "Threshold not met", [], at("10-08 10:00"))
        s.escalate(r2, SCHOOL_DSL, "Further disclosures", at("10-09 10:00"))
        s.acknowledge(r3, SOCIAL_WORKER, at("10-12 10:00"))
        s.respond(r3, SOCIAL_WORKER, "upheld", "Information shared", [], at("10-12 11:00"))
        s.acknowledge(r2, TEAM_MANAGER, at("10-12 16:00"))
        self.october_level_4(r2, r3)

    def october_level_4(self, r2: str, r3: str) -> None:
        s = self.service
        # R4 (CHILD-C, whose Q2 challenge was P2): at level 4 from Mon 12 Oct, due 10 working
        # days later, Mon 26 Oct 17:00; never acknowledged; overdue from the sweep of Tue 27 Oct
        # (level 4 stays); answered late Wed 28 Oct (which is its late acknowledgement too) and
        # accepted Thu 29 Oct: level 4, 13 working days (13–16, 19–23, 26–29 Oct).
        r4 = self.new(
            "r4", "10-12 10:00", raising_org=NURSERY, child_ref="CHILD-C", start_level=4,
            start_reason="Serious risk", category="step_change", need_raiser_view=3,
            need_decision=2,
        )  # fmt: skip
        s.accept(r3, SCHOOL_DSL, resolution("information_shared"), at("10-13 10:00"))
        s.respond(r2, TEAM_MANAGER, "changed", "Assessment allocated", [], at("10-13 12:00"))
        s.accept(r2, SCHOOL_DSL, resolution("decision_changed"), at("10-14 10:00"))
        # W1 (CHILD-D) to Early Help: withdrawn the next day, before anything was due.
        w1 = self.new(
            "w1", "10-19 10:00", raising_org=YOUNG_CARERS, responding_org=EARLY_HELP,
            child_ref="CHILD-D", category="roles", need_raiser_view=None, need_decision=None,
        )  # fmt: skip
        s.withdraw(w1, SCHOOL_DSL, "Resolved by a phone call", at("10-20 10:00"))
        self.sweep("10-27 09:05")
        s.respond(r4, SOCIAL_WORKER, "changed", "Stepped up to a child in need plan", [],
                  at("10-28 10:00"))  # fmt: skip
        s.accept(r4, SCHOOL_DSL, resolution("stepped_up"), at("10-29 10:00"))

    def november(self) -> None:
        s, refs = self.service, self.refs
        # O2 (CHILD-E): level 4 from Mon 2 Nov, due Mon 16 Nov 17:00, never acknowledged or
        # answered: overdue from the sweep of Thu 26 Nov, and still overdue now.
        self.new(
            "o2", "11-02 10:00", child_ref="CHILD-E", start_level=4,
            start_reason="Serious risk", need_raiser_view=4, need_decision=3,
        )  # fmt: skip
        # PL2: a Devon school (Bideford) challenging for a Plymouth child; answered, so open at
        # level 1 waiting for the raiser. Bideford raised nothing in Devon in Q3.
        pl2 = self.new(
            "pl2", "11-10 10:00", partnership="plymouth", raising_org=BIDEFORD,
            responding_org=GATEWAY, child_ref="CHILD-A", category="roles",
        )  # fmt: skip
        s.acknowledge(pl2, "Casey Worker", at("11-10 12:00"))
        self.sweep("11-11 09:05")  # asks the checks of R1, PL1, R3 and R2 (due 4–11 Nov)
        s.respond(pl2, "Casey Worker", "upheld", "Threshold not met", [], at("11-11 10:00"))
        s.answer_outcome(refs["r1"], SCHOOL_DSL, True, None, at("11-12 10:00"))
        # R2: "no", then reopened at level 2 (Fri 13 Nov; respond by Tue 17 Nov 17:00), answered
        # Mon 16 Nov (its acknowledgement too) and accepted that day. Its latest resolution: level
        # 2, 29 working days after Tue 6 Oct (7–9, 12–16, 19–23, 26–30 Oct, 2–6, 9–13, 16 Nov).
        # The "no" still counts, although reopening clears the challenge's answer.
        r2 = refs["r2"]
        s.answer_outcome(r2, SCHOOL_DSL, False, None, at("11-12 11:00"))
        s.reopen(r2, SCHOOL_DSL, "Nothing has changed at home", at("11-13 10:00"))
        s.respond(r2, TEAM_MANAGER, "changed", "Referral accepted", [], at("11-16 10:00"))
        s.accept(r2, SCHOOL_DSL, resolution("new_referral_accepted"), at("11-16 14:00"))
        # The sweep of Thu 26 Nov: O2 becomes overdue; R4's check (20th working day after Thu
        # 29 Oct = Thu 26 Nov) is asked; R3's and PL1's are reminded. R4 answers "no" and the
        # raiser closes it.
        self.sweep("11-26 09:05")
        s.answer_outcome(refs["r4"], SCHOOL_DSL, False, None, at("11-27 10:00"))
        s.close(refs["r4"], SCHOOL_DSL, "Family moved away", at("11-27 11:00"))

    def december(self) -> None:
        s = self.service
        self.sweep("12-03 17:05")  # R3's and PL1's checks closed "outcome not confirmed"
        # O3 (CHILD-F) to Early Help's North team, never answered: due Mon 14 Dec 17:00, it
        # lapses to level 2 at the sweep of 14 Dec 17:05 (due 2 working days later, Wed 16 Dec
        # 17:00), to level 3 on 16 Dec 17:05 (due 17, 18, 21, 22, 23 Dec: Wed 23 Dec 17:00) and
        # to level 4 on 23 Dec 17:05 (due 10 working days after 23 Dec: 24, 29, 30, 31 Dec, 4–8,
        # 11 Jan 2027: Mon 11 Jan 17:00): three automatic escalations, open and not overdue.
        self.new(
            "o3", "12-07 10:00", responding_org=EARLY_HELP, responding_team="North",
            child_ref="CHILD-F", category="plan_not_progressing", need_raiser_view=3,
            need_decision=2,
        )  # fmt: skip
        # O4 (CHILD-G): paused the next day: open at level 1, its clocks stopped.
        o4 = self.new("o4", "12-14 10:00", raising_org=EXETER_HV, child_ref="CHILD-G")
        self.sweep("12-14 17:05")
        s.pause(o4, SOCIAL_WORKER, SCHOOL_DSL, "Strategy discussion", at("12-15 10:00"))
        self.sweep("12-16 17:05")
        # O5 (CHILD-H): acknowledged and answered: open at level 1, waiting for the raiser.
        o5 = self.new("o5", "12-22 10:00", child_ref="CHILD-H")
        s.acknowledge(o5, SOCIAL_WORKER, at("12-22 11:00"))
        s.respond(o5, SOCIAL_WORKER, "upheld", "Threshold not met", [], at("12-23 10:00"))
        self.sweep("12-23 17:05")
        # O1 (CHILD-B, R2's child): raised on Christmas Eve; as of Tue 29 Dec 10:00 its age is 1
        # working day (25 Dec Christmas Day, 26–27 the weekend, 28 Dec the Boxing Day substitute,
        # 29 Dec counts), and its acknowledgement is due only at 17:00 today.
        self.new("o1", "12-24 10:00", child_ref="CHILD-B")


@pytest.fixture
def story(service: Service, registry: ProtocolRegistry) -> Story:
    return Story(service, registry)


def report(
    story: Story, partnership: str | None = "devon", period: Period = Q3, publishable: bool = False
) -> Report:
    service = story.service
    return build_report(service.sessions, service.registry, partnership, period, AS_OF, publishable)


def rows(report: Report, table_id: str) -> list[tuple[Cell, ...]]:
    return list(report.table(table_id).rows)


def test_it_counts_open_challenges_by_level_age_and_overdue_now(story: Story) -> None:
    devon = report(story)
    assert (devon.partnership, devon.partnership_name, devon.as_of) == (
        "devon",
        "Devon Safeguarding Children Partnership",
        AS_OF,
    )
    # Open now: O1 (level 1, awaiting), O4 (level 1, paused), O5 (level 1, responded), O2
    # (level 4, overdue since 16 Nov) and O3 (level 4, due 11 Jan). R2 is in its outcome check:
    # resolved, not open. Overdue: O2 only.
    assert rows(devon, "open_summary") == [("Open challenges", 5), ("Overdue now", 1)]
    assert rows(devon, "open_by_level") == [
        (LEVELS[0], 3, 0), (LEVELS[1], 0, 0), (LEVELS[2], 0, 0), (LEVELS[3], 2, 1),
    ]  # fmt: skip
    # Working days after the UK date raised, up to and including Tue 29 Dec:
    # O1 (Thu 24 Dec): 29 Dec only (25 and 28 Dec are bank holidays) = 1;
    # O5 (Tue 22 Dec): 23, 24, 29 = 3; O4 (Mon 14 Dec): 15–18, 21–24, 29 = 9;
    # O3 (Mon 7 Dec): 8–11, 14–18, 21–24, 29 = 14;
    # O2 (Mon 2 Nov): 3–6, 9–13, 16–20, 23–27, 30 Nov, 1–4, 7–11, 14–18, 21–24, 29 Dec = 39.
    assert rows(devon, "open_by_age") == [("0–5", 2), ("6–10", 1), ("11–20", 1), ("over 20", 1)]


def test_it_counts_challenges_raised_in_the_quarter_every_way(story: Story) -> None:
    devon = report(story)
    # Raised in Q3 in Devon: R1, R2, R3, R4, W1, O2, O3, O4, O5, O1. Resolved (latest
    # resolution in Q3): R1, R2, R3, R4. Withdrawn: W1. Escalated by the raiser: R2 (9 Oct);
    # automatically: O3 three times (14, 16, 23 Dec). R4's and O2's lapses at level 4 only
    # made them overdue. P1–P3 belong to Q2, PL1 and PL2 to Plymouth.
    assert rows(devon, "period_summary") == [
        ("Challenges raised", 10),
        ("Challenges resolved", 4),
        ("Challenges withdrawn", 1),
        ("Levels escalated by the raiser", 1),
        ("Levels escalated automatically (unanswered)", 3),
    ]
    # Ashcombe: R1, O2, O3, O5, O1; Exeter Health Visiting: R2, O4; one each for the police,
    # the nursery and the young carers' charity. Bideford's only Q3 challenge was Plymouth's.
    assert rows(devon, "raised_by_org_type") == [
        ("Schools", 5), ("Children's social care", 0), ("Health", 2), ("Police", 1),
        ("Early years", 1), ("Voluntary and community", 1), ("Partnership business unit", 0),
        ("Other", 0),
    ]  # fmt: skip
    assert rows(devon, "raised_by_org") == [
        (ASHCOMBE, "Schools", 5),
        (EXETER_HV, "Health", 2),
        (POLICE, "Police", 1),
        (NURSERY, "Early years", 1),
        (YOUNG_CARERS, "Voluntary and community", 1),
    ]
    # Early Help: W1 (no team), O3 (North); the Front Door the other 8, R2 to its Exeter team.
    assert rows(devon, "raised_by_receiving_org") == [(EARLY_HELP, 2), (FRONT_DOOR, 8)]
    assert rows(devon, "raised_by_receiving_team") == [
        (f"{EARLY_HELP}: North", 1),
        (f"{EARLY_HELP}: no team given", 1),
        (f"{FRONT_DOOR}: Exeter", 1),
        (f"{FRONT_DOOR}: no team given", 7),
    ]
    # Threshold (the default): R1, O2, O4, O5, O1; one each of the others.
    assert rows(devon, "raised_by_category") == [
        ("Risk, threshold or level of need", 5), ("Roles and responsibilities", 1),
        ("Information sharing", 1), ("Service provision", 1), ("Plan not progressing", 1),
        ("Step-up, step-down or closure", 1),
    ]  # fmt: skip
    # (raiser's view, decision): (4, 2) R1, O4, O5, O1; (3, 3) R2; (2, 1) R3; (3, 2) R4, O3;
    # (4, 3) O2; neither recorded: W1.
    assert report(story).table("raised_by_need").columns[1:] == NEEDS
    assert rows(devon, "raised_by_need") == [
        ("1 Universal", 0, 0, 0, 0, 0),
        ("2 Early Help", 1, 0, 0, 0, 0),
        ("3 Targeted", 0, 2, 1, 0, 0),
        ("4 Specialist", 0, 4, 1, 0, 0),
        ("Not recorded", 0, 0, 0, 0, 1),
    ]
    # Children in Q3: A (R1, R3), B (R2, O1), C (R4), D (W1), E, F, G, H = 8; twice in Q3: A
    # and B; twice ever: A, B and C (P2 in Q2). Plymouth's CHILD-A and CHILD-D are other
    # children: another partnership.
    assert rows(devon, "repeat_children") == [
        ("Children with a challenge raised in the period", 8),
        ("… of whom 2 or more raised in the period", 2),
        ("… of whom 2 or more raised ever, to the end of the period", 3),
    ]


def test_it_counts_resolutions_outcomes_and_outcome_checks_in_the_quarter(story: Story) -> None:
    devon = report(story)
    # Latest resolutions in Q3: R1 (level 1, 2 working days), R3 (level 1, 3), R2 (level 2,
    # 29: reopened and resolved again on 16 Nov) and R4 (level 4, 13).
    assert rows(devon, "resolved_by_level") == [
        (LEVELS[0], 2), (LEVELS[1], 1), (LEVELS[2], 0), (LEVELS[3], 1),
    ]  # fmt: skip
    # Level 1: 2 and 3: median 2.5; 90th percentile: rank ceil(1.8) = 2 → 3. All: 2, 3, 13,
    # 29: median (3 + 13) / 2 = 8; rank ceil(3.6) = 4 → 29.
    assert rows(devon, "resolution_working_days") == [
        (LEVELS[0], 2, 2.5, 3),
        (LEVELS[1], 1, 29, 29),
        (LEVELS[2], 0, None, None),
        (LEVELS[3], 1, 13, 13),
        ("All levels", 4, 8, 29),
    ]
    assert rows(devon, "resolved_share") == [("Levels 1–2", 3, 75.0), ("Levels 3–4", 1, 25.0)]
    assert rows(devon, "resolved_outcomes") == [
        ("Decision upheld", 1), ("Decision changed", 0), ("New referral accepted", 1),
        ("Stepped up", 1), ("Stepped down", 0), ("Service provided", 0),
        ("Information shared", 1), ("Other", 0),
    ]  # fmt: skip
    # Answered in Q3: R1 yes (12 Nov); R2 no (12 Nov, then reopened), R4 no (27 Nov). R3
    # closed "outcome not confirmed" on 3 Dec. P1's yes and P2's closing were in Q2.
    assert rows(devon, "outcome_checks") == [
        ("Yes", 1), ("No", 2), ("Not confirmed (no answer; closed)", 1),
    ]  # fmt: skip


def test_it_counts_escalations_and_timeliness_by_receiving_organisation(story: Story) -> None:
    devon = report(story)
    assert rows(devon, "escalations_by_receiving_org") == [(EARLY_HELP, 0, 3), (FRONT_DOOR, 1, 0)]
    # Levels opened in Q3. Early Help: W1 (withdrawn before anything was due: not yet due or
    # ended), O3's four levels: the first three ended by lapsing after both due times passed
    # unmet; the fourth, opened 23 Dec 17:05, was to be acknowledged by Thu 24 Dec 17:00 (not
    # met) and answered by 11 Jan (not yet due).
    # Front Door, ten levels. Acknowledged on time: R1 (same day, 0 working days), R2 level 1
    # (1), R2 level 2 (Mon 12 Oct for Fri 9 Oct: 1), R2 reopened (answered Mon 16 Nov for Fri 13
    # Nov: 1), O5 (0). Late: R3 (2: 9, 12 Oct), R4 (answered 28 Oct: 12 working days). Missed:
    # O2. Not yet due or paused: O4 (paused), O1 (due 17:00 today). Median of 0, 0, 1, 1, 1, 2,
    # 12: 1.
    assert rows(devon, "acknowledgement_by_receiving_org") == [
        (EARLY_HELP, 5, 0, 0, 4, 1, None),
        (FRONT_DOOR, 10, 5, 2, 1, 2, 1),
    ]
    # Answered on time: R1 (1), R2 level 1 (2), level 2 (2: 12, 13 Oct), reopened (1), R3 (2),
    # O5 (1). Late: R4 (12). Missed: O2. Not yet due or paused: O4, O1. Median of 1, 1, 1, 2,
    # 2, 2, 12: 2. Early Help: O3's first three missed; W1 and O3's fourth not yet due.
    assert rows(devon, "response_by_receiving_org") == [
        (EARLY_HELP, 5, 0, 0, 3, 2, None),
        (FRONT_DOOR, 10, 6, 1, 1, 2, 2),
    ]


def test_it_lists_raising_organisations_that_raised_no_challenge_anywhere(story: Story) -> None:
    # Devon's raising organisations: three schools, one each of health, police, early years and
    # voluntary (the Front Door, Early Help and the business unit are not raising types). In Q3
    # only Cullompton raised nothing: Bideford raised PL2, for a Plymouth child.
    devon = report(story)
    assert rows(devon, "no_challenge_by_type") == [
        ("Schools", 3, 1), ("Health", 1, 0), ("Police", 1, 0), ("Early years", 1, 0),
        ("Voluntary and community", 1, 0), ("Other", 0, 0),
    ]  # fmt: skip
    assert rows(devon, "no_challenge_orgs") == [("Cullompton Community College", "Schools")]
    # In Q2 only Ashcombe (P1, P3) and Bideford (P2) raised any.
    assert rows(report(story, period=Q2), "no_challenge_orgs") == [
        ("Cullompton Community College", "Schools"),
        (POLICE, "Police"),
        (YOUNG_CARERS, "Voluntary and community"),
        (EXETER_HV, "Health"),
        (NURSERY, "Early years"),
    ]


def test_it_counts_an_earlier_quarter_on_its_own(story: Story) -> None:
    q2 = report(story, period=Q2)
    # Q2: raised P1, P2, P3; resolved P1 (Fri 3 Jul, 2 working days: 2, 3 Jul) and P2 (Mon 6
    # Jul, 2: 3, 6 Jul), both at level 1; P3 withdrawn after lapsing to level 2 on 11 Aug.
    assert rows(q2, "period_summary") == [
        ("Challenges raised", 3),
        ("Challenges resolved", 2),
        ("Challenges withdrawn", 1),
        ("Levels escalated by the raiser", 0),
        ("Levels escalated automatically (unanswered)", 1),
    ]
    assert rows(q2, "resolution_working_days") == [
        (LEVELS[0], 2, 2, 2),
        (LEVELS[1], 0, None, None),
        (LEVELS[2], 0, None, None),
        (LEVELS[3], 0, None, None),
        ("All levels", 2, 2, 2),
    ]
    assert rows(q2, "resolved_share") == [("Levels 1–2", 2, 100.0), ("Levels 3–4", 0, 0.0)]
    # P1 "yes" on 31 Jul; P2 closed "outcome not confirmed" on 25 Aug.
    assert rows(q2, "outcome_checks") == [
        ("Yes", 1), ("No", 0), ("Not confirmed (no answer; closed)", 1),
    ]  # fmt: skip
    # Children P (P1, P3) and C (P2): P twice.
    assert [count for _, count in rows(q2, "repeat_children")] == [2, 1, 1]
    assert rows(q2, "escalations_by_receiving_org") == [(EARLY_HELP, 0, 1)]
    # Early Help: P3's level 1 (acknowledge by Tue 4 Aug 17:00, respond by Mon 10 Aug 17:00:
    # neither, ended by the lapse on 11 Aug) and level 2 (withdrawn on 12 Aug before either
    # was due). Front Door: P1 acknowledged the same day (0) and answered the next (1); P2
    # never acknowledged by Fri 3 Jul 16:00 and resolved on 6 Jul before its response was due.
    assert rows(q2, "acknowledgement_by_receiving_org") == [
        (EARLY_HELP, 2, 0, 0, 1, 1, None),
        (FRONT_DOOR, 2, 1, 0, 1, 0, 0),
    ]
    assert rows(q2, "response_by_receiving_org") == [
        (EARLY_HELP, 2, 0, 0, 1, 1, None),
        (FRONT_DOOR, 2, 1, 0, 0, 1, 1),
    ]
    # "Open now" does not depend on the period.
    assert q2.sections[0] == report(story).sections[0]


def test_it_reports_one_partnership_or_every_partnership(story: Story) -> None:
    plymouth = report(story, "plymouth")
    assert plymouth.partnership_name == "Plymouth Safeguarding Children Partnership"
    # PL1 (resolved at level 1 in 2 working days; its check closed unanswered on 3 Dec) and PL2
    # (raised by a Devon school; open at level 1, 33 working days old: 11–13, 16–20, 23–27,
    # 30 Nov, 1–4, 7–11, 14–18, 21–24, 29 Dec).
    assert [n for _, n in rows(plymouth, "period_summary")] == [2, 1, 0, 0, 0]
    assert rows(plymouth, "raised_by_org") == [
        (f"{BIDEFORD} (devon)", "Schools", 1),
        (PLYMOUTH_HIGH, "Schools", 1),
    ]
    assert rows(plymouth, "open_summary") == [("Open challenges", 1), ("Overdue now", 0)]
    assert [n for _, n in rows(plymouth, "open_by_age")] == [0, 0, 0, 1]
    assert [n for _, n in rows(plymouth, "repeat_children")] == [2, 0, 0]
    assert [n for _, n in rows(plymouth, "outcome_checks")] == [0, 0, 1]
    assert rows(plymouth, "no_challenge_orgs") == [("Plymouth Community Health", "Health")]

    every = report(story, None)
    assert (every.partnership, every.partnership_name) == (None, "All partnerships")
    assert [n for _, n in rows(every, "period_summary")] == [12, 5, 1, 1, 3]
    assert rows(every, "open_summary") == [("Open challenges", 6), ("Overdue now", 1)]
    assert [n for _, n in rows(every, "open_by_age")] == [2, 1, 1, 2]
    # Devon's 8 children and Plymouth's 2: the same references in two partnerships are
    # different children.
    assert [n for _, n in rows(every, "repeat_children")] == [10, 2, 3]
    # Level 1: 2, 3 and PL1's 2: median 2, rank ceil(2.7) = 3 → 3. All: 2, 2, 3, 13, 29.
    assert rows(every, "resolution_working_days")[0] == (LEVELS[0], 3, 2, 3)
    assert rows(every, "resolution_working_days")[-1] == ("All levels", 5, 3, 29)
    assert rows(every, "raised_by_org")[:3] == [
        (f"{ASHCOMBE} (devon)", "Schools", 5),
        (f"{BIDEFORD} (devon)", "Schools", 1),
        (f"{PLYMOUTH_HIGH} (plymouth)", "Schools", 1),
    ]
    assert rows(every, "no_challenge_orgs") == [
        ("Cullompton Community College (devon)", "Schools"),
        ("Plymouth Community Health (plymouth)", "Health"),
    ]


def test_it_withholds_small_counts_in_a_publishable_report(story: Story) -> None:
    published = report(story, publishable=True)
    assert published.publishable
    assert rows(published, "open_summary") == [("Open challenges", 5), ("Overdue now", S)]
    assert rows(published, "open_by_level") == [
        (LEVELS[0], S, 0), (LEVELS[1], 0, 0), (LEVELS[2], 0, 0), (LEVELS[3], S, S),
    ]  # fmt: skip
    assert [n for _, n in rows(published, "open_by_age")] == [S, S, S, S]
    assert [n for _, n in rows(published, "period_summary")] == [10, S, S, S, S]
    assert [n for _, n in rows(published, "raised_by_org_type")] == [5, 0, S, S, S, S, 0, 0]
    assert [row[2] for row in rows(published, "raised_by_org")] == [5, S, S, S, S]
    # Early Help's 2 is withheld; the total (10) is shown, so the Front Door's 8 goes too.
    assert rows(published, "raised_by_receiving_org") == [(EARLY_HELP, S), (FRONT_DOOR, S)]
    # The Front Door's 8 is withheld, so its teams must not add up to it: Exeter's 1 is
    # withheld and that is enough; 7 with no team given may show.
    assert [n for _, n in rows(published, "raised_by_receiving_team")] == [S, S, S, 7]
    assert [n for _, n in rows(published, "raised_by_category")] == [5, S, S, S, S, S]
    assert rows(published, "raised_by_need") == [
        ("1 Universal", 0, 0, 0, 0, 0),
        ("2 Early Help", S, 0, 0, 0, 0),
        ("3 Targeted", 0, S, S, 0, 0),
        ("4 Specialist", 0, S, S, 0, 0),
        ("Not recorded", 0, 0, 0, 0, S),
    ]
    assert [n for _, n in rows(published, "repeat_children")] == [8, S, S]
    assert [n for _, n in rows(published, "resolved_by_level")] == [S, S, 0, S]
    # Four resolutions: every median and percentile is of fewer than 5.
    assert rows(published, "resolution_working_days") == [
        (LEVELS[0], S, S, S),
        (LEVELS[1], S, S, S),
        (LEVELS[2], 0, None, None),
        (LEVELS[3], S, S, S),
        ("All levels", S, S, S),
    ]
    assert rows(published, "resolved_share") == [("Levels 1–2", S, S), ("Levels 3–4", S, S)]
    assert [n for _, n in rows(published, "resolved_outcomes")] == [S, 0, S, S, 0, 0, S, 0]
    assert [n for _, n in rows(published, "outcome_checks")] == [S, S, S]
    assert rows(published, "escalations_by_receiving_org") == [
        (EARLY_HELP, 0, S),
        (FRONT_DOOR, S, 0),
    ]
    # Front Door: 5 on time and 7 median figures show; 2 late, 1 missed, 2 pending do not.
    assert rows(published, "acknowledgement_by_receiving_org") == [
        (EARLY_HELP, 5, 0, 0, S, S, None),
        (FRONT_DOOR, 10, 5, S, S, S, 1),
    ]
    assert rows(published, "response_by_receiving_org") == [
        (EARLY_HELP, 5, 0, 0, S, S, None),
        (FRONT_DOOR, 10, 6, S, S, S, 2),
    ]
    # Organisations are counted and named as before.
    assert rows(published, "no_challenge_by_type") == rows(report(story), "no_challenge_by_type")


def test_it_never_shows_a_child_s_details_or_a_person(story: Story) -> None:
    text = repr([report(story, None), report(story, "devon", publishable=True)])
    for detail in (
        "CHILD-", "QZ", "2015", CONCERN, "frightened", "Seen weekly", "Agreed in writing",
        "Family moved", "Strategy discussion", SCHOOL_DSL, SOCIAL_WORKER, TEAM_MANAGER,
        BUSINESS_MANAGER, "Casey Worker", "Hal Lead", "@",
    ):  # fmt: skip
        assert detail not in text, detail


def test_it_uses_the_uk_date_for_instants_just_after_midnight_in_summer(
    service: Service,
) -> None:
    # 00:30 on Thu 1 Oct 2026 in London is 23:30 on Wed 30 Sep in UTC: a Q3 challenge,
    # acknowledged the same UK day (0 working days, not 1) and resolved on Fri 2 Oct (1 working
    # day, not 2).
    reference = service.raise_challenge(request(), london("2026-10-01 00:30"))
    service.acknowledge(reference, SOCIAL_WORKER, london("2026-10-01 09:00"))
    service.resolve(reference, BUSINESS_MANAGER, resolution("other"), london("2026-10-02 10:00"))

    def figures(period: Period) -> tuple[Any, ...]:
        built = build_report(service.sessions, service.registry, "devon", period, AS_OF, False)
        return (
            rows(built, "period_summary")[0],
            rows(built, "resolution_working_days")[0],
            [row[-1] for row in rows(built, "acknowledgement_by_receiving_org")],
        )

    assert figures(Q3) == (("Challenges raised", 1), (LEVELS[0], 1, 1, 1), [0])
    assert figures(Q2) == (("Challenges raised", 0), (LEVELS[0], 0, None, None), [])


def test_it_refuses_a_partnership_without_a_protocol(service: Service) -> None:
    with pytest.raises(InvalidInput) as caught:
        build_report(service.sessions, service.registry, "cornwall", Q3, AS_OF, False)
    assert caught.value.field == "partnership"
    assert "'cornwall' is not a partnership (devon, plymouth, torbay)" in str(caught.value)
