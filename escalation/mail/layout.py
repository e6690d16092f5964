"""What every email shares, per-challenge notice or partnership digest: the Jinja2 environment
and its filters, strict template loading, the rendered result and the checks every email must
pass (the immediate-risk footer, simple accessible HTML, no template syntax left over).

`escalation.mail.emails` (one email per challenge event) and `escalation.mail.digest_email` (the
daily partnership digest) both build on this module; neither depends on the other's shapes.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
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

from escalation.errors import EscalationError
from escalation.resources import templates_dir
from escalation.rules.dates import london, london_day
from escalation.rules.model import Outcome, ResponseKind, RiskContact, Role

RISK_FOOTER = "If a child is at immediate risk of significant harm, do not wait for this process:"

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


class TemplateProblem(EscalationError):
    """Missing, broken or failing email templates; `problems` lists every one, path first."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("\n".join(problems))


@dataclass(frozen=True)
class RenderedEmail:
    subject: str
    text: str
    html: str


# --- Filters ---------------------------------------------------------------------------------


def by_when(instant: datetime | None) -> str:
    return f"by {london(instant)}" if instant is not None else "as soon as possible"


@lru_cache(maxsize=256)
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
        london_day=london_day,
        by_when=by_when,
        tel=tel,
        role_words=_words(_ROLE_WORDS),
        response_words=_words(_RESPONSE_WORDS),
        outcome_words=_words(_OUTCOME_WORDS),
    )
    return environment


# --- Strict loading and rendering ------------------------------------------------------------


def compile_template(
    environment: Environment, root: Path, name: str, allowed: set[str], base: str | None
) -> tuple[Template | None, list[str]]:
    """Load `name`, or say why not: missing, a syntax error, a variable not in `allowed`, or
    (when `base` is given) not extending the layout that carries the footer."""
    loader = environment.loader
    assert loader is not None
    try:
        source, _, _ = loader.get_source(environment, name)
        tree = environment.parse(source, name, str(root / name))
        template = environment.get_template(name)
    except TemplateNotFound:
        return None, [f"{root / name}: missing"]
    except TemplateSyntaxError as exc:
        return None, [f"{root / name}:{exc.lineno}: {exc.message}"]
    known = allowed | set(environment.globals)
    unknown = sorted(meta.find_undeclared_variables(tree) - known)
    problems = [f"{root / name}: unknown variable '{var}'" for var in unknown]
    if base is not None and base not in set(meta.find_referenced_templates(tree)):
        problems.append(
            f'{root / name}: does not extend "{base}", so it would lack the reference, '
            "the link and the immediate-risk footer"
        )
    return template, problems


def render_part(template: Template, name: str, label: str, values: dict[str, Any]) -> str:
    try:
        return template.render(values)
    except TemplateError as exc:
        raise TemplateProblem([f"{name} ({label}): {exc.message or exc}"]) from exc
    # A filter given the wrong kind of value (`{{ reference|london }}`) fails in Python, not
    # in Jinja; it is still a broken template, and `check_all` must report it, not crash.
    except (TypeError, ValueError, AttributeError, LookupError) as exc:
        raise TemplateProblem([f"{name} ({label}): {type(exc).__name__}: {exc}"]) from exc


def one_line(subject: str, name: str) -> str:
    """The subject on one line; collapsing all whitespace keeps a newline out of the header."""
    line = " ".join(subject.split())
    if not line:
        raise TemplateProblem([f"{name}: the subject is empty"])
    return line


def tidy(text: str) -> str:
    lines = [line.rstrip() for line in text.strip().splitlines()]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)) + "\n"


# --- What every rendered email must carry ----------------------------------------------------


def risk_wanted(immediate_risk: Iterable[RiskContact]) -> list[str]:
    """The footer every email ends with (PROTOCOL.md §5)."""
    wanted = [RISK_FOOTER]
    for contact in immediate_risk:
        wanted += [contact.label, contact.phone, contact.hours]
    return wanted


def lacks(email: RenderedEmail, wanted: Iterable[str]) -> list[str]:
    """Each of `wanted` missing from the text part as it is, or from the HTML part escaped."""
    wanted = list(wanted)
    problems = [f"text lacks {item!r}" for item in wanted if item not in email.text]
    problems += [f"HTML lacks {item!r}" for item in wanted if str(escape(item)) not in email.html]
    return problems


def shape_problems(email: RenderedEmail, link: str) -> list[str]:
    """Simple accessible HTML with the link, and no template syntax left in either part."""
    musts = [
        '<html lang="en-GB">',
        f"<title>{escape(email.subject)}</title>",
        "<h1",
        f'<a href="{escape(link)}"',
    ]
    problems = [f"HTML lacks {item}" for item in musts if item not in email.html]
    leftovers = [mark for mark in ("{{", "{%", "}}", "%}") if mark in email.text + email.html]
    return problems + [f"template syntax left in the output: {mark!r}" for mark in leftovers]
