"""A real SMTP server for tests: aiosmtpd on 127.0.0.1, recording what it accepts.

Subclasses refuse some of it (`refuse_rcpt`, `refuse_data`) or slow it down (`before_data`).
aiosmtpd's `Controller(port=0)` does not work, so a free port is picked first. Its start waits
at most READY_SECONDS (aiosmtpd's own 5 s is short on a busy machine) and its stop at most
STOP_SECONDS (aiosmtpd's has no bound), each failing with the server's address.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default
from typing import Any

import pytest
from aiosmtpd.controller import Controller

READY_SECONDS = 30.0
STOP_SECONDS = 30.0


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


@dataclass(frozen=True)
class Received:
    message_id: str
    envelope_to: tuple[str, ...]
    message: EmailMessage


class SmtpSink:
    """An aiosmtpd handler that records each accepted message and the sessions it came over."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.received: list[Received] = []
        self.refused: list[tuple[str, str]] = []  # (Message-ID, reply)
        self.peers: set[Any] = set()
        self.data_commands = 0

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, rcpt_options: list[str]
    ) -> str:
        refusal = self.refuse_rcpt(address)
        if refusal:
            return refusal
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        await self.before_data()
        parsed = message_from_bytes(envelope.content, policy=default)
        assert isinstance(parsed, EmailMessage)
        message_id = str(parsed["Message-ID"])
        with self.lock:
            self.data_commands += 1
            self.peers.add(session.peer)
            refusal = self.refuse_data(self.data_commands)
            if refusal:
                self.refused.append((message_id, refusal))
                return refusal
            self.received.append(Received(message_id, tuple(envelope.rcpt_tos), parsed))
        return "250 2.0.0 Message accepted"

    async def before_data(self) -> None:
        return None

    def refuse_rcpt(self, address: str) -> str | None:
        return None

    def refuse_data(self, count: int) -> str | None:
        return None

    def message_ids(self) -> list[str]:
        with self.lock:
            return [r.message_id for r in self.received]

    @property
    def messages(self) -> list[EmailMessage]:
        with self.lock:
            return [r.message for r in self.received]

    @property
    def recipients(self) -> list[str]:
        with self.lock:
            return [address for r in self.received for address in r.envelope_to]


def start_controller(controller: Controller) -> None:
    """`controller.start()`, failing with its address if it is not up in time."""
    try:
        controller.start()
    except TimeoutError as exc:
        pytest.fail(
            f"aiosmtpd did not start on {controller.hostname}:{controller.port} "
            f"within {controller.ready_timeout:g} s: {exc}"
        )


def stop_controller(controller: Controller, seconds: float = STOP_SECONDS) -> None:
    """`controller.stop()` (it joins its thread with no timeout), bounded."""
    stopping = threading.Thread(target=controller.stop, daemon=True)
    stopping.start()
    stopping.join(seconds)
    if stopping.is_alive():
        pytest.fail(
            f"aiosmtpd on {controller.hostname}:{controller.port} did not stop within "
            f"{seconds:g} s (a handler still running?)"
        )


@pytest.fixture
def smtp_server() -> Iterator[Callable[..., int]]:
    """Start a sink with the given handler on a free (or the given) port; returns the port."""
    controllers: list[Controller] = []

    def start(handler: SmtpSink, port: int | None = None) -> int:
        port = port or free_port()
        controller = Controller(
            handler, hostname="127.0.0.1", port=port, ready_timeout=READY_SECONDS
        )
        start_controller(controller)
        controllers.append(controller)
        return port

    yield start
    for controller in controllers:
        stop_controller(controller)
