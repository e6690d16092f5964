"""Each event's form on a challenge: its words, its fields, their checks, and the service call.

`events.pages` shows a form and hands the posted answers here. Every missing or malformed answer
comes back at once as GOV.UK error summary items before anything is written; the service then
checks again (and the state machine decides whether the event is allowed now), and its
`InvalidInput` or `EventNotAllowed` comes back the same way. Nothing here knows about HTTP.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime

from starlette.datastructures import FormData

from escalation.casework.intake import Resolution
from escalation.casework.service import Service
from escalation.errors import EventNotAllowed, InvalidInput
from escalation.rules.model import Category, Outcome, ResponseKind
from escalation.rules.states import Event

# What people read instead of the stored codes.
STATUS_WORDS = {
    "new": "New",
    "awaiting_response": "Waiting for a response",
    "responded": "Response given: the raiser accepts or escalates",
    "paused": "Paused",
    "lapse_prompt": "No response in time: the raiser confirms escalation",
    "overdue": "Response overdue",
    "resolved": "Resolved",
    "outcome_check": "Outcome check: has the child's situation improved?",
    "outcome_not_improved": "Resolved, but the child's situation has not improved",
    "closed": "Closed",
    "withdrawn": "Withdrawn",
}
CATEGORY_WORDS = {
    Category.THRESHOLD.value: "Risk, threshold or level of need",
    Category.ROLES.value: "Roles and responsibilities",
    Category.INFORMATION_SHARING.value: "Information sharing",
    Category.SERVICE_PROVISION.value: "Service provision",
    Category.PLAN_NOT_PROGRESSING.value: "Plan not progressing",
    Category.STEP_CHANGE.value: "Step-up, step-down or closure",
}
KIND_WORDS = {
    ResponseKind.CHANGED.value: "Decision changed",
    ResponseKind.UPHELD.value: "Decision upheld, with rationale",
    ResponseKind.PARTLY_CHANGED.value: "Decision partly changed",
}
OUTCOME_WORDS = {o.value: o.value.replace("_", " ").capitalize() for o in Outcome}


@dataclass(frozen=True)
class Form:
    event: Event
    title: str  # the page's heading
    button: str  # its submit button
    link: str  # the button to it on the challenge page
    done: str  # the success banner once it is recorded
    required: tuple[tuple[str, str], ...] = ()  # (field, what to ask for), in page order


REASON = "reason"
RESOLUTION_REQUIRED = (
    ("life-improvement", "Enter how life will improve for the child"),
    ("outcome", "Select the outcome"),
    ("statement", "Enter the agreed outcome statement"),
    (
        "recorded-on-both-files",
        "Select yes if the outcome is recorded on both agencies' files",
    ),
)
FORMS: dict[Event, Form] = {
    form.event: form
    for form in (
        Form(
            Event.ACKNOWLEDGE,
            "Acknowledge the challenge",
            "Acknowledge receipt",
            "Acknowledge",
            "You have acknowledged the challenge. The response is still due.",
        ),
        Form(
            Event.RESPOND,
            "Respond to the challenge",
            "Record the response",
            "Respond",
            "Your response has been recorded and the raiser has been told.",
            (
                ("kind", "Select whether the decision is changed, upheld or partly changed"),
                ("summary", "Enter your response and its rationale"),
            ),
        ),
        Form(
            Event.ACCEPT,
            "Accept the response",
            "Accept and resolve",
            "Accept the response",
            "You have accepted the response. The challenge is resolved.",
            RESOLUTION_REQUIRED,
        ),
        Form(
            Event.ESCALATE,
            "Escalate the challenge",
            "Escalate",
            "Escalate",
            "The challenge has been escalated.",
            ((REASON, "Enter why the challenge should rise to a higher level"),),
        ),
        Form(
            Event.PAUSE,
            "Pause the clock",
            "Pause the clock",
            "Pause",
            "The clock is paused.",
            (
                (REASON, "Enter why the clock is paused"),
                ("agreed-by", "Enter the name of the person who agreed to the pause"),
            ),
        ),
        Form(
            Event.RESUME,
            "Restart the clock",
            "Restart the clock",
            "Resume",
            "The clock runs again.",
        ),
        Form(
            Event.EXTEND,
            "Agree a later due date",
            "Extend the due date",
            "Extend",
            "The due date has been extended.",
            (
                ("until", "Enter the agreed due date"),
                (REASON, "Enter why more time is needed"),
                ("agreed-by", "Enter the name of the person who agreed to the new date"),
            ),
        ),
        Form(
            Event.WITHDRAW,
            "Withdraw the challenge",
            "Withdraw the challenge",
            "Withdraw",
            "The challenge has been withdrawn.",
            ((REASON, "Enter why you are withdrawing the challenge"),),
        ),
        Form(
            Event.RESOLVE,
            "Record the resolution",
            "Record the resolution",
            "Resolve",
            "The resolution has been recorded.",
            RESOLUTION_REQUIRED,
        ),
        Form(
            Event.OUTCOME,
            "Outcome check",
            "Send your answer",
            "Answer the outcome check",
            "Your answer to the outcome check has been recorded.",
            (("improved", "Select yes if the child's situation has improved"),),
        ),
        Form(
            Event.REOPEN,
            "Reopen the challenge",
            "Reopen",
            "Reopen",
            "The challenge has been reopened.",
            ((REASON, "Enter why the challenge is reopened"),),
        ),
        Form(
            Event.CLOSE,
            "Close the challenge",
            "Close the challenge",
            "Close",
            "The challenge has been closed.",
            ((REASON, "Enter why the challenge is closed"),),
        ),
    )
}

# Every field any form posts: kept as typed, to fill the form again after a problem.
FIELDS = (
    "kind",
    "summary",
    "actions",
    "life-improvement",
    "outcome",
    "statement",
    "recorded-on-both-files",
    "reason",
    "to-level",
    "agreed-by",
    "until-day",
    "until-month",
    "until-year",
    "improved",
    "note",
)
LABELS = {"until": "Agreed due date", "to-level": "Level", "agreed-by": "Agreed by"}
YES_NO = {"yes": True, "no": False}


class FormProblems(Exception):
    """What is wrong with a posted form, as GOV.UK error summary items; nothing was written."""

    def __init__(self, errors: list[dict[str, str]], status: int = 400) -> None:
        super().__init__(", ".join(e["text"] for e in errors))
        self.errors = errors
        self.status = status


def problem(name: str, text: str) -> dict[str, str]:
    """One error summary item, linked to its field (a date links to its day box)."""
    href = "#until-day" if name == "until" else f"#{name}"
    return {"text": text, "href": href, "field": name}


def answers(form: FormData) -> dict[str, str]:
    found: dict[str, str] = {}
    for name in FIELDS:
        value = form.get(name)
        if isinstance(value, str):
            found[name] = value
    return found


def check(form: Form, values: Mapping[str, str]) -> None:
    """Every missing or malformed answer at once (FormProblems), before the service is asked."""
    missing = {name for name, _ in form.required if not values.get(name, "").strip()}
    if "until" in missing and any(values.get(f"until-{p}", "").strip() for p in DATE_PARTS):
        missing.discard("until")  # partly typed: the date check below says what is wrong
    errors = [problem(name, text) for name, text in form.required if name in missing]
    for name in ("recorded-on-both-files", "improved"):
        if name not in missing and values.get(name) and values[name] not in YES_NO:
            errors.append(problem(name, "Select yes or no"))
    if form.event is Event.EXTEND and "until" not in missing:
        try:
            until_date(values)
        except InvalidInput as exc:
            errors.append(problem("until", exc.problem))
    if errors:
        raise FormProblems(sorted(errors, key=lambda e: _page_order(form, e["field"])))


def _page_order(form: Form, name: str) -> int:
    names = [field for field, _ in form.required]
    return names.index(name) if name in names else len(names)


DATE_PARTS = ("day", "month", "year")


def until_date(values: Mapping[str, str]) -> date:
    try:
        day, month, year = (int(values.get(f"until-{p}", "").strip()) for p in DATE_PARTS)
        return date(year, month, day)
    except ValueError:
        raise InvalidInput(
            "until", "The agreed due date must be a real date, like 18 12 2026"
        ) from None


def record(
    service: Service,
    form: Form,
    reference: str,
    who: str,
    values: Mapping[str, str],
    now: datetime,
) -> None:
    """Record the event through the service; what it refuses comes back as FormProblems."""
    try:
        RECORDERS[form.event](service, reference, who, values, now)
    except InvalidInput as exc:
        item = _service_problem(exc)
        # Not about a field on the page but about the challenge (e.g. already acknowledged).
        raise FormProblems([item], status=400 if "field" in item else 409) from None
    except EventNotAllowed as exc:
        raise FormProblems([not_now(form, exc.state)], status=409) from None


def not_now(form: Form, state: str) -> dict[str, str]:
    """The state does not allow this event now (someone else may just have acted)."""
    status = state.split(".")[-1]
    words = STATUS_WORDS.get(status, status).lower()
    return {"text": f"{form.title} is not possible now: the challenge's status is “{words}”."}


def _service_problem(exc: InvalidInput) -> dict[str, str]:
    name = "actions" if exc.field.startswith("action[") else exc.field
    if name not in FIELDS and name != "until":
        return {"text": str(exc)}  # about the challenge, not a field on the page
    label = LABELS.get(name, name.replace("-", " ").capitalize())
    detail = exc.problem if name != "actions" else f"{exc.field}: {exc.problem}"
    return problem(name, f"{label}: {detail}")


# -- the service call of each event ------------------------------------------------------------

Recorder = Callable[[Service, str, str, Mapping[str, str], datetime], None]


def _text(values: Mapping[str, str], name: str) -> str:
    return values.get(name, "").strip()


def _optional(values: Mapping[str, str], name: str) -> str | None:
    return _text(values, name) or None


def _resolution(values: Mapping[str, str]) -> Resolution:
    return Resolution(
        outcome=_text(values, "outcome"),
        statement=_text(values, "statement"),
        life_improvement=_text(values, "life-improvement"),
        recorded_on_both_files=YES_NO.get(_text(values, "recorded-on-both-files")),
    )


def action_lines(values: Mapping[str, str]) -> list[str]:
    """One action a line ("what | owner | YYYY-MM-DD"); blank lines are ignored."""
    return [line.strip() for line in values.get("actions", "").splitlines() if line.strip()]


def _to_level(values: Mapping[str, str]) -> int | None:
    raw = _text(values, "to-level")
    if not raw:
        return None
    if not re.fullmatch(r"[0-9]{1,3}", raw):  # not isdigit(): it takes "²", which int() refuses
        raise InvalidInput("to-level", f"{raw[:20]!r} is not a level")
    return int(raw)


RECORDERS: dict[Event, Recorder] = {
    Event.ACKNOWLEDGE: lambda s, ref, who, v, now: s.acknowledge(ref, who, now),
    Event.RESPOND: lambda s, ref, who, v, now: s.respond(
        ref, who, _text(v, "kind"), _text(v, "summary"), action_lines(v), now
    ),
    Event.ACCEPT: lambda s, ref, who, v, now: s.accept(ref, who, _resolution(v), now),
    Event.ESCALATE: lambda s, ref, who, v, now: s.escalate(
        ref, who, _text(v, REASON), now, _to_level(v)
    ),
    # The person recording asked for it; the other side's person agreed.
    Event.PAUSE: lambda s, ref, who, v, now: s.pause(
        ref, who, _text(v, "agreed-by"), _text(v, REASON), now
    ),
    Event.RESUME: lambda s, ref, who, v, now: s.resume(ref, who, now, _optional(v, "note")),
    Event.EXTEND: lambda s, ref, who, v, now: s.extend(
        ref, who, _text(v, "agreed-by"), until_date(v), _text(v, REASON), now
    ),
    Event.WITHDRAW: lambda s, ref, who, v, now: s.withdraw(ref, who, _text(v, REASON), now),
    Event.RESOLVE: lambda s, ref, who, v, now: s.resolve(ref, who, _resolution(v), now),
    Event.OUTCOME: lambda s, ref, who, v, now: s.answer_outcome(
        ref, who, _text(v, "improved") == "yes", _optional(v, "note"), now
    ),
    Event.REOPEN: lambda s, ref, who, v, now: s.reopen(ref, who, _text(v, REASON), now),
    Event.CLOSE: lambda s, ref, who, v, now: s.close(ref, who, _text(v, REASON), now),
}
