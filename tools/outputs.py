"""Capture what the engine shows people, to compare before and after a change that should not
alter it (a move of modules, a refactor).

    python tools/outputs.py capture DIR [TEST...]  # what the tests render + the demo report
    python tools/outputs.py compare A B   # exit 0 when identical (after masking one-off tokens)
    python tools/outputs.py compare --times A B  # also mask times of day (tests on the real clock)
    python tools/outputs.py compare --old-dates A B  # A's dates reworded as B's first (see below)

What is captured: every Jinja2 rendering made while the tests run (every email kind under every
protocol, every page state the web and browser tests visit, the HTML report), keyed by test file
name and test name; and the demo's report in its four formats. Values that differ on every run
(signed link tokens, CSRF tokens, session ids, temporary paths, ports, Message-IDs) are masked
before comparing; run `capture` twice on the same code to see that nothing else moves.
"""

from __future__ import annotations

import difflib
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
ESCALATION = str(Path(PYTHON).with_name("escalation"))
FORMATS = ("table", "csv", "json", "html")
MASKS = [
    (re.compile(r"/tmp/[^\s\"'<>]*"), "/tmp/…"),
    (re.compile(r"127\.0\.0\.1:\d+"), "127.0.0.1:PORT"),
    (re.compile(r"localhost:\d+"), "localhost:PORT"),
    (re.compile(r"(csrf[^\"'<>]{0,40}value=\")[^\"]+"), r"\1TOKEN"),
    (re.compile(r"(name=\"csrf_token\"[^>]*value=\")[^\"]+"), r"\1TOKEN"),
    (re.compile(r"/(e|l|link|sign-in|s)/[A-Za-z0-9_.\-]{20,}"), r"/\1/TOKEN"),
    (re.compile(r"([?&](token|t|code|state)=)[A-Za-z0-9_.\-%]{16,}"), r"\1TOKEN"),
    (re.compile(r"<[0-9a-f.\-]{16,}@[^>]+>"), "<MESSAGE-ID>"),
    (re.compile(r"\b[A-Za-z0-9_\-]{32,}\.[A-Za-z0-9_\-]{6,}\.[A-Za-z0-9_\-]{20,}\b"), "TOKEN"),
    (re.compile(r"\bnonce-[A-Za-z0-9+/=_\-]+"), "nonce-TOKEN"),
    (re.compile(r"nonce=\"[^\"]+\""), 'nonce="TOKEN"'),
]

# Tests that run on the real clock (the browser journeys) write the time of day they ran at:
# `--times` masks a time of day, so two runs minutes apart compare equal. Dates stay compared.
TIME_MASKS = [
    (re.compile(r"\b\d{1,2}:\d{2}(:\d{2})?(am|pm)?\b"), "TIME"),
    (re.compile(r"\b\d{1,2}(am|pm)\b"), "TIME"),
    (re.compile(r"\bmidday\b|\bmidnight\b"), "TIME"),
]

# The date-wording change (issue 12): emails wrote "Monday 4 January 2027 at 17:00", pages
# "4 January 2027 at 5:00pm"; both now write "4 January 2027 at 5pm". `--old-dates` rewrites
# the old wordings in A into the new one before comparing, so what is left is anything else
# that changed. It is applied to A only: a weekday or a 24-hour time still written in B differs.
_MONTH = "January|February|March|April|May|June|July|August|September|October|November|December"
_WEEKDAY = "Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday"
_EMAIL_DATE = re.compile(
    rf"\b(?:{_WEEKDAY}) (\d{{1,2}} (?:{_MONTH}) \d{{4}}) at (\d{{2}}):(\d{{2}})\b"
)
_PAGE_DATE = re.compile(rf"\b(\d{{1,2}} (?:{_MONTH}) \d{{4}}) at (\d{{1,2}}):(\d{{2}})(am|pm)")
_EMAIL_DAY = re.compile(rf"\b(?:{_WEEKDAY}) (\d{{1,2}} (?:{_MONTH}) \d{{4}})\b")


def _clock(hour: int, minute: int) -> str:
    if minute == 0 and hour in (0, 12):
        return "midnight" if hour == 0 else "midday"
    twelve, suffix = hour % 12 or 12, "am" if hour < 12 else "pm"
    return f"{twelve}{suffix}" if minute == 0 else f"{twelve}:{minute:02d}{suffix}"


