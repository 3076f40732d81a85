"""The README's reference tables match the code: every setting with its default, every CLI command;
and docs/span-attributes.md lists every tierscope span attribute."""

from __future__ import annotations

import re
from pathlib import Path

from tierscope import clock
from tierscope.cli import main
from tierscope.instrumentation import conventions
from tierscope.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text()
ATTRIBUTES = (ROOT / "docs" / "span-attributes.md").read_text()


def section(title: str) -> str:
    return README.split(f"## {title}\n", 1)[1].split("\n## ", 1)[0]


def shown(value: object) -> str:
    """A default as the README writes it: code-quoted, booleans lower-case, empty as nothing."""
    if value == "":
        return ""
    return f"`{str(value).lower() if isinstance(value, bool) else value}`"


def test_configuration_table_lists_every_setting_with_its_default():
    rows = dict(re.findall(r"^\| `(TIERSCOPE_\w+)` \|([^|]*)\|", section("Configuration"), flags=re.MULTILINE))
    expected = {f"TIERSCOPE_{name.upper()}": shown(field.default) for name, field in Settings.model_fields.items()}
    expected[clock.ENV] = ""
    assert {name: default.strip() for name, default in rows.items()} == expected


def test_cli_table_names_every_command():
    first_cells = re.findall(r"^\| (.+?) \| ", section("CLI"), flags=re.MULTILINE)[2:]  # past the header
    listed = {command for cell in first_cells for command in re.findall(r"`([a-z][a-z-]*)", cell)}
    assert listed == set(main.commands)


def test_attribute_table_covers_the_tierscope_attributes():
    table = ATTRIBUTES
    assert "(docs/span-attributes.md)" in README
    ours = {value for name, value in vars(conventions).items()
            if name.isupper() and isinstance(value, str) and value.startswith("tierscope.")
            and name not in ("DUPLICATE_OF",)}
    for attribute in ours:
        prefix, _, last = attribute.rpartition(".")
        assert f"`{attribute}`" in table or f"`.{last}`" in table, attribute
