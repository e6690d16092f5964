"""The questions of "raise a challenge", page by page, with no HTTP in them.

Owns which draft answers each question page holds, how a posted page becomes answers (checked
with `escalation.casework.intake`'s own rules, so a problem shows on the page where the field is,
naming it), which page comes next, and the draft's `RaiseRequest`. What the pages show (their
choices, labels, errors and the rows of check-your-answers) is `raising.display`; `raising.pages`
holds the routes and keeps the draft on the server.

Draft answers are keyed by `RaiseRequest`'s field names; form fields
are named like the CLI options (`child-ref`), which are also the `InvalidInput` field names.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from functools import partial
from typing import Any

from escalation.casework import intake
from escalation.casework.intake import RaiseRequest
from escalation.errors import InvalidInput
from escalation.rules.model import Protocol
from escalation.rules.registry import ProtocolRegistry

Form = Mapping[str, str]  # the posted text fields, by name
Answers = dict[str, Any]  # the draft

NOT_KNOWN = "unknown"  # the "Not known" level of need: radios cannot be cleared without it
NEED_KEYS = ("need_raiser_view", "need_decision")
PROTOCOL_KEYS = (*NEED_KEYS, "start_level", "start_reason")  # their choices differ per protocol

# ASCII digits only: str.isdigit() also takes "²", which int() refuses.
DIGITS = re.compile(r"[0-9]+")


class Problems(Exception):
    """Every problem on one page, shown together. The message never repeats what was typed:
    exceptions reach logs, and the answers are about a child."""

    def __init__(self, problems: list[InvalidInput]) -> None:
        super().__init__(f"{len(problems)} problem(s) with the answers")
        self.problems = problems


@dataclass(frozen=True)
class OrgChoice:
    id: int
    name: str
    partnership: str


@dataclass(frozen=True)
class Asked:
    """What checking a page needs besides the form: the child's home partnership's protocol
    (as answered so far), the clock, and the organisations a challenge may be addressed to."""

    registry: ProtocolRegistry
    protocol: Protocol
    now: datetime
    organisations: tuple[OrgChoice, ...] = ()

    @property
    def today(self) -> date:
        return self.now.astimezone(self.protocol.calendar().tz).date()


@dataclass(frozen=True)
class Page:
    slug: str
    title: str
    keys: tuple[str, ...]  # the draft answers this page holds
    parse: Callable[[Form, Asked], Answers]


# -- checking each page ----------------------------------------------------------------------


def _checked(checks: Mapping[str, Callable[[], Any]]) -> Answers:
    """Run every check of a page, so that all its problems show at once."""
    answers: Answers = {}
    problems: list[InvalidInput] = []
    for key, check in checks.items():
        try:
            answers[key] = check()
        except InvalidInput as exc:
            problems.append(exc)
    if problems:
        raise Problems(problems)
    return answers


def _given(form: Form, name: str) -> str | None:
    value = form.get(name)
    return value.strip() if value and value.strip() else None


def _whole(form: Form, name: str, example: str) -> int | None:
    value = _given(form, name)
    if value is None:
        return None
    if not DIGITS.fullmatch(value) or len(value) > 6:
        raise InvalidInput(name, f"must be a whole number, like {example}")
    return int(value)


def _picked(form: Form, name: str, problem: str) -> str:
    value = _given(form, name)
    if value is None:
        raise InvalidInput(name, problem)
    return value


def _partnership(form: Form, asked: Asked) -> Answers:
    def check() -> str:
        value = _picked(form, "partnership", "select the child's home partnership").lower()
        if value not in asked.registry.partnerships():
            raise InvalidInput("partnership", "select one of the partnerships listed")
        return value

    return _checked({"partnership": check})


def _organisation(form: Form, asked: Asked) -> Answers:
    chosen = _given(form, "responding-org")
    found = next((org for org in asked.organisations if str(org.id) == chosen), None)
    if found is None:
        problem = "select the organisation that made the decision you are challenging"
        raise Problems([InvalidInput("responding-org", problem)])
    return {"responding_org_id": found.id, "responding_org": found.name}


def _responder(form: Form, asked: Asked) -> Answers:
    return _checked(
        {
            "responding_team": lambda: intake.optional_line(
                "responding-team", form.get("responding-team")
            ),
            "responder_name": lambda: intake.optional_line(
                "responder-name", form.get("responder-name")
            ),
            "responder_email": lambda: intake.email("responder-email", form.get("responder-email")),
        }
    )


def _siblings(form: Form) -> int:
    count = _whole(form, "siblings-affected", "0 or 2")
    if count is not None and count > 30:
        raise InvalidInput("siblings-affected", "must be between 0 and 30")
    return count or 0


def _child(form: Form, asked: Asked) -> Answers:
    return _checked(
        {
            "child_ref": lambda: intake.text(
                "child-ref", form.get("child-ref"), intake.REFERENCE_LIMIT
            ),
            "child_initials": lambda: intake.initials(form.get("child-initials")),
            "child_birth_year": lambda: intake.birth_year(
                _whole(form, "child-birth-year", "2015"), asked.now
            ),
            "siblings_affected": lambda: _siblings(form),
        }
    )


def _category(form: Form, asked: Asked) -> Answers:
    return _checked(
        {
            "category": lambda: intake.category(
                _picked(form, "category", "select what the disagreement is about")
            )
        }
    )


def _date(form: Form, name: str) -> str | None:
    """A GOV.UK date input's three boxes as an ISO date; None when all three are empty."""
    parts = [_given(form, f"{name}-{part}") for part in ("day", "month", "year")]
    if not any(parts):
        return None
    if not all(part and DIGITS.fullmatch(part) and len(part) <= 4 for part in parts):
        raise InvalidInput(name, "must include a day, month and year, like 20 11 2026")
    day, month, year = (int(part or "0") for part in parts)
    if year < 1000:
        raise InvalidInput(name, "the year must have 4 digits, like 2026")
    try:
        return date(year, month, day).isoformat()
    except ValueError:
        raise InvalidInput(name, "must be a real date, like 20 11 2026") from None


