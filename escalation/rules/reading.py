"""Reading a protocol or closures YAML file, and the tools for collecting its problems.

Owns the YAML loader (safe; dates kept as text, because the checks parse them so a bad date is a
reported problem rather than a crash; a key given twice in one mapping is reported, where plain
PyYAML silently keeps the last one), `Check`, which collects every problem of one file as
`devon.yaml: levels[2].response_due: <what is wrong>`, and the small readers and wording helpers
the checks in `escalation.rules.checks` are built from.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Hashable, Mapping, Sequence
from datetime import date, datetime, time
from pathlib import Path
from typing import Any

import yaml

from escalation.errors import DurationError
from escalation.rules.workdays import Duration

_HOURS_PATTERN = re.compile(r"^(\d{2}):(\d{2})\s*-\s*(\d{2}):(\d{2})$")
_DATE_PATTERN = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_UNREADABLE = object()
_TIMESTAMP_TAG = "tag:yaml.org,2002:timestamp"
MAX_NUMBER = 9999  # versions, levels, reminder counts, levels of need


# --- YAML ------------------------------------------------------------------------------------


class _Loader(yaml.SafeLoader):
    """Safe loading that keeps dates as text and notes any key given twice in one mapping."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self.repeated: list[tuple[int, str]] = []

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Hashable, Any]:
        seen: set[tuple[str, str]] = set()
        for key_node, _ in node.value:
            if isinstance(key_node, yaml.ScalarNode):
                if (key_node.tag, key_node.value) in seen:
                    self.repeated.append((key_node.start_mark.line + 1, key_node.value))
                seen.add((key_node.tag, key_node.value))
        return super().construct_mapping(node, deep)


_Loader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != _TIMESTAMP_TAG]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


# --- Collecting problems ---------------------------------------------------------------------


class Check:
    """Collects the problems of one file, each as `file: field.path: problem`."""

    def __init__(self, file: str) -> None:
        self.file = file
        self.problems: list[str] = []

    def add(self, where: str, message: str) -> None:
        prefix = f"{self.file}: {where}: " if where else f"{self.file}: "
        self.problems.append(prefix + message)

    def mapping(
        self, value: Any, where: str, required: Sequence[str], optional: Sequence[str] = ()
    ) -> dict[Any, Any] | None:
        """`value` as a mapping with exactly the allowed keys (problems noted), or None."""
        data = self.table(value, where)
        if data is None:
            return None
        allowed = [*required, *optional]
        for key in data:
            if key not in allowed:
                self.add(join(where, key), f"unknown key{did_you_mean(key, allowed)}")
        for key in required:
            if key not in data:
                self.add(join(where, key), "required key is missing")
        return data

    def table(self, value: Any, where: str) -> dict[Any, Any] | None:
        if isinstance(value, dict):
            return value
        self.add(where, f"must be a mapping of keys to values, not {show(value)}")
        return None

    def items(self, value: Any, where: str) -> list[Any] | None:
        if isinstance(value, list):
            return value
        self.add(where, f"must be a list, not {show(value)}")
        return None

    def text(self, value: Any, where: str, hint: str = "") -> str | None:
        if not isinstance(value, str):
            quote = f' (put it in quotes: "{value}")' if _is_number(value) else ""
            self.add(where, f"must be text, not {show(value)}{quote}")
            return None
        if not value.strip():
            self.add(where, f"must not be empty{hint}")
            return None
        return value

    def positive(self, value: Any, where: str) -> int | None:
        """A version, level or count: stored in integer columns, so a 60-digit one would be
        accepted here and fail at the first challenge raised under it."""
        if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
            self.add(where, f"must be a positive whole number, not {show(value)}")
        elif value > MAX_NUMBER:
            self.add(where, f"must be at most {MAX_NUMBER}, not {show(value)}")
        else:
            return value
        return None

    def flag(self, value: Any, where: str) -> bool | None:
        if isinstance(value, bool):
            return value
        self.add(where, f"must be true or false, not {show(value)}")
        return None

    def duration(self, value: Any, where: str) -> Duration | None:
        try:
            return Duration.parse(value)
        except DurationError as exc:
            self.add(where, str(exc))
            return None

    def day(self, value: Any, where: str) -> date | None:
        try:
            return parse_date(value)
        except ValueError:
            self.add(where, f"{show(value)} is not a valid ISO date like 2027-12-31")
            return None


