"""Training gives the same numbers in every process, whatever the hash seed and pseudonym key.

The same synthetic network is ingested into two stores under two different pseudonymisation keys
(each installation makes its own key; the README tour makes a fresh one in every folder). One
small experiment is trained on each store in its own interpreter with its own ``PYTHONHASHSEED``:
a seeded, row- and column-subsampled XGBoost response model, a ridge Cox model, an L1 saga
logistic comparator, shuffled stratified k-fold and bootstrap CIs, so every draw by row position
or column order is exercised. Out-of-fold predictions, metrics and the final models' predictions
must be equal, patient for patient (matched through the source IDs of the synthetic truth).

Before the training frame had a key-independent row order (the store returns patients in
pseudonym order) the two runs put patients in other k-fold folds and differed by up to 0.13 in an
out-of-fold response probability.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

KEYS = {
    "a": "determinism-test-key-A-0123456789abcdef",
    "b": "determinism-test-key-B-fedcba9876543210",
}
HASH_SEEDS = {"a": "1", "b": "2"}

#: Run in a fresh interpreter: train, then write predictions and metrics as JSON.
FIT = """
import json, sys
from icipredict.training.pipeline import fit_experiment

trained = fit_experiment(sys.argv[1])
final = trained.final.predict(trained.fit_frame)
out = {"oof_index": [str(i) for i in trained.oof.index],
       "oof": trained.oof.to_dict(orient="list"),
       "final_index": [str(i) for i in final.index],
       "final": final.to_dict(orient="list"),
       "features": list(trained.final.builder_.transform(trained.fit_frame).columns),
       "metrics": trained.metrics}
with open(sys.argv[2], "w") as fh:
    json.dump(out, fh)
