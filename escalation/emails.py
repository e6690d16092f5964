"""The email templates and their renderer: pure, with no database and no SMTP.

Templates live in `templates/emails/` (see `escalation.resources.templates_dir`): a shared layout
for each part (`_base.txt`, `_base.html`) and one folder per kind of email with `subject.txt`,
`body.txt` and `body.html`. Every body extends its layout, and the layout is what guarantees
that every email carries the reference, the link, the organisations, the level, the due date in
UK time and, last, the partnership's immediate-risk numbers (PROTOCOL.md §5).

Privacy is enforced by shape: an `EmailContext` is the only data a template can see, and it has
no field for the child or for the free text of a concern, so no template can leak them.

Loading is strict: `EmailRenderer` loads and compiles every template of every kind when it is
built and raises `TemplateProblem` listing every missing file, syntax error and unknown
variable, so a broken template stops the process at start-up rather than skipping an email.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, fields, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from jinja2 import (
    Environment,
    FileSystemLoader,
    StrictUndefined,
    Template,
    TemplateError,
    TemplateNotFound,
    TemplateSyntaxError,
    meta,
    select_autoescape,
)
from markupsafe import escape

from escalation.errors import EscalationError, InvalidInput
from escalation.notices import NoticeKind
from escalation.protocol_model import Outcome, Protocol, ResponseKind, RiskContact, Role
from escalation.resources import templates_dir
from escalation.workdays import LONDON, utc

UNDELIVERABLE = "undeliverable"
KINDS: tuple[str, ...] = (*(kind.value for kind in NoticeKind), UNDELIVERABLE)
AUDIENCES = ("raiser", "responder", "partnership", "admin")
PARTS = ("subject.txt", "body.txt", "body.html")
BASES = {"body.txt": "emails/_base.txt", "body.html": "emails/_base.html"}
RISK_FOOTER = "If a child is at immediate risk of significant harm, do not wait for this process:"

_DAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
_MONTHS = (
    "January", "February", "March", "April", "May", "June",
    "July", "August", "September", "October", "November", "December",
)  # fmt: skip
_ROLE_WORDS: dict[str, str] = {
    Role.PRACTITIONER: "the practitioner",
    Role.DSL: "the designated safeguarding lead",
    Role.LINE_MANAGER: "the line manager",
    Role.SENIOR_MANAGER: "the senior manager",
    Role.PARTNERSHIP: "the partnership business unit contact",
    Role.ADMIN: "the administrator",
    # The person named on the challenge itself, not found in the directory by role.
    "raiser": "the named contact",
    "responder": "the named contact",
}
_RESPONSE_WORDS: dict[str, str] = {
    ResponseKind.CHANGED: "changed the decision",
    ResponseKind.UPHELD: "upheld the decision and given their reasons",
    ResponseKind.PARTLY_CHANGED: "partly changed the decision",
}
_OUTCOME_WORDS: dict[str, str] = {
    Outcome.DECISION_UPHELD: "decision upheld",
    Outcome.DECISION_CHANGED: "decision changed",
    Outcome.NEW_REFERRAL_ACCEPTED: "new referral accepted",
    Outcome.STEPPED_UP: "stepped up",
    Outcome.STEPPED_DOWN: "stepped down",
    Outcome.SERVICE_PROVIDED: "service provided",
    Outcome.INFORMATION_SHARED: "information shared",
    Outcome.OTHER: "other (see the challenge page)",
}
# Values the renderer works out from the context and hands to the templates besides its fields.
_DERIVED = ("level_text",)


class TemplateProblem(EscalationError):
    """Missing, broken or failing email templates; `problems` lists every one, path first."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("\n".join(problems))


