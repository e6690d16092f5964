"""Loading and validating protocol files, the closures file and the registry."""

from __future__ import annotations

import copy
import dataclasses
import shutil
from collections.abc import Callable
from datetime import date, time
from pathlib import Path
from typing import Any

import pytest
import yaml

from escalation.errors import NotFound, ProtocolError
from escalation.resources import templates_dir, workflows_dir
from escalation.rules.model import OnLapse, Provenance, Role
from escalation.rules.registry import (
    describe,
    load_closures_file,
    load_protocol_file,
    load_registry,
)
from escalation.rules.workdays import Duration, Unit

REPO = Path(__file__).resolve().parents[2]
WORKFLOWS = REPO / "workflows"
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "protocols"

Data = dict[str, Any]


def days(n: int) -> Duration:
    return Duration(n, Unit.WORKING_DAYS)


def hours(n: int) -> Duration:
    return Duration(n, Unit.WORKING_HOURS)


_DEVON: Data = yaml.safe_load((WORKFLOWS / "devon.yaml").read_text(encoding="utf-8"))


def devon() -> Data:
    return copy.deepcopy(_DEVON)


def write(folder: Path, data: Any, name: str = "devon.yaml") -> Path:
    path = folder / name
    path.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True), encoding="utf-8")
    return path


def write_text(folder: Path, text: str, name: str = "devon.yaml") -> Path:
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


def problems_of(path: Path) -> list[str]:
    with pytest.raises(ProtocolError) as info:
        load_protocol_file(path)
    return info.value.problems


def problems_after(tmp_path: Path, change: Callable[[Data], object]) -> list[str]:
    data = devon()
    change(data)
    return problems_of(write(tmp_path, data))


def assert_reports(problems: list[str], fragment: str) -> None:
    assert any(fragment in problem for problem in problems), "\n".join(problems)


def registry_problems(**kwargs: Any) -> list[str]:
    with pytest.raises(ProtocolError) as info:
        load_registry(**kwargs)
    return info.value.problems


# --- The shipped files -------------------------------------------------------------------------


def test_it_loads_the_three_shipped_protocols_and_the_closures_file() -> None:
    registry = load_registry(WORKFLOWS)
    assert [protocol.key for protocol in registry.all()] == ["devon@1", "plymouth@1", "torbay@1"]
    assert registry.partnerships() == ["devon", "plymouth", "torbay"]
    assert registry.closures is not None
    assert registry.closures.reviewed_until == date(2027, 12, 31)
    assert registry.get("devon").closures.reviewed_until == date(2027, 12, 31)


def test_it_loads_the_shipped_protocols_from_the_default_folder() -> None:
    assert [protocol.id for protocol in load_registry().all()] == ["devon", "plymouth", "torbay"]


def test_it_reads_devon_values_as_written() -> None:
    protocol = load_registry(WORKFLOWS).for_partnership("devon")
    assert (protocol.id, protocol.version, protocol.reference_prefix) == ("devon", 1, "DSCP")
    assert protocol.source_file == "devon.yaml"
    assert protocol.top_level == 4
    level3 = protocol.level(3)
    assert level3.normal.response_due == days(5)
    assert level3.normal.reminders == (days(2), days(1))
    assert level3.normal.acknowledge_due == days(1)
    assert level3.urgent.response_due == hours(4)
    assert level3.urgent.reminders == (hours(1),)
    assert level3.copy_partnership is True
    assert level3.on_lapse is OnLapse.ESCALATE
    assert level3.overdue_reminders is None
    assert level3.provenance["response_due"].text.startswith(
        "default — confirm with the partnership"
    )
    assert level3.provenance["response_due"].to_confirm


def test_it_reads_devon_level_4_and_the_protocol_wide_values() -> None:
    protocol = load_registry(WORKFLOWS).get("devon", 1)
    level4 = protocol.level(4)
    assert level4.on_lapse is OnLapse.STAY
    assert level4.overdue_reminders is not None
    assert (level4.overdue_reminders.every, level4.overdue_reminders.max) == (days(2), 3)
    assert level4.normal.response_due == days(10)
    assert protocol.level(2).raiser_roles == (Role.DSL, Role.LINE_MANAGER)
    assert protocol.business_hours.days[4] == (time(9), time(16))
    assert protocol.business_hours.days[0] == (time(9), time(17))
    assert 5 not in protocol.business_hours.days
    assert protocol.levels_of_need == {
        1: "Universal",
        2: "Early Help",
        3: "Targeted",
        4: "Specialist",
    }
    assert protocol.raiser_decision_reminder == days(5)
    assert protocol.outcome_check.ask_after == days(20)
    assert protocol.outcome_check.answer_due == days(10)
    assert protocol.outcome_check.close_after_reminder == days(5)
    assert [c.phone for c in protocol.immediate_risk] == ["0345 155 1071", "0345 6000 388", "999"]
    assert protocol.source.startswith("Devon SCP Case Resolution Protocol")
    assert "source" not in protocol.provenance  # provenance is per field only


@pytest.mark.parametrize(("partnership", "prefix"), [("plymouth", "PSCP"), ("torbay", "TSCP")])
def test_it_ships_plymouth_and_torbay_with_unconfirmed_defaults_only(
    partnership: str, prefix: str
) -> None:
    protocol = load_registry(WORKFLOWS).for_partnership(partnership)
    assert (protocol.id, protocol.reference_prefix) == (partnership, prefix)
    assert protocol.business_hours.days == {day: (time(9), time(17)) for day in range(5)}
    assert protocol.provenance["business_hours"] == Provenance(
        "default — confirm with the partnership", to_confirm=True
    )
    assert [(c.phone, c.source) for c in protocol.immediate_risk] == [
        ("999", "UK emergency number"),
        ("101", "UK police non-emergency number"),
    ]
    devon_protocol = load_registry(WORKFLOWS).get("devon")
    for mine, theirs in zip(protocol.levels, devon_protocol.levels, strict=True):
        assert (mine.normal, mine.urgent, mine.on_lapse) == (
            theirs.normal,
            theirs.urgent,
            theirs.on_lapse,
        )
        assert all(entry.to_confirm for entry in mine.provenance.values())


