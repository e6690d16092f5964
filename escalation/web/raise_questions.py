"""The questions of "raise a challenge", page by page, with no HTTP in them.

Owns which draft answers each question page holds, how a posted page becomes answers (checked
with `escalation.intake`'s own rules, so a problem shows on the page where the field is, naming
it), which page comes next, the choices each page offers, and the rows of check-your-answers.
`pages_raise` holds the routes and keeps the draft on the server.

Draft answers are keyed by `RaiseRequest`'s field names; form fields
are named like the CLI options (`child-ref`), which are also the `InvalidInput` field names.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from functools import partial
from typing import Any

from markupsafe import Markup, escape

from escalation import intake
from escalation.errors import InvalidInput
from escalation.intake import RaiseRequest
from escalation.protocol import ProtocolRegistry
from escalation.protocol_model import Category, OnLapse, Protocol

Form = Mapping[str, str]  # the posted text fields, by name
Answers = dict[str, Any]  # the draft

CATEGORY_LABELS = {
    Category.THRESHOLD: (
        "Risk, threshold or level of need",
        "For example, a referral judged not to meet the threshold for a social work assessment.",
    ),
    Category.ROLES: ("Roles and responsibilities", "Who should be doing what for the child."),
    Category.INFORMATION_SHARING: (
        "Information sharing",
        "Information not shared, or shared too late.",
    ),
    Category.SERVICE_PROVISION: (
        "Service provision",
        "A service the child needs is not being provided.",
    ),
    Category.PLAN_NOT_PROGRESSING: (
        "A plan is not progressing",
        "The child's plan is not improving their life.",
    ),
    Category.STEP_CHANGE: (
        "Step-up, step-down or closure",
        "A case stepped up, stepped down or closed.",
    ),
}
NOT_KNOWN = "unknown"  # the "Not known" level of need: radios cannot be cleared without it
NEED_KEYS = ("need_raiser_view", "need_decision")
PROTOCOL_KEYS = (*NEED_KEYS, "start_level", "start_reason")  # their choices differ per protocol


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
    if not value.isdigit() or len(value) > 6:
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
            "child_ref": lambda: intake.text("child-ref", form.get("child-ref"), 64),
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
    if not all(part and part.isdigit() for part in parts):
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
                "decision-ref", form.get("decision-ref"), 64
            ),
        }
    )


def _need_level(form: Form, name: str, protocol: Protocol) -> int | None:
    value = _picked(form, name, "select a level of need, or Not known")
    if value == NOT_KNOWN:
        return None
    level = int(value) if value.isdigit() and len(value) < 4 else -1
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


# -- what the pages show ---------------------------------------------------------------------


def form_values(answers: Answers, home: str) -> dict[str, str]:
    """The draft as the form fields show it."""
    values = {k.replace("_", "-"): "" if v is None else str(v) for k, v in answers.items()}
    values["responding-org"] = str(answers.get("responding_org_id", ""))
    values.setdefault("partnership", home)
    values.setdefault("start-level", "1")
    if "urgent" in answers:
        values["urgent"] = "yes" if answers["urgent"] else "no"
    for key in NEED_KEYS:
        if key in answers and answers[key] is None:
            values[key.replace("_", "-")] = NOT_KNOWN
    if answers.get("decision_date"):
        when = date.fromisoformat(answers["decision_date"])
        values.update(_date_boxes("decision-date", when))
    return values


def _date_boxes(name: str, when: date) -> dict[str, str]:
    return {
        f"{name}-day": str(when.day),
        f"{name}-month": str(when.month),
        f"{name}-year": str(when.year),
    }


def choices(asked: Asked) -> dict[str, Any]:
    """The options of every page's radios and selects, as GOV.UK macro items."""
    protocol = asked.protocol
    first = protocol.levels[0]
    return {
        "partnership_items": [
            {"value": p, "text": asked.registry.for_partnership(p).partnership_name}
            for p in asked.registry.partnerships()
        ],
        "organisation_items": [
            {"value": str(org.id), "text": f"{org.name} ({org.partnership.title()})"}
            for org in asked.organisations
        ],
        "category_items": [
            {"value": c.value, "text": text, "hint": {"text": hint}}
            for c, (text, hint) in CATEGORY_LABELS.items()
        ],
        "need_items": _need_items(protocol),
        "level_items": _level_items(protocol),
        "normal_due": str(first.normal.response_due),
        "urgent_due": str(first.urgent.response_due),
        "child_risk": protocol.immediate_risk,
        "child_partnership": protocol.partnership_name,
    }


def _need_items(protocol: Protocol) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = [
        {"value": str(n), "text": f"{n} {name}"}
        for n, name in sorted(protocol.levels_of_need.items())
    ]
    return [*items, {"divider": "or"}, {"value": NOT_KNOWN, "text": "Not known"}]