@dataclass(frozen=True)
class EmailContext:
    """Everything an email may show. There is deliberately no field for the child or the concern."""

    kind: str
    reference: str
    partnership_name: str
    raising_org: str
    responding_org: str
    level: int | None
    level_name: str | None
    urgent: bool
    recipient_name: str
    recipient_role: str
    audience: str
    due_at: datetime | None
    link: str
    immediate_risk: tuple[RiskContact, ...]
    response_kind: str | None
    outcome: str | None
    problem: str | None

    def __post_init__(self) -> None:
        _one_of("kind", self.kind, KINDS)
        _one_of("audience", self.audience, AUDIENCES)
        if not self.recipient_role.strip():
            raise InvalidInput("recipient_role", "is empty")
        _one_of("response_kind", self.response_kind, (*ResponseKind, None))
        _one_of("outcome", self.outcome, (*Outcome, None))
        if self.due_at is not None and self.due_at.tzinfo is None:
            raise InvalidInput("due_at", f"{self.due_at.isoformat()} has no timezone")
        if not self.link.startswith(("https://", "http://")):
            raise InvalidInput("link", f"{self.link!r} must start with https:// or http://")


def _one_of(field: str, value: object, allowed: Iterable[object]) -> None:
    allowed = tuple(allowed)
    if value not in allowed:
        listed = ", ".join(str(item) for item in allowed if item is not None)
        raise InvalidInput(field, f"{value!r} is not one of {listed}")


@dataclass(frozen=True)
class RenderedEmail:
    subject: str
    text: str
    html: str


# --- Filters ---------------------------------------------------------------------------------


def london(instant: datetime) -> str:
    """Like "Monday 4 January 2027 at 17:00", in Europe/London; names are English, not locale."""
    local = utc(instant).astimezone(LONDON)
    return (
        f"{_DAYS[local.weekday()]} {local.day} {_MONTHS[local.month - 1]} {local.year} "
        f"at {local:%H:%M}"
    )


def by_when(instant: datetime | None) -> str:
    return f"by {london(instant)}" if instant is not None else "as soon as possible"


def tel(phone: str) -> str:
    """The digits of a phone number (and a leading +), for a tel: link."""
    return re.sub(r"(?!^\+)[^0-9]", "", phone.strip())


def _words(table: Mapping[str, str]) -> Callable[[object], str]:
    """A filter putting a stored value (`partly_changed`) into words (`partly changed ...`)."""
    return lambda value: table.get(str(value), str(value).replace("_", " "))


def make_environment(templates: Path | None = None) -> Environment:
    """Jinja2 over `templates_dir(templates)`: strict, escaping .html and never .txt."""
    environment = Environment(
        loader=FileSystemLoader(str(templates_dir(templates))),
        undefined=StrictUndefined,
        # By the name's last extension: `body.html` and `_base.html` are escaped, `*.txt` are not
        # (and a `*.html.j2` would NOT be: do not rename the templates that way).
        autoescape=select_autoescape(["html"], default_for_string=False, default=False),
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=False,
    )
    environment.filters.update(
        london=london,
        by_when=by_when,
        tel=tel,
        role_words=_words(_ROLE_WORDS),
        response_words=_words(_RESPONSE_WORDS),
        outcome_words=_words(_OUTCOME_WORDS),
    )
    return environment


# --- The renderer ----------------------------------------------------------------------------


