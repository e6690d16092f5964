"""Structured provenance (issue 13, point 3): in a format 2 file each value has a `source`
(document, section, address) or `status: to confirm`, and only that field says what is still to
confirm; format 1 files (no `format:`) read exactly as before.

tests/fixtures/protocols/format2.yaml is minimal.yaml written in format 2.
"""

from __future__ import annotations

import copy
import dataclasses
from pathlib import Path
from typing import Any

import pytest
import yaml

from escalation.errors import ProtocolError
from escalation.resources import workflows_dir
from escalation.rules.describe import describe
from escalation.rules.model import Provenance, Source
from escalation.rules.pinning import PinnedCopy, protocol_from_copy
from escalation.rules.registry import load_protocol_file, load_registry

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "protocols"
_FORMAT_2: dict[str, Any] = yaml.safe_load((FIXTURES / "format2.yaml").read_text("utf-8"))


def problems_after(tmp_path: Path, change: Any) -> list[str]:
    data = copy.deepcopy(_FORMAT_2)
    change(data)
    path = tmp_path / "format2.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True), encoding="utf-8")
    with pytest.raises(ProtocolError) as info:
        load_protocol_file(path)
    return info.value.problems


def test_it_reads_each_source_and_status_of_a_format_2_file() -> None:
    protocol = load_protocol_file(FIXTURES / "format2.yaml")
    assert protocol.format == 2
    assert protocol.provenance["business_hours"] == Provenance(
        "Testshire Case Resolution Protocol, 2.1 <https://www.testshire.example.gov.uk/crp.pdf>",
        to_confirm=False,
        source=Source(
            "Testshire Case Resolution Protocol",
            "2.1",
            "https://www.testshire.example.gov.uk/crp.pdf",
        ),
    )
    assert protocol.provenance["raiser_decision_reminder"] == Provenance(
        "to confirm with the partnership", to_confirm=True
    )
    outcome = protocol.provenance["outcome_check"]
    assert outcome.to_confirm and outcome.source is not None
    assert outcome.text == (
        "to confirm with the partnership; suggested by London Child Protection Procedures, "
        "Resolving disagreements — London's numbers, until Testshire says"
    )
    assert protocol.level(1).provenance["response_due"].source == Source(
        "Testshire Case Resolution Protocol", "3"
    )


def test_it_lists_what_is_to_confirm_from_the_status_never_from_the_words() -> None:
    text = describe(load_protocol_file(FIXTURES / "format2.yaml"))
    listed = text.split("To confirm with the partnership:\n", 1)[1].splitlines()
    assert listed == [
        "  - raiser decision reminder (3 working days): to confirm with the partnership",
        "  - outcome check (ask after 20 working days, answer due 10 working days, closed 5 "
        "working days after the reminder): to confirm with the partnership; suggested by London "
        "Child Protection Procedures, Resolving disagreements — London's numbers, until "
        "Testshire says",
        "  - level 1 reminders (none): to confirm with the partnership — the protocol does not "
        "mention reminders",
        "  - level 1 urgent reminders (none): to confirm with the partnership",
        "  - level 1 copy partnership (yes): to confirm with the partnership",
        # A phone number is a number too.
        "  - immediate risk Emergency (999): to confirm with the partnership — the "
        "partnership's front door number is still to come",
    ]
    # A sourced value whose note begins "default" is sourced: format 1 would have listed it.
    assert "      provenance: Testshire Levels of Need — default wording" in text
    assert "  File format 2: each value has a source, or is marked to confirm." in text


def test_it_reads_format_1_files_as_before_and_says_how_to_move_them() -> None:
    devon = load_registry(workflows_dir()).get("devon")
    assert devon.format == 1
    entry = devon.level(1).provenance["response_due"]
    assert entry.to_confirm and entry.source is None
    assert entry.text.startswith("default — confirm with the partnership")
    text = describe(devon)
    assert (
        "  File format 1: each provenance is free text, and a value is to confirm when its text "
        'begins with "default". Format 2 gives each a `source` or `status: to confirm` of its '
        "own (workflows/README.md, Moving a file to format 2).\n" in text
    )
    minimal = load_protocol_file(FIXTURES / "minimal.yaml")
    assert minimal.format == 1 and not any(e.to_confirm for e in minimal.provenance.values())


def test_a_value_with_neither_source_nor_status_is_an_error_in_format_2(tmp_path: Path) -> None:
    def change(data: dict[str, Any]) -> None:
        del data["levels"][0]["provenance"]["response_due"]
        data["provenance"]["levels_of_need"] = {"note": "from the framework"}

    assert problems_after(tmp_path, change) == [
        "format2.yaml: levels[0].provenance.response_due: missing: give its `source` (document, "
        "section, address) or `status: to confirm`",
        "format2.yaml: provenance.levels_of_need: give its `source` (document, section, address) "
        "or `status: to confirm`",
    ]


