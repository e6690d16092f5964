"""The one-click escalate link (issue 13, point 2): the raiser asked to decide on escalation, after
a level lapsed on a `prompt` level, gets a link that signs them in to the challenge and opens its
escalation form; the form still asks for the reason before anything is recorded. Through the
app (TestClient), and in a real headless Chromium from the email as the SMTP server received it.

Devon as shipped with level 1 `on_lapse: prompt`, in this test's own workflows folder. The
challenge is raised 14 days before now (level 1's 5 working days are over within 12 calendar
days even across Christmas or Easter) and swept now: its level lapses and the raiser is
prompted. The times follow the real clock so that the session cookies the browser keeps are
not already expired. The deadline dates themselves are tested by hand elsewhere
(tests/casework/test_lapse_policies.py)."""

from __future__ import annotations

import re
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from playwright.sync_api import Browser, expect
from sqlalchemy import Engine, select

from escalation.casework import sweep
from escalation.casework.models import Challenge
from escalation.casework.models_service import OutboxMessage
from escalation.resources import workflows_dir
from escalation.rules.registry import ProtocolRegistry, load_registry
from escalation.web.context import Web
from tests.browser_support import LiveServer, chromium_browser, live_port
from tests.conftest import raise_request
from tests.smtp_sink import SmtpSink
from tests.web.test_web_journey import Mail
from tests.web_support import (
    SCHOOL_DSL_EMAIL,
    SOCIAL_WORKER_EMAIL,
    browser,
    csrf,
    web_app,
)

__all__ = ["chromium_browser"]  # the module's browser fixture

REASON = "No reply from the Front Door since the referral"


def _prompting(tmp_path: Path) -> ProtocolRegistry:
    folder = tmp_path / "workflows"
    shutil.copytree(workflows_dir(), folder)
    devon = folder / "devon.yaml"
    text = devon.read_text(encoding="utf-8")
    assert "    on_lapse: escalate\n" in text
    devon.write_text(text.replace("    on_lapse: escalate\n", "    on_lapse: prompt\n", 1))
    return load_registry(folder)


def _prompted(web: Web) -> str:
    """A challenge raised 14 days ago and swept now: level 1 lapsed, the raiser prompted."""
    now = datetime.now(UTC)
    reference = web.service.raise_challenge(raise_request(), now - timedelta(days=14))
    sweep.run_once(web.service, now)
    assert _state(web, reference) == "level_1.lapse_prompt"
    return reference


def _state(web: Web, reference: str) -> str:
    with web.sessions() as session:
        return (
            session.scalars(select(Challenge).where(Challenge.reference == reference)).one().state
        )


def _links(web: Web, email: str, kind: str) -> list[str]:
    with web.sessions() as session:
        bodies = session.scalars(
            select(OutboxMessage.text_body).where(
                OutboxMessage.kind == kind, OutboxMessage.recipient_email == email
            )
        ).all()
    return [url for body in bodies for url in re.findall(r"https?://\S+/l/\S+", body)]


def _path(link: str) -> str:
    return "/" + link.split("/", 3)[3]


def test_the_prompt_email_opens_the_escalation_form_and_it_escalates(
    engine: Engine, tmp_path: Path
) -> None:
    web, app = web_app(engine, registry=_prompting(tmp_path))
    reference = _prompted(web)
    [link] = _links(web, SCHOOL_DSL_EMAIL, "lapse_prompt")
    # Every other email's link opens the challenge's page, as before.
    [responder] = _links(web, SOCIAL_WORKER_EMAIL, "raised")

    with browser(app) as client:
        assert reference in client.get(_path(link)).text  # "open challenge …?" before using it
        used = client.post(_path(link), data={"csrf_token": csrf(client)})
        assert used.status_code == 303
        assert used.headers["location"] == f"/challenges/{reference}/escalate"
        form = client.get(used.headers["location"])
        assert form.status_code == 200 and "Escalate the challenge" in form.text
        assert _state(web, reference) == "level_1.lapse_prompt"  # opening it recorded nothing
        done = client.post(
            f"/challenges/{reference}/escalate",
            data={"csrf_token": csrf(client, f"/challenges/{reference}"), "reason": REASON},
        )
        assert done.status_code == 303, done.text
    assert _state(web, reference) == "level_2.awaiting_response"
    with browser(app) as other:
        page = other.post(_path(responder), data={"csrf_token": csrf(other)})
        assert page.headers.get("location") == f"/challenges/{reference}"


def test_the_one_click_link_escalates_from_the_email_in_a_browser(
    engine: Engine, tmp_path: Path, chromium_browser: Browser, smtp_server: Any
) -> None:
    port = live_port()
    web, app = web_app(engine, base_url=f"http://127.0.0.1:{port}", registry=_prompting(tmp_path))
    sink = SmtpSink()
    mail = Mail(web, sink, smtp_server(sink))
    mail.deliver()  # the raise's own emails
    reference = _prompted(web)
    prompt = [
        m for m in mail.deliver() if m["Subject"] and "decide whether to escalate" in m["Subject"]
    ]
    [link] = mail.links(prompt, SCHOOL_DSL_EMAIL, "/l/")
    assert link.startswith(f"http://127.0.0.1:{port}/l/")
    with LiveServer(app, port):
        context = chromium_browser.new_context()
        try:
            page = context.new_page()
            page.goto(link)
            expect(page.locator("h1")).to_have_text(f"Open challenge {reference}")
            page.get_by_role("button", name="Continue").click()
            expect(page).to_have_url(f"http://127.0.0.1:{port}/challenges/{reference}/escalate")
            expect(page.locator("h1")).to_have_text("Escalate the challenge")
            page.get_by_label("Why should the challenge rise?").fill(REASON)
            page.get_by_role("button", name="Escalate", exact=True).click()
            expect(page).to_have_url(
                f"http://127.0.0.1:{port}/challenges/{reference}?done=escalate"
            )
            expect(page.locator(".govuk-notification-banner--success")).to_contain_text(
                "The challenge has been escalated."
            )
        finally:
            context.close()
    assert _state(web, reference) == "level_2.awaiting_response"