def test_it_accepts_a_single_level_protocol_with_no_reminders() -> None:
    protocol = load_protocol_file(FIXTURES / "minimal.yaml")
    assert protocol.top_level == 1
    assert protocol.level(1).normal.reminders == ()
    assert protocol.level(1).responder_roles == (Role.PRACTITIONER, Role.ADMIN)
    assert protocol.business_hours.days == {2: (time(10), time(12, 30))}


def test_it_stores_reminders_largest_first(tmp_path: Path) -> None:
    data = devon()
    data["levels"][2]["reminders"] = ["1 working day", "2 working days"]
    data["levels"][2]["urgent_response_due"] = "5 working hours"
    data["levels"][2]["urgent_reminders"] = ["1 working hour", "3 working hours", "2 working hours"]
    level = load_protocol_file(write(tmp_path, data)).level(3)
    assert level.normal.reminders == (days(2), days(1))
    assert level.urgent.reminders == (hours(3), hours(2), hours(1))


def test_it_sorts_levels_by_number_whatever_their_order_in_the_file(tmp_path: Path) -> None:
    data = devon()
    data["levels"].reverse()
    protocol = load_protocol_file(write(tmp_path, data))
    assert [level.number for level in protocol.levels] == [1, 2, 3, 4]


# --- YAML-level problems -----------------------------------------------------------------------


def test_it_reports_a_yaml_syntax_error_with_its_line(tmp_path: Path) -> None:
    path = write_text(tmp_path, "id: devon\nversion: 1\nname: [unclosed\npartnership: devon\n")
    problems = problems_of(path)
    assert len(problems) == 1
    assert problems[0].startswith("devon.yaml: line ")
    assert "YAML syntax error" in problems[0]


def test_it_reports_a_bad_indentation_with_its_line(tmp_path: Path) -> None:
    path = write_text(tmp_path, "id: devon\nversion: 1\n  name: oops\n")
    assert_reports(problems_of(path), "devon.yaml: line 3, column")


def test_it_reports_a_key_given_twice(tmp_path: Path) -> None:
    text = (
        (WORKFLOWS / "devon.yaml")
        .read_text(encoding="utf-8")
        .replace("version: 1\n", "version: 1\nversion: 2\n", 1)
    )
    assert_reports(
        problems_of(write_text(tmp_path, text)), 'devon.yaml: line 11: key "version" is given twice'
    )


def test_it_reports_an_empty_file(tmp_path: Path) -> None:
    assert problems_of(write_text(tmp_path, "# nothing\n")) == ["devon.yaml: the file is empty"]


def test_it_reports_a_file_that_is_not_a_mapping(tmp_path: Path) -> None:
    problems = problems_of(write_text(tmp_path, "- id: devon\n"))
    assert problems == ["devon.yaml: the file must be a mapping of keys to values, not a list"]


def test_it_reports_a_file_that_cannot_be_read(tmp_path: Path) -> None:
    assert_reports(problems_of(tmp_path / "absent.yaml"), "absent.yaml: cannot read the file")


def test_it_reports_several_yaml_documents_in_one_file(tmp_path: Path) -> None:
    assert_reports(problems_of(write_text(tmp_path, "id: a\n---\nid: b\n")), "YAML syntax error")


# --- Keys and types ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "fragment"),
    [
        (
            lambda d: d.update(outcome_chek=1),
            'devon.yaml: outcome_chek: unknown key (did you mean "outcome_check"?)',
        ),
        (
            lambda d: d["levels"][2].update(respons_due="5 working days"),
            "devon.yaml: levels[2].respons_due: unknown key",
        ),
        (
            lambda d: d["outcome_check"].update(remind=1),
            "devon.yaml: outcome_check.remind: unknown key",
        ),
        (
            lambda d: d["immediate_risk"][0].update(email="x"),
            "devon.yaml: immediate_risk[0].email: unknown key",
        ),
        (
            lambda d: d["levels"][3]["overdue_reminders"].update(each=1),
            "devon.yaml: levels[3].overdue_reminders.each: unknown key",
        ),
    ],
)
def test_it_reports_unknown_keys_at_any_depth(
    tmp_path: Path, change: Callable[[Data], object], fragment: str
) -> None:
    assert_reports(problems_after(tmp_path, change), fragment)


@pytest.mark.parametrize(
    ("change", "fragment"),
    [
        (
            lambda d: d.pop("reference_prefix"),
            "devon.yaml: reference_prefix: required key is missing",
        ),
        (lambda d: d.pop("provenance"), "devon.yaml: provenance: required key is missing"),
        (
            lambda d: d["levels"][2].pop("response_due"),
            "devon.yaml: levels[2].response_due: required key is missing",
        ),
        (
            lambda d: d["levels"][0].pop("urgent_reminders"),
            "devon.yaml: levels[0].urgent_reminders: required key is missing",
        ),
        (
            lambda d: d["levels"][1].pop("on_lapse"),
            "devon.yaml: levels[1].on_lapse: required key is missing",
        ),
        (
            lambda d: d["outcome_check"].pop("answer_due"),
            "devon.yaml: outcome_check.answer_due: required key is missing",
        ),
        (
            lambda d: d["levels"][3]["overdue_reminders"].pop("max"),
            "devon.yaml: levels[3].overdue_reminders.max: required key is missing",
        ),
    ],
)
def test_it_reports_missing_required_keys(
    tmp_path: Path, change: Callable[[Data], object], fragment: str
) -> None:
    assert_reports(problems_after(tmp_path, change), fragment)


