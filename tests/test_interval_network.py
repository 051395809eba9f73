"""The 95% response interval on a small synthetic network, against the generator's truth.

Trained as the pipeline trains it (5-fold held-out probabilities -> Venn table; final model on
all training patients), scored on other patients of the same network. The interval promises
the response rate of patients scored alike: measured as the mean true probability
(``truth.parquet``: ``p_response``) of the test patients nearest in score, it must be covered
for >= 90% of test patients (0.96-0.98 in ``benchmarks/interval_coverage.py``). The patients'
own probabilities are covered far less often (latent factors no input measures; see
``docs/registry_model.md``): that is reported by the benchmark, not asserted here.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def network(tmp_path_factory) -> pd.DataFrame:
    from icipredict.cohort.loaders import load_source
    from icipredict.features.builder import patient_frame
    from icipredict.synthetic import generate_network

    out = tmp_path_factory.mktemp("net")
    generate_network(out, n_patients=2500, seed=3)
    centres = yaml.safe_load((out / "network.yaml").read_text())["centres"]
    df = pd.concat([patient_frame(load_source(out / c["source"], centre=c["name"]),
                                  include_outcomes=True) for c in centres])
    truth = pd.read_parquet(out / "truth.parquet").set_index(["centre", "source_patient_id"])
    df["p_response"] = truth.loc[pd.MultiIndex.from_arrays([df["centre"], df.index]),
                                 "p_response"].to_numpy()
    return df[df["responder"].notna()]


def test_interval_covers_the_rate_of_patients_scored_alike(network):
    from icipredict.evaluation.uncertainty import response_interval
    from icipredict.evaluation.validation import StratifiedKFoldCV, cross_validate_predictions
    from icipredict.features.spec import read_spec
    from icipredict.modeling.experiment import ExperimentModels, response_strata
    from icipredict.modeling.spec import load_spec
    from icipredict.training.pipeline import interval_inputs, pooled_predictions

    est = ExperimentModels(read_spec(ROOT / "models/features/full.yaml"),
                           load_spec(ROOT / "experiments/demo/response_xgb_small.yaml"), None,
                           ["response"])
    coverage, width = [], []
    for seed in (0, 1, 2):  # one training set's test patients share its bins: average a few
        order = np.random.default_rng(seed).permutation(len(network))
        train, test = network.iloc[order[:1000]], network.iloc[order[1000:]]
        long = cross_validate_predictions(est, train, response_strata(train),
                                          StratifiedKFoldCV(5, random_state=0),
                                          method="predict")
        oof = pooled_predictions(long, train, "kfold")
        table = interval_inputs(train.loc[oof.index], oof)
        final = est.fit(train)
        p = final.response_.predict_proba(final.builder_.transform(test))[:, 1]
        low, high = response_interval(p, table)
        rate = _rate_alike(p, test["p_response"].to_numpy(), 150)
        coverage.append(np.mean((low <= rate) & (rate <= high)))
        width.append(np.mean(high - low))
    # measured 0.88, 0.95, 0.995 (a training set whose bins miss, as 5% of bins may, costs
    # that set ~5% per bin); plain Venn-Abers [p0, p1] covers ~0.1 of these rates
    assert np.mean(coverage) >= 0.9, coverage
    assert np.mean(width) < 0.35, width


def _rate_alike(p: np.ndarray, truth: np.ndarray, k: int) -> np.ndarray:
    """Mean true probability of the ``k`` test patients nearest in score to each patient."""
    order = np.argsort(p, kind="stable")
    rank = np.argsort(order, kind="stable")
    start = np.clip(rank - k // 2, 0, len(p) - k)
    csum = np.concatenate([[0.0], np.cumsum(truth[order])])
    return (csum[start + k] - csum[start]) / k