@pytest.mark.parametrize(
    ("entry", "problem"),
    [
        (
            {"source": "Testshire CRP"},
            'format2.yaml: provenance.business_hours.source: "Testshire CRP" is text: write '
            "`source: {document: Testshire CRP}`",
        ),
        (
            "Testshire Case Resolution Protocol",
            'format2.yaml: provenance.business_hours: "Testshire Case Resolution Protocol" is '
            "text, as in format 1: in format 2 write `source: {document: …, section: …}` or "
            "`status: to confirm`",
        ),
        (
            {"status": "confirmed"},
            'format2.yaml: provenance.business_hours.status: "confirmed" is not a status: the '
            'only one is "to confirm" (a value with a source needs none)',
        ),
        (
            {"source": {"section": "2.1"}},
            "format2.yaml: provenance.business_hours.source.document: required key is missing",
        ),
        (
            {"source": {"document": "Testshire CRP", "address": "www.testshire.gov.uk"}},
            'format2.yaml: provenance.business_hours.source.address: "www.testshire.gov.uk" is '
            "not a web address like https://www.example.gov.uk/protocol.pdf",
        ),
        (
            {"source": {"document": "Testshire CRP", "page": 4}},
            "format2.yaml: provenance.business_hours.source.page: unknown key (allowed: document, "
            "section, address)",
        ),
        (
            {"status": "to confirm", "note": ""},
            "format2.yaml: provenance.business_hours.note: must not be empty",
        ),
    ],
)
def test_it_names_the_field_and_the_problem_of_a_bad_entry(
    tmp_path: Path, entry: Any, problem: str
) -> None:
    problems = problems_after(
        tmp_path, lambda data: data["provenance"].__setitem__("business_hours", entry)
    )
    assert problems == [problem]


def test_format_2_asks_the_source_of_the_lapse_rule_too(tmp_path: Path) -> None:
    problems = problems_after(tmp_path, lambda d: d["levels"][0]["provenance"].pop("on_lapse"))
    assert problems == [
        "format2.yaml: levels[0].provenance.on_lapse: missing: give its `source` (document, "
        "section, address) or `status: to confirm`"
    ]


def test_it_says_a_structured_entry_needs_format_2(tmp_path: Path) -> None:
    def as_format_1(data: dict[str, Any]) -> None:
        del data["format"]

    problems = problems_after(tmp_path, as_format_1)
    assert len(problems) == 15  # 4 protocol-wide entries, level 1's 10, the contact's source
    hint = (
        "must be text in a file of format 1; a `source:` or `status:` entry is format 2: put "
        "`format: 2` at the top of the file (workflows/README.md, Moving a file to format 2)"
    )
    assert problems[0] == f"format2.yaml: immediate_risk[0].source: {hint}"
    assert f"format2.yaml: levels[0].provenance.acknowledge_due: {hint}" in problems
    assert all(problem.endswith(hint) for problem in problems)


@pytest.mark.parametrize("value", [3, 0, "2", True])
def test_it_refuses_a_format_it_does_not_read_and_only_that(tmp_path: Path, value: Any) -> None:
    problems = problems_after(tmp_path, lambda data: data.__setitem__("format", value))
    assert len(problems) == 1, problems
    assert problems[0].startswith("format2.yaml: format: ")
    quotes = ": write it without quotes" if value == "2" else ""
    assert problems[0].endswith(f"is not a format this engine reads (1 or 2){quotes}")


def test_the_shipped_files_keep_their_content_hash() -> None:
    """Format 1 files are read as before: their pinned copies still match (rules.pinning). The
    hashes are those of the files before formats existed (commit 73cb15e)."""
    registry = load_registry(workflows_dir())
    assert {p.key: p.content_hash for p in registry.all()} == {
        "devon@1": "7c46ecd90d89c037047cf731287d000b45cf9952eca8312f4d55e107b6e96006",
        "plymouth@1": "39d3f484a49e35c6cd5c11995be0e9214dd8daaa17fdd0d6933545ba5a8f4187",
        "torbay@1": "a8eb6589ecfa13753d83a0b0fd3a9e66eb03fe1ed9ecab395e82970074c8fe99",
    }
    assert all(p.format == 1 and "format" not in yaml.safe_load(p.content) for p in registry.all())


def test_a_format_2_version_pins_and_rebuilds_from_its_copy() -> None:
    protocol = load_protocol_file(FIXTURES / "format2.yaml")
    copy_ = PinnedCopy(
        protocol.id, protocol.version, protocol.source_file, protocol.content, protocol.content_hash
    )
    rebuilt = protocol_from_copy(copy_, load_registry(workflows_dir()))
    # The registry's closures file supplies the bank holidays' review date; nothing else differs.
    assert dataclasses.replace(rebuilt, closures=protocol.closures) == protocol
    assert rebuilt.content_hash == protocol.content_hash
    assert rebuilt.provenance == protocol.provenance and rebuilt.format == 2


def test_format_has_no_provenance_entry(tmp_path: Path) -> None:
    problems = problems_after(
        tmp_path, lambda d: d["provenance"].__setitem__("format", {"status": "to confirm"})
    )
    assert problems == [
        'format2.yaml: provenance.format: there is no field "format" here to give a source for '
        "(allowed: id, version, name, partnership, reference_prefix, business_hours, "
        "levels_of_need, raiser_decision_reminder, outcome_check, immediate_risk, levels)"
    ]
