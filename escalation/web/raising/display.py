"""What the "raise a challenge" question pages show, with no HTTP in them.

Owns the draft as the form fields show it, the options of each page's radios and selects, the
fields' labels and the GOV.UK error summary that names them, the rows of check-your-answers, and
the confirmation's words for what happens if nobody answers. Which answers each page holds and
how they are checked is `raising.questions`.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from typing import Any

from markupsafe import Markup, escape

from escalation.errors import InvalidInput
from escalation.rules.dates import day_words
from escalation.rules.model import Category, FollowUp, OnLapse, Protocol
from escalation.rules.registry import ProtocolRegistry
from escalation.web.auth import Principal
from escalation.web.raising.questions import (
    FIELD_PAGES,
    FIRST_INPUT,
    NEED_KEYS,
    NOT_KNOWN,
    PAGES,
    Answers,
    Asked,
)

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


# -- the question pages ----------------------------------------------------------------------


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
        "partnership_items": _partnership_items(asked.registry),
        "organisation_items": _organisation_items(asked),
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


def _partnership_items(registry: ProtocolRegistry) -> list[dict[str, Any]]:
    return [
        {"value": p, "text": registry.for_partnership(p).partnership_name}
        for p in registry.partnerships()
    ]


def _organisation_items(asked: Asked) -> list[dict[str, Any]]:
    return [
        {"value": str(org.id), "text": f"{org.name} ({org.partnership.title()})"}
        for org in asked.organisations
    ]


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
        decision_date=day_words(date.fromisoformat(decided)) if decided else "Not given",
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
                continue  # the organisation's row shows its name, the page's other answer
            field = key.replace("_", "-")
            href = f"/raise/{page.slug}#{FIRST_INPUT.get(field, field)}"
            rows.append(_row(LABELS[field], texts[key], href))
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


def raiser_rows(principal: Principal) -> list[dict[str, Any]]:
    """The raiser, as signed in: not asked, so with no "Change" link."""
    return [
        {"key": {"text": "Your name"}, "value": {"text": principal.name}},
        {"key": {"text": "Your email address"}, "value": {"text": principal.email}},
        {"key": {"text": "Your organisation"}, "value": {"text": principal.organisation_name}},
    ]


# -- the confirmation ------------------------------------------------------------------------


def lapse_text(protocol: Protocol, level: int) -> str:
    """What happens if the level's response deadline passes unanswered."""
    rule = protocol.level(level).on_lapse
    if rule is OnLapse.ESCALATE:
        return f"the challenge rises to level {level + 1} automatically and everyone is told"
    if rule is OnLapse.PROMPT:
        follow_up = protocol.level(level).lapse_follow_up
        if follow_up is None:
            return "we ask you and your manager whether to escalate it"
        if follow_up.action is FollowUp.ESCALATE:
            return (
                "we ask you and your manager whether to escalate it, and if you have not "
                f"within {follow_up.after}, it rises to level {level + 1}"
            )
        return (
            "we ask you and your manager whether to escalate it, and if you have not within "
            f"{follow_up.after}, the partnership is told"
        )
    return "it stays at this level, marked overdue, and the partnership's leads are told"
