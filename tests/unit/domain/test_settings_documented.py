"""The README's settings table lists every setting, with its real default."""

from __future__ import annotations

import re

from forgood.domain.settings import Settings
from tests.support.processes import REPO

README = REPO / "README.md"
ROW = re.compile(r"^\| `FORGOOD_([A-Z0-9_]+)` \| (?:`([^`]*)`|\*\(empty\)\*) \|", re.M)


def documented() -> dict[str, str]:
    return {name.lower(): default or "" for name, default in ROW.findall(README.read_text())}


def test_every_setting_is_in_the_readme_with_its_default():
    table = documented()
    for name, field in Settings.model_fields.items():
        assert name in table, f"FORGOOD_{name.upper()} is missing from the README's settings table"
        default = field.default
        text = str(default) if not isinstance(default, float) else f"{default:g}"
        assert table[name] == text, f"README says FORGOOD_{name.upper()}={table[name]!r}, code says {text!r}"