"""


@pytest.fixture(scope="module")
def network(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """A 240-patient synthetic network in two stores, one per key, and an experiment on each."""
    from icipredict import synthetic
    from icipredict.cohort.loaders import load_source
    from icipredict.cohort.store import CohortStore, source_content_hash

    root = tmp_path_factory.mktemp("determinism")
    net = synthetic.generate_network(root / "net", n_patients=240, seed=11)
    (root / "features.yaml").write_text(
        "name: det\nmodalities: [clinical, genomic]\n"
        "clinical: [age, sex, ecog, nlr, albumin, ldh, prior_systemic_therapy, drug_class]\n"
        "genomic: [tmb, msi_high, fcna]\ngenes: [STK11, KEAP1, PTEN]\n"
        "cancer_type: onehot\nimputation: median\nmissing_indicators: true\n"
    )
    (root / "xgb.yaml").write_text(
        "name: xgb\ntask: response\nestimator: XGBResponse\ncalibrate: false\n"
        "params: {n_estimators: 40, max_depth: 2, subsample: 0.8, colsample_bytree: 0.8,\n"
        "         random_state: 0, n_jobs: 1}\n"
    )
    (root / "cox.yaml").write_text(
        "name: cox\ntask: survival\nestimator: CoxPHSurvival\nparams: {penalizer: 0.1}\n"
    )
    (root / "lr.yaml").write_text(
        "name: lr\ntask: response\nestimator: LorisLLR6\nparams: {C: 0.1}\n"
    )
    sources = {
        centre: (load_source(path, centre=centre), source_content_hash(path), str(path))
        for centre, path in net.sources.items()
    }
    configs = {}
    for name, key in KEYS.items():
        store = CohortStore(root / f"{name}.duckdb")
        for centre, (cohort, digest, path) in sources.items():
            store.ingest(cohort, centre=centre, content_hash=digest, source=path, key=key.encode())
        configs[name] = root / f"exp_{name}.yaml"
        configs[name].write_text(
            f"name: det\ncohort:\n  store: {{path: {root / f'{name}.duckdb'}}}\n"
            "features: features.yaml\nmodels: [xgb.yaml, cox.yaml, lr.yaml]\n"
            "validation: {scheme: kfold, n_splits: 3, seed: 0}\nn_bootstrap: 50\n"
        )
    truth = pd.read_parquet(root / "net" / "truth.parquet")
    return {"root": root, "configs": configs, "truth": truth}


def _source_ids(truth: pd.DataFrame, key: str) -> dict[str, str]:
    """Pseudonym under ``key`` -> ``centre/source ID`` of every synthetic patient."""
    from icipredict.cohort.pseudonym import pseudonym

    return {
        pseudonym(s, centre=c, key=key.encode()): f"{c}/{s}"
        for c, s in zip(truth["centre"], truth["source_patient_id"], strict=True)
    }


def _train(network: dict, name: str) -> dict:
    script, out = network["root"] / "fit.py", network["root"] / f"fit_{name}.json"
    script.write_text(FIT)
    env = dict(os.environ, PYTHONHASHSEED=HASH_SEEDS[name], ICIPREDICT_PSEUDONYM_KEY=KEYS[name])
    proc = subprocess.run(
        [sys.executable, str(script), str(network["configs"][name]), str(out)],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    got = json.loads(Path(out).read_text())
    ids = _source_ids(network["truth"], KEYS[name])
    for part in ("oof", "final"):
        got[part] = pd.DataFrame(got[part], index=[ids[i] for i in got[f"{part}_index"]])
    return got


def _same(x: float, y: float) -> bool:
    return (math.isnan(x) and math.isnan(y)) or abs(x - y) <= 1e-12


def test_training_is_identical_across_processes_hash_seeds_and_keys(network):
    a, b = _train(network, "a"), _train(network, "b")
    assert a["features"] == b["features"]
    for part in ("oof", "final"):
        assert sorted(a[part].index) == sorted(b[part].index), part
        assert list(a[part].columns) == list(b[part].columns), part
        assert {"prob", "risk_os", "risk_pfs"} <= set(a[part].columns)
        # the same prediction for each patient ...
        diff = (a[part] - b[part].loc[a[part].index]).abs().max()
        assert (diff <= 1e-12).all(), f"{part}: {diff.to_dict()}"
        # ... and the patients in the same order, the order every positional draw sees
        assert list(a[part].index) == list(b[part].index), part
    assert "prob_lr" in a["oof"]  # the comparator: validated, not refitted
    assert set(a["metrics"]) == set(b["metrics"])
    assert "cv_response_auc_ci_low" in a["metrics"]
    differ = {
        k: (a["metrics"][k], b["metrics"][k])
        for k in a["metrics"]
        if not _same(a["metrics"][k], b["metrics"][k])
    }
    assert differ == {}


def test_stable_patient_order_ignores_input_order_pseudonyms_and_experiment_columns():
    """The same patients under other pseudonyms, in another order, come out in one order; so do
    they with other radiomics or gene-flag columns."""
    import numpy as np

    from icipredict.features.row_order import stable_patient_order

    rng = np.random.default_rng(0)
    n = 40
    values = pd.DataFrame(
        {
            "centre": rng.choice(["b", "a", "c"], n),
            "age": rng.normal(60, 10, n).round(1),
            "tmb": np.where(rng.random(n) < 0.2, np.nan, rng.gamma(2, 5, n)),
            "cancer_type": rng.choice(["NSCLC", "MEL", None], n),
            "sample_id": [f"S-{k:03d}" for k in range(n)],
        }
    )
    one = values.set_axis(pd.Index([f"P-a{k:03d}" for k in range(n)], name="patient_id"))
    perm = rng.permutation(n)
    other = values.iloc[perm].assign(sample_id=[f"S-z{k}" for k in range(n)])
    other.index = pd.Index([f"P-b{k:03d}" for k in perm], name="patient_id")
    a, b = stable_patient_order(one), stable_patient_order(other)
    # the same patients (by their values) in the same order, their own IDs kept
    assert [i[3:] for i in a.index] == [i[3:] for i in b.index]
    cols = ["centre", "age", "tmb", "cancer_type"]
    pd.testing.assert_frame_equal(a[cols].reset_index(drop=True), b[cols].reset_index(drop=True))
    assert list(a["centre"]) == sorted(a["centre"])  # grouped by centre, as the store gives them
    # other radiomics settings or gene flags (experiment choices) leave the order as it is
    varied = one.assign(radiomics_x=rng.normal(size=n), mut_TP53=rng.integers(0, 2, n))
    assert list(stable_patient_order(varied).index) == list(a.index)
    # not simply sorted by a feature (the hash order is unrelated to the values)
    assert list(a["age"]) != sorted(a["age"]) and list(a["age"]) != sorted(a["age"], reverse=True)
