"""The one-click escalate link (issue 13, point 2): the raiser asked to decide on escalation, after
a level lapsed on a `prompt` level, gets a link that signs them in to the challenge and opens its
escalation form; the form still asks them to confirm with a reason.

Devon as shipped with level 1 `on_lapse: prompt`, in this test's own workflows folder. Raised on
Monday 7 December 2026 10:00, level 1 is due Monday 14 December 17:00; the sweep at 17:05 lapses
it and prompts the raiser (Dana Lead, the school's DSL)."""

from __future__ import annotations

import shutil
from pathlib import Path

from sqlalchemy import Engine, select

from escalation.casework import sweep
from escalation.casework.models import Challenge
from escalation.resources import workflows_dir
from escalation.rules.registry import load_registry
from tests.conftest import london, raise_request
from tests.web_support import (
    SCHOOL_DSL_EMAIL,
    SOCIAL_WORKER_EMAIL,
    browser,
    csrf,
    outbox_links,
    web_app,
)

NOW = london("2026-12-15 09:30")


def _prompting(tmp_path: Path) -> Path:
    folder = tmp_path / "workflows"
    shutil.copytree(workflows_dir(), folder)
    devon = folder / "devon.yaml"
    text = devon.read_text(encoding="utf-8")
    devon.write_text(text.replace("    on_lapse: escalate\n", "    on_lapse: prompt\n", 1))
    return folder


def _path(link: str) -> str:
    return "/" + link.split("/", 3)[3]


def test_the_prompt_email_opens_the_escalation_form_and_it_escalates(
    engine: Engine, tmp_path: Path
) -> None:
    registry = load_registry(_prompting(tmp_path))
    web, app = web_app(engine, clock=lambda: NOW, registry=registry)
    reference = web.service.raise_challenge(raise_request(), london("2026-12-07 10:00"))
    before = set(outbox_links(web, SCHOOL_DSL_EMAIL))
    sweep.run_once(web.service, london("2026-12-14 17:05"))
    [link] = [x for x in outbox_links(web, SCHOOL_DSL_EMAIL) if x not in before and "/l/" in x]
    # The responder's link in the same prompt is a plain one: they have nothing to escalate.
    responder = outbox_links(web, SOCIAL_WORKER_EMAIL)[-1]

    with browser(app) as client:
        assert reference in client.get(_path(link)).text  # "open challenge …?" before using it
        used = client.post(_path(link), data={"csrf_token": csrf(client)})
        assert used.status_code == 303
        assert used.headers["location"] == f"/challenges/{reference}/escalate"
        form = client.get(used.headers["location"])
        assert form.status_code == 200 and "Escalate the challenge" in form.text
        done = client.post(
            f"/challenges/{reference}/escalate",
            data={"csrf_token": csrf(client, f"/challenges/{reference}"), "reason": "No reply"},
        )
        assert done.status_code == 303, done.text
    with web.sessions() as session:
        challenge = session.scalars(select(Challenge).where(Challenge.reference == reference)).one()
        assert challenge.state == "level_2.awaiting_response"
    with browser(app) as other:
        page = other.post(_path(responder), data={"csrf_token": csrf(other)})
        assert page.headers.get("location") == f"/challenges/{reference}"
