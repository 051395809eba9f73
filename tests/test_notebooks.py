"""The walkthrough notebooks (Jupytext percent .py files) execute top to bottom on small data.

Each notebook is read with jupytext, executed by nbclient in the ``python3`` kernel (this
interpreter's ipykernel) with a small synthetic network (``ICIPREDICT_NB_PATIENTS``) in a
temporary work folder; a failing cell fails the test with the cell's traceback.
"""

from __future__ import annotations

from pathlib import Path

import pytest

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"

pytestmark = pytest.mark.slow


def run_notebook(path: Path, workdir: Path, monkeypatch: pytest.MonkeyPatch):
    """Execute ``path`` and return the executed notebook."""
    jupytext = pytest.importorskip("jupytext")
    nbclient = pytest.importorskip("nbclient")
    monkeypatch.setenv("ICIPREDICT_NB_PATIENTS", "150")
    monkeypatch.setenv("ICIPREDICT_NB_WORKDIR", str(workdir))
    monkeypatch.setenv("MLFLOW_DISABLE_TELEMETRY", "true")
    nb = jupytext.read(path)
    client = nbclient.NotebookClient(nb, kernel_name="python3", timeout=300,
                                     resources={"metadata": {"path": str(NOTEBOOKS)}})
    return client.execute()


def _outputs(nb) -> str:
    texts = []
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            texts.append(out.get("text", ""))
            texts.extend(str(v) for v in out.get("data", {}).values())
    return "\n".join(texts)


def _figures(nb) -> list[bytes]:
    """The PNG images the notebook's outputs carry; fails on a figure shown only as text."""
    import base64

    pngs = []
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            data = out.get("data", {})
            if "image/png" in data:
                pngs.append(base64.b64decode(data["image/png"]))
            else:
                assert not str(data.get("text/plain", "")).startswith("<Figure"), (
                    f"a figure shown as text, not as an image: {cell.source[:200]}")
    assert all(png[:8] == b"\x89PNG\r\n\x1a\n" for png in pngs)
    return pngs


def test_notebooks_are_percent_scripts() -> None:
    found = sorted(p.name for p in NOTEBOOKS.glob("0*.py"))
    assert found == ["01_explore_cohort.py", "02_train_and_compare.py",
                     "03_score_for_the_board.py"]
    for name in found:
        assert "# %%" in (NOTEBOOKS / name).read_text(encoding="utf-8")


def test_01_explore_cohort(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    nb = run_notebook(NOTEBOOKS / "01_explore_cohort.py", tmp_path, monkeypatch)
    assert len(_figures(nb)) == 1  # the missingness heat map, inline
    out = _outputs(nb)
    assert "150 patients" in out
    assert "carriers" in out
    assert "median_albumin_g_dl" in out


def test_02_train_and_compare(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    nb = run_notebook(NOTEBOOKS / "02_train_and_compare.py", tmp_path, monkeypatch)
    # ROC + calibration drawn on pyplot axes, and a figure a plot function returned: inline PNGs
    assert len(_figures(nb)) == 2
    out = _outputs(nb)
    for model in ("TMB>=10", "LLR6 (LORIS)", "RF16 (Chowell)", "ours (XGBoost)"):
        assert model in out
    assert "AUC difference ours - RF16" in out


def test_03_score_for_the_board(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    out = _outputs(run_notebook(NOTEBOOKS / "03_score_for_the_board.py", tmp_path, monkeypatch))
    assert "icipredict-demo version" in out
    assert "response" in out and "risk group" in out
    assert "median OS" in out and "None months" not in out  # not reached reads as words
    assert "the chance of response" in out and "training median used" not in out
    assert "<html" in out.lower() or "<svg" in out.lower()
