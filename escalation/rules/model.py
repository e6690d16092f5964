"""The protocol as frozen values: what a loaded, validated workflow file means.

`escalation.rules.registry` reads and validates the files; this module only defines the shapes and
the fixed vocabularies (roles, organisation types, categories, outcomes) shared by every
partnership.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum
from functools import cached_property

from escalation.errors import DurationError
from escalation.rules.workdays import BusinessHours, Calendar, Closures, Duration


class Role(StrEnum):
    """Contact roles in the directory (PROTOCOL.md §5)."""

    PRACTITIONER = "practitioner"
    DSL = "dsl"
    LINE_MANAGER = "line_manager"
    SENIOR_MANAGER = "senior_manager"
    PARTNERSHIP = "partnership"
    ADMIN = "admin"


class OrgType(StrEnum):
    """Kinds of organisation that raise or answer challenges."""

    SCHOOL = "school"
    SOCIAL_CARE = "social_care"
    HEALTH = "health"
    POLICE = "police"
    EARLY_YEARS = "early_years"
    VOLUNTARY = "voluntary"
    PARTNERSHIP = "partnership"
    OTHER = "other"


class Category(StrEnum):
    """Category of disagreement (PROTOCOL.md §6)."""

    THRESHOLD = "threshold"  # risk / threshold / level of need
    ROLES = "roles"  # roles and responsibilities
    INFORMATION_SHARING = "information_sharing"
    SERVICE_PROVISION = "service_provision"
    PLAN_NOT_PROGRESSING = "plan_not_progressing"
    STEP_CHANGE = "step_change"  # step-up / step-down / closure


class ResponseKind(StrEnum):
    """What a responder records (PROTOCOL.md §3)."""

    CHANGED = "changed"
    UPHELD = "upheld"
    PARTLY_CHANGED = "partly_changed"


class Outcome(StrEnum):
    """The final outcome recorded on resolution (PROTOCOL.md §3)."""

    DECISION_UPHELD = "decision_upheld"
    DECISION_CHANGED = "decision_changed"
    NEW_REFERRAL_ACCEPTED = "new_referral_accepted"
    STEPPED_UP = "stepped_up"
    STEPPED_DOWN = "stepped_down"
    SERVICE_PROVIDED = "service_provided"
    INFORMATION_SHARED = "information_shared"
    OTHER = "other"


class OnLapse(StrEnum):
    """What happens when a level's response deadline passes with no response."""

    ESCALATE = "escalate"  # rise to the next level automatically
    PROMPT = "prompt"  # ask the raiser and their manager to confirm escalation
    STAY = "stay"  # stay at this level, overdue (the last level)


class FollowUp(StrEnum):
    """What happens when a prompted raiser has not escalated within the protocol's time."""

    ESCALATE = "escalate"  # rise to the next level, as the protocol's text says
    ALERT = "alert the partnership"  # the partnership business unit is emailed


@dataclass(frozen=True)
class LapseFollowUp:
    """`on_lapse: prompt, then <action> after <duration>`."""

    action: FollowUp
    after: Duration  # counted from when the lapse was applied (workflows/README.md)

    def __str__(self) -> str:
        return f"prompt, then {self.action.value} after {self.after}"


_FOLLOW_UP = re.compile(
    r"^\s*prompt\s*,\s*then\s+(escalate|alert\s+the\s+partnership)\s+after\s+(.+?)\s*$",
    re.IGNORECASE,
)
ON_LAPSE_FORMS = (
    "escalate",
    "prompt",
    "stay",
    "prompt, then escalate after N working days",
    "prompt, then alert the partnership after N working days",
)


def parse_on_lapse(text: str) -> tuple[OnLapse, LapseFollowUp | None]:
    """A level's `on_lapse`; ValueError (its message says why) if it is none of ON_LAPSE_FORMS."""
    if text in {lapse.value for lapse in OnLapse}:  # exactly, as ever (the schema's enum)
        return OnLapse(text), None
    match = _FOLLOW_UP.match(text)
    if match is None:
        forms = ", ".join(f'"{form}"' for form in ON_LAPSE_FORMS)
        raise ValueError(f'"{text}" is not one of {forms}')
    action = FollowUp.ESCALATE if match[1].lower() == "escalate" else FollowUp.ALERT
    try:
        after = Duration.parse(match[2])
    except DurationError as exc:
        raise ValueError(f'"{text}": {exc}') from None
    return OnLapse.PROMPT, LapseFollowUp(action, after)


@dataclass(frozen=True)
class Timescales:
    """One set of clocks for a level: normal, or urgent (hour-based)."""

    acknowledge_due: Duration
    response_due: Duration
    reminders: tuple[Duration, ...]  # each strictly shorter than response_due, largest first


@dataclass(frozen=True)
class OverdueReminders:
    every: Duration
    max: int


