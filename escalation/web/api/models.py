"""The JSON API's request and response bodies, so the OpenAPI document says exactly what is sent.

Request bodies forbid unknown fields and limit every string to what `escalation.casework.intake` and
the database columns accept, so a partner system (or a fuzzer) gets a 422 naming the field rather
than a failure deeper down. Text may span lines; names and references may not. No string may hold
a NUL character (PostgreSQL refuses it) or a lone surrogate (it cannot be stored as UTF-8).

Response bodies mirror `escalation.casework.views` (challenge_dict, chronology_rows); they ignore
keys they do not know, so a view that gains a field does not break the API.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    model_validator,
)

from escalation.rules.model import Category, Outcome, ResponseKind

NAME_LIMIT = 100  # the person at the partner: room left in the 200-character `who` for the org


def _storable(value: str) -> str:
    if "\x00" in value:
        raise ValueError("must not contain a NUL character")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("must be valid Unicode text") from None
    return value


ONE_LINE = r"^[^\x00-\x1f\x7f]+$"


def _text(limit: int) -> StringConstraints:
    """Blank is missing: surrounding spaces are dropped before the length is checked."""
    return StringConstraints(strip_whitespace=True, min_length=1, max_length=limit)


def _line(limit: int) -> StringConstraints:
    """One line (a name, a team, a reference): it may go into an email header."""
    return StringConstraints(
        strip_whitespace=True, min_length=1, max_length=limit, pattern=ONE_LINE
    )


Line = Annotated[str, _line(200), AfterValidator(_storable)]
Person = Annotated[str, _line(NAME_LIMIT), AfterValidator(_storable)]
ShortRef = Annotated[str, _line(64), AfterValidator(_storable)]
Email = Annotated[str, _line(320), AfterValidator(_storable)]
Text = Annotated[str, _text(10_000), AfterValidator(_storable)]
Reason = Annotated[str, _text(2000), AfterValidator(_storable)]
Partnership = Annotated[str, _line(64), AfterValidator(_storable)]
Initials = Annotated[str, StringConstraints(pattern=r"^[A-Za-z]{1,4}$")]
Year = Annotated[int, Field(ge=1900, le=2100)]
NeedLevel = Annotated[int, Field(ge=0, le=99)]
LevelNumber = Annotated[int, Field(ge=1, le=99)]
OrganisationId = Annotated[int, Field(ge=1, le=2**31 - 1)]  # a database integer


class _Request(BaseModel):
    model_config = ConfigDict(extra="forbid")


class EventBody(_Request):
    who: Person = Field(
        description="The person at your organisation recording this; the chronology names them "
        "with your organisation and the API token's label."
    )


# -- raising -------------------------------------------------------------------------------------


class RaiseBody(_Request):
    """A new challenge, raised by the token's organisation (PROTOCOL.md §6)."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "anyOf": [{"required": ["responding_org"]}, {"required": ["responding_org_id"]}]
        },
    )

    partnership: Partnership | None = Field(
        None, description="The child's home partnership (devon, plymouth, torbay); default yours."
    )
    raiser_name: Line
    raiser_email: Email | None = None
    responding_org: Line | None = Field(
        None, description="Its name, as in GET /api/v1/organisations; or give its id."
    )
    responding_org_id: OrganisationId | None = None
    responding_team: Line | None = None
    responder_name: Line | None = None
    responder_email: Email | None = None
    child_ref: ShortRef = Field(description="The child's reference in the agencies' systems.")
    child_initials: Initials | None = None
    child_birth_year: Year | None = None
    siblings_affected: Annotated[int, Field(ge=0, le=30)] = 0
    category: Category
    decision: Text = Field(description="The decision being challenged.")
    decision_date: date | None = None
    decision_ref: ShortRef | None = None
    need_raiser_view: NeedLevel | None = Field(
        None, description="Devon: 1 Universal – 4 Specialist"
    )
    need_decision: NeedLevel | None = None
    concern: Text = Field(description="Summary of the concern: factual.")
    evidence: Text | None = None
    desired_outcome: Text
    voice_of_child: Text = Field(
        description="How the child's views and lived experience inform the challenge."
    )
    urgent: bool = Field(
        False,
        description="Hour-based timescales. Never for immediate risk of significant harm: phone "
        "the front door (MASH) or 999.",
    )
    start_level: LevelNumber = 1
    start_reason: Reason | None = Field(None, description="Required when start_level is above 1.")

    @model_validator(mode="after")
    def _names_the_responder(self) -> RaiseBody:
        if self.responding_org is None and self.responding_org_id is None:
            raise ValueError("give responding_org (a name) or responding_org_id")
        return self


# -- events ----------------------------------------------------------------------------------------


class AcknowledgeBody(EventBody):
    pass


class ActionItem(_Request):
    what: Annotated[
        str,
        StringConstraints(strip_whitespace=True, min_length=1, max_length=2000, pattern=r"^[^|]+$"),
        AfterValidator(_storable),
    ]
    owner: (
        Annotated[
            str,
            StringConstraints(
                strip_whitespace=True, min_length=1, max_length=200, pattern=r"^[^|\x00-\x1f\x7f]+$"
            ),
            AfterValidator(_storable),
        ]
        | None
    ) = None
    by: date | None = Field(None, description="When it is due; needs an owner.")

    @model_validator(mode="after")
    def _dated_actions_have_owners(self) -> ActionItem:
        # The service reads actions as "what | owner | date": a date alone would be the owner.
        if self.by is not None and self.owner is None:
            raise ValueError("an action with a date (by) needs an owner")
        return self

    def as_text(self) -> str:
        return " | ".join(str(part) for part in (self.what, self.owner, self.by) if part)