def _decision_date(form: Form, asked: Asked) -> str | None:
    return intake.past_date("decision-date", _date(form, "decision-date"), asked.today)


def _decision(form: Form, asked: Asked) -> Answers:
    return _checked(
        {
            "decision": lambda: intake.text("decision", form.get("decision")),
            "decision_date": lambda: _decision_date(form, asked),
            "decision_ref": lambda: intake.optional_text(
                "decision-ref", form.get("decision-ref"), intake.REFERENCE_LIMIT
            ),
        }
    )


def _need_level(form: Form, name: str, protocol: Protocol) -> int | None:
    value = _picked(form, name, "select a level of need, or Not known")
    if value == NOT_KNOWN:
        return None
    level = int(value) if DIGITS.fullmatch(value) and len(value) < 4 else -1
    return intake.need_level(name, level, protocol)


def _need(form: Form, asked: Asked) -> Answers:
    return _checked(
        {
            "need_raiser_view": partial(_need_level, form, "need-raiser-view", asked.protocol),
            "need_decision": partial(_need_level, form, "need-decision", asked.protocol),
        }
    )


def _texts(*names: str, optional: Iterable[str] = ()) -> Callable[[Form, Asked], Answers]:
    """A page of free-text answers (limits as in the service)."""

    def parse(form: Form, asked: Asked) -> Answers:
        checks: dict[str, Callable[[], Any]] = {}
        for name in names:
            check = intake.optional_text if name in optional else intake.text
            checks[name.replace("-", "_")] = partial(check, name, form.get(name))
        return _checked(checks)

    return parse