class EmailRenderer:
    """Every email template, loaded and checked at construction; `render` fills one in."""

    def __init__(self, templates: Path | None = None) -> None:
        self.root = templates_dir(templates)
        self.environment = make_environment(templates)
        self._templates: dict[str, Template] = {}
        problems: list[str] = []
        for name in template_names():
            problems += self._load(name)
        if problems:
            raise TemplateProblem(problems)

    def _load(self, name: str) -> list[str]:
        loader = self.environment.loader
        assert loader is not None
        try:
            source, _, _ = loader.get_source(self.environment, name)
            tree = self.environment.parse(source, name, str(self.root / name))
            self._templates[name] = self.environment.get_template(name)
        except TemplateNotFound:
            return [f"{self.root / name}: missing"]
        except TemplateSyntaxError as exc:
            return [f"{self.root / name}:{exc.lineno}: {exc.message}"]
        allowed = _allowed_names(name, self.environment)
        unknown = sorted(meta.find_undeclared_variables(tree) - allowed)
        problems = [f"{self.root / name}: unknown variable '{var}'" for var in unknown]
        base = BASES.get(name.rsplit("/", 1)[-1])
        if base is not None and base not in set(meta.find_referenced_templates(tree)):
            problems.append(
                f'{self.root / name}: does not extend "{base}", so it would lack the reference, '
                "the link and the immediate-risk footer"
            )
        return problems

    def render(self, context: EmailContext) -> RenderedEmail:
        if not context.immediate_risk:
            raise TemplateProblem(
                [f"{context.kind}: no immediate-risk contacts: every email must end with them"]
            )
        values = _values(context)
        # Collapsing all whitespace also keeps a newline in a value out of the header.
        subject = " ".join(self._part(context.kind, "subject.txt", values).split())
        if not subject:
            raise TemplateProblem([f"emails/{context.kind}/subject.txt: the subject is empty"])
        values["subject"] = subject
        text = _tidy(self._part(context.kind, "body.txt", values))
        html = self._part(context.kind, "body.html", values).strip() + "\n"
        return RenderedEmail(subject, text, html)

    def _part(self, kind: str, part: str, values: dict[str, Any]) -> str:
        name = f"emails/{kind}/{part}"
        try:
            return self._templates[name].render(values)
        except TemplateError as exc:
            raise TemplateProblem([f"{name} ({kind}): {exc.message or exc}"]) from exc
        # A filter given the wrong kind of value (`{{ reference|london }}`) fails in Python, not
        # in Jinja; it is still a broken template, and `check_all` must report it, not crash.
        except (TypeError, ValueError, AttributeError, LookupError) as exc:
            raise TemplateProblem([f"{name} ({kind}): {type(exc).__name__}: {exc}"]) from exc


def template_names() -> list[str]:
    """Every template the renderer needs, relative to the templates folder."""
    return [*BASES.values(), *(f"emails/{kind}/{part}" for kind in KINDS for part in PARTS)]


def _allowed_names(name: str, environment: Environment) -> set[str]:
    names = {f.name for f in fields(EmailContext)} | set(_DERIVED) | set(environment.globals)
    return names if name.endswith("subject.txt") else names | {"subject"}


def _values(context: EmailContext) -> dict[str, Any]:
    # Not dataclasses.asdict: it would turn each RiskContact into a dict.
    values = {f.name: getattr(context, f.name) for f in fields(context)}
    values["level_text"] = _level_text(context.level, context.level_name)
    return values


def _level_text(level: int | None, name: str | None) -> str:
    if level is None:
        return "its current level"
    return f"level {level} ({name})" if name else f"level {level}"


def _tidy(text: str) -> str:
    lines = [line.rstrip() for line in text.strip().splitlines()]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)) + "\n"


# --- Samples and the check behind `escalation templates check` ------------------------------

SAMPLE_DUE = datetime(2027, 1, 4, 17, 0, tzinfo=UTC)
_PEOPLE = {
    "raiser": ("Dana Lead", Role.DSL),
    "responder": ("Alex Social Worker", Role.PRACTITIONER),
    "partnership": ("Pip Business Manager", Role.PARTNERSHIP),
    "admin": ("Sam Administrator", Role.ADMIN),
}
# Who each kind mainly asks to act, for the sample; check_all renders the others as well.
_ACTOR = {
    **dict.fromkeys(KINDS, "responder"),
    **dict.fromkeys(
        ("acknowledged", "response_received", "lapse_prompt", "raiser_reminder", "withdrawn",
         "resolved", "outcome_check", "outcome_reminder", "closed"), "raiser"),
    UNDELIVERABLE: "admin",
}  # fmt: skip
_SAMPLE_PROBLEM = "no contact for role senior_manager at {org}"
_NO_DUE = {"overdue", "paused", "withdrawn", "resolved", "closed"}
_WITH_OUTCOME = {"resolved", "outcome_check", "outcome_reminder", "closed"}


