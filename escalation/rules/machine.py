"""The challenge state machine, built with `transitions` from a protocol's levels.

One `Machine(model=None, auto_transitions=False)` is built and cached per protocol version. A
challenge is represented while one event is handled by a small `Subject` that is attached with its
stored state as `initial` and removed afterwards (`add_model` grows with every model kept, and
would keep them alive). Callbacks only append `Effect`s to the subject: no SQL, no email, no
clock. The service applies the effects inside its database transaction; transitions itself does
not roll back, the transaction does.

Its vocabulary (events, statuses, state names, effects) is in `states`.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, cast

from transitions import EventData, Machine

from escalation.rules.model import FollowUp, Level, OnLapse, Protocol
from escalation.rules.states import SWEEP_ONLY, Effect, EffectKind, Event, Status, state_name


@dataclass
class Subject:
    """What the machine sees of a challenge while one event is handled."""

    state: str
    resolved_level: int | None = None
    effects: list[Effect] = field(default_factory=list)


def _emit(*kinds: EffectKind, level: int | None = None) -> Callable[[EventData], None]:
    def callback(event: EventData) -> None:
        subject = cast(Subject, event.model)
        subject.effects.extend(Effect(kind, level) for kind in kinds)

    return callback


def _target_is(level: int) -> Callable[[EventData], bool]:
    return lambda event: event.kwargs.get("target_level") == level


def _answer_is(answer: bool) -> Callable[[EventData], bool]:
    return lambda event: event.kwargs.get("improved") is answer


def _resolved_at(level: int) -> Callable[[EventData], bool]:
    return lambda event: cast(Subject, event.model).resolved_level == level


def _level_states(level: Level) -> list[str]:
    statuses = [Status.AWAITING_RESPONSE, Status.RESPONDED, Status.PAUSED]
    if level.on_lapse is OnLapse.PROMPT:
        statuses.append(Status.LAPSE_PROMPT)
    if level.on_lapse is OnLapse.STAY:
        statuses.append(Status.OVERDUE)
    return [state_name(level.number, status) for status in statuses]


def _t(
    trigger: Event,
    source: str | list[str],
    dest: str | None,
    *effects: EffectKind,
    level: int | None = None,
    conditions: Iterable[Callable[[EventData], bool]] = (),
) -> dict[str, Any]:
    return {
        "trigger": trigger.value,
        "source": source,
        "dest": dest,
        "conditions": list(conditions),
        "after": [_emit(*effects, level=level)],
    }


def _awaiting_like(level: Level) -> list[str]:
    """States in which the responder still owes a response at this level."""
    return [s for s in _level_states(level) if not s.endswith((".responded", ".paused"))]


def _level_transitions(protocol: Protocol, level: Level) -> list[dict[str, Any]]:
    n = level.number
    awaiting = state_name(n, Status.AWAITING_RESPONSE)
    owing = _awaiting_like(level)
    every = _level_states(level)
    E = EffectKind
    rules = [
        _t(Event.ACKNOWLEDGE, [*owing, state_name(n, Status.PAUSED)], None, E.RECORD_ACK),
        _t(Event.RESPOND, owing, state_name(n, Status.RESPONDED), E.RECORD_RESPONSE),
        _t(
            Event.ACCEPT,
            state_name(n, Status.RESPONDED),
            Status.RESOLVED.value,
            E.CLOSE_STAGE,
            E.RECORD_RESOLUTION,
        ),
        _t(Event.PAUSE, awaiting, state_name(n, Status.PAUSED), E.PAUSE_CLOCK),
        _t(Event.RESUME, state_name(n, Status.PAUSED), awaiting, E.RESUME_CLOCK),
        _t(Event.EXTEND, owing, awaiting, E.EXTEND_DUE),
        _t(Event.WITHDRAW, every, Status.WITHDRAWN.value, E.CLOSE_STAGE, E.RECORD_WITHDRAWAL),
        _t(Event.RESOLVE, every, Status.RESOLVED.value, E.CLOSE_STAGE, E.RECORD_RESOLUTION),
        _t(
            Event.REOPEN,
            Status.OUTCOME_NOT_IMPROVED.value,
            awaiting,
            E.REOPEN_CASE,
            E.OPEN_STAGE,
            level=n,
            conditions=[_resolved_at(n)],
        ),
        _lapse_rule(protocol, level),
    ]
    follow_up = _follow_up_rule(level)
    if follow_up is not None:
        rules.append(follow_up)
    for higher in (lvl for lvl in protocol.levels if lvl.number > n):
        rules.append(
            _t(
                Event.ESCALATE,
                every,
                state_name(higher.number, Status.AWAITING_RESPONSE),
                E.CLOSE_STAGE,
                E.OPEN_STAGE,
                level=higher.number,
                conditions=[_target_is(higher.number)],
            )
        )
        rules.append(
            _t(
                Event.ESCALATE,
                Status.OUTCOME_NOT_IMPROVED.value,
                state_name(higher.number, Status.AWAITING_RESPONSE),
                E.REOPEN_CASE,
                E.OPEN_STAGE,
                level=higher.number,
                conditions=[_target_is(higher.number), _resolved_at(n)],
            )
        )
    return rules


def _lapse_rule(protocol: Protocol, level: Level) -> dict[str, Any]:
    n = level.number
    awaiting = state_name(n, Status.AWAITING_RESPONSE)
    E = EffectKind
    if level.on_lapse is OnLapse.ESCALATE:
        return _t(
            Event.LAPSE,
            awaiting,
            state_name(n + 1, Status.AWAITING_RESPONSE),
            E.CLOSE_STAGE,
            E.OPEN_STAGE,
            level=n + 1,
        )
    if level.on_lapse is OnLapse.PROMPT:
        return _t(Event.LAPSE, awaiting, state_name(n, Status.LAPSE_PROMPT), E.PROMPT_RAISER)
    return _t(Event.LAPSE, awaiting, state_name(n, Status.OVERDUE), E.MARK_OVERDUE)


def _follow_up_rule(level: Level) -> dict[str, Any] | None:
    """`prompt, then escalate after N`: the prompt's follow-up lapses the level a second time,
    and the challenge rises as `escalate` would have taken it."""
    follow_up = level.lapse_follow_up
    if follow_up is None or follow_up.action is not FollowUp.ESCALATE:
        return None
    n = level.number
    return _t(
        Event.LAPSE,
        state_name(n, Status.LAPSE_PROMPT),
        state_name(n + 1, Status.AWAITING_RESPONSE),
        EffectKind.CLOSE_STAGE,
        EffectKind.OPEN_STAGE,
        level=n + 1,
    )


def _case_transitions(protocol: Protocol) -> list[dict[str, Any]]:
    E = EffectKind
    rules = [
        _t(
            Event.RAISE,
            Status.NEW.value,
            state_name(level.number, Status.AWAITING_RESPONSE),
            E.OPEN_STAGE,
            level=level.number,
            conditions=[_target_is(level.number)],
        )
        for level in protocol.levels
    ]
    rules += [
        _t(Event.REQUEST_OUTCOME, Status.RESOLVED.value, Status.OUTCOME_CHECK.value, E.ASK_OUTCOME),
        _t(
            Event.OUTCOME,
            [Status.RESOLVED.value, Status.OUTCOME_CHECK.value],
            Status.CLOSED.value,
            E.RECORD_OUTCOME_ANSWER,
            E.CLOSE_CASE,
            conditions=[_answer_is(True)],
        ),
        _t(
            Event.OUTCOME,
            [Status.RESOLVED.value, Status.OUTCOME_CHECK.value],
            Status.OUTCOME_NOT_IMPROVED.value,
            E.RECORD_OUTCOME_ANSWER,
            conditions=[_answer_is(False)],
        ),
        _t(
            Event.CLOSE,
            [Status.OUTCOME_CHECK.value, Status.OUTCOME_NOT_IMPROVED.value],
            Status.CLOSED.value,
            E.CLOSE_CASE,
        ),
    ]
    return rules


def states_of(protocol: Protocol) -> list[str]:
    states = [Status.NEW.value]
    for level in protocol.levels:
        states += _level_states(level)
    states += [
        s.value
        for s in (
            Status.RESOLVED,
            Status.OUTCOME_CHECK,
            Status.OUTCOME_NOT_IMPROVED,
            Status.CLOSED,
            Status.WITHDRAWN,
        )
    ]
    return states


def transitions_of(protocol: Protocol) -> list[dict[str, Any]]:
    rules = _case_transitions(protocol)
    for level in protocol.levels:
        rules += _level_transitions(protocol, level)
    return rules


def _machine_kwargs(protocol: Protocol) -> dict[str, Any]:
    return {
        "model": None,
        "states": states_of(protocol),
        "transitions": transitions_of(protocol),
        "initial": None,
        "auto_transitions": False,
        "send_event": True,
        "model_attribute": "state",
        "name": protocol.key,
    }


_MACHINES: dict[int, tuple[Protocol, Machine]] = {}


def machine_for(protocol: Protocol) -> Machine:
    """The one machine for this loaded protocol version, built on first use and kept."""
    # Keyed by identity, with the protocol kept alive beside its machine so the id is never
    # reused: protocols hold dicts, so they are not hashable, and there are only a handful.
    cached = _MACHINES.get(id(protocol))
    if cached is None:
        cached = _MACHINES[id(protocol)] = (protocol, Machine(**_machine_kwargs(protocol)))
    return cached[1]


_CARRIERS = threading.local()


def fire(protocol: Protocol, subject: Subject, event: Event, **kwargs: Any) -> bool:
    """Fire `event` on `subject`; True if a transition happened (effects are on the subject).

    The machine works on a carrier attached once per machine and thread, loaded with the
    subject's fields and copied back: attaching a model costs a pass over every state and
    trigger, a third of firing, which a sweep applying thousands of lapses pays every time.
    """
    machine = machine_for(protocol)
    carriers: dict[int, Subject] = _CARRIERS.__dict__.setdefault("by_machine", {})
    carrier = carriers.get(id(machine))
    if carrier is None:
        carrier = carriers[id(machine)] = Subject(state=subject.state)
        machine.add_model(carrier, initial=subject.state)
    carrier.state, carrier.resolved_level, carrier.effects = (
        subject.state,
        subject.resolved_level,
        subject.effects,
    )
    try:
        return bool(machine.events[event.value].trigger(carrier, **kwargs))
    finally:
        subject.state, subject.resolved_level = carrier.state, carrier.resolved_level
        carrier.effects = []


def allowed_events(
    protocol: Protocol, state: str, include_sweep: bool = False, acknowledged: bool = False
) -> list[str]:
    """Events that have a transition from `state`, in the protocol's order of events.

    `acknowledged`: the current level has been acknowledged already, so acknowledging again is
    not offered (the service refuses it with who acknowledged and when).
    """
    triggers = set(machine_for(protocol).get_triggers(state))
    if acknowledged:
        triggers.discard(Event.ACKNOWLEDGE.value)
    return [
        e.value for e in Event if e.value in triggers and (include_sweep or e not in SWEEP_ONLY)
    ]


def mermaid(protocol: Protocol) -> str:
    """Mermaid state diagram text, drawn by transitions from the same states and transitions."""
    from transitions.extensions.diagrams import GraphMachine

    kwargs = _machine_kwargs(protocol)
    title = f"{protocol.name} (v{protocol.version})"
    kwargs.update(
        model="self",
        initial=Status.NEW.value,
        graph_engine="mermaid",
        title=title,
        show_conditions=False,
    )
    graph = GraphMachine(**kwargs)
    return _tidy_mermaid(str(graph.get_graph().draw(None)), title)


_DOTTED_ID = re.compile(r"\b(level_\d+)\.(\w+)")


def _tidy_mermaid(text: str, title: str) -> str:
    """Adjust transitions' Mermaid output for Mermaid itself.

    Titles go in front matter as `title:`; state ids avoid dots (labels keep the real names);
    no state is drawn as "active" (the diagram is of the protocol, not of one challenge); an
    edge fired by one event under several conditions is labelled once.
    """
    lines = text.splitlines()
    if lines and lines[0].strip() == "---":  # transitions' front matter: a bare title line
        lines = lines[lines.index("---", 1) + 1 :]
    out = ["---", f"title: {title}", "---"]
    for line in lines:
        parts = line.split('"')
        parts[::2] = [_DOTTED_ID.sub(r"\1__\2", part) for part in parts[::2]]
        line = '"'.join(parts)
        if line.lstrip().startswith("Class "):
            line = line.replace(" s_active", " s_default")
        if "-->" in line and ": " in line:
            head, labels = line.split(": ", 1)
            line = f"{head}: {' | '.join(dict.fromkeys(labels.split(' | ')))}"
        out.append(line)
    return "\n".join(out) + "\n"
