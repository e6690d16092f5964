"""A pytest plugin for `tools/outputs.py`: records every Jinja2 template the code renders while
the tests run (emails, pages, the HTML report), one file per rendering, keyed by the test's file
name and function (not its folder, so moving a test does not change the key) and a counter.

Loaded with `-p tools.capture_plugin` and `ESCALATION_CAPTURE_DIR` set; does nothing otherwise.
"""

from __future__ import annotations

import hashlib
import os
import threading
from pathlib import Path
from typing import Any

import jinja2
import pytest

_state = threading.local()
_current: dict[str, Any] = {"key": None, "count": 0}
_lock = threading.Lock()


def _target() -> Path | None:
    folder = os.environ.get("ESCALATION_CAPTURE_DIR")
    return Path(folder) if folder else None


def _record(template: jinja2.Template, text: str) -> None:
    folder = _target()
    key = _current["key"]
    if folder is None or key is None:
        return
    with _lock:
        _current["count"] += 1
        count = _current["count"]
    name = (template.name or "<string>").replace("/", "~")
    digest = hashlib.sha1(key.encode()).hexdigest()[:10]
    path = folder / f"{key[:120].replace('/', '~')}.{digest}" / f"{count:04d}.{name}"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


_render = jinja2.Template.render
_render_async = jinja2.Template.render_async


def _patched_render(self: jinja2.Template, *args: Any, **kwargs: Any) -> str:
    text = _render(self, *args, **kwargs)
    _record(self, text)
    return text


async def _patched_render_async(self: jinja2.Template, *args: Any, **kwargs: Any) -> str:
    text = await _render_async(self, *args, **kwargs)
    _record(self, text)
    return text


if _target() is not None:
    jinja2.Template.render = _patched_render  # type: ignore[method-assign]
    jinja2.Template.render_async = _patched_render_async  # type: ignore[method-assign]


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Any:
    file_name = Path(str(item.fspath)).name
    _current["key"] = f"{file_name}::{item.name}"
    _current["count"] = 0
    yield
    _current["key"] = None