def sample_context(protocol: Protocol, kind: str) -> EmailContext:
    """A fictional but complete context for `kind` under `protocol` (previews and checks)."""
    _one_of("kind", kind, KINDS)
    level = protocol.levels[1 if kind.startswith("escalated") and len(protocol.levels) > 1 else 0]
    partnership = protocol.partnership_name
    reference = f"{protocol.reference_prefix}-2027-00042"
    name, role = _PEOPLE[_ACTOR[kind]]
    responding = f"{protocol.partnership.title()} Children's Social Care Front Door"
    return EmailContext(
        kind=kind,
        reference=reference,
        partnership_name=partnership,
        raising_org="Ashcombe Primary School",
        responding_org=responding,
        level=level.number,
        level_name=level.name,
        urgent=False,
        recipient_name=name,
        recipient_role=role.value,
        audience=_ACTOR[kind],
        due_at=None if kind in _NO_DUE else SAMPLE_DUE,
        link=f"https://escalation.example.org/challenges/{reference}",
        immediate_risk=protocol.immediate_risk,
        response_kind=ResponseKind.UPHELD.value if kind == "response_received" else None,
        outcome=Outcome.DECISION_CHANGED.value if kind in _WITH_OUTCOME else None,
        problem=_SAMPLE_PROBLEM.format(org=responding) if kind == UNDELIVERABLE else None,
    )


def check_all(renderer: EmailRenderer, protocols: Iterable[Protocol]) -> list[str]:
    """Render every kind, for every audience, with and without a due date, urgent or not, under
    every protocol; return every problem (an empty list means all is well)."""
    problems: list[str] = []
    for protocol in protocols:
        for kind in KINDS:
            for context in _variants(sample_context(protocol, kind)):
                label = (
                    f"{protocol.key}: {kind} to {context.audience}"
                    f"{' (urgent)' if context.urgent else ''}"
                    f"{'' if context.due_at else ' (no due date)'}"
                )
                try:
                    email = renderer.render(context)
                except TemplateProblem as exc:
                    problems += [f"{label}: {line}" for line in exc.problems]
                    continue
                problems += [f"{label}: {line}" for line in email_problems(email, context)]
    return problems


def _variants(sample: EmailContext) -> list[EmailContext]:
    audiences = ("admin",) if sample.kind == UNDELIVERABLE else AUDIENCES[:3]
    return [
        replace(
            sample,
            audience=audience,
            recipient_name=name,
            recipient_role=role.value,
            urgent=urgent,
            due_at=due,
        )
        for audience in audiences
        for name, role in [_PEOPLE[audience]]
        for urgent in (False, True)
        for due in (SAMPLE_DUE, None)
    ]


def email_problems(email: RenderedEmail, context: EmailContext) -> list[str]:
    """What a rendered email lacks of what every email must carry (PROTOCOL.md §5)."""
    wanted = [context.reference, context.link, context.raising_org, context.responding_org]
    wanted += [RISK_FOOTER]
    for contact in context.immediate_risk:
        wanted += [contact.label, contact.phone, contact.hours]
    if context.level is not None:
        wanted.append(f"level {context.level}")
    if context.due_at is not None:
        wanted.append(london(context.due_at))
    problems = [f"text lacks {item!r}" for item in wanted if item not in email.text]
    problems += [f"HTML lacks {item!r}" for item in wanted if str(escape(item)) not in email.html]
    problems += [
        f"HTML lacks {item}" for item in _html_musts(email, context) if item not in email.html
    ]
    leftovers = [mark for mark in ("{{", "{%", "}}", "%}") if mark in email.text + email.html]
    problems += [f"template syntax left in the output: {mark!r}" for mark in leftovers]
    if context.reference not in email.subject:
        problems.append(f"subject {email.subject!r} lacks the reference")
    return problems


def _html_musts(email: RenderedEmail, context: EmailContext) -> list[str]:
    return [
        '<html lang="en-GB">',
        f"<title>{escape(email.subject)}</title>",
        "<h1",
        f'<a href="{escape(context.link)}"',
    ]