@pytest.mark.parametrize(
    ("change", "fragment"),
    [
        (lambda d: d.update(name=5), "devon.yaml: name: must be text, not 5"),
        (
            lambda d: d.update(levels={"1": "x"}),
            "devon.yaml: levels: must be a list, not a mapping",
        ),
        (
            lambda d: d.update(business_hours=["09:00-17:00"]),
            "devon.yaml: business_hours: must be a mapping of keys to values, not a list",
        ),
        (
            lambda d: d["levels"][0].update(copy_partnership="no"),
            'devon.yaml: levels[0].copy_partnership: must be true or false, not "no"',
        ),
        (
            lambda d: d["levels"][0].update(reminders="1 working day"),
            'devon.yaml: levels[0].reminders: must be a list, not "1 working day"',
        ),
        (
            lambda d: d["levels"][0].update(raiser_roles="dsl"),
            'devon.yaml: levels[0].raiser_roles: must be a list, not "dsl"',
        ),
        (
            lambda d: d["levels"].__setitem__(1, "level two"),
            'devon.yaml: levels[1]: must be a mapping of keys to values, not "level two"',
        ),
        (
            lambda d: d["levels"][0]["provenance"].update(response_due=5),
            "devon.yaml: levels[0].provenance.response_due: must be text, not 5",
        ),
        (
            lambda d: d["immediate_risk"][2].update(phone=999),
            'devon.yaml: immediate_risk[2].phone: must be text, not 999 (put it in quotes: "999")',
        ),
        (
            lambda d: d["levels"][0].update(response_due=5),
            'devon.yaml: levels[0].response_due: 5 is not a duration like "5 working days"',
        ),
        (
            lambda d: d["levels"][0].update(name=None),
            "devon.yaml: levels[0].name: must be text, not an empty value",
        ),
    ],
)
def test_it_reports_wrong_types(
    tmp_path: Path, change: Callable[[Data], object], fragment: str
) -> None:
    assert_reports(problems_after(tmp_path, change), fragment)


# --- Durations, levels, reminders --------------------------------------------------------------


def test_it_reports_a_misspelt_duration_with_file_and_field_path(tmp_path: Path) -> None:
    problems = problems_after(
        tmp_path, lambda d: d["levels"][2].update(response_due="5 wrking days")
    )
    assert problems == [
        'devon.yaml: levels[2].response_due: "5 wrking days" is not a duration like '
        '"5 working days" or "4 working hours"'
    ]


@pytest.mark.parametrize(
    ("change", "fragment"),
    [
        (
            lambda d: d["levels"][0].update(acknowledge_due="0 working days"),
            'devon.yaml: levels[0].acknowledge_due: "0 working days" must be a positive number',
        ),
        (
            lambda d: d["levels"][1].update(urgent_response_due="0 working hours"),
            'devon.yaml: levels[1].urgent_response_due: "0 working hours" must be a positive',
        ),
        (
            lambda d: d.update(raiser_decision_reminder="-5 working days"),
            'devon.yaml: raiser_decision_reminder: "-5 working days" is not a duration',
        ),
        (
            lambda d: d["outcome_check"].update(ask_after="0 working days"),
            'devon.yaml: outcome_check.ask_after: "0 working days" must be a positive number',
        ),
        (
            lambda d: d["levels"][3]["overdue_reminders"].update(every="0 working days"),
            'devon.yaml: levels[3].overdue_reminders.every: "0 working days" must be a positive',
        ),
        (
            lambda d: d["levels"][2].update(reminders=["0 working days"]),
            'devon.yaml: levels[2].reminders[0]: "0 working days" must be a positive number',
        ),
    ],
)
def test_it_reports_non_positive_durations(
    tmp_path: Path, change: Callable[[Data], object], fragment: str
) -> None:
    assert_reports(problems_after(tmp_path, change), fragment)


def test_it_reports_a_missing_level(tmp_path: Path) -> None:
    problems = problems_after(tmp_path, lambda d: d["levels"].pop(2))
    assert_reports(problems, "devon.yaml: levels: level 3 is missing")


def test_it_reports_levels_that_do_not_start_at_one(tmp_path: Path) -> None:
    def renumber(data: Data) -> None:
        for level in data["levels"]:
            level["level"] += 1

    problems = problems_after(tmp_path, renumber)
    assert_reports(problems, "devon.yaml: levels: level 1 is missing")


def test_it_reports_a_file_with_no_levels(tmp_path: Path) -> None:
    problems = problems_after(tmp_path, lambda d: d.update(levels=[]))
    assert problems == ["devon.yaml: levels: there must be at least one level"]


def test_it_reports_a_duplicate_level_number(tmp_path: Path) -> None:
    problems = problems_after(tmp_path, lambda d: d["levels"][2].update(level=2))
    assert_reports(problems, "devon.yaml: levels[2].level: level 2 is given twice (also levels[1])")
    assert_reports(problems, "devon.yaml: levels: level 3 is missing")


@pytest.mark.parametrize("number", [0, -1, "2", 1.5])
def test_it_reports_a_level_number_that_is_not_a_positive_whole_number(
    tmp_path: Path, number: object
) -> None:
    problems = problems_after(tmp_path, lambda d: d["levels"][1].update(level=number))
    assert_reports(problems, "devon.yaml: levels[1].level: must be a positive whole number")


@pytest.mark.parametrize("reminder", ["5 working days", "6 working days"])
def test_it_reports_a_reminder_at_or_after_the_due_time(tmp_path: Path, reminder: str) -> None:
    problems = problems_after(tmp_path, lambda d: d["levels"][0].update(reminders=[reminder]))
    assert problems == [
        f'devon.yaml: levels[0].reminders[0]: "{reminder}" is at or after the due time: a reminder '
        "must be shorter than response_due (5 working days)"
    ]


def test_it_reports_a_reminder_in_a_different_unit_from_the_due_time(tmp_path: Path) -> None:
    problems = problems_after(
        tmp_path, lambda d: d["levels"][2].update(reminders=["2 working days", "3 working hours"])
    )
    assert problems == [
        'devon.yaml: levels[2].reminders[1]: "3 working hours" is in working hours but '
        "response_due (5 working days) is in working days: a reminder must use the same unit as "
        "the due time"
    ]


def test_it_checks_urgent_reminders_against_the_urgent_due_time(tmp_path: Path) -> None:
    problems = problems_after(
        tmp_path, lambda d: d["levels"][1].update(urgent_reminders=["4 working hours"])
    )
    assert_reports(
        problems,
        'devon.yaml: levels[1].urgent_reminders[0]: "4 working hours" is at or after the due '
        "time: a reminder must be shorter than urgent_response_due (4 working hours)",
    )