def _level_items(protocol: Protocol) -> list[dict[str, Any]]:
    return [
        {
            "value": str(level.number),
            "text": f"Level {level.number}: {level.name}",
            "hint": {"text": f"A response is due within {level.normal.response_due}."},
        }
        for level in protocol.levels
    ]


LABELS = {
    "partnership": "The child's home partnership",
    "responding-org": "Organisation that made the decision",
    "responding-team": "Team",
    "responder-name": "Name of the person who made the decision",
    "responder-email": "Their email address",
    "child-ref": "The child's reference",
    "child-initials": "The child's initials",
    "child-birth-year": "Year of birth",
    "siblings-affected": "Brothers or sisters also affected",
    "category": "What the disagreement is about",
    "decision": "What was decided",
    "decision-date": "When the decision was made",
    "decision-ref": "The decision's reference",
    "need-raiser-view": "Level of need in your view",
    "need-decision": "Level of need in the decision",
    "concern": "Your concern",
    "evidence": "Evidence",
    "desired-outcome": "What you want to happen",
    "voice-of-child": "The voice of the child",
    "urgent": "Urgent",
    "start-level": "Level to start at",
    "start-reason": "Why it starts above level 1",
    "raising-org": "Your organisation",
    "raiser-name": "Your name",
    "raiser-email": "Your email address",
}


def error_items(problems: Iterable[InvalidInput], on_check: bool = False) -> list[dict[str, str]]:
    """GOV.UK error summary items naming each field and linking to its input: on its own page,
    or from check-your-answers to the question page where it is asked."""
    items = []
    for problem in problems:
        target = "#" + FIRST_INPUT.get(problem.field, problem.field)
        slug = FIELD_PAGES.get(problem.field)
        item = {"text": _error_text(problem)}
        if on_check and slug is not None:
            item["href"] = f"/raise/{slug}{target}"
        elif not on_check:
            item["href"] = target
        items.append({**item, "field": problem.field})
    return items


def _error_text(problem: InvalidInput) -> str:
    label = LABELS.get(problem.field, problem.field)
    if problem.problem.startswith("is required and must not be empty"):
        return f"Enter {label[:1].lower()}{label[1:]}"  # GOV.UK style: "Enter your concern"
    return f"{label}: {problem.problem}"


# -- check your answers ----------------------------------------------------------------------


def _shown(value: Any) -> str:
    return "Not given" if value is None or value == "" else str(value)


def _need_text(protocol: Protocol, value: int | None) -> str:
    return "Not known" if value is None else f"{value} {protocol.levels_of_need.get(value, '')}"


def _answer_texts(answers: Answers, registry: ProtocolRegistry) -> dict[str, str]:
    """Each answer as the check page shows it, by draft key."""
    protocol = registry.for_partnership(answers["partnership"])
    decided = answers.get("decision_date")
    texts = {key: _shown(value) for key, value in answers.items()}
    texts.update(
        partnership=protocol.partnership_name,
        category=CATEGORY_LABELS[Category(answers["category"])][0],
        decision_date=date.fromisoformat(decided).strftime("%-d %B %Y") if decided else "Not given",
        need_raiser_view=_need_text(protocol, answers["need_raiser_view"]),
        need_decision=_need_text(protocol, answers["need_decision"]),
        urgent="Yes" if answers["urgent"] else "No",
        start_level=f"Level {answers['start_level']}: "
        + protocol.level(answers["start_level"]).name,
    )
    return texts


def summary_rows(answers: Answers, registry: ProtocolRegistry) -> list[dict[str, Any]]:
    """govukSummaryList rows, each with a "Change" link to its question page."""
    texts = _answer_texts(answers, registry)
    rows = []
    for page in PAGES:
        for key in page.keys:
            if key == "responding_org_id":
                continue
            field = key.replace("_", "-")
            rows.append(
                _row(
                    LABELS[field], texts[key], f"/raise/{page.slug}#{FIRST_INPUT.get(field, field)}"
                )
            )
    return rows


def _row(label: str, text: str, href: str) -> dict[str, Any]:
    lines = Markup("<br>").join(escape(line) for line in text.splitlines() or [""])
    return {
        "key": {"text": label},
        "value": {"html": lines},
        "actions": {
            "items": [{"href": href, "text": "Change", "visuallyHiddenText": label.lower()}]
        },
    }


def lapse_text(protocol: Protocol, level: int) -> str:
    """What happens if the level's response deadline passes unanswered."""
    rule = protocol.level(level).on_lapse
    if rule is OnLapse.ESCALATE:
        return f"the challenge rises to level {level + 1} automatically and everyone is told"
    if rule is OnLapse.PROMPT:
        return "we ask you and your manager whether to escalate it"
    return "it stays at this level, marked overdue, and the partnership's leads are told"
