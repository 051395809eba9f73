"""The README's examples stay true: its column-map example is a valid column map."""

from __future__ import annotations

import re
from pathlib import Path

from icipredict.cohort.column_map import read_column_map

README = Path(__file__).resolve().parents[1] / "README.md"


def test_readme_column_map_example_validates(tmp_path: Path) -> None:
    blocks = re.findall(r"```yaml\n(.*?)```", README.read_text(encoding="utf-8"), flags=re.S)
    assert blocks, "README has no YAML example"
    path = tmp_path / "map.yaml"
    path.write_text(blocks[0])
    cmap = read_column_map(path)
    assert cmap.centre == "riverside"
    cols = cmap.files[0].columns
    assert cols["albumin"].unit == "g/L"
    assert cols["os_event"].event_value == 0


def test_readme_opens_with_the_two_commands() -> None:
    head = README.read_text(encoding="utf-8")[:1500]
    assert "make demo" in head and "make test" in head
