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
The environment, filters and checks shared with the partnership digest live in
`escalation.mail.layout`; the digest's own context and templates in `escalation.mail.digest_email`,
which the renderer loads too (`EmailRenderer.digest`) and `check_all` checks too.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, fields, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from jinja2 import Template

from escalation.casework.notices import NoticeKind
from escalation.errors import InvalidInput
from escalation.mail.digest_email import DIGEST_TEMPLATES, DigestRenderer, check_digest
from escalation.mail.layout import RISK_FOOTER as RISK_FOOTER
from escalation.mail.layout import RenderedEmail as RenderedEmail
from escalation.mail.layout import TemplateProblem as TemplateProblem
from escalation.mail.layout import by_when as by_when
from escalation.mail.layout import (
    compile_template,
    lacks,
    one_line,
    render_part,
    risk_wanted,
    shape_problems,
    tidy,
)
from escalation.mail.layout import make_environment as make_environment
from escalation.mail.layout import tel as tel
from escalation.resources import templates_dir
from escalation.rules.dates import london as london
from escalation.rules.model import Outcome, Protocol, ResponseKind, RiskContact, Role

UNDELIVERABLE = "undeliverable"
KINDS: tuple[str, ...] = (*(kind.value for kind in NoticeKind), UNDELIVERABLE)
AUDIENCES = ("raiser", "responder", "partnership", "admin")
PARTS = ("subject.txt", "body.txt", "body.html")
BASES = {"body.txt": "emails/_base.txt", "body.html": "emails/_base.html"}
# Values the renderer works out from the context and hands to the templates besides its fields.
_DERIVED = ("level_text",)


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
    # A prompt to escalate: what happens if nobody decides by `due_at` ("escalate": it rises;
    # "alert": the partnership is told), or None when the challenge simply waits.
    then: str | None = None

    def __post_init__(self) -> None:
        _one_of("kind", self.kind, KINDS)
        _one_of("audience", self.audience, AUDIENCES)
        if not self.recipient_role.strip():
            raise InvalidInput("recipient_role", "is empty")
        _one_of("response_kind", self.response_kind, (*ResponseKind, None))
        _one_of("outcome", self.outcome, (*Outcome, None))
        _one_of("then", self.then, ("escalate", "alert", None))
        if self.due_at is not None and self.due_at.tzinfo is None:
            raise InvalidInput("due_at", f"{self.due_at.isoformat()} has no timezone")
        if not self.link.startswith(("https://", "http://")):
            raise InvalidInput("link", f"{self.link!r} must start with https:// or http://")


def _one_of(field: str, value: object, allowed: Iterable[object]) -> None:
    allowed = tuple(allowed)
    if value not in allowed:
        listed = ", ".join(str(item) for item in allowed if item is not None)
        raise InvalidInput(field, f"{value!r} is not one of {listed}")


# --- The renderer ----------------------------------------------------------------------------


class EmailRenderer:
    """Every email template, loaded and checked at construction; `render` fills one in.

    `digest` renders the partnership digest from the same environment; its templates are
    loaded here too, so a broken digest template also stops the process at start-up.
    """

    def __init__(self, templates: Path | None = None) -> None:
        self.root = templates_dir(templates)
        self.environment = make_environment(templates)
        self._templates: dict[str, Template] = {}
        problems: list[str] = []
        for name in notice_template_names():
            problems += self._load(name)
        try:
            self.digest = DigestRenderer(self.environment, self.root)
        except TemplateProblem as exc:
            problems += exc.problems
        if problems:
            raise TemplateProblem(problems)

    def _load(self, name: str) -> list[str]:
        base = BASES.get(name.rsplit("/", 1)[-1])
        allowed = _allowed_names(name)
        template, problems = compile_template(self.environment, self.root, name, allowed, base)
        if template is not None:
            self._templates[name] = template
        return problems

    def render(self, context: EmailContext) -> RenderedEmail:
        if not context.immediate_risk:
            raise TemplateProblem(
                [f"{context.kind}: no immediate-risk contacts: every email must end with them"]
            )
        values = _values(context)
        name = f"emails/{context.kind}/subject.txt"
        subject = one_line(self._part(context.kind, "subject.txt", values), name)
        values["subject"] = subject
        text = tidy(self._part(context.kind, "body.txt", values))
        html = self._part(context.kind, "body.html", values).strip() + "\n"
        return RenderedEmail(subject, text, html)

    def _part(self, kind: str, part: str, values: dict[str, Any]) -> str:
        name = f"emails/{kind}/{part}"
        return render_part(self._templates[name], name, kind, values)


def notice_template_names() -> list[str]:
    """The layouts and the templates of every per-challenge kind of email."""
    return [*BASES.values(), *(f"emails/{kind}/{part}" for kind in KINDS for part in PARTS)]


def template_names() -> list[str]:
    """Every template the renderer needs, relative to the templates folder."""
    return [*notice_template_names(), *DIGEST_TEMPLATES]


def _allowed_names(name: str) -> set[str]:
    names = {f.name for f in fields(EmailContext)} | set(_DERIVED)
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
    "lapse_alert": "partnership",
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
    every protocol, and the partnership digest; return every problem (empty: all is well)."""
    protocols = list(protocols)
    problems: list[str] = []
    for protocol in protocols:
        for kind in KINDS:
            for context in _variants(sample_context(protocol, kind)):
                problems += _check_one(renderer, protocol, context)
    return problems + check_digest(renderer.digest, protocols)


def _check_one(renderer: EmailRenderer, protocol: Protocol, context: EmailContext) -> list[str]:
    label = (
        f"{protocol.key}: {context.kind} to {context.audience}"
        f"{' (urgent)' if context.urgent else ''}"
        f"{'' if context.due_at else ' (no due date)'}"
    )
    try:
        email = renderer.render(context)
    except TemplateProblem as exc:
        return [f"{label}: {line}" for line in exc.problems]
    return [f"{label}: {line}" for line in email_problems(email, context)]


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
    wanted += risk_wanted(context.immediate_risk)
    if context.level is not None:
        wanted.append(f"level {context.level}")
    if context.due_at is not None:
        wanted.append(london(context.due_at))
    problems = lacks(email, wanted) + shape_problems(email, context.link)
    if context.reference not in email.subject:
        problems.append(f"subject {email.subject!r} lacks the reference")
    return problems
