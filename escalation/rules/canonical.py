"""A protocol version's canonical content: what a challenge pins (issue 13).

The content is the checked data, not the file's bytes, so a comment or a re-indented line is not
a change, and a changed number is. `canonical_text` is YAML (it keeps the data's types, so it
reads back through the same checks as a file); `content_hash` is the SHA-256 of the data's
canonical JSON, which does not depend on how PyYAML lays out its output. Pure.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

import yaml


def canonical_text(data: Any) -> str:
    return yaml.safe_dump(data, sort_keys=True, allow_unicode=True, width=1_000_000)


def content_hash(data: Any) -> str:
    text = json.dumps(data, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()