def test_it_reports_an_acknowledgement_due_after_the_response(tmp_path: Path) -> None:
    problems = problems_after(
        tmp_path, lambda d: d["levels"][1].update(acknowledge_due="3 working days")
    )
    assert problems == [
        'devon.yaml: levels[1].acknowledge_due: "3 working days" is after response_due (2 working '
        "days): the acknowledgement is due no later than the response"
    ]


def test_it_reports_a_reminder_given_twice(tmp_path: Path) -> None:
    problems = problems_after(
        tmp_path, lambda d: d["levels"][2].update(reminders=["1 working day", "1 working days"])
    )
    assert_reports(problems, 'devon.yaml: levels[2].reminders[1]: "1 working day" is given twice')


def test_it_reports_an_unknown_role(tmp_path: Path) -> None:
    problems = problems_after(
        tmp_path, lambda d: d["levels"][1].update(raiser_roles=["dls", "line_manager"])
    )
    assert_reports(
        problems, 'devon.yaml: levels[1].raiser_roles[0]: "dls" is not a role (practitioner, dsl,'
    )


def test_it_reports_an_empty_role_list(tmp_path: Path) -> None:
    problems = problems_after(tmp_path, lambda d: d["levels"][0].update(responder_roles=[]))
    assert_reports(problems, "devon.yaml: levels[0].responder_roles: must name at least one role")


def test_it_reports_a_bad_on_lapse_value(tmp_path: Path) -> None:
    problems = problems_after(tmp_path, lambda d: d["levels"][0].update(on_lapse="escalte"))
    assert problems == [
        'devon.yaml: levels[0].on_lapse: "escalte" is not one of "escalate", "prompt", "stay", '
        '"prompt, then escalate after N working days", "prompt, then alert the partnership '
        'after N working days"'
    ]


def test_it_accepts_prompt_below_the_last_level(tmp_path: Path) -> None:
    data = devon()
    data["levels"][1]["on_lapse"] = "prompt"
    assert load_protocol_file(write(tmp_path, data)).level(2).on_lapse is OnLapse.PROMPT


@pytest.mark.parametrize("on_lapse", ["escalate", "prompt"])
def test_it_reports_escalation_from_the_last_level(tmp_path: Path, on_lapse: str) -> None:
    def change(data: Data) -> None:
        data["levels"][3]["on_lapse"] = on_lapse
        del data["levels"][3]["overdue_reminders"]
        del data["levels"][3]["provenance"]["overdue_reminders"]

    assert problems_after(tmp_path, change) == [
        f'devon.yaml: levels[3].on_lapse: "{on_lapse}" on the last level (level 4): there is no '
        'higher level to escalate to; use "stay"'
    ]


def test_it_reports_overdue_reminders_on_a_level_that_does_not_stay(tmp_path: Path) -> None:
    def change(data: Data) -> None:
        data["levels"][0]["overdue_reminders"] = {"every": "1 working day", "max": 2}
        data["levels"][0]["provenance"]["overdue_reminders"] = "default"

    assert problems_after(tmp_path, change) == [
        'devon.yaml: levels[0].overdue_reminders: only allowed when on_lapse is "stay" (this '
        'level\'s on_lapse is "escalate")'
    ]


@pytest.mark.parametrize("maximum", [0, -2, "3", 2.5, True])
def test_it_reports_an_overdue_maximum_that_is_not_a_positive_whole_number(
    tmp_path: Path, maximum: object
) -> None:
    problems = problems_after(
        tmp_path, lambda d: d["levels"][3]["overdue_reminders"].update(max=maximum)
    )
    assert_reports(
        problems,
        "devon.yaml: levels[3].overdue_reminders.max: must be a positive whole number, not ",
    )


# --- Business hours and levels of need ---------------------------------------------------------


@pytest.mark.parametrize(
    ("day", "value", "fragment"),
    [
        (
            "friday",
            "9-4",
            'devon.yaml: business_hours.friday: "9-4" is not opening and closing times like '
            '"09:00-17:00"',
        ),
        (
            "friday",
            "25:00-26:00",
            'devon.yaml: business_hours.friday: "25:00-26:00" is not opening and closing times',
        ),
        (
            "friday",
            "09:00",
            'devon.yaml: business_hours.friday: "09:00" is not opening and closing times like',
        ),
        (
            "friday",
            "17:00-09:00",
            "devon.yaml: business_hours.friday: opening 17:00 is not before closing 09:00",
        ),
        (
            "monday",
            "09:00-09:00",
            "devon.yaml: business_hours.monday: opening 09:00 is not before closing 09:00",
        ),
        (
            "fryday",
            "09:00-16:00",
            'devon.yaml: business_hours.fryday: "fryday" is not a weekday name (monday, tuesday,',
        ),
        (
            "Saturday",
            "09:00-12:00",
            'devon.yaml: business_hours.Saturday: "Saturday" is not a weekday name',
        ),
    ],
)
def test_it_reports_bad_business_hours(tmp_path: Path, day: str, value: str, fragment: str) -> None:
    assert_reports(
        problems_after(tmp_path, lambda d: d["business_hours"].update({day: value})), fragment
    )


def test_it_reports_business_hours_with_no_open_day(tmp_path: Path) -> None:
    problems = problems_after(tmp_path, lambda d: d.update(business_hours={}))
    assert_reports(problems, "devon.yaml: business_hours: no open day")


def test_it_accepts_weekend_hours(tmp_path: Path) -> None:
    data = devon()
    data["business_hours"]["saturday"] = "10:00-13:00"
    assert load_protocol_file(write(tmp_path, data)).business_hours.days[5] == (time(10), time(13))


