"""The README's five-minute tour, run as written in a temporary folder.

The tour's ```bash blocks (only the tour's) are parsed, and every `icipredict ...` command of
steps 1-3 (synth, ingest, summary, brca, features) runs in order through the installed
`icipredict` with the temporary folder as working directory and HOME/XDG inside it; the printed
`cohort summary` is compared with the README's sample output (header and centre names). Steps 4-5
read the artefacts of `make demo` in the checkout (the demo's store and MLflow database), step 6
recalibrates its champion; they are
covered by tests/test_demo.py and the CLI tests, not re-run here.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
ICIPREDICT = Path(sys.executable).with_name("icipredict")


def tour_text() -> str:
    text = README.read_text(encoding="utf-8")
    start = text.index("## A five-minute tour")
    return text[start:text.index("\n## ", start + 1)]


def tour_blocks(lang: str) -> list[str]:
    """The tour's fenced blocks opened with ```<lang> (lang "" = plain output blocks)."""
    blocks, current, opened = [], [], None
    for line in tour_text().splitlines():
        if line.startswith("```"):
            if opened is None:
                opened, current = line[3:].strip(), []
            else:
                if opened == lang:
                    blocks.append("\n".join(current) + "\n")
                opened = None
        elif opened is not None:
            current.append(line)
    return blocks


def tour_commands() -> list[tuple[int, str]]:
    """(tour step, command) of every `icipredict` line of the tour's bash blocks, in order."""
    out, step = [], 0
    for block in tour_blocks("bash"):
        block = re.sub(r"\\\n\s*", " ", block)  # continuation lines
        for line in block.splitlines():
            line = line.strip()
            if m := re.match(r"#\s*(\d+)\.", line):
                step = int(m.group(1))
            if line.startswith("icipredict "):
                out.append((step, line))
    return out


def sample_summary() -> list[str]:
    """The README's sample `cohort summary` table (the first plain ``` block of the tour)."""
    block = tour_blocks("")[0]
    return [line for line in block.splitlines() if line.strip()]


def test_tour_parses_into_the_documented_steps():
    steps = [s for s, _ in tour_commands()]
    assert steps == sorted(steps) and set(steps) == {1, 2, 3, 4, 5, 6}
    commands = [c for _, c in tour_commands()]
    assert commands[0].startswith("icipredict cohort synth")
    assert "icipredict cohort summary" in commands
    assert not any("jupyter" in c or c.startswith("mlflow") for c in commands)
    assert sample_summary()[0].split()[:2] == ["centre", "patients"]


@pytest.mark.slow
def test_tour_steps_1_to_3_run_as_written(tmp_path):
    (tmp_path / "models").symlink_to(ROOT / "models")  # the tour runs from the checkout
    home = tmp_path / "home"
    env = dict(os.environ, HOME=str(home), XDG_CONFIG_HOME=str(home / ".config"),
               XDG_CACHE_HOME=str(home / ".cache"), COLUMNS="200", NO_COLOR="1",
               MLFLOW_DISABLE_TELEMETRY="true")
    for var in ("ICIPREDICT_PSEUDONYM_KEY", "ICIPREDICT_PSEUDONYM_KEY_FILE", "ICIPREDICT_STORE",
                "ICIPREDICT_RADIOMICS_CACHE", "MLFLOW_TRACKING_URI"):
        env.pop(var, None)
    outputs: dict[str, str] = {}
    for step, command in tour_commands():
        if step > 3:
            break
        args = shlex.split(command)
        result = subprocess.run([str(ICIPREDICT), *args[1:]], cwd=tmp_path, env=env,
                                capture_output=True, text=True, timeout=300)
        assert result.returncode == 0, f"{command}\n{result.stdout}\n{result.stderr}"
        outputs[command] = result.stdout
    # the user's key was created in the temporary HOME, as on a fresh machine
    assert (home / ".config" / "icipredict" / "pseudonym.key").is_file()
    assert (tmp_path / "brca_registry.csv").is_file() and (tmp_path / "features.parquet").is_file()

    printed = [line for line in outputs["icipredict cohort summary"].splitlines()
               if line.strip() and not set(line.strip()) <= set("━─")]
    sample = sample_summary()
    header = next(line for line in printed if line.split()[:2] == ["centre", "patients"])
    assert header.split() == sample[0].split()
    rows = {line.split()[0]: line.split() for line in printed
            if line.split() and line.split()[0] in {s.split()[0] for s in sample[1:]}}
    assert sorted(rows) == sorted(s.split()[0] for s in sample[1:])
    for expected in sample[1:]:  # the synthetic network is the same everywhere: same numbers
        assert rows[expected.split()[0]] == expected.split()
