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


@pytest.mark.slow
def test_split_column_intervals_and_risk_groups_never_see_a_test_row(chowell_dir, monkeypatch,
                                                                     tmp_path):
    """Issue 12: under ``split_column`` the Venn table behind the deployed response intervals
    (and the risk cut-points) came from the *test* predictions. They now come from inner
    out-of-fold predictions of the training rows only."""
    import numpy as np

    from icipredict.modeling.experiment import responder_target
    from icipredict.training import pipeline
    from icipredict.training.config import load_experiment

    seen: dict[str, object] = {}
    real_intervals, real_groups = pipeline.interval_inputs, pipeline.risk_group_cutpoints

    def spy_intervals(held, oof):
        seen["interval_rows"] = list(held.index)
        seen["interval_probs"] = oof["prob"].to_numpy()
        return real_intervals(held, oof)

    def spy_groups(fit_oof, final):
        seen["risk_rows"] = list(fit_oof.index)
        return real_groups(fit_oof, final)

    real_survival = pipeline.survival_interval_inputs

    def spy_survival(held, oof, horizons):
        seen["survival_rows"] = list(held.index)
        return real_survival(held, oof, horizons)

    monkeypatch.setattr(pipeline, "interval_inputs", spy_intervals)
    monkeypatch.setattr(pipeline, "survival_interval_inputs", spy_survival)
    monkeypatch.setattr(pipeline, "risk_group_cutpoints", spy_groups)
    # loris_reproduction's split, features and LLR6, with a Cox model without its grid search
    root = PACKAGE.parents[1]
    (tmp_path / "cox.yaml").write_text("name: cox\ntask: survival\nestimator: CoxPHSurvival\n"
                                       "params: {penalizer: 0.1}\n")
    cohorts = root / "experiments" / "cohorts"
    (tmp_path / "exp.yaml").write_text(
        "name: split_test\ncohort:\n  files:\n"
        f"    - {{column_map: {cohorts / 'loris_year_split_train.yaml'}, split: train}}\n"
        f"    - {{column_map: {cohorts / 'loris_year_split_test.yaml'}, split: test}}\n"
        f"features: {root / 'models' / 'features' / 'loris.yaml'}\n"
        f"models: [{root / 'models' / 'llr6.yaml'}, cox.yaml]\ntargets: [response, os]\n"
        "validation: {scheme: split_column, column: split, test_value: test}\n"
        "n_bootstrap: 0\n")
    trained = pipeline.fit_experiment(load_experiment(tmp_path / "exp.yaml"), cache_dir=tmp_path)

    test_ids = set(trained.frame.index[trained.frame["split"] == "test"])
    train_ids = set(trained.fit_frame.index)
    assert len(test_ids) == 515 and len(train_ids) == 964
    assert set(trained.oof.index) == test_ids  # the validation's held-out rows are the test
    assert set(seen["interval_rows"]) == train_ids and not test_ids & set(seen["interval_rows"])
    assert set(seen["risk_rows"]) == train_ids
    assert set(seen["survival_rows"]) == train_ids  # the survival bands: training rows only
    os_table = trained.survival_uncertainty["os"]
    assert set(trained.survival_uncertainty) == {"os"}
    assert os_table["n"] == int(trained.fit_frame["os_months"].notna().sum())
    assert os_table["horizons"] == trained.config.horizons
    ok, _ = responder_target(trained.fit_frame)
    assert trained.response_uncertainty["n"] == int(ok.sum())
    # out-of-fold, not the final model's in-sample probabilities
    in_sample = trained.final.predict(trained.fit_frame.loc[seen["interval_rows"]])["prob"]
    assert not np.allclose(in_sample.to_numpy(), seen["interval_probs"])
    groups = trained.risk_groups
    assert groups["endpoint"] == "os" and len(groups["cut_points"]) == 2
    assert groups["source"] == "out-of-fold risk scores of the training patients"