FORMATS = (1, 2)  # the protocol file formats this engine reads (workflows/README.md)
TO_CONFIRM = "to confirm"  # format 2's `status` of a value not yet confirmed by the partnership


@dataclass(frozen=True)
class Source:
    """The published text a value is taken from (format 2)."""

    document: str
    section: str = ""
    address: str = ""  # an http(s) address where the document can be read

    def words(self) -> str:
        section = f", {self.section}" if self.section else ""
        address = f" <{self.address}>" if self.address else ""
        return f"{self.document}{section}{address}"


@dataclass(frozen=True)
class Provenance:
    """Where one value of a protocol comes from, and whether the partnership must confirm it.

    Format 1 files give free text, and a value is to confirm when that text begins with
    "default", as they always have been read. Format 2 files give `source` and/or
    `status: to confirm`, and only that field decides."""

    text: str  # in words, as `workflows show` prints it
    to_confirm: bool
    source: Source | None = None
    note: str = ""

    @classmethod
    def of_text(cls, text: str) -> Provenance:
        """A format 1 entry."""
        return cls(text, text.strip().lower().startswith("default"))

    @classmethod
    def structured(cls, source: Source | None, to_confirm: bool, note: str = "") -> Provenance:
        """A format 2 entry (checked: it has a source, or is to confirm, or both)."""
        parts = [f"{TO_CONFIRM} with the partnership"] if to_confirm else []
        if source is not None:
            parts.append(("suggested by " if to_confirm else "") + source.words())
        text = "; ".join(parts) + (f" — {note}" if note else "")
        return cls(text, to_confirm, source, note)


@dataclass(frozen=True)
class Level:
    number: int
    name: str
    raiser_roles: tuple[Role, ...]
    responder_roles: tuple[Role, ...]
    copy_partnership: bool
    normal: Timescales
    urgent: Timescales
    on_lapse: OnLapse
    overdue_reminders: OverdueReminders | None
    provenance: dict[str, Provenance]
    lapse_follow_up: LapseFollowUp | None = None  # with on_lapse PROMPT only

    def timescales(self, urgent: bool) -> Timescales:
        return self.urgent if urgent else self.normal


@dataclass(frozen=True)
class OutcomeCheck:
    ask_after: Duration  # after resolution
    answer_due: Duration  # after asking: then one reminder
    close_after_reminder: Duration  # after the reminder: closed as "outcome not confirmed"


@dataclass(frozen=True)
class RiskContact:
    label: str
    phone: str
    hours: str
    source: str  # in words (format 2: its structured entry, as Provenance.text)
    to_confirm: bool = False  # format 2 only: `status: to confirm`


@dataclass(frozen=True)
class Protocol:
    id: str
    version: int
    name: str
    partnership: str
    reference_prefix: str
    source_file: str
    business_hours: BusinessHours
    levels: tuple[Level, ...]
    levels_of_need: dict[int, str]
    raiser_decision_reminder: Duration
    outcome_check: OutcomeCheck
    immediate_risk: tuple[RiskContact, ...]
    provenance: dict[str, Provenance]  # where each protocol-wide value comes from, by field
    source: str = ""  # the file's `source`: the document the whole protocol is taken from
    format: int = 1  # the file's `format:` (1 when it has none)
    closures: Closures = field(default_factory=Closures)
    # The version's content as checked (canonical YAML, comments and layout gone) and its
    # SHA-256: what a challenge pins, so an edit of the file in place is seen (rules.pinning).
    content: str = field(default="", compare=False, repr=False)
    content_hash: str = field(default="", compare=False)

    @property
    def key(self) -> str:
        return f"{self.id}@{self.version}"

    @property
    def top_level(self) -> int:
        return self.levels[-1].number

    def level(self, number: int) -> Level:
        for level in self.levels:
            if level.number == number:
                return level
        raise KeyError(number)

    def calendar(self) -> Calendar:
        """The protocol's calendar, built once: planning a stage asks for it several times, and
        each new Calendar would build its own holiday table on the sweep's hot path."""
        return self._calendar

    @cached_property
    def _calendar(self) -> Calendar:
        return Calendar(self.business_hours, self.closures)

    @property
    def partnership_name(self) -> str:
        """ "Devon Safeguarding Children Partnership" from "… — Case Resolution Protocol"."""
        return self.name.split(" — ")[0]


@dataclass(frozen=True)
class ClosuresFile:
    """The parsed closures file: bank-holiday overrides plus closure days per partnership."""

    bank_holiday_extra: dict[date, str]
    bank_holiday_removed: frozenset[date]
    reviewed_until: date | None
    partnership_closures: dict[str, dict[date, str]]

    def for_partnership(self, partnership: str) -> Closures:
        extra = dict(self.bank_holiday_extra)
        extra.update(self.partnership_closures.get(partnership, {}))
        return Closures(extra, self.bank_holiday_removed, self.reviewed_until)
