"""The architecture, asserted from the code (tests/architecture_support.py walks the AST):

a. the rules are pure: no I/O library, no part above them, no clock, no environment;
b. the parts import only downward (`ALLOWED`): rules <- casework <- mail, reports <- web; cli
   and the orchestrators (jobs, scheduler, demo, wiring) on top; config, errors, resources and
   failures at the bottom;
c. only store modules (and the report's queries, the digest's figures, the schema) run SQL;
d. no import cycle between modules, lazy imports included;
f. modules stay short and the top level small.

Each check is also run on a tiny fake package with one violation, to prove it can fail.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from tests.architecture_support import (
    MAX_MODULE_LINES,
    MAX_TOP_LEVEL_MODULES,
    cycles,
    layering_violations,
    long_modules,
    rules_purity_violations,
    sql_violations,
    top_level_modules,
)

PACKAGE = Path(__file__).resolve().parent.parent / "escalation"


def listed(title: str, lines: list[str]) -> str:
    return f"{title} ({len(lines)}):\n" + "\n".join(f"  {line}" for line in lines)


# --- the real package ------------------------------------------------------------------------


def test_it_keeps_the_rules_pure() -> None:
    found = rules_purity_violations(PACKAGE)
    assert not found, listed("rules/ reaches beyond itself", found)


def test_it_imports_only_downward() -> None:
    found = layering_violations(PACKAGE)
    assert not found, listed("imports against the layering (importer -> imported)", found)


def test_it_runs_sql_only_in_store_modules() -> None:
    found = sql_violations(PACKAGE)
    assert not found, listed("SQL outside the store modules", found)


def test_it_has_no_import_cycles() -> None:
    found = cycles(PACKAGE)
    assert not found, listed("import cycles", found)


def test_it_keeps_modules_short() -> None:
    found = long_modules(PACKAGE)
    assert not found, listed(f"modules over {MAX_MODULE_LINES} lines", found)


def test_it_keeps_the_top_level_small() -> None:
    found = top_level_modules(PACKAGE)
    assert len(found) <= MAX_TOP_LEVEL_MODULES, listed(
        f"more than {MAX_TOP_LEVEL_MODULES} modules directly under escalation/", found
    )


# --- each check can fail: fake packages --------------------------------------------------------


def fake_package(tmp_path: Path, files: dict[str, str]) -> Path:
    """A package `pkg` in tmp_path with the given files (path inside it -> source); every
    folder gets an __init__.py."""
    root = tmp_path / "pkg"
    root.mkdir()
    (root / "__init__.py").write_text("")
    for name, source in files.items():
        path = root / name
        for folder in reversed(path.relative_to(root).parents):
            (root / folder).mkdir(exist_ok=True)
            if not (root / folder / "__init__.py").exists():
                (root / folder / "__init__.py").write_text("")
        path.write_text(textwrap.dedent(source))
    return root


PURE_RULES = {
    "errors.py": "class Failure(Exception): ...\n",
    "rules/dates.py": """\
        from datetime import date, datetime, timedelta

        from pkg.errors import Failure
        from . import other


        def later(now: datetime) -> datetime:
            return now + timedelta(days=1)
        """,
    "rules/other.py": "",
}


def test_it_finds_nothing_wrong_in_pure_rules(tmp_path: Path) -> None:
    assert rules_purity_violations(fake_package(tmp_path, PURE_RULES)) == []


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("import sqlalchemy\n", "pkg.rules.bad -> sqlalchemy (line 1)"),
        ("from jinja2 import Environment\n", "pkg.rules.bad -> jinja2 (line 1)"),
        (
            "def f():\n    from pkg.casework import store\n",
            "pkg.rules.bad -> pkg.casework.store (line 2)",
        ),
        ("from .. import config\n", "pkg.rules.bad -> pkg.config (line 1)"),
        (
            "from datetime import datetime\n\ndef f():\n    return datetime.now()\n",
            "pkg.rules.bad:4 reads datetime.datetime.now",
        ),
        (
            "import datetime as dt\nx = dt.date.today()\n",
            "pkg.rules.bad:2 reads datetime.date.today",
        ),
        ("from time import time\nx = time()\n", "pkg.rules.bad:2 reads time.time"),
        ("import os\nx = os.environ.get('A')\n", "pkg.rules.bad:2 reads os.environ"),
        ("from os import getenv\nx = getenv('A')\n", "pkg.rules.bad:2 reads os.getenv"),
    ],
)
def test_it_finds_impure_rules(tmp_path: Path, source: str, expected: str) -> None:
    files = {**PURE_RULES, "casework/store.py": "", "config.py": "", "rules/bad.py": source}
    assert expected in rules_purity_violations(fake_package(tmp_path, files))


def test_it_ignores_imports_only_for_type_checking(tmp_path: Path) -> None:
    source = """\
        from typing import TYPE_CHECKING

        if TYPE_CHECKING:
            from sqlalchemy.orm import Session
            from pkg.casework.store import Store
        """
    files = {**PURE_RULES, "casework/store.py": "", "rules/typed.py": source}
    assert rules_purity_violations(fake_package(tmp_path, files)) == []


LAYERED = {
    "errors.py": "",
    "config.py": "from pkg import errors\n",
    "rules/machine.py": "from pkg.errors import *\n",
    "casework/service.py": "from pkg.rules import machine\nfrom pkg import config\n",
    "mail/outbox.py": "from pkg.casework import service\n",
    "web/store.py": "",
    "web/app.py": "from pkg.mail import outbox\nfrom pkg import wiring\n",
    "wiring.py": "from pkg.mail import outbox\n",
    "jobs.py": "from pkg.web import store\n",  # the one exception
    "cli/main.py": "from pkg.web import app\n",
}


def test_it_finds_nothing_wrong_with_downward_imports(tmp_path: Path) -> None:
    assert layering_violations(fake_package(tmp_path, LAYERED)) == []


@pytest.mark.parametrize(
    ("name", "source", "expected"),
    [
        ("rules/bad.py", "from pkg import config\n", "pkg.rules.bad -> pkg.config (line 1)"),
        (
            "casework/bad.py",
            "def f():\n    from pkg.mail import outbox\n",
            "pkg.casework.bad -> pkg.mail.outbox (line 2, lazy)",
        ),
        ("mail/bad.py", "from ..web import store\n", "pkg.mail.bad -> pkg.web.store (line 1)"),
        ("errors2.py", "", "'errors2' has no layering rule: add it to ALLOWED (pkg.errors2)"),
        ("config.py", "import pkg.rules.machine\n", "pkg.config -> pkg.rules.machine (line 1)"),
        ("wiring.py", "from pkg.web import app\n", "pkg.wiring -> pkg.web.app (line 1)"),
        ("jobs.py", "from pkg.cli import main\n", "pkg.jobs -> pkg.cli.main (line 1)"),
        (
            "web/bad.py",
            "import importlib\nimportlib.import_module('pkg.cli.main')\n",
            "pkg.web.bad -> pkg.cli.main (line 2)",
        ),
    ],
)
def test_it_finds_upward_imports(tmp_path: Path, name: str, source: str, expected: str) -> None:
    found = layering_violations(fake_package(tmp_path, {**LAYERED, name: source}))
    assert expected in found, found


def test_it_finds_sql_outside_store_modules(tmp_path: Path) -> None:
    files = {
        "casework/store.py": "from sqlalchemy import select\ndef f(s):\n    s.execute(select())\n",
        "casework/store_outbox.py": "from sqlalchemy import func\n",
        "reports/queries_rows.py": "from sqlalchemy import text\n",
        "casework/migrations/versions/0001.py": "from sqlalchemy import text\n",
        "mail/digest.py": "from sqlalchemy import func, Engine\n",
        "web/pages.py": "from sqlalchemy.sql import or_\ndef f(session):\n    session.scalars(1)\n",
        "cli/mail.py": "import sqlalchemy as sa\nx = sa.select(1)\n",
        "jobs.py": "def f(session):\n    return session.scalar(1)\n",
    }
    assert sql_violations(fake_package(tmp_path, files)) == [
        "pkg.cli.mail:2 uses sqlalchemy.select",
        "pkg.jobs:2 calls .scalar(",
        "pkg.mail.digest:1 imports sqlalchemy.func",
        "pkg.web.pages:1 imports sqlalchemy.sql.or_",
        "pkg.web.pages:3 calls .scalars(",
    ]


def test_it_finds_import_cycles_lazy_ones_too(tmp_path: Path) -> None:
    files = {
        "a.py": "from pkg import b\n",
        "b.py": "def f():\n    from pkg import a\n",
        "c.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from pkg import d\n",
        "d.py": "from pkg import c\n",
        "x/one.py": "from .two import thing\n",
        "x/two.py": "from . import three\nthing = 1\n",
        "x/three.py": "import pkg.x.one\n",
    }
    assert cycles(fake_package(tmp_path, files)) == [
        "pkg.a -> pkg.b (line 1) -> pkg.a (line 2, lazy)",
        "pkg.x.one -> pkg.x.two (line 1) -> pkg.x.three (line 1) -> pkg.x.one (line 1)",
    ]


def test_it_finds_long_modules_and_a_crowded_top_level(tmp_path: Path) -> None:
    files = {f"m{number}.py": "" for number in range(MAX_TOP_LEVEL_MODULES)}
    files["rules/long.py"] = "x = 1\n" * (MAX_MODULE_LINES + 1)
    files["rules/just_right.py"] = "x = 1\n" * MAX_MODULE_LINES
    root = fake_package(tmp_path, files)
    assert long_modules(root) == [f"pkg/rules/long.py: {MAX_MODULE_LINES + 1} lines"]
    assert len(top_level_modules(root)) == MAX_TOP_LEVEL_MODULES + 1  # with __init__.py
