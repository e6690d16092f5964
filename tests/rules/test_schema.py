"""The JSON Schema of protocol files (issue 13, point 7): generated from the checks' own keys and
patterns, valid JSON Schema 2020-12, met by every shipped file and every example in
workflows/README.md, and refusing what the checks refuse where a schema can say it.

Files are validated as an editor's YAML language server sees them: converted to JSON (numbers
as keys become text, dates ISO text)."""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from click.testing import CliRunner

from escalation.cli.main import main
from escalation.resources import workflows_dir
from escalation.rules import checks
from escalation.rules.schema import protocol_schema

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures" / "protocols"
SCHEMA = protocol_schema()
VALIDATOR = jsonschema.Draft202012Validator(SCHEMA)


def as_json(data: Any) -> Any:
    return json.loads(json.dumps(data, default=str))


def load(path: Path) -> Any:
    return as_json(yaml.safe_load(path.read_text(encoding="utf-8")))


def errors(data: Any) -> list[str]:
    found = VALIDATOR.iter_errors(as_json(data))
    return sorted(f"{'.'.join(str(p) for p in e.absolute_path)}: {e.message}" for e in found)


def test_it_is_a_valid_2020_12_schema() -> None:
    jsonschema.Draft202012Validator.check_schema(SCHEMA)


def test_it_has_exactly_the_keys_the_checks_allow() -> None:
    for fmt in (1, 2):
        top = SCHEMA["$defs"][f"protocol_{fmt}"]
        assert set(top["properties"]) == {*checks.TOP_KEYS, *checks.TOP_OPTIONAL_KEYS}
        assert top["additionalProperties"] is False
        level = SCHEMA["$defs"][f"level_{fmt}"]
        assert set(level["properties"]) == {*checks.LEVEL_KEYS, *checks.LEVEL_OPTIONAL_KEYS}
        assert set(level["required"]) == set(checks.LEVEL_KEYS)
    assert SCHEMA["$defs"]["protocol_2"]["required"][-1] == "format"


@pytest.mark.parametrize(
    "path",
    [
        *sorted(p for p in workflows_dir().glob("*.yaml") if p.name != "closures.yaml"),
        FIXTURES / "minimal.yaml",
        FIXTURES / "format2.yaml",
    ],
    ids=lambda p: p.name,
)
def test_every_shipped_and_fixture_protocol_meets_it(path: Path) -> None:
    assert errors(load(path)) == []


def _readme_examples() -> list[Any]:
    text = (ROOT / "workflows" / "README.md").read_text(encoding="utf-8")
    blocks = [yaml.safe_load(b) for b in re.findall(r"```yaml\n(.*?)```", text, re.DOTALL)]
    return [b for b in blocks if "bank_holidays" not in b]  # that one is closures.yaml


def test_every_example_in_workflows_readme_meets_it() -> None:
    examples = _readme_examples()
    assert len(examples) >= 5
    for example in examples:
        fmt = example.get("format", 1)
        for key, value in as_json(example).items():
            where = "protocol" if key in (*checks.TOP_KEYS, "format") else "level"
            subschema = {
                "$ref": f"#/$defs/{where}_{fmt}/properties/{key}",
                "$defs": SCHEMA["$defs"],
            }
            problems = list(jsonschema.Draft202012Validator(subschema).iter_errors(value))
            assert problems == [], (key, [p.message for p in problems])


def _devon() -> dict[str, Any]:
    return copy.deepcopy(load(workflows_dir() / "devon.yaml"))


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (
            lambda d: d["levels"][0].__setitem__("response_due", "5 days"),
            "levels.0.response_due: '5 days' does not match",
        ),
        (
            lambda d: d["levels"][0].__setitem__("response_due", "0 working days"),
            "levels.0.response_due: '0 working days' does not match",
        ),
        (
            lambda d: d["levels"][1].__setitem__("responder_roles", ["manager"]),
            "levels.1.responder_roles.0: 'manager' is not one of",
        ),
        (
            lambda d: d.__setitem__("busines_hours", {}),
            "Additional properties are not allowed ('busines_hours' was unexpected)",
        ),
        (
            lambda d: d["business_hours"].__setitem__("monday", "9-5"),
            "business_hours.monday: '9-5' does not match",
        ),
        (
            lambda d: d.__setitem__("reference_prefix", "dscp"),
            "reference_prefix: 'dscp' does not match",
        ),
        (
            lambda d: d["levels"][3].__setitem__("on_lapse", "escalate_later"),
            "levels.3.on_lapse: 'escalate_later' is not valid under any of the given schemas",
        ),
        (
            lambda d: d["provenance"].__setitem__("business_hours", {"status": "to confirm"}),
            "provenance.business_hours: {'status': 'to confirm'} is not of type 'string'",
        ),
        (lambda d: d.__setitem__("format", 3), "format: 3 is not one of [1]"),
    ],
)
def test_it_refuses_what_the_checks_refuse(change: Any, expected: str) -> None:
    data = _devon()
    change(data)
    found = errors(data)
    assert any(expected in problem for problem in found), found


@pytest.mark.parametrize(
    ("entry", "expected"),
    [
        (
            {"note": "from the framework"},
            "provenance.business_hours: {'note': 'from the framework'}",
        ),
        ({"status": "confirmed"}, "provenance.business_hours.status: 'to confirm' was expected"),
        ({"source": {"section": "2"}}, "'document' is a required property"),
        (
            {"source": {"document": "CRP", "address": "www.example.gov.uk"}},
            "provenance.business_hours.source.address: 'www.example.gov.uk' does not match",
        ),
        ("Testshire CRP", "provenance.business_hours: 'Testshire CRP' is not of type 'object'"),
    ],
)
def test_it_refuses_a_format_2_entry_with_neither_source_nor_status(
    entry: Any, expected: str
) -> None:
    data = load(FIXTURES / "format2.yaml")
    data["provenance"]["business_hours"] = entry
    found = errors(data)
    assert any(expected in problem for problem in found), found


def test_workflows_schema_prints_it_and_writes_it_whole(tmp_path: Path) -> None:
    printed = CliRunner().invoke(main, ["workflows", "schema"])
    assert printed.exit_code == 0, printed.output
    assert json.loads(printed.output) == SCHEMA
    target = tmp_path / "protocol.schema.json"
    written = CliRunner().invoke(main, ["workflows", "schema", "--output", str(target)])
    assert written.exit_code == 0, written.output
    assert written.output == f"wrote the protocol file schema to {target}\n"
    assert json.loads(target.read_text(encoding="utf-8")) == SCHEMA
    missing = CliRunner().invoke(
        main, ["workflows", "schema", "--output", str(tmp_path / "no" / "x.json")]
    )
    assert missing.exit_code != 0
    assert "error: --output: the folder" in missing.output and "does not exist" in missing.output
