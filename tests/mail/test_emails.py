"""Email templates and the renderer: every kind renders under every protocol, says what is asked
and by when in UK time, carries the reference, link and immediate-risk numbers, escapes what
it must, shows no child detail, and refuses broken templates when it starts."""

from __future__ import annotations

import dataclasses
import shutil
from datetime import UTC, datetime
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from escalation.casework.notices import NoticeKind
from escalation.errors import EscalationError, InvalidInput
from escalation.mail.emails import (
    KINDS,
    EmailContext,
    EmailRenderer,
    RenderedEmail,
    TemplateProblem,
    check_all,
    email_problems,
    london,
    sample_context,
    template_names,
)
from escalation.resources import templates_dir
from escalation.rules.model import Protocol, RiskContact
from escalation.rules.registry import load_registry
from tests.conftest import BUSINESS_MANAGER, FRONT_DOOR, SCHOOL, SCHOOL_DSL, SOCIAL_WORKER

REGISTRY = load_registry()
PROTOCOLS = ("devon", "plymouth", "torbay")
RENDERER = EmailRenderer()

# Fixed instants, named: the same 17:00 close of business in GMT and in BST.
WINTER_CLOSE = datetime(2027, 1, 4, 17, 0, tzinfo=UTC)  # Monday, GMT: 17:00 in London
SPRING_CLOSE = datetime(2027, 4, 6, 16, 0, tzinfo=UTC)  # Tuesday, BST: 17:00 in London
SCRIPT = "<script>alert(1)</script>"
TEMPLATE_SYNTAX = "{{ 7*7 }}"


def protocol(id: str = "devon") -> Protocol:
    return REGISTRY.get(id)


def context(kind: str = "reminder", id: str = "devon", **changes: Any) -> EmailContext:
    """A Devon school DSL's challenge to the Front Door, told to the Front Door social worker."""
    base = dataclasses.replace(
        sample_context(protocol(id), kind),
        raising_org=SCHOOL,
        responding_org=FRONT_DOOR,
    )
    return dataclasses.replace(base, **changes)


def render(kind: str = "reminder", id: str = "devon", **changes: Any) -> RenderedEmail:
    return RENDERER.render(context(kind, id, **changes))


def assert_in_both(email: RenderedEmail, fragment: str) -> None:
    """`fragment` is in the text part as it is, and in the HTML part as HTML shows it."""
    assert fragment in email.text, f"{fragment!r} not in the text:\n{email.text}"
    escaped = fragment.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    escaped = escaped.replace('"', "&#34;").replace("'", "&#39;")
    assert escaped in email.html, f"{escaped!r} not in the HTML:\n{email.html}"


def copy_templates(tmp_path: Path) -> Path:
    copied = tmp_path / "templates"
    shutil.copytree(templates_dir(), copied)
    return copied


# --- Every kind, every protocol --------------------------------------------------------------


def test_it_has_a_template_set_for_every_notice_kind_and_the_undeliverable_alert() -> None:
    assert (*(kind.value for kind in NoticeKind), "undeliverable") == KINDS
    for kind in KINDS:
        for part in ("subject.txt", "body.txt", "body.html"):
            assert (templates_dir() / "emails" / kind / part).is_file(), (kind, part)


@pytest.mark.parametrize("id", PROTOCOLS)
@pytest.mark.parametrize("kind", KINDS)
def test_it_renders_every_kind_under_every_protocol(kind: str, id: str) -> None:
    email = render(kind, id)
    assert email_problems(email, context(kind, id)) == []
    for fragment in (email.subject, "DSCP" if id == "devon" else "SCP", SCHOOL, FRONT_DOOR):
        assert_in_both(email, fragment)
    assert_in_both(email, "https://escalation.example.org/challenges/")
    assert "\n" not in email.subject and email.subject == email.subject.strip()


def test_it_finds_no_problems_in_the_shipped_templates() -> None:
    assert check_all(RENDERER, REGISTRY.all()) == []


def test_it_reports_what_a_rendered_email_lacks() -> None:
    email = render("reminder")
    stripped = dataclasses.replace(email, text=email.text.replace("0345 155 1071", "(removed)"))
    assert email_problems(stripped, context("reminder")) == ["text lacks '0345 155 1071'"]


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("audience", ["raiser", "responder", "partnership", "admin"])
def test_it_tells_every_reader_what_is_asked_of_them(kind: str, audience: str) -> None:
    email = render(kind, audience=audience)
    asked = email.text.split("WHAT WE ARE ASKING OF YOU")[1].split("Open the challenge:")[0]
    assert asked.strip(), email.text
    assert "What we are asking of you</h2>\n<p" in email.html