def _urgency(form: Form, asked: Asked) -> Answers:
    def check() -> bool:
        value = _picked(form, "urgent", "select yes if the challenge is urgent, or no")
        if value not in ("yes", "no"):
            raise InvalidInput("urgent", "select yes or no")
        return value == "yes"

    return _checked({"urgent": check})


def _start(form: Form, asked: Asked) -> Answers:
    def check() -> tuple[int, str | None]:
        level = _whole(form, "start-level", "1")
        if level is None:
            raise InvalidInput("start-level", "select the level the challenge starts at")
        return intake.start_level(level, form.get("start-reason"), asked.protocol)

    number, reason = _checked({"start": check})["start"]
    return {"start_level": number, "start_reason": reason}


PAGES = (
    Page("partnership", "Where does the child live?", ("partnership",), _partnership),
    Page(
        "organisation",
        "Which organisation made the decision you are challenging?",
        ("responding_org_id", "responding_org"),
        _organisation,
    ),
    Page(
        "responder",
        "Who made the decision?",
        ("responding_team", "responder_name", "responder_email"),
        _responder,
    ),
    Page(
        "child",
        "About the child",
        ("child_ref", "child_initials", "child_birth_year", "siblings_affected"),
        _child,
    ),
    Page("category", "What is the disagreement about?", ("category",), _category),
    Page(
        "decision",
        "The decision you are challenging",
        ("decision", "decision_date", "decision_ref"),
        _decision,
    ),
    Page("need", "Levels of need", NEED_KEYS, _need),
    Page(
        "concern",
        "Your concern",
        ("concern", "evidence"),
        _texts("concern", "evidence", optional=("evidence",)),
    ),
    Page("outcome", "What do you want to happen?", ("desired_outcome",), _texts("desired-outcome")),
    Page(
        "voice",
        "How do the child's views and experience inform this challenge?",
        ("voice_of_child",),
        _texts("voice-of-child"),
    ),
    Page("urgency", "Is this challenge urgent?", ("urgent",), _urgency),
    Page(
        "level",
        "Which level should the challenge start at?",
        ("start_level", "start_reason"),
        _start,
    ),
)
PAGE_BY_SLUG = {page.slug: page for page in PAGES}
# Where each field is asked: the service's problems link back to that page.
FIELD_PAGES = {
    ("responding-org" if key == "responding_org_id" else key.replace("_", "-")): page.slug
    for page in PAGES
    for key in page.keys
}
FIRST_INPUT = {"decision-date": "decision-date-day"}  # a date input's error links to its day box


# -- moving between pages --------------------------------------------------------------------


def first_unanswered(answers: Answers) -> Page | None:
    return next((p for p in PAGES if not all(key in answers for key in p.keys)), None)


def next_url(answers: Answers) -> str:
    """The next question not yet answered; once all are, check-your-answers (so a "Change"
    from there returns there)."""
    missing = first_unanswered(answers)
    return "/raise/check" if missing is None else f"/raise/{missing.slug}"


def back_url(page: Page, answers: Answers) -> str:
    if first_unanswered(answers) is None:
        return "/raise/check"
    index = PAGES.index(page)
    return f"/raise/{PAGES[index - 1].slug}" if index else "/raise"


def merge(answers: Answers, given: Answers) -> Answers:
    """The draft with a page's answers; a new home partnership forgets the answers chosen from
    the old protocol's own lists (levels of need, levels), so they are asked again."""
    merged = {**answers, **given}
    old = answers.get("partnership")
    if "partnership" in given and old is not None and old != given["partnership"]:
        for key in PROTOCOL_KEYS:
            merged.pop(key, None)
    return merged


def raise_request(
    answers: Answers, org: str, org_id: int, name: str, email: str | None
) -> RaiseRequest:
    fields = {key: answers[key] for page in PAGES for key in page.keys}
    return RaiseRequest(
        raising_org=org,
        raising_org_id=org_id,
        raiser_name=name,
        raiser_email=email or None,
        **fields,
    )