@pytest.mark.parametrize("key", ["one", 0, -1, "2"])
def test_it_reports_levels_of_need_keys_that_are_not_positive_whole_numbers(
    tmp_path: Path, key: object
) -> None:
    problems = problems_after(tmp_path, lambda d: d["levels_of_need"].update({key: "Something"}))
    shown = f'"{key}"' if isinstance(key, str) else str(key)
    assert problems == [f"devon.yaml: levels_of_need: key {shown} is not a positive whole number"]


def test_it_reports_an_empty_level_of_need_label(tmp_path: Path) -> None:
    problems = problems_after(tmp_path, lambda d: d["levels_of_need"].update({2: ""}))
    assert problems == ["devon.yaml: levels_of_need.2: must not be empty"]


# --- Provenance --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("index", "field"),
    [
        (0, "acknowledge_due"),
        (2, "response_due"),
        (1, "reminders"),
        (0, "urgent_acknowledge_due"),
        (2, "urgent_response_due"),
        (3, "urgent_reminders"),
        (3, "overdue_reminders"),
    ],
)
def test_it_reports_a_level_value_without_provenance(
    tmp_path: Path, index: int, field: str
) -> None:
    problems = problems_after(tmp_path, lambda d: d["levels"][index]["provenance"].pop(field))
    assert problems == [
        f"devon.yaml: levels[{index}].provenance.{field}: missing: say where the value comes "
        'from, or "default — confirm with the partnership"'
    ]


@pytest.mark.parametrize(
    "field", ["business_hours", "levels_of_need", "raiser_decision_reminder", "outcome_check"]
)
def test_it_reports_a_protocol_value_without_provenance(tmp_path: Path, field: str) -> None:
    problems = problems_after(tmp_path, lambda d: d["provenance"].pop(field))
    assert problems == [
        f"devon.yaml: provenance.{field}: missing: say where the value comes from, or "
        '"default — confirm with the partnership"'
    ]


def test_it_reports_provenance_for_a_field_that_does_not_exist(tmp_path: Path) -> None:
    def change(data: Data) -> None:
        data["levels"][0]["provenance"]["overdue_reminders"] = "default"
        data["levels"][1]["provenance"]["respons_due"] = "default"
        data["provenance"]["business_hour"] = "default"
        data["provenance"]["source"] = "default"

    problems = problems_after(tmp_path, change)
    assert_reports(
        problems,
        "devon.yaml: levels[0].provenance.overdue_reminders: there is no field "
        '"overdue_reminders" here',
    )
    assert_reports(
        problems,
        'devon.yaml: levels[1].provenance.respons_due: there is no field "respons_due" here to '
        'give a source for (did you mean "response_due"?)',
    )
    assert_reports(
        problems, 'devon.yaml: provenance.business_hour: there is no field "business_hour" here'
    )
    assert_reports(problems, 'devon.yaml: provenance.source: there is no field "source" here')
    assert len(problems) == 4


def test_it_reports_an_empty_provenance_entry(tmp_path: Path) -> None:
    problems = problems_after(
        tmp_path, lambda d: d["levels"][0]["provenance"].update(reminders=" ")
    )
    assert problems == ["devon.yaml: levels[0].provenance.reminders: must not be empty"]


# --- Immediate risk ----------------------------------------------------------------------------


@pytest.mark.parametrize("key", ["label", "phone", "hours", "source"])
def test_it_reports_an_immediate_risk_contact_missing_a_key(tmp_path: Path, key: str) -> None:
    problems = problems_after(tmp_path, lambda d: d["immediate_risk"][1].pop(key))
    assert problems == [f"devon.yaml: immediate_risk[1].{key}: required key is missing"]


@pytest.mark.parametrize("source", ["", "   "])
def test_it_reports_an_immediate_risk_contact_with_an_empty_source(
    tmp_path: Path, source: str
) -> None:
    problems = problems_after(tmp_path, lambda d: d["immediate_risk"][0].update(source=source))
    assert problems == [
        "devon.yaml: immediate_risk[0].source: must not be empty: say where the number comes from"
    ]


def test_it_reports_an_empty_immediate_risk_list(tmp_path: Path) -> None:
    problems = problems_after(tmp_path, lambda d: d.update(immediate_risk=[]))
    assert_reports(problems, "devon.yaml: immediate_risk: must list at least one contact")


def test_it_reports_a_placeholder_instead_of_a_phone_number(tmp_path: Path) -> None:
    problems = problems_after(
        tmp_path, lambda d: d["immediate_risk"][0].update(phone="to be confirmed")
    )
    assert problems == [
        'devon.yaml: immediate_risk[0].phone: "to be confirmed" is not a phone number (digits, '
        "spaces, brackets and hyphens; + allowed first)"
    ]


@pytest.mark.parametrize("phone", ["(01752) 668000", "+44 345-155-1071", "101"])
def test_it_accepts_phone_numbers_with_brackets_and_hyphens(tmp_path: Path, phone: str) -> None:
    data = devon()
    data["immediate_risk"][0]["phone"] = phone
    assert load_protocol_file(write(tmp_path, data)).immediate_risk[0].phone == phone


# --- Identity fields ---------------------------------------------------------------------------


@pytest.mark.parametrize("version", [0, -1, "1", 1.5, True, None])
def test_it_reports_a_version_that_is_not_a_positive_whole_number(
    tmp_path: Path, version: object
) -> None:
    problems = problems_after(tmp_path, lambda d: d.update(version=version))
    assert len(problems) == 1
    assert problems[0].startswith("devon.yaml: version: must be a positive whole number, not ")


@pytest.mark.parametrize("bad_id", ["Devon", "1devon", "devon scp", "-devon", "dévon", "d" * 65])
def test_it_reports_an_id_that_is_not_a_lower_case_slug(tmp_path: Path, bad_id: str) -> None:
    problems = problems_after(tmp_path, lambda d: d.update(id=bad_id))
    assert problems == [
        f'devon.yaml: id: "{bad_id}" does not match ^[a-z][a-z0-9_-]{{0,63}}$ (at most 64 '
        'lower-case letters, digits, "-" and "_", starting with a letter)'
    ]