class RespondBody(EventBody):
    kind: ResponseKind
    summary: Text = Field(description="The response and its rationale.")
    actions: Annotated[list[ActionItem], Field(max_length=50)] = []


class ResolutionBody(EventBody):
    outcome: Outcome
    statement: Text = Field(description="The agreed written outcome statement.")
    life_improvement: Text = Field(description="How will life improve for the child?")
    recorded_on_both_files: bool | None = None


class EscalateBody(EventBody):
    reason: Reason
    to_level: LevelNumber | None = Field(None, description="Default: the next level up.")


class AgreementBody(EventBody):
    """`who` asked; `agreed_by` (the other side, or the partnership at level 4) agreed."""

    agreed_by: Line
    reason: Text


class ExtendBody(AgreementBody):
    until: date = Field(description="The agreed due date: a later working day.")


class ResumeBody(EventBody):
    note: Text | None = None


class ReasonBody(EventBody):
    reason: Text


class OutcomeBody(EventBody):
    improved: bool = Field(description="Has the child's situation improved?")
    note: Text | None = None


# -- responses -------------------------------------------------------------------------------------


class Problem(BaseModel):
    detail: str


class FieldProblem(BaseModel):
    field: str
    problem: str


class InvalidProblem(BaseModel):
    detail: Literal["invalid input"]
    problems: list[FieldProblem]


class NotAllowedProblem(BaseModel):
    detail: str
    state: str
    allowed_events: list[str] = Field(description="What the challenge's state allows now.")
    actions: list[str] = Field(description="Which of those your organisation may record.")


class ProtocolRef(BaseModel):
    id: str
    version: int


class Child(BaseModel):
    reference: str
    initials: str | None
    birth_year: int | None
    siblings_affected: int


class Decision(BaseModel):
    what: str
    date: str | None
    reference: str | None


class LevelsOfNeed(BaseModel):
    raiser_view: int | None
    decision: int | None


class AgreedAction(BaseModel):
    what: str
    owner: str | None = None
    by: str | None = None


class StageOut(BaseModel):
    level: int
    opened_at: str
    opened_by: str
    due_at: str | None
    acknowledge_due_at: str | None
    acknowledged_at: str | None
    acknowledged_by: str | None
    reminders_sent: int
    responded_at: str | None
    responded_by: str | None
    response_kind: str | None
    response_summary: str | None
    actions: list[AgreedAction] | None
    paused_at: str | None
    escalated_at: str | None
    escalated_by: str | None
    escalation_reason: str | None
    escalation_kind: str | None
    ended_at: str | None
    end_reason: str | None


class OutcomeOut(BaseModel):
    outcome: str | None
    resolved_at: str | None
    resolved_level: int | None
    resolved_by: str | None
    statement: str | None
    how_life_will_improve: str | None
    recorded_on_both_files: bool | None
    outcome_check_improved: bool | None
    outcome_answered_at: str | None
    closed_at: str | None
    closed_reason: str | None
    withdrawn_at: str | None
    withdrawn_reason: str | None


class PendingDeadline(BaseModel):
    kind: str
    due_at: str | None


class ChallengeSummary(BaseModel):
    """One line of the list: enough to decide which to open. Instants: ISO 8601, London."""

    reference: str
    partnership: str
    state: str
    level: int | None
    level_name: str | None
    urgent: bool
    due_at: str | None = Field(description="When the response at this level is due; if running.")
    overdue: bool
    raised_at: str
    raising_organisation: str
    responding_organisation: str
    category: str
    child_reference: str
    actions: list[str] = Field(description="The events your organisation may record now.")


class ChallengeOut(BaseModel):
    """The whole record, with the events your organisation may record now (`actions`)."""

    reference: str
    partnership: str
    protocol: ProtocolRef
    state: str
    level: int | None
    level_name: str | None
    urgent: bool
    due_at: str | None
    overdue: bool
    raised_at: str
    raising_organisation: str
    raiser: str
    responding_organisation: str
    responding_team: str | None
    responder: str | None
    child: Child
    category: str
    decision: Decision
    levels_of_need: LevelsOfNeed
    concern: str
    evidence: str | None
    desired_outcome: str
    voice_of_child: str
    start_reason: str | None
    stages: list[StageOut]
    outcome: OutcomeOut | None
    allowed_events: list[str]
    actions: list[str]
    pending_deadlines: list[PendingDeadline]


class ChallengePage(BaseModel):
    items: list[ChallengeSummary]
    total: int = Field(description="How many match the filters, on every page.")
    limit: int
    offset: int


class ChronologyEntryOut(BaseModel):
    when: str
    recorded_at: str
    who: str
    event: str
    level: int | None
    factual_concern: str
    action: str
    impact: str


class OrganisationOut(BaseModel):
    id: int
    name: str
    type: str
    partnership: str
