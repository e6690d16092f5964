"""The exceptions the engine raises: each message is written for the person at the keyboard."""


class EscalationError(Exception):
    """Base class: the message is shown to the user as it is."""


class ProtocolError(EscalationError):
    """One or more problems in protocol (workflow) files; `problems` lists every one."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("\n".join(problems))


class DurationError(EscalationError):
    """A duration string that is not like "5 working days" or "4 working hours"."""


class CalendarError(EscalationError):
    """Bad closures/holiday data, or an instant the calendar cannot place."""


class InvalidInput(EscalationError):
    """A field given by the user is missing or wrong; the message names the field."""

    def __init__(self, field: str, problem: str) -> None:
        self.field = field
        self.problem = problem
        super().__init__(f"{field}: {problem}")


class EventNotAllowed(EscalationError):
    """An event that the challenge's current state does not allow."""

    def __init__(self, reference: str, event: str, state: str, allowed: list[str]) -> None:
        self.event = event
        self.state = state
        self.allowed = allowed
        allowed_text = ", ".join(allowed) if allowed else "none (the challenge is finished)"
        super().__init__(
            f"{reference}: '{event}' is not allowed while the challenge is in state "
            f"'{state}'; allowed now: {allowed_text}"
        )


class NotFound(EscalationError):
    """A challenge, organisation or contact that does not exist."""


class ImportProblem(EscalationError):
    """A directory import that failed; nothing was written."""