@pytest.mark.parametrize("prefix", ["dscp", "D", "DSCPDSCPX", "DS-CP", "DSCP1"])
def test_it_reports_a_reference_prefix_that_is_not_2_to_8_capitals(
    tmp_path: Path, prefix: str
) -> None:
    problems = problems_after(tmp_path, lambda d: d.update(reference_prefix=prefix))
    assert problems == [
        f'devon.yaml: reference_prefix: "{prefix}" does not match ^[A-Z]{{2,8}}$ (2 to 8 capital '
        "letters)"
    ]


def test_it_reports_an_id_with_a_trailing_newline(tmp_path: Path) -> None:
    text = (WORKFLOWS / "devon.yaml").read_text(encoding="utf-8")
    text = text.replace("id: devon\n", "id: |\n  devon\n", 1)
    assert_reports(
        problems_of(write_text(tmp_path, text)), 'devon.yaml: id: "devon\n" does not match'
    )


def test_it_reports_a_partnership_name_that_is_not_a_slug(tmp_path: Path) -> None:
    problems = problems_after(tmp_path, lambda d: d.update(partnership="Devon SCP"))
    assert_reports(problems, 'devon.yaml: partnership: "Devon SCP" does not match')


# --- Every problem at once ---------------------------------------------------------------------


def test_it_reports_every_problem_in_a_file_not_just_the_first(tmp_path: Path) -> None:
    def change(data: Data) -> None:
        data["version"] = 0
        data["levels"][2]["response_due"] = "5 wrking days"
        data["levels"][0]["on_lapse"] = "escalte"
        data["immediate_risk"][0]["source"] = ""
        data["business_hours"]["friday"] = "16:00-09:00"
        del data["provenance"]["outcome_check"]

    problems = problems_after(tmp_path, change)
    assert len(problems) == 6, "\n".join(problems)
    for fragment in [
        "devon.yaml: version:",
        "devon.yaml: levels[2].response_due:",
        "devon.yaml: levels[0].on_lapse:",
        "devon.yaml: immediate_risk[0].source:",
        "devon.yaml: business_hours.friday:",
        "devon.yaml: provenance.outcome_check:",
    ]:
        assert_reports(problems, fragment)
    with pytest.raises(ProtocolError) as info:
        load_protocol_file(tmp_path / "devon.yaml")
    assert str(info.value) == "\n".join(problems)


def test_it_reports_problems_in_every_file_of_a_registry(tmp_path: Path) -> None:
    shutil.copy(WORKFLOWS / "closures.yaml", tmp_path)
    data = devon()
    data["version"] = "one"
    write(tmp_path, data)
    plymouth = yaml.safe_load((WORKFLOWS / "plymouth.yaml").read_text(encoding="utf-8"))
    plymouth["levels"][0]["on_lapse"] = "wait"
    write(tmp_path, plymouth, "plymouth.yaml")
    shutil.copy(WORKFLOWS / "torbay.yaml", tmp_path)
    problems = registry_problems(directory=tmp_path)
    assert_reports(problems, 'devon.yaml: version: must be a positive whole number, not "one"')
    assert_reports(problems, 'plymouth.yaml: levels[0].on_lapse: "wait" is not one of')
    assert len(problems) == 2


# --- Across files ------------------------------------------------------------------------------


def test_it_reports_the_same_id_and_version_in_two_files(tmp_path: Path) -> None:
    first = write(tmp_path, devon())
    second = write(tmp_path, devon(), "devon-copy.yaml")
    problems = registry_problems(files=[first, second])
    assert problems == [
        "devon-copy.yaml: version: devon version 1 is also defined in devon.yaml; a changed "
        "protocol is a copy with a new version number"
    ]


def test_it_reports_two_protocol_ids_for_one_partnership(tmp_path: Path) -> None:
    other = devon()
    other.update(id="devon-alt", reference_prefix="DALT")
    problems = registry_problems(
        files=[write(tmp_path, devon()), write(tmp_path, other, "alt.yaml")]
    )
    assert problems == [
        'alt.yaml: id: partnership "devon" already has protocol "devon" (devon.yaml); one '
        'protocol id per partnership: make a new version of "devon" instead'
    ]


def test_it_reports_one_protocol_id_used_for_two_partnerships(tmp_path: Path) -> None:
    other = devon()
    other.update(version=2, partnership="cornwall", reference_prefix="CSCP")
    problems = registry_problems(
        files=[write(tmp_path, devon()), write(tmp_path, other, "v2.yaml")]
    )
    assert problems == [
        'v2.yaml: partnership: protocol "devon" is for partnership "devon" in devon.yaml; every '
        "version of a protocol is for one partnership"
    ]


def test_it_reports_one_reference_prefix_used_by_two_partnerships(tmp_path: Path) -> None:
    other = devon()
    other.update(id="cornwall", partnership="cornwall")
    problems = registry_problems(files=[write(tmp_path, devon()), write(tmp_path, other, "c.yaml")])
    assert_reports(
        problems,
        'c.yaml: reference_prefix: "DSCP" is already used by partnership "devon" (devon.yaml)',
    )


def test_it_reports_a_folder_with_no_protocol_files(tmp_path: Path) -> None:
    shutil.copy(WORKFLOWS / "closures.yaml", tmp_path)
    assert registry_problems(directory=tmp_path) == [
        f"{tmp_path}: no protocol files (*.yaml) found"
    ]


def test_it_refuses_a_folder_and_a_file_list_together(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="not both"):
        load_registry(tmp_path, files=[tmp_path / "devon.yaml"])


# --- The registry ------------------------------------------------------------------------------


@pytest.fixture
def two_versions(tmp_path: Path) -> Path:
    shutil.copy(WORKFLOWS / "closures.yaml", tmp_path)
    for name in ("devon.yaml", "plymouth.yaml", "torbay.yaml"):
        shutil.copy(WORKFLOWS / name, tmp_path)
    newer = devon()
    newer["version"] = 2
    newer["levels"][0]["response_due"] = "3 working days"
    newer["levels"][0]["provenance"]["response_due"] = "Devon SCP, agreed at the 2026 review"
    write(tmp_path, newer, "devon-v2.yaml")
    return tmp_path