Reader = Callable[[Check, Any, str], Any]


def read_field(check: Check, data: Mapping[Any, Any], where: str, key: str, reader: Reader) -> Any:
    """Read `data[key]` with `reader`; a missing key gives None (already reported as missing)."""
    if key not in data:
        return None
    return reader(check, data[key], join(where, key))


def join(where: str, key: object) -> str:
    return f"{where}.{key}" if where else str(key)


def show(value: Any) -> str:
    if isinstance(value, str):
        return f'"{value}"'
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "an empty value"
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, list):
        return "a list"
    return "a mapping" if isinstance(value, dict) else type(value).__name__


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def did_you_mean(key: object, allowed: Sequence[str]) -> str:
    close = difflib.get_close_matches(str(key), allowed, n=1)
    if close:
        return f' (did you mean "{close[0]}"?)'
    return f" (allowed: {', '.join(allowed)})"


def parse_date(value: Any) -> date:
    if isinstance(value, date) and not isinstance(value, datetime):
        return value
    if isinstance(value, str) and _DATE_PATTERN.fullmatch(value):
        return date.fromisoformat(value)
    raise ValueError(value)


def parse_hours(text: str) -> tuple[time, time]:
    match = _HOURS_PATTERN.fullmatch(text.strip())
    if match is None:
        raise ValueError(text)
    h1, m1, h2, m2 = (int(part) for part in match.groups())
    return time(h1, m1), time(h2, m2)


# --- Reading files ---------------------------------------------------------------------------


def _read_yaml(path: Path, check: Check) -> Any:
    """The parsed file, or `_UNREADABLE` with the reason noted in `check`."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        check.add("", f"cannot read the file: {exc}")
        return _UNREADABLE
    return _parse_yaml(text, check)


def _parse_yaml(text: str, check: Check) -> Any:
    loader = _Loader(text)
    try:
        data = loader.get_single_data()
    except yaml.YAMLError as exc:
        check.add(*_yaml_problem(exc))
        return _UNREADABLE
    finally:
        loader.dispose()
    for line, key in loader.repeated:
        check.add(f"line {line}", f'key "{key}" is given twice in the same mapping')
    return data


def _yaml_problem(exc: yaml.YAMLError) -> tuple[str, str]:
    if not isinstance(exc, yaml.MarkedYAMLError):
        return "", f"YAML syntax error: {exc}"
    mark = exc.problem_mark or exc.context_mark
    context = exc.context or ""
    if exc.context_mark and exc.problem_mark and exc.context_mark.line != exc.problem_mark.line:
        context += f" ({_at(exc.context_mark)})"
    what = ": ".join(part for part in (context, exc.problem) if part)
    return (_at(mark) if mark else ""), f"YAML syntax error: {what}"


def _at(mark: yaml.Mark) -> str:
    return f"line {mark.line + 1}, column {mark.column + 1}"


def root_mapping(check: Check, data: Any, keys: Sequence[str], optional: Sequence[str] = ()) -> Any:
    """The whole file as a mapping with exactly the allowed keys (problems noted), or None."""
    if data is None:
        check.add("", "the file is empty")
        return None
    if not isinstance(data, dict):
        check.add("", f"the file must be a mapping of keys to values, not {show(data)}")
        return None
    return check.mapping(data, "", keys, optional)


def read_checked(path: Path, check_data: Callable[[Check, Any], None]) -> tuple[Any, list[str]]:
    """The parsed file and every problem in it, `check_data` having checked what parsed.

    The data is fit to build values from only when there are no problems.
    """
    check = Check(path.name)
    data = _read_yaml(path, check)
    if data is not _UNREADABLE:
        check_data(check, data)
    return data, check.problems


def read_checked_text(
    name: str, text: str, check_data: Callable[[Check, Any], None]
) -> tuple[Any, list[str]]:
    """As `read_checked`, for text held elsewhere (a pinned copy in the database), named `name`."""
    check = Check(name)
    data = _parse_yaml(text, check)
    if data is not _UNREADABLE:
        check_data(check, data)
    return data, check.problems
