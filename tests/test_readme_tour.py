"""The README's five-minute tour, run as written in a temporary folder.

The tour's ```bash blocks (only the tour's) are parsed, and every `icipredict ...` command runs in
order through the installed `icipredict` with the temporary folder as working directory (the
checkout's experiments/, models/ and examples/ linked in) and HOME/XDG inside it: synth, ingest,
summary, brca, radiomics, features, train, register, the held-out table, promote, model cards,
predict, predict-list, recalibrate and validate (`serve` is started only by the board's own tests). `<RUN_ID>` and
`<VERSION>` take the values the previous commands printed. The printed `cohort summary` must equal
the README's sample; the other sample outputs of the tour must match in shape (numbers, IDs and
paths aside).
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


def tour_samples() -> list[str]:
    """The tour's sample outputs of steps 4-5 (its ```text blocks), one line each."""
    return [line for block in tour_blocks("text") for line in block.splitlines() if line.strip()]


def test_tour_parses_into_the_documented_steps():
    steps = [s for s, _ in tour_commands()]
    assert steps == sorted(steps) and set(steps) == {1, 2, 3, 4, 5, 6, 7}
    commands = [c for _, c in tour_commands()]
    assert commands[0].startswith("icipredict cohort synth")
    assert "icipredict cohort summary" in commands
    assert not any("jupyter" in c or c.startswith("mlflow") for c in commands)
    assert sample_summary()[0].split()[:2] == ["centre", "patients"]


def shape(line: str) -> str:
    """A printed line without what differs between runs: numbers, IDs, paths, spacing."""
    line = re.sub(r"\b[0-9a-f]{32}\b", "RUN", line)
    line = re.sub(r"\b(P|S)-[0-9a-f]{16}\b", "ID", line)
    line = re.sub(r"(sqlite|file):/+\S+|/\S+", "PATH", line)
    line = re.sub(r"[-+]?\d+(\.\d+)?", "#", line)  # signs too: estimates vary in sign
    return " ".join(line.split())


def _env(home: Path) -> dict[str, str]:
    env = dict(os.environ, HOME=str(home), XDG_CONFIG_HOME=str(home / ".config"),
               XDG_CACHE_HOME=str(home / ".cache"), COLUMNS="200", NO_COLOR="1",
               MLFLOW_DISABLE_TELEMETRY="true")
    for var in ("ICIPREDICT_PSEUDONYM_KEY", "ICIPREDICT_PSEUDONYM_KEY_FILE", "ICIPREDICT_STORE",
                "ICIPREDICT_RADIOMICS_CACHE", "MLFLOW_TRACKING_URI", "ICIPREDICT_API_TOKEN"):
        env.pop(var, None)
    return env


def run_tour(folder: Path) -> dict[str, str]:
    """Run the tour's commands in ``folder``; command (as written) -> what it printed."""
    for name in ("experiments", "models", "examples"):  # the tour runs from the checkout
        (folder / name).symlink_to(ROOT / name)
    env = _env(folder / "home")
    outputs: dict[str, str] = {}
    values: dict[str, str] = {}
    for _, command in tour_commands():
        if command.startswith("icipredict serve") or " serve " in command:
            continue
        args = shlex.split(command, comments=True)
        for key, value in values.items():
            args = [a.replace(key, value) for a in args]
        target = None
        if ">" in args:  # `... > card.html`
            target = folder / args[args.index(">") + 1]
            args = args[:args.index(">")]
        result = subprocess.run([str(ICIPREDICT), *args[1:]], cwd=folder, env=env,
                                capture_output=True, text=True, timeout=900)
        expected = 1 if "exit 1" in command else 0  # the README says which commands refuse
        assert result.returncode == expected, f"{command}\n{result.stdout}\n{result.stderr}"
        outputs[command] = result.stdout + result.stderr
        if target is not None:
            target.write_text(result.stdout)
        if m := re.search(r"run id\s+([0-9a-f]{32})", result.stdout):
            values["<RUN_ID>"] = m.group(1)
        if m := re.search(r"version (\d+)", result.stdout) if args[1] == "register" else None:
            values["<VERSION>"] = m.group(1)
    (folder / "tour_outputs.txt").write_text(
        "\n".join(f"$ {c}\n{o}" for c, o in outputs.items()))
    return outputs


@pytest.mark.slow
def test_tour_runs_end_to_end_as_written(tmp_path):
    outputs = run_tour(tmp_path)
    ran = " ".join(outputs)
    for command in ("cohort synth", "cohort ingest", "features radiomics", "features build",
                    "train", "register", "features inputs", "promote", "model card", "predict ",
                    "predict-list", "recalibrate", "validate"):
        assert f"icipredict {command}" in ran, command
    home = tmp_path / "home"
    # the user's key was created in the temporary HOME, as on a fresh machine
    assert (home / ".config" / "icipredict" / "pseudonym.key").is_file()
    for name in ("brca_registry.csv", "radiomics.parquet", "features.parquet", "heldout.parquet",
                 "card.html", "patient.html", "patient.out.json", "weekly/list.html",
                 "weekly/list.csv", "weekly/warnings.csv", "mlflow.db", "icipredict.duckdb"):
        assert (tmp_path / name).is_file(), name
    assert "<img src=\"data:image/png;base64," in (tmp_path / "card.html").read_text()

    summary = outputs["icipredict cohort summary"]
    printed = [line for line in summary.splitlines()
               if line.strip() and not set(line.strip()) <= set("━─")]
    sample = sample_summary()
    header = next(line for line in printed if line.split()[:2] == ["centre", "patients"])
    assert header.split() == sample[0].split()
    rows = {line.split()[0]: line.split() for line in printed
            if line.split() and line.split()[0] in {s.split()[0] for s in sample[1:]}}
    assert sorted(rows) == sorted(s.split()[0] for s in sample[1:])
    for expected in sample[1:]:  # the synthetic network is the same everywhere: same numbers
        assert rows[expected.split()[0]] == expected.split()

    # step 3 feeds step 4: the features carry the radiomics the model is trained on
    import pandas as pd

    features = pd.read_parquet(tmp_path / "features.parquet")
    assert sum(c.startswith("radiomics_") for c in features.columns) == 4
    radiomics = pd.read_parquet(tmp_path / "radiomics.parquet")
    assert radiomics["patient_id"].is_unique and radiomics.shape[1] > 50
    assert radiomics["patient_id"].isin(features.index).all()
    heldout = pd.read_parquet(tmp_path / "heldout.parquet")  # meridian's 80, no IDs
    assert len(heldout) == 80 and not {"patient_id", "sample_id"} & set(heldout.columns)
    assert {"responder", "os_months", "os_event", "radiomics_original_firstorder_Entropy"} <= set(
        heldout.columns)
    # the tour's other sample outputs, in shape
    printed_shapes = {shape(line) for text in outputs.values() for line in text.splitlines()}
    for line in tour_samples():
        assert shape(line) in printed_shapes, line