def test_it_gets_the_highest_version_unless_asked_for_one(two_versions: Path) -> None:
    registry = load_registry(two_versions)
    assert registry.get("devon").key == "devon@2"
    assert registry.get("devon").level(1).normal.response_due == days(3)
    assert registry.get("devon", 1).level(1).normal.response_due == days(5)
    assert registry.get("devon", 2).source_file == "devon-v2.yaml"
    assert registry.for_partnership("devon").key == "devon@2"
    assert [p.key for p in registry.all()] == ["devon@1", "devon@2", "plymouth@1", "torbay@1"]
    assert registry.partnerships() == ["devon", "plymouth", "torbay"]


def test_it_says_what_exists_when_an_id_is_not_found(two_versions: Path) -> None:
    registry = load_registry(two_versions)
    with pytest.raises(NotFound) as info:
        registry.get("devn")
    assert str(info.value) == (
        'no protocol with id "devn"; protocols: devon (versions 1, 2), plymouth (version 1), '
        "torbay (version 1)"
    )


def test_it_says_which_versions_exist_when_a_version_is_not_found(two_versions: Path) -> None:
    with pytest.raises(NotFound, match='protocol "devon" has no version 3; versions: 1, 2'):
        load_registry(two_versions).get("devon", 3)


def test_it_says_which_partnerships_exist_when_a_partnership_is_not_found() -> None:
    with pytest.raises(NotFound) as info:
        load_registry(WORKFLOWS).for_partnership("cornwall")
    assert str(info.value) == (
        'no protocol for partnership "cornwall"; partnerships: devon, plymouth, torbay'
    )


def test_it_loads_protocols_without_a_closures_file(tmp_path: Path) -> None:
    registry = load_registry(files=[write(tmp_path, devon())])
    assert registry.closures is None
    assert registry.get("devon").closures.reviewed_until is None


# --- The closures file -------------------------------------------------------------------------


_CLOSURES: Data = yaml.safe_load((WORKFLOWS / "closures.yaml").read_text(encoding="utf-8"))


def closures_data() -> Data:
    return copy.deepcopy(_CLOSURES)


def closures_problems(tmp_path: Path, change: Callable[[Data], object]) -> list[str]:
    data = closures_data()
    change(data)
    path = write(tmp_path, data, "closures.yaml")
    with pytest.raises(ProtocolError) as info:
        load_closures_file(path)
    return info.value.problems


def closure(
    day: str = "2027-01-04", name: str = "Staff training day", source: str = "DSCP"
) -> Data:
    return {"date": day, "name": name, "source": source}


def test_it_applies_a_partnership_closure_day_to_that_partnership_only(tmp_path: Path) -> None:
    for name in ("devon.yaml", "plymouth.yaml", "torbay.yaml"):
        shutil.copy(WORKFLOWS / name, tmp_path)
    data = closures_data()
    data["partnerships"]["devon"] = [closure()]
    data["bank_holidays"]["add"] = [closure("2027-06-07", "Proclaimed day", "gov.uk")]
    write(tmp_path, data, "closures.yaml")
    registry = load_registry(tmp_path)
    devon_calendar = registry.get("devon").calendar()
    assert devon_calendar.holiday_name(date(2027, 1, 4)) == "Staff training day"
    assert not devon_calendar.is_working_day(date(2027, 1, 4))
    assert registry.get("torbay").calendar().is_working_day(date(2027, 1, 4))
    assert registry.get("torbay").calendar().holiday_name(date(2027, 6, 7)) == "Proclaimed day"


def test_it_reads_a_removed_bank_holiday_and_a_null_review_date(tmp_path: Path) -> None:
    data = closures_data()
    data["bank_holidays"]["reviewed_until"] = None
    data["bank_holidays"]["remove"] = [closure("2027-05-03", "Early May bank holiday", "gov.uk")]
    data["partnerships"]["torbay"] = None
    closures = load_closures_file(write(tmp_path, data, "closures.yaml"))
    assert closures.reviewed_until is None
    assert closures.bank_holiday_removed == frozenset({date(2027, 5, 3)})
    assert closures.partnership_closures["torbay"] == {}


@pytest.mark.parametrize(
    "bad", ["2027-02-30", "31/12/2027", "2027-12-31T10:00", "soon", "20271231"]
)
def test_it_reports_a_closure_date_that_is_not_an_iso_date(tmp_path: Path, bad: str) -> None:
    problems = closures_problems(tmp_path, lambda d: d["bank_holidays"].update(add=[closure(bad)]))
    assert problems == [
        f'closures.yaml: bank_holidays.add[0].date: "{bad}" is not a valid ISO date like 2027-12-31'
    ]


def test_it_reports_a_review_date_that_is_not_a_date(tmp_path: Path) -> None:
    problems = closures_problems(
        tmp_path, lambda d: d["bank_holidays"].update(reviewed_until="soon")
    )
    assert problems == [
        'closures.yaml: bank_holidays.reviewed_until: "soon" is not a valid ISO date like '
        "2027-12-31"
    ]


@pytest.mark.parametrize("key", ["date", "name", "source"])
def test_it_reports_a_closure_entry_missing_a_key(tmp_path: Path, key: str) -> None:
    entry = closure()
    del entry[key]
    problems = closures_problems(tmp_path, lambda d: d["partnerships"].update(devon=[entry]))
    assert problems == [f"closures.yaml: partnerships.devon[0].{key}: required key is missing"]


def test_it_reports_unknown_keys_and_bad_shapes_in_the_closures_file(tmp_path: Path) -> None:
    def change(data: Data) -> None:
        data["bank_holidays"]["ad"] = []
        data["partnerships"]["plymouth"] = "none"
        data["partnerships"]["torbay"] = [{**closure(), "reason": "x"}]

    problems = closures_problems(tmp_path, change)
    assert_reports(problems, 'closures.yaml: bank_holidays.ad: unknown key (did you mean "add"?)')
    assert_reports(problems, 'closures.yaml: partnerships.plymouth: must be a list, not "none"')
    assert_reports(problems, "closures.yaml: partnerships.torbay[0].reason: unknown key")
    assert len(problems) == 3