# --- Dates in UK time ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("due", "shown"),
    [
        (WINTER_CLOSE, "4 January 2027 at 5pm"),
        (SPRING_CLOSE, "6 April 2027 at 5pm"),
    ],
    ids=["GMT", "BST"],
)
def test_it_shows_the_due_instant_in_london_time(due: datetime, shown: str) -> None:
    assert london(due) == shown
    email = render("reminder", due_at=due)
    assert_in_both(email, f"Please send your response by {shown}.")
    assert f"Response due by: {shown} (UK time)" in email.text.splitlines()
    assert f'Response due by</th><td style="padding:4px 0;">{shown} (UK time)' in email.html
    assert shown in email.subject


def test_it_asks_for_action_as_soon_as_possible_when_there_is_no_due_date() -> None:
    email = render("lapse_prompt", audience="raiser", due_at=None)
    assert_in_both(email, "decide as soon as possible")
    assert "Decision due by" not in email.text


# --- The immediate-risk footer ---------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
def test_it_ends_every_email_with_devons_immediate_risk_numbers(kind: str) -> None:
    email = render(kind, "devon")
    for number in ("0345 155 1071", "0345 6000 388", "999"):
        assert_in_both(email, number)
    assert_in_both(email, "If a child is at immediate risk of significant harm, do not wait for")
    last = email.text.rstrip().splitlines()[-1]
    assert last == "- Emergency — a child in immediate danger: 999 (at any time)"
    footer = email.html.index("If a child is at immediate risk of significant harm")
    assert email.html.index("Open challenge") < footer
    assert 'href="tel:03451551071"' in email.html


def test_it_takes_the_numbers_from_the_protocol_file() -> None:
    email = render("raised", "plymouth")
    assert_in_both(email, "Police non-emergency")
    assert_in_both(email, "101")
    assert "0345 155 1071" not in email.text + email.html
    own = (RiskContact("Torbay MASH", "01803 208100", "office hours", "test"),)
    assert_in_both(render("raised", "torbay", immediate_risk=own), "01803 208100")


def test_it_refuses_to_render_an_email_without_immediate_risk_numbers() -> None:
    with pytest.raises(TemplateProblem, match="no immediate-risk contacts"):
        render("raised", immediate_risk=())


# --- Escaping and injection ------------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
def test_it_escapes_injected_names_in_html_and_leaves_them_as_given_in_text(kind: str) -> None:
    hostile = f"{SCRIPT} {TEMPLATE_SYNTAX}"
    email = render(
        kind,
        raising_org=f"{SCHOOL} {hostile}",
        responding_org=f"{hostile} {FRONT_DOOR}",
        recipient_name=f"{SCHOOL_DSL} {hostile}",
        partnership_name=hostile,
        problem=hostile,
    )
    assert "<script" not in email.html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in email.html
    assert TEMPLATE_SYNTAX in email.html
    assert SCRIPT in email.text and TEMPLATE_SYNTAX in email.text
    assert f"Dear {SCHOOL_DSL} {hostile}," in email.text
    for part in (email.subject, email.text, email.html):
        assert "49" not in part


def test_it_escapes_a_link_that_tries_to_break_out_of_its_attribute() -> None:
    email = render("raised", link='https://escalation.example.org/c/"onmouseover="alert(1)')
    assert '"onmouseover="' not in email.html
    assert "&#34;onmouseover=&#34;alert(1)" in email.html


def test_it_autoescapes_the_html_templates_and_never_the_text_ones() -> None:
    autoescape = RENDERER.environment.autoescape
    assert callable(autoescape)
    for name in template_names():
        assert autoescape(name) is name.endswith(".html"), name
    assert autoescape("emails/_base.html") is True
    assert autoescape("emails/raised/body.html") is True
    assert autoescape("emails/raised/body.txt") is False


def test_it_keeps_the_subject_to_one_line_whatever_the_names_contain() -> None:
    email = render("raised", raising_org="Ashcombe\r\nBcc: someone@example.org\nPrimary")
    assert "\n" not in email.subject and "\r" not in email.subject
    assert "Ashcombe Bcc: someone@example.org Primary" in email.subject


