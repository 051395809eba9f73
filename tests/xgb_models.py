"""Test helpers for the tree kernels (numpy walker, compiled C): small XGBoost models, rows that
probe their thresholds, XGBoost's own margins, and a calibrated registry bundle."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import xgboost as xgb

from icipredict.modeling.response import CalibratedResponse, XGBResponse
from icipredict.tracking import pyfunc
from icipredict.tracking.xgb_trees import TreeEnsemble


def data(n: int = 400, p: int = 6, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """float32 features with ties and 15% NaN, and a 0/1 outcome depending on three of them."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, p)).astype(np.float32)
    X[:, 1] = np.round(X[:, 1])  # ties: many rows exactly at a threshold candidate
    y = (rng.random(n) < 1 / (1 + np.exp(-(X[:, 0] - X[:, 1] + 0.5 * X[:, 2])))).astype(int)
    X[rng.random(X.shape) < 0.15] = np.nan
    return X, y


def booster(X: np.ndarray, y: np.ndarray, **params) -> xgb.Booster:
    """A small seeded booster (``rounds`` trees, default 15; other keys are XGBoost params)."""
    params = {"objective": "binary:logistic", "max_depth": 3, "eta": 0.3, "nthread": 1,
              "seed": 0, **params}
    rounds = params.pop("rounds", 15)
    return xgb.train(params, xgb.DMatrix(X, y, missing=np.nan), rounds)


def probe_rows(ensemble: TreeEnsemble, X: np.ndarray, seed: int, *, n_extra: int = 200,
               n_probe: int = 300) -> np.ndarray:
    """Training-like rows with extra NaNs plus rows at, just below and just above thresholds."""
    rng = np.random.default_rng(seed)
    extra = X[rng.integers(len(X), size=n_extra)].copy()
    extra[rng.random(extra.shape) < 0.2] = np.nan
    return np.concatenate([extra, ensemble.probe(n_probe, seed=seed + 1)])


def xgb_margins(boosters: list[xgb.Booster], Z: np.ndarray) -> np.ndarray:
    """XGBoost's own margins, ``(boosters, rows)``, as float64."""
    return np.stack([b.inplace_predict(Z, predict_type="margin", missing=np.nan)
                     for b in boosters]).astype(np.float64)


def patients(n: int, seed: int) -> pd.DataFrame:
    """Made-up patients (age, albumin with gaps, log-scale TMB) in the model-input layout."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({"age": rng.normal(62, 10, n), "albumin": rng.normal(3.8, 0.5, n),
                          "tmb": rng.normal(1.5, 1, n), "cancer_type": "NSCLC"})
    frame.loc[frame.index[::7], "albumin"] = np.nan
    return frame


def calibrated_bundle(folder: Path) -> Path:
    """A registry bundle of a 3-fold Platt-calibrated XGBoost with 3 bootstrap refits."""
    from icipredict.features.builder import FeatureBuilder

    frame = patients(240, 0)
    rng = np.random.default_rng(1)
    y = (rng.random(len(frame)) < 1 / (1 + np.exp(-(frame["tmb"] - 1.5)))).astype(int)
    builder = FeatureBuilder({"name": "sim", "modalities": ["clinical", "genomic"],
                              "clinical": ["age", "albumin"], "genomic": ["tmb"],
                              "cancer_type": "none"}).fit(frame)
    X = builder.transform(frame)
    response = CalibratedResponse(XGBResponse(n_estimators=25, max_depth=3, n_jobs=1),
                                  methods=("sigmoid",), cv=3)
    model = response.fit(X, y)
    refits = pyfunc.bootstrap_refits(response, X, y, n_refits=3, seed=0, strata=y)
    pyfunc.write_bundle(folder, builder=builder, response_model=model, survival_models={},
                        training_frame=frame, response_refits=refits, survival_refits={})
    return folder