def test_it_reports_a_date_listed_twice_or_both_added_and_removed(tmp_path: Path) -> None:
    def change(data: Data) -> None:
        data["bank_holidays"]["add"] = [closure("2027-06-07")]
        data["bank_holidays"]["remove"] = [closure("2027-06-07")]
        data["partnerships"]["devon"] = [closure(), closure()]

    problems = closures_problems(tmp_path, change)
    assert_reports(problems, "closures.yaml: bank_holidays: 2027-06-07 is both added and removed")
    assert_reports(
        problems, "closures.yaml: partnerships.devon[1].date: 2027-01-04 is listed twice"
    )


def test_it_reports_a_closures_partnership_that_no_protocol_uses(tmp_path: Path) -> None:
    for name in ("devon.yaml", "plymouth.yaml", "torbay.yaml"):
        shutil.copy(WORKFLOWS / name, tmp_path)
    data = closures_data()
    data["partnerships"]["plymuth"] = [closure()]
    write(tmp_path, data, "closures.yaml")
    assert registry_problems(directory=tmp_path) == [
        'closures.yaml: partnerships.plymuth: no protocol is for partnership "plymuth" '
        "(partnerships: devon, plymouth, torbay); a misspelt name would silently drop its "
        "closure days"
    ]


def test_it_checks_closures_partnerships_when_given_the_known_ones(tmp_path: Path) -> None:
    path = write(tmp_path, closures_data(), "closures.yaml")
    assert load_closures_file(path, partnerships=["devon", "plymouth", "torbay"])
    with pytest.raises(ProtocolError, match=r"partnerships\.torbay: no protocol is for"):
        load_closures_file(path, partnerships=["devon", "plymouth"])


# --- describe ----------------------------------------------------------------------------------


def test_it_describes_every_level_with_its_provenance() -> None:
    text = describe(load_registry(WORKFLOWS).get("devon"))
    assert text.startswith("Devon Safeguarding Children Partnership — Case Resolution Protocol\n")
    assert "Protocol devon version 1 (devon@1), file devon.yaml" in text
    assert "Business hours: Monday to Thursday 09:00-17:00; Friday 09:00-16:00" in text
    assert "provenance: Devon Front Door opening hours" in text
    assert "Level 3: Senior managers" in text
    assert (
        "Response due within: 5 working days\n"
        "      provenance: default — confirm with the partnership (St Helens" in text
    )
    assert "Reminders: 2 working days, 1 working day before the due time" in text
    assert "Urgent: response due within: 4 working hours" in text
    assert "Partnership business unit copied: yes" in text
    assert "Raiser side (roles emailed): dsl, line_manager" in text
    assert "If unanswered: escalate automatically to level 2" in text
    assert "If unanswered: stay at level 4, overdue" in text
    assert "Overdue reminders: every 2 working days after the lapse, at opening, at most 3" in text
    assert "Devon Children's Services Front Door (MASH): 0345 155 1071 (office hours)" in text
    assert "source: Devon County Council, Front Door contact page (partnership brief)" in text
    assert "20 working days after resolution" in text


def test_it_ends_the_description_with_the_values_to_confirm() -> None:
    text = describe(load_registry(WORKFLOWS).get("devon"))
    to_confirm = text.split("To confirm with the partnership:\n", 1)[1]
    lines = to_confirm.splitlines()
    assert (
        "  - level 3 response due (5 working days): default — confirm with the partnership "
        "(St Helens: 5 working days at senior level)" in lines
    )
    assert (
        "  - raiser decision reminder (5 working days): default — confirm with the partnership"
        in lines
    )
    assert (
        "  - level 4 overdue reminders (every 2 working days after the lapse, at opening, at most "
        "3): default — confirm with the partnership" in lines
    )
    assert all(line.startswith("  - ") and ": default" in line for line in lines)
    assert not any("business hours" in line or "levels of need" in line for line in lines)
    assert not any("level 4 on lapse" in line for line in lines)
    assert len(lines) == 30  # 2 protocol-wide + 7 per level, less level 4's on_lapse, + overdue


def test_it_lists_plymouth_business_hours_as_to_confirm() -> None:
    text = describe(load_registry(WORKFLOWS).get("plymouth"))
    assert (
        "  - business hours (Monday to Friday 09:00-17:00): default — confirm with the "
        "partnership\n" in text
    )
    assert (
        "Police non-emergency: 101 (at any time)\n      source: UK police non-emergency number"
        in text
    )


def test_it_says_when_nothing_is_left_to_confirm() -> None:
    text = describe(load_protocol_file(FIXTURES / "minimal.yaml"))
    assert text.endswith("To confirm with the partnership: nothing (every value has a source)\n")
    assert "Business hours: Wednesday 10:00-12:30" in text


def test_it_describes_the_protocol_source_and_says_when_there_is_none() -> None:
    protocol = load_registry(WORKFLOWS).get("devon")
    assert "  Source: Devon SCP Case Resolution Protocol" in describe(protocol)
    assert "  Source: not recorded\n" in describe(dataclasses.replace(protocol, source=""))


# --- Where the data lives ----------------------------------------------------------------------


def test_it_finds_the_workflows_and_templates_of_a_source_checkout() -> None:
    assert workflows_dir() == WORKFLOWS
    assert (workflows_dir() / "devon.yaml").is_file()
    assert templates_dir() == REPO / "templates"


def test_it_uses_an_override_folder_when_given(tmp_path: Path) -> None:
    assert workflows_dir(tmp_path) == tmp_path
    assert templates_dir(str(tmp_path)) == tmp_path


def test_it_prefers_the_data_inside_an_installed_package(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import escalation.resources as resources

    package = tmp_path / "site-packages" / "escalation"
    (package / "_data" / "workflows").mkdir(parents=True)
    (package / "_data" / "templates").mkdir(parents=True)
    monkeypatch.setattr(resources, "_PACKAGE", package)
    assert workflows_dir() == package / "_data" / "workflows"
    assert templates_dir() == package / "_data" / "templates"