def test_it_puts_each_detail_on_a_line_of_its_own() -> None:
    lines = render("reminder", urgent=True, due_at=WINTER_CLOSE).text.splitlines()
    assert "Level: 1 (Practitioner to practitioner)" in lines
    assert "Urgent: yes, so shorter, hour-based timescales apply" in lines
    assert "Response due by: 4 January 2027 at 5pm (UK time)" in lines
    assert f"Asked to respond: {FRONT_DOOR}" in lines


# --- Accessible, simple HTML -----------------------------------------------------------------


class Outline(HTMLParser):
    """The tags, the title, the headings and the links of an HTML email."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.texts: dict[str, list[str]] = {"title": [], "h1": [], "h2": [], "a": []}
        self.links: list[tuple[str | None, str]] = []
        self._open: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        self._open.append(tag)
        if tag == "a":
            self.links.append((dict(attrs).get("href"), ""))

    def handle_endtag(self, tag: str) -> None:
        while self._open and self._open.pop() != tag:
            pass

    def handle_data(self, data: str) -> None:
        for tag in self._open:
            if tag in self.texts:
                self.texts[tag].append(data)
        if "a" in self._open and self.links:
            href, text = self.links[-1]
            self.links[-1] = (href, text + data)


def test_it_writes_simple_accessible_html() -> None:
    email = render("raised", audience="responder")
    outline = Outline()
    outline.feed(email.html)
    assert email.html.startswith("<!DOCTYPE html>\n")
    assert ("html", {"lang": "en-GB"}) in outline.tags
    assert "".join(outline.texts["title"]) == email.subject
    assert "".join(outline.texts["h1"]) == email.subject
    assert "What we are asking of you" in outline.texts["h2"]
    link = context("raised").link
    assert (link, f"Open challenge {context('raised').reference}") in outline.links
    names = {tag for tag, _ in outline.tags}
    assert not names & {"style", "script", "link", "img"}
    assert all("class" not in attrs for _, attrs in outline.tags)


# --- Privacy by shape ------------------------------------------------------------------------


def test_it_gives_an_email_no_field_for_the_child_or_the_concern() -> None:
    names = {field.name for field in dataclasses.fields(EmailContext)}
    assert names == {
        "kind", "reference", "partnership_name", "raising_org", "responding_org", "level",
        "level_name", "urgent", "recipient_name", "recipient_role", "audience", "due_at", "link",
        "immediate_risk", "response_kind", "outcome", "problem", "then",
    }  # fmt: skip
    for word in ("child", "concern", "birth", "dob", "address", "summary", "statement"):
        assert not [name for name in names if word in name], word


def test_it_refuses_a_template_that_asks_for_a_child_detail(tmp_path: Path) -> None:
    templates = copy_templates(tmp_path)
    body = templates / "emails" / "raised" / "body.txt"
    body.write_text(body.read_text(encoding="utf-8") + "{{ child_name }}\n", encoding="utf-8")
    with pytest.raises(TemplateProblem) as caught:
        EmailRenderer(templates)
    assert caught.value.problems == [f"{body}: unknown variable 'child_name'"]


# --- Strict loading --------------------------------------------------------------------------


def test_it_refuses_to_start_when_template_files_are_missing(tmp_path: Path) -> None:
    templates = copy_templates(tmp_path)
    gone = [templates / "emails" / "paused" / "body.html", templates / "emails" / "_base.txt"]
    for path in gone:
        path.unlink()
    with pytest.raises(TemplateProblem) as caught:
        EmailRenderer(templates)
    assert isinstance(caught.value, EscalationError)
    assert sorted(caught.value.problems) == sorted(f"{path}: missing" for path in gone)


def test_it_refuses_to_start_when_a_kind_has_no_templates_at_all(tmp_path: Path) -> None:
    templates = copy_templates(tmp_path)
    shutil.rmtree(templates / "emails" / "undeliverable")
    with pytest.raises(TemplateProblem) as caught:
        EmailRenderer(templates)
    assert len(caught.value.problems) == 3
    assert all("undeliverable" in problem for problem in caught.value.problems)


def test_it_refuses_to_start_on_a_syntax_error_naming_the_file_and_line(tmp_path: Path) -> None:
    templates = copy_templates(tmp_path)
    subject = templates / "emails" / "closed" / "subject.txt"
    subject.write_text("{{ reference }}\n{% if %}\n", encoding="utf-8")
    with pytest.raises(TemplateProblem) as caught:
        EmailRenderer(templates)
    [problem] = caught.value.problems
    assert problem.startswith(f"{subject}:2: ")


def test_it_refuses_to_start_on_an_unknown_filter(tmp_path: Path) -> None:
    templates = copy_templates(tmp_path)
    subject = templates / "emails" / "closed" / "subject.txt"
    subject.write_text("{{ due_at|londn }}\n", encoding="utf-8")
    with pytest.raises(TemplateProblem, match="londn"):
        EmailRenderer(templates)


def test_it_refuses_to_start_on_an_undefined_variable_naming_it(tmp_path: Path) -> None:
    templates = copy_templates(tmp_path)
    body = templates / "emails" / "extended" / "body.html"
    body.write_text(
        body.read_text(encoding="utf-8").replace("{{ responding_org }}", "{{ respnding_org }}"),
        encoding="utf-8",
    )
    with pytest.raises(TemplateProblem) as caught:
        EmailRenderer(templates)
    assert caught.value.problems == [f"{body}: unknown variable 'respnding_org'"]


def test_it_names_the_kind_and_the_variable_when_rendering_fails(tmp_path: Path) -> None:
    templates = copy_templates(tmp_path)
    subject = templates / "emails" / "reminder" / "subject.txt"
    subject.write_text("{{ reference }} {{ immediate_risk[0].fone }}\n", encoding="utf-8")
    renderer = EmailRenderer(templates)  # an attribute is only known when rendering
    with pytest.raises(TemplateProblem) as caught:
        renderer.render(context("reminder"))
    [problem] = caught.value.problems
    assert "emails/reminder/subject.txt (reminder)" in problem
    assert "fone" in problem
    assert check_all(renderer, [protocol()])  # and the check command would have said so


def test_it_refuses_a_body_that_does_not_extend_the_layout(tmp_path: Path) -> None:
    templates = copy_templates(tmp_path)
    body = templates / "emails" / "withdrawn" / "body.txt"
    body.write_text("Dear {{ recipient_name }}, {{ reference }} is withdrawn.\n", encoding="utf-8")
    with pytest.raises(TemplateProblem, match="does not extend"):
        EmailRenderer(templates)


def test_it_uses_the_templates_folder_it_is_given(tmp_path: Path) -> None:
    templates = copy_templates(tmp_path)
    subject = templates / "emails" / "closed" / "subject.txt"
    subject.write_text("{{ reference }}: all done\n", encoding="utf-8")
    email = EmailRenderer(templates).render(context("closed"))
    assert email.subject == "DSCP-2027-00042: all done"
    assert RENDERER.render(context("closed")).subject == "DSCP-2027-00042: challenge closed"


# --- The context refuses what it cannot show correctly ---------------------------------------


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"kind": "digest"}, "kind"),
        ({"audience": "child"}, "audience"),
        ({"recipient_role": " "}, "recipient_role"),
        ({"response_kind": "ignored"}, "response_kind"),
        ({"outcome": "sorted"}, "outcome"),
        ({"due_at": datetime(2027, 1, 4, 17, 0)}, "due_at"),
        ({"link": "javascript:alert(1)"}, "link"),
    ],
)
def test_it_refuses_a_context_it_cannot_show_correctly(changes: dict[str, Any], field: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        dataclasses.replace(context("raised"), **changes)
    assert caught.value.field == field


def test_it_puts_stored_values_into_words() -> None:
    response = render("response_received", response_kind="partly_changed", audience="raiser")
    assert_in_both(response, "they have partly changed the decision")
    resolved = render("resolved", outcome="new_referral_accepted", audience="partnership",
                      recipient_name=BUSINESS_MANAGER, recipient_role="partnership")  # fmt: skip
    assert_in_both(resolved, "The outcome: new referral accepted.")
    assert_in_both(resolved, "as the partnership business unit contact for Devon Safeguarding")
    told = render("raised", audience="responder", recipient_name=SOCIAL_WORKER)
    assert_in_both(told, f"as the practitioner for {FRONT_DOOR}, which is asked to respond")
    named = render("acknowledged", audience="raiser", recipient_role="raiser")
    assert_in_both(named, f"as the named contact for {SCHOOL}, which raised the challenge")
    other = render("acknowledged", audience="raiser", recipient_role="head_of_year")
    assert_in_both(other, f"as head of year for {SCHOOL}")
