"""The training pipeline: MLflow-free, the same numbers as the tracked run, the stage import rule."""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import icipredict

PACKAGE = Path(icipredict.__file__).parent

#: The script run in a fresh interpreter where ``import mlflow`` fails.
NO_MLFLOW = """
import json, sys
sys.modules["mlflow"] = None  # any import of mlflow now raises ImportError
from icipredict.training.pipeline import fit_experiment

if __name__ == "__main__":
    trained = fit_experiment(sys.argv[1], cache_dir=sys.argv[2])
    out = {"metrics": trained.metrics,
           "folds": {f.name: f.metrics for f in trained.folds},
           "fold_table": trained.fold_table.to_dict(orient="list"),
           "n_fit": len(trained.fit_frame), "oof_columns": list(trained.oof.columns),
           "final": [type(trained.final.response_).__name__, sorted(trained.final.survival_)],
           "intervals": trained.response_uncertainty,
           "mlflow_loaded": [m for m in sys.modules if m.startswith("mlflow.")]}
    with open(sys.argv[3], "w") as fh:
        json.dump(out, fh)
"""


@pytest.mark.slow
def test_fit_experiment_runs_without_mlflow_and_gives_the_tracked_numbers(tmp_path_factory,
                                                                         tmp_path):
    import mlflow

    from test_runs import trained

    demo = trained(tmp_path_factory)
    root = demo["root"]
    script, out = tmp_path / "fit.py", tmp_path / "out.json"
    script.write_text(NO_MLFLOW)
    proc = subprocess.run([sys.executable, str(script), str(root / "experiments" / "demo.yaml"),
                           str(root / "cache"), str(out)], capture_output=True, text=True,
                          env=os.environ.copy(), timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    got = json.loads(out.read_text())
    assert got["mlflow_loaded"] == []

    # The parent run logged exactly the pipeline's metrics (values to 1e-9).
    res = demo["result"]
    logged = mlflow.get_run(res.run_id).data.metrics
    assert set(got["metrics"]) == set(logged)
    for key, value in got["metrics"].items():
        assert value == pytest.approx(logged[key], abs=1e-9), key
    # ... and each nested fold run its fold's metrics.
    children = mlflow.search_runs([res.experiment_id],
                                  filter_string=f"tags.mlflow.parentRunId = '{res.run_id}'",
                                  output_format="list")
    assert {c.data.params["held_out"] for c in children} == set(got["folds"])
    for child in children:
        fold = got["folds"][child.data.params["held_out"]]
        assert set(fold) == set(child.data.metrics)
        for key, value in fold.items():
            assert value == pytest.approx(child.data.metrics[key], abs=1e-9), key
    assert got["fold_table"]["held_out"] == res.fold_metrics["held_out"].tolist()
    assert got["n_fit"] == 300
    assert got["oof_columns"] == ["prob", "risk_os", "risk_pfs", "prob_tmb_cmp", "_fold"]
    assert got["final"] == ["CalibratedResponse", ["os", "pfs"]]
    # the interval table is made here too (the tracked run only writes it to the bundle): the
    # held-out response predictions of all 300 patients in bins, nothing refitted
    table = got["intervals"]
    # (less the non-responders censored before the first tumour assessment: label unknown)
    labelled = 300 - int(got["metrics"]["cv_response_n_censored_before_assessment"])
    assert table["n"] == labelled and sum(table["patients"]) == labelled
    assert len(table["patients"]) == len(table["low"]) == len(table["edges"]) + 1


def _imports(path: Path) -> set[str]:
    """Every module a source file imports (top level or inside functions)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            found.add(node.module)
    return found


@pytest.mark.parametrize(("files", "forbidden"), [
    (["modeling"], ("icipredict.evaluation", "icipredict.training", "icipredict.registry",
                    "icipredict.tracking", "icipredict.predict", "mlflow")),
    (["evaluation"], ("icipredict.training", "icipredict.registry", "icipredict.tracking",
                      "icipredict.predict", "mlflow")),
    (["training"], ("icipredict.registry", "icipredict.tracking", "icipredict.predict",
                    "icipredict.federated", "icipredict.cli", "icipredict.demo", "mlflow")),
])
def test_stages_import_only_from_their_left(files, forbidden):
    """cohort -> features -> modeling -> evaluation -> training -> tracking -> predict."""
    bad = []
    for folder in files:
        for path in sorted((PACKAGE / folder).rglob("*.py")):
            bad += [f"{path.relative_to(PACKAGE)}: {m}" for m in sorted(_imports(path))
                    if m.split(".")[0] == "mlflow" and "mlflow" in forbidden
                    or any(m == f or m.startswith(f + ".") for f in forbidden)]
    assert bad == []
