"""The hand-built wire format: what any mail reader parses out of it is what was queued."""

from __future__ import annotations

from datetime import UTC, datetime
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default
from pathlib import Path

import pytest

from escalation.casework.models_service import OutboxMessage
from escalation.mail.mailer import Delivery, FileMailer, message_bytes

SENDER = "Devon Safeguarding Children Partnership <no-reply@dscp.example>"
LONG_ASCII = (
    "DSCP-2026-00042: level 2 (line manager) escalated because nobody answered in time, "
    "please respond by Monday 4 January 2027"
)
LONG_UNICODE = "DSCP-2026-00042: Siân’s challenge — level 2 escalated 😀 " + "ü" * 40


def _row(**overrides: object) -> OutboxMessage:
    values: dict[str, object] = dict(
        message_id="<0123abcd@escalation.example>",
        recipient_name="Siân O'Brien, Head of Year",
        recipient_email="sian.obrien@school.example",
        subject="DSCP-2026-00042: reminder",
        text_body="Line one\nLine two with ünïcode\n",
        html_body="<p>Hello <strong>é</strong></p>",
        created_at=datetime(2026, 11, 26, 9, 30, tzinfo=UTC),
    )
    values.update(overrides)
    return OutboxMessage(**values)


def _parse(raw: bytes) -> EmailMessage:
    message = message_from_bytes(raw, policy=default)
    assert isinstance(message, EmailMessage)
    return message


@pytest.mark.parametrize(
    "subject", ["short", LONG_ASCII, LONG_UNICODE, "x" * 120, "looks =?utf-8?q?encoded?= but isn't"]
)
def test_it_round_trips_every_subject_through_a_standard_parser(subject: str) -> None:
    raw = message_bytes(_row(subject=subject), SENDER)
    assert _parse(raw)["subject"] == subject


def test_it_folds_long_subjects_and_keeps_header_lines_short() -> None:
    raw = message_bytes(_row(subject=LONG_UNICODE), SENDER)
    head = raw.split(b"\n\n", 1)[0]
    assert max(len(line) for line in head.split(b"\n")) <= 90  # the boundary line is 86
    subject_lines = head.split(b"Subject: ", 1)[1].split(b"\nMessage-ID")[0].split(b"\n")
    assert len(subject_lines) > 1 and all(len(line) <= 78 for line in subject_lines)


def test_it_encodes_names_and_parts_so_a_reader_gets_them_back() -> None:
    message = _parse(message_bytes(_row(), SENDER))
    assert message["to"].addresses[0].display_name == "Siân O'Brien, Head of Year"
    assert message["to"].addresses[0].addr_spec == "sian.obrien@school.example"
    assert message["from"].addresses[0].addr_spec == "no-reply@dscp.example"
    assert message["message-id"] == "<0123abcd@escalation.example>"
    assert message["date"].datetime == datetime(2026, 11, 26, 9, 30, tzinfo=UTC)
    plain, html = message.get_body(("plain",)), message.get_body(("html",))
    assert plain is not None and plain.get_content() == "Line one\nLine two with ünïcode\n"
    assert html is not None and html.get_content() == "<p>Hello <strong>é</strong></p>"
    assert not message.defects and not any(part.defects for part in message.walk())


def test_it_gives_the_same_bytes_every_time_so_a_resend_is_identical() -> None:
    assert message_bytes(_row(), SENDER) == message_bytes(_row(), SENDER)
    assert message_bytes(_row(), SENDER) != message_bytes(_row(message_id="<other@x>"), SENDER)


def test_it_sends_the_stored_bytes_of_a_message_queued_by_an_earlier_version() -> None:
    assert message_bytes(_row(raw=b"stored"), SENDER) == b"stored"


def test_it_keeps_a_newline_in_a_name_or_subject_from_starting_a_header() -> None:
    raw = message_bytes(
        _row(
            recipient_name="Dana Lead\nReply-To: harvest@attacker.example",
            subject="DSCP-2026-00042: reminder\r\nBcc: harvest@attacker.example",
        ),
        SENDER,
    )
    message = _parse(raw)
    assert message["reply-to"] is None and message["bcc"] is None
    assert "Reply-To" in message["to"].addresses[0].display_name  # kept as text, harmlessly
    head = raw.split(b"\n\n", 1)[0]
    assert not any(line.startswith((b"Reply-To", b"Bcc")) for line in head.split(b"\n"))


def test_it_writes_an_international_domain_in_idna() -> None:
    message = _parse(message_bytes(_row(recipient_email="dana@école.example"), SENDER))
    assert message["to"].addresses[0].addr_spec == "dana@xn--cole-9oa.example"


def test_it_fails_one_message_to_a_non_ascii_mailbox_for_good_and_sends_the_rest(
    tmp_path: Path,
) -> None:
    rows = [_row(id=1, recipient_email="daña@school.example"), _row(id=2)]
    outcomes = FileMailer(tmp_path, SENDER).send_batch(rows)
    assert outcomes[1].delivery is Delivery.PERMANENT and "SMTPUTF8" in outcomes[1].detail
    assert outcomes[2].delivery is Delivery.SENT
    assert sorted(p.name for p in tmp_path.iterdir()) == ["00000002.eml"]