def new_dates(text: str) -> str:
    text = _EMAIL_DATE.sub(lambda m: f"{m[1]} at {_clock(int(m[2]), int(m[3]))}", text)
    text = _PAGE_DATE.sub(
        lambda m: f"{m[1]} at {_clock(int(m[2]) % 12 + (12 if m[4] == 'pm' else 0), int(m[3]))}",
        text,
    )
    return _EMAIL_DAY.sub(lambda m: m[1], text)


def capture(folder: Path, tests: list[str]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    pages = folder / "renderings"
    env = dict(os.environ, ESCALATION_CAPTURE_DIR=str(pages), PYTHONPATH=str(ROOT))
    command = [PYTHON, "-m", "pytest", "-q", "-p", "tools.capture_plugin", *tests]
    print("+", " ".join(command), flush=True)
    result = subprocess.run(command, cwd=ROOT, env=env, timeout=3600)
    if result.returncode != 0:  # a failed test renders less: say so, and capture the rest
        print(
            f"warning: pytest exited {result.returncode}; rerun the failed tests with "
            "`capture DIR TEST...` into the same folder",
            flush=True,
        )
    reports = folder / "reports"
    reports.mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory() as scratch:
        demo = Path(scratch) / "demo"
        run_env = dict(os.environ)
        subprocess.run(
            [ESCALATION, "demo", "--dir", str(demo)],
            cwd=scratch,
            env=run_env,
            check=True,
            timeout=600,
            capture_output=True,
        )
        run_env["ESCALATION_DATABASE_URL"] = f"sqlite:///{demo / 'escalation.db'}"
        for fmt in FORMATS:
            for extra in ([], ["--publishable"]):
                name = f"report-{fmt}{'-publishable' if extra else ''}.out"
                result = subprocess.run(
                    [
                        ESCALATION,
                        "--now",
                        "2027-03-31T18:00:00+01:00",
                        "report",
                        "--year",
                        "2026-27",
                        "--format",
                        fmt,
                        *extra,
                    ],
                    cwd=scratch,
                    env=run_env,
                    timeout=600,
                    capture_output=True,
                )
                (reports / name).write_bytes(
                    result.stdout
                    + b"\n--stderr--\n"
                    + result.stderr
                    + f"\n--exit {result.returncode}--\n".encode()
                )
    count = sum(1 for p in folder.rglob("*") if p.is_file())
    print(f"captured {count} files in {folder}")


def masked(text: str, times: bool = False) -> str:
    for pattern, replacement in MASKS + (TIME_MASKS if times else []):
        text = pattern.sub(replacement, text)
    return text


def compare(a: Path, b: Path, times: bool = False, old_dates: bool = False) -> int:
    left = {p.relative_to(a) for p in a.rglob("*") if p.is_file()}
    right = {p.relative_to(b) for p in b.rglob("*") if p.is_file()}
    problems = 0
    for only, side in ((left - right, a), (right - left, b)):
        for path in sorted(only):
            print(f"only in {side}: {path}")
            problems += 1
    same = 0
    for path in sorted(left & right):
        one = (a / path).read_text(encoding="utf-8", errors="replace")
        one = masked(new_dates(one) if old_dates else one, times)
        two = masked((b / path).read_text(encoding="utf-8", errors="replace"), times)
        if one == two:
            same += 1
            continue
        problems += 1
        print(f"differs: {path}")
        diff = difflib.unified_diff(one.splitlines(), two.splitlines(), lineterm="", n=1)
        for line in list(diff)[2:40]:
            print("   ", line)
    print(f"{same} identical, {problems} different or missing")
    return 1 if problems else 0


def main(argv: list[str]) -> int:
    if len(argv) >= 2 and argv[0] == "capture":
        capture(Path(argv[1]), argv[2:])
        return 0
    if len(argv) >= 3 and argv[0] == "compare":
        flags, paths = set(argv[1:-2]), argv[-2:]
        if flags <= {"--times", "--old-dates"}:
            return compare(
                Path(paths[0]), Path(paths[1]), "--times" in flags, "--old-dates" in flags
            )
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
