"""The registry model: one ``mlflow.pyfunc`` model that scores patients for the tumour board.

It bundles the fitted :class:`~icipredict.features.builder.FeatureBuilder` state (JSON), the
response model and the OS/PFS survival models, stored in native formats wherever the library
allows (no pickle):

- XGBoost response models (plain or inside :class:`~icipredict.modeling.response.CalibratedResponse`)
  as XGBoost JSON boosters, their Platt/isotonic calibration maps as JSON numbers;
- logistic models (:class:`~icipredict.modeling.baselines.LorisLLR6`, scikit-learn
  ``LogisticRegression`` alone or in a pipeline with ``SimpleImputer``/``StandardScaler``, plain
  or calibrated) as caps, imputation values, scaler and coefficients in JSON (:func:`linear_state`);
- Cox PH survival models (lifelines) as coefficients, centring means, imputation medians and the
  baseline cumulative hazard in JSON;
- any other estimator is pickled (``pickle``) and listed in ``manifest.json["what_is_pickled"]``.

The model is logged as *models-from-code* (:data:`ENTRY_CODE`), so the pyfunc wrapper itself is
not pickled either. See ``docs/registry_model.md`` for the input schema and output columns.

Per-patient 95% intervals
-------------------------
*Model refits* (:func:`bootstrap_refits`): the response and Cox models are refitted (same
hyperparameters, feature builder unchanged) on ``R`` bootstrap resamples of the *training*
patients and saved natively next to the point model (``response/bootstrap/refit_<r>``,
``os/bootstrap/refit_<r>``). A patient's spread is the variance over the refits of their logit
``logit(p_r)`` (response) or complementary log-log ``log H0_r(t) + lp_r`` (survival at ``t``).

*Recalibration* (:func:`calibration_uncertainty`, response only): from the out-of-fold
predictions, a logistic recalibration ``logit P(y=1) = a + b * logit(p)`` is refitted on
bootstrap resamples; the covariance ``V`` of ``(a, b)`` gives ``v(s) = V_aa + 2 s V_ab +
s^2 V_bb`` at ``s = logit(p)``.

The response interval is ``expit(s +- 1.96 sqrt(var_refits + v(s)))``; the survival interval is
``exp(-exp(c +- 1.96 sd_refits))`` with ``c`` the point model's cloglog. Both are centred on the
point estimate (so they contain it) and computed with vectorised numpy (refit Cox models as one
matrix product). Without refits (``R = 0``, older bundles) the response interval is the
recalibration one alone and the survival intervals are null.
"""

from __future__ import annotations

import json
import logging
import math
import os
import pickle
import shutil
import tempfile
from concurrent.futures import ThreadPoolExecutor
from importlib import metadata
from pathlib import Path
from typing import Any

import mlflow.pyfunc
import numpy as np
import pandas as pd
from scipy.special import expit, logit

from icipredict.cohort.schema import CohortError
from icipredict.features.builder import RADIOMICS_PREFIX, FeatureBuilder
from icipredict.features.clinical import BINARY, NUMERIC
from icipredict.features.genomic import gene_column
from icipredict.tracking.xgb_trees import TreeEnsemble

logger = logging.getLogger(__name__)

#: Layout version of the saved registry model.
MODEL_FORMAT = 1
DEFAULT_HORIZONS = (6.0, 12.0, 24.0)
#: Columns every input must have (the others may be absent or missing).
ALWAYS_REQUIRED = ("cancer_type",)
#: String input columns (everything else is numeric in canonical units).
STRING_COLUMNS = ("cancer_type", "sex", "drug_class", "msi_status")
Z95 = 1.959963984540054
#: Batches from this many rows use two XGBoost threads (fewer: one, see ResponseScorer).
PARALLEL_ROWS = 20_000
#: Batches up to this many rows are predicted from one shared XGBoost DMatrix (see _proba).
DMATRIX_ROWS = 512
#: Large batches are scored in blocks of this many rows (each row's numbers depend on that row
#: only): block-sized temporaries stay in cache and are reused, where full-batch ones cost more
#: in page faults than the arithmetic.
CHUNK_ROWS = 16_384
#: At most this many threads score the blocks of one batch (one per available core).
MAX_THREADS = 8

ENTRY_CODE = """\
# Models-from-code entry of the icipredict registry model (nothing here is pickled).
import mlflow

from icipredict.tracking.pyfunc import ICIPredictModel

mlflow.models.set_model(ICIPredictModel())
"""


REFIT_FOLDER = "bootstrap"


# ------------------------------------------------------------------------------ input schema
def input_columns(builder: FeatureBuilder) -> list[dict[str, Any]]:
    """Canonical input columns the fitted builder reads: name, type, required, description.

    Parameters
    ----------
    builder
        The fitted feature builder.

    Returns
    -------
    list of dict
        ``{"name", "type" ("string"/"double"), "required", "modality"}`` in a stable order.
    """
    spec = builder.spec_
    cols: list[tuple[str, str]] = [("cancer_type", "clinical")]
    if "clinical" in spec.modalities:
        for name in spec.clinical:
            if name == "nlr":
                cols += [("nlr", "clinical"), ("neutrophils", "clinical"),
                         ("lymphocytes", "clinical")]
            elif name == "drug_combination":  # derived from the drug class, not an input
                cols.append(("drug_class", "clinical"))
            elif name in NUMERIC or name in BINARY or name == "drug_class":
                cols.append((name, "clinical"))
    if "genomic" in spec.modalities:
        for name in spec.genomic:
            cols.append(("msi_status" if name == "msi_high" else name, "genomic"))
        cols += [(gene_column(g), "genomic") for g in spec.genes]
    if "imaging" in spec.modalities:
        cols += [(c, "imaging") for c in builder.imaging_columns_]
    seen: set[str] = set()
    out = []
    for name, modality in cols:
        if name in seen:
            continue
        seen.add(name)
        out.append({"name": name, "type": "string" if name in STRING_COLUMNS else "double",
                    "required": name in ALWAYS_REQUIRED, "modality": modality})
    return out


def mlflow_signature(columns: list[dict[str, Any]], horizons=DEFAULT_HORIZONS):
    """MLflow signature: required/optional input columns, output columns and params.

    Numeric inputs are declared ``any`` (checked and converted by the model) so integer values
    such as ``age=61`` are accepted; MLflow refuses int64 for a ``double`` column.
    """
    from mlflow.models import ModelSignature
    from mlflow.types import ColSpec, ParamSchema, ParamSpec, Schema
    from mlflow.types.schema import AnyType

    inputs = Schema([
        ColSpec("string" if c["type"] == "string" else AnyType(), c["name"],
                required=c["required"]) for c in columns
    ])
    outputs = Schema([ColSpec("double", c) for c in output_columns(horizons)
                      if c != "missing_modalities"] + [ColSpec("string", "missing_modalities")])
    params = ParamSchema([
        ParamSpec("horizons", "double", [float(h) for h in horizons], shape=(-1,)),
        ParamSpec("explain", "boolean", False),
        ParamSpec("intervals", "boolean", True),
    ])
    return ModelSignature(inputs=inputs, outputs=outputs, params=params)


def horizon_label(h: float) -> str:
    """``12.0 -> "12"``, ``6.5 -> "6.5"`` (used in ``os_survival_<h>m``)."""
    return f"{float(h):g}"


def output_columns(horizons=DEFAULT_HORIZONS) -> list[str]:
    """The documented output columns for these horizons (without ``contrib_*``)."""
    hs = [horizon_label(h) for h in horizons]
    return (["response_probability", "response_ci_low", "response_ci_high", "risk_score"]
            + [f"os_survival_{h}m" for h in hs] + [f"pfs_survival_{h}m" for h in hs]
            + ["median_os_months", "median_pfs_months"]
            + [f"{end}_survival_{h}m_ci_{side}" for end in ("os", "pfs") for h in hs
               for side in ("low", "high")]
            + ["missing_modalities"])


# ------------------------------------------------------------------------------ codecs: response
def _save_booster(booster, path: Path) -> None:
    booster.save_model(str(path))


def export_response(model: Any, folder: Path) -> dict[str, Any]:
    """Save a fitted response model natively when possible; return its manifest entry."""
    from icipredict.modeling.response import CalibratedResponse, XGBResponse

    folder.mkdir(parents=True, exist_ok=True)
    if isinstance(model, XGBResponse):
        _save_booster(model.model_.get_booster(), folder / "booster_0.json")
        return {"kind": "xgb", "features": list(model.features_used_),
                "boosters": ["booster_0.json"], "calibrators": [None]}
    if isinstance(model, CalibratedResponse) and isinstance(model.estimator, XGBResponse):
        boosters, calibrators = [], []
        for k, cc in enumerate(model.model_.calibrated_classifiers_):
            name = f"booster_{k}.json"
            _save_booster(cc.estimator.model_.get_booster(), folder / name)
            boosters.append(name)
            calibrators.append(_calibrator(cc))
        features = list(model.model_.calibrated_classifiers_[0].estimator.features_used_)
        return {"kind": "xgb_calibrated", "features": features, "boosters": boosters,
                "calibrators": calibrators}
    linear = linear_state(model)
    if linear is not None:
        (folder / "linear_0.json").write_text(json.dumps(linear, allow_nan=False))
        return {"kind": "linear", "features": linear["features"], "linear": ["linear_0.json"],
                "calibrators": [None]}
    if isinstance(model, CalibratedResponse):
        members = model.model_.calibrated_classifiers_
        states = [linear_state(cc.estimator) for cc in members]
        if all(st is not None for st in states):
            names = []
            for k, st in enumerate(states):
                names.append(f"linear_{k}.json")
                (folder / names[-1]).write_text(json.dumps(st, allow_nan=False))
            return {"kind": "linear_calibrated", "features": states[0]["features"],
                    "linear": names, "calibrators": [_calibrator(cc) for cc in members]}
    (folder / "model.pkl").write_bytes(pickle.dumps(model, protocol=5))
    return {"kind": "pickle", "file": "model.pkl", "class": type(model).__name__}


def _calibrator(cc: Any) -> dict[str, Any]:
    """One sklearn calibration map (Platt or isotonic) as JSON numbers."""
    cal = cc.calibrators[0]
    if cc.method == "sigmoid":
        return {"method": "sigmoid", "a": float(cal.a_), "b": float(cal.b_)}
    return {"method": "isotonic", "x": [float(v) for v in cal.X_thresholds_],
            "y": [float(v) for v in cal.y_thresholds_]}


def _floats(values: Any) -> list[float]:
    return [float(v) for v in np.asarray(values, dtype=float).ravel()]


def linear_state(model: Any) -> dict[str, Any] | None:
    """A binary logistic model as plain numbers, or None when it is not one we can write.

    Handles :class:`~icipredict.modeling.baselines.LorisLLR6` (caps -> median imputation ->
    standard scaling -> logistic regression), a fitted
    :class:`~sklearn.linear_model.LogisticRegression` and a
    :class:`~sklearn.pipeline.Pipeline` of optional ``SimpleImputer`` / ``StandardScaler`` steps
    ending in one. The model must know its input column names (fitted on a DataFrame).

    Returns
    -------
    dict or None
        ``{"features", "caps" (upper caps by feature or null), "impute" (or null), "mean",
        "scale", "coef", "intercept"}``: ``logit p = ((clip(x) -> impute) - mean) / scale . coef
        + intercept``.
    """
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    from icipredict.modeling.baselines import LORIS_CAPS, LorisLLR6

    if isinstance(model, LorisLLR6):
        features = list(model.features_used_)
        caps_src = LORIS_CAPS if model.caps is None else model.caps
        caps = [float(caps_src[f]) if f in caps_src else None for f in features]
        steps: list[Any] = [model.imputer_, model.scaler_]
        lr = model.model_
    elif isinstance(model, Pipeline):
        *steps, lr = [step for _, step in model.steps if step not in (None, "passthrough")]
        names = getattr(model, "feature_names_in_", None)
        features = None if names is None else [str(n) for n in names]
        caps = None
    elif isinstance(model, LogisticRegression):
        steps, lr = [], model
        names = getattr(model, "feature_names_in_", None)
        features = None if names is None else [str(n) for n in names]
        caps = None
    else:
        return None
    if (features is None or not isinstance(lr, LogisticRegression) or len(lr.classes_) != 2
            or lr.coef_.shape != (1, len(features))):
        return None
    n = len(features)
    state: dict[str, Any] = {"features": features, "caps": caps, "impute": None,
                             "mean": [0.0] * n, "scale": [1.0] * n}
    for step in steps:
        if isinstance(step, SimpleImputer) and state["impute"] is None and state["mean"] == \
                [0.0] * n and step.statistics_.shape == (n,):
            if step.add_indicator or step.strategy not in ("median", "mean", "constant",
                                                             "most_frequent"):
                return None
            stats = np.asarray(step.statistics_, dtype=float)
            state["impute"] = _floats(np.where(np.isnan(stats), 0.0, stats))
        elif isinstance(step, StandardScaler) and state["scale"] == [1.0] * n:
            if step.mean_ is not None and step.with_mean:
                state["mean"] = _floats(step.mean_)
            if step.scale_ is not None and step.with_std:
                state["scale"] = _floats(step.scale_)
        else:
            return None
    state["coef"] = _floats(lr.coef_[0])
    state["intercept"] = float(lr.intercept_[0])
    return state


class LinearLogit:
    """The log-odds of a :func:`linear_state` model, in plain numpy."""

    def __init__(self, state: dict[str, Any]) -> None:
        n = len(state["features"])
        caps = state.get("caps") or [None] * n
        self.caps = np.array([np.inf if c is None else c for c in caps], dtype=float)
        impute = state.get("impute")
        self.impute = None if impute is None else np.asarray(impute, dtype=float)
        self.mean = np.asarray(state["mean"], dtype=float)
        self.scale = np.asarray(state["scale"], dtype=float)
        self.coef = np.asarray(state["coef"], dtype=float)
        self.intercept = float(state["intercept"])

    def standardised(self, Z: np.ndarray) -> np.ndarray:
        """Capped, imputed, scaled values (the scikit-learn steps, in their order)."""
        Z = np.minimum(Z, self.caps)  # NaN stays NaN (then imputed), as pandas clip does
        if self.impute is not None:
            Z = np.where(np.isnan(Z), self.impute, Z)
        Z = Z - self.mean
        Z /= self.scale
        return Z

    def margin(self, Z: np.ndarray) -> np.ndarray:
        """``decision_function``: standardised values . coef + intercept."""
        return self.standardised(Z) @ self.coef + self.intercept

    def contributions(self, Z: np.ndarray) -> np.ndarray:
        """coefficient x standardised value per feature (the intercept left out)."""
        return self.standardised(Z) * self.coef


class ResponseScorer:
    """Response probabilities and contributions from a saved response model."""

    def __init__(self, folder: Path, entry: dict[str, Any]) -> None:
        self.entry = entry
        self.kind = entry["kind"]
        if self.kind == "pickle":
            self.model = pickle.loads((folder / entry["file"]).read_bytes())  # noqa: S301
            return
        self.features = entry["features"]
        self.calibrators = entry["calibrators"]
        # All-Platt calibration (the usual case) as one expit over a (folds, rows) block.
        self._platt = (
            (np.array([[c["a"]] for c in self.calibrators], dtype=float),
             np.array([[c["b"]] for c in self.calibrators], dtype=float))
            if self.calibrators and all(c is not None and c["method"] == "sigmoid"
                                        for c in self.calibrators)
            else None)
        if self.kind in ("linear", "linear_calibrated"):
            self.linear = [LinearLogit(json.loads((folder / name).read_text()))
                           for name in entry["linear"]]
            return
        import xgboost as xgb

        # One thread for small batches: a 2-thread OpenMP call costs milliseconds of start-up
        # on a busy 2-core machine (x 20 refits x folds per patient); two for large batches.
        self.boosters = []
        for name in entry["boosters"]:
            b = xgb.Booster()
            b.load_model(str(folder / name))
            b.set_param({"nthread": 1})
            self.boosters.append(b)
        self._parallel: list[Any] | None = None
        # Batches of up to DMATRIX_ROWS rows walk the trees in numpy: one XGBoost predict call
        # per booster costs ~90 us of Python set-up, which dominates a one-patient board score
        # (~100 boosters with the refits). None (XGBoost scores) when the self-check declines.
        models = ([(folder / name).read_bytes() for name in entry["boosters"]]
                  if all(name.endswith(".json") for name in entry["boosters"]) else None)
        self.trees = TreeEnsemble.from_boosters(self.boosters, models)
        # Batches of more than DMATRIX_ROWS rows: the same trees compiled to C (built, or taken
        # from the per-user cache, on the first such batch; None: XGBoost's inplace_predict).
        from icipredict.tracking.xgb_compiled import CompiledTrees

        self.compiled = (CompiledTrees(self.trees, self.boosters)
                         if self.trees is not None else None)

    def _boosters_for(self, n: int) -> list[Any]:
        if n < PARALLEL_ROWS:
            return self.boosters
        if self._parallel is None:
            self._parallel = [b.copy() for b in self.boosters]
            for b in self._parallel:
                b.set_param({"nthread": 2})
        return self._parallel

    def _matrix(self, X: pd.DataFrame) -> np.ndarray:
        return X.reindex(columns=self.features).to_numpy(dtype=np.float32)

    def proba(self, X: pd.DataFrame) -> np.ndarray:
        """P(responder) per row."""
        if self.kind == "pickle":
            return np.asarray(self.model.predict_proba(X))[:, 1].astype(float)
        dtype = float if self.kind in ("linear", "linear_calibrated") else np.float32
        return self.proba_matrix(X.reindex(columns=self.features).to_numpy(dtype=dtype))

    def proba_matrix(self, Z: np.ndarray, dmatrix: Any = None, n_total: int | None = None
                     ) -> np.ndarray:
        """P(responder) from a matrix whose columns are :attr:`features` (not for pickles).

        ``dmatrix``, an ``xgboost.DMatrix`` of ``Z``, may be given for XGBoost models: for a
        few rows, predicting from one shared DMatrix is cheaper than ``inplace_predict``'s
        per-call set-up (same margins). Both are skipped for up to :data:`DMATRIX_ROWS` rows
        when the trees are walked in numpy (:attr:`trees`, the same margins again), and for
        larger batches when they are compiled (:attr:`compiled`, the same margins again).
        ``n_total``: the size of the whole batch when ``Z`` is one block of it (chooses the
        XGBoost thread count, see :data:`PARALLEL_ROWS`).
        """
        if self.kind in ("linear", "linear_calibrated"):
            margins = [m.margin(Z) for m in self.linear]
        elif self.trees is not None and len(Z) <= DMATRIX_ROWS:
            margins = self.trees.margins(Z)  # XGBoost's margins, without its calls
        elif (len(Z) > DMATRIX_ROWS and self.compiled is not None
              and self.compiled.ready()):
            margins = self.compiled.margins(Z)  # XGBoost's margins again, ~2x faster
        elif dmatrix is not None:
            margins = [np.asarray(b.predict(dmatrix, output_margin=True, validate_features=False),
                                  dtype=float).ravel() for b in self.boosters]
        else:
            margins = [np.asarray(b.inplace_predict(Z, predict_type="margin", missing=np.nan),
                                  dtype=float).ravel() for b in self._boosters_for(n_total or len(Z))]
        out = np.zeros(len(Z))
        if self._platt is not None:
            a, b = self._platt
            # Summed fold by fold, in order: the same numbers as the general loop below.
            for probability in expit(-(a * np.asarray(margins) + b)):
                out += probability
            return np.clip(out / len(margins), 0.0, 1.0)
        for margin, cal in zip(margins, self.calibrators, strict=True):
            if cal is None:
                out += expit(margin)
            elif cal["method"] == "sigmoid":
                out += expit(-(cal["a"] * margin + cal["b"]))
            else:
                out += np.interp(margin, cal["x"], cal["y"])
        return np.clip(out / len(margins), 0.0, 1.0)

    def contributions(self, X: pd.DataFrame) -> pd.DataFrame:
        """Per-feature log-odds contributions (mean over fold models; no bias column)."""
        if self.kind == "pickle":
            if not hasattr(self.model, "contributions"):
                raise CohortError(f"{self.entry.get('class')} has no contributions: "
                                  "explain=True is not available for this model")
            c = self.model.contributions(X)
            return c.drop(columns=["bias"], errors="ignore").set_axis(X.index)
        if self.kind in ("linear", "linear_calibrated"):
            Z = X.reindex(columns=self.features).to_numpy(dtype=float)
            values = sum(m.contributions(Z) for m in self.linear) / len(self.linear)
            return pd.DataFrame(values, columns=self.features, index=X.index)
        import xgboost as xgb

        # No feature names: _matrix's columns are the boosters' by construction, and checking
        # the names again costs half of a one-patient explanation.
        dm = xgb.DMatrix(self._matrix(X), missing=np.nan, nthread=1)
        total = sum(b.predict(dm, pred_contribs=True, validate_features=False)
                    for b in self.boosters)
        values = np.asarray(total) / len(self.boosters)
        return pd.DataFrame(values[:, :-1], columns=self.features, index=X.index)


# ------------------------------------------------------------------------------ codecs: survival
def export_survival(model: Any, folder: Path) -> dict[str, Any]:
    """Save a fitted survival model natively when possible; return its manifest entry."""
    from icipredict.modeling.survival import CoxPHSurvival

    folder.mkdir(parents=True, exist_ok=True)
    if isinstance(model, CoxPHSurvival):
        f = model.fitter_
        kept = list(model.kept_)
        bch = f.baseline_cumulative_hazard_.iloc[:, 0]
        state = {
            "features": list(model.features_used_),
            "impute": [float(v) for v in model.imputer_.statistics_],
            "kept": kept,
            "coef": [float(f.params_[c]) for c in kept],
            "mean": [float(f._norm_mean[c]) for c in kept],
            "baseline_times": [float(t) for t in bch.index],
            "baseline_cumhaz": [float(v) for v in bch.to_numpy()],
            "event_times": [float(t) for t in model.event_times_],
        }
        (folder / "coxph.json").write_text(json.dumps(state, allow_nan=False))
        return {"kind": "coxph", "file": "coxph.json"}
    (folder / "model.pkl").write_bytes(pickle.dumps(model, protocol=5))
    return {"kind": "pickle", "file": "model.pkl", "class": type(model).__name__}


class SurvivalScorer:
    """Risk, survival probabilities and medians from a saved survival model."""

    def __init__(self, folder: Path, entry: dict[str, Any]) -> None:
        self.kind = entry["kind"]
        if self.kind == "pickle":
            self.model = pickle.loads((folder / entry["file"]).read_bytes())  # noqa: S301
            return
        s = json.loads((folder / entry["file"]).read_text())
        self.features = s["features"]
        self.impute = np.asarray(s["impute"], dtype=float)
        self.kept_idx = np.asarray([self.features.index(c) for c in s["kept"]], dtype=int)
        self.coef = np.asarray(s["coef"], dtype=float)
        self.mean = np.asarray(s["mean"], dtype=float)
        self.t0 = np.asarray(s["baseline_times"], dtype=float)
        self.h0 = np.asarray(s["baseline_cumhaz"], dtype=float)
        self.grid = np.asarray(s["event_times"], dtype=float)
        self.h_grid = np.interp(self.grid, self.t0, self.h0)

    def linear_form(self, names: list[str]) -> tuple[np.ndarray, np.ndarray, float]:
        """``(c, d, e)`` with ``risk = nan_to_num(Z) @ c + isnan(Z) @ d + e`` for a matrix ``Z``
        whose columns are ``names`` (a feature the model uses but ``names`` lacks counts as
        missing, i.e. imputed; not for pickles)."""
        c = np.zeros(len(names))
        d = np.zeros(len(names))
        e = -float(self.mean @ self.coef)
        where = {n: j for j, n in enumerate(names)}
        for k, i in enumerate(self.kept_idx):
            j = where.get(self.features[i])
            if j is None:
                e += self.impute[i] * self.coef[k]
            else:
                c[j] += self.coef[k]
                d[j] += self.impute[i] * self.coef[k]
        return c, d, e

    def risk(self, X: pd.DataFrame) -> np.ndarray:
        """Risk score (Cox: log partial hazard; higher = worse)."""
        if self.kind == "pickle":
            return np.asarray(self.model.predict(X), dtype=float)
        Z = X.reindex(columns=self.features).to_numpy(dtype=float)
        Z = np.where(np.isnan(Z), self.impute, Z)[:, self.kept_idx]
        return (Z - self.mean) @ self.coef

    def survival(self, X: pd.DataFrame, times: np.ndarray, risk: np.ndarray | None = None
                 ) -> np.ndarray:
        """S(t) at ``times``, shape ``(n, len(times))``."""
        if self.kind == "pickle":
            return np.asarray(self.model.predict_survival(X, times), dtype=float)
        lp = self.risk(X) if risk is None else risk
        h = np.interp(np.asarray(times, dtype=float), self.t0, self.h0)
        return np.clip(np.exp(-np.outer(np.exp(lp), h)), 0.0, 1.0)

    def median(self, X: pd.DataFrame, risk: np.ndarray | None = None) -> np.ndarray:
        """Median survival (months); NaN when the curve stays above 0.5 (not reached)."""
        if self.kind == "pickle":
            return np.asarray(self.model.predict_median(X), dtype=float)
        lp = self.risk(X) if risk is None else risk
        # S(t) <= 0.5  <=>  H0(t) >= ln 2 / exp(lp); H0 is non-decreasing on the event grid.
        need = math.log(2.0) * np.exp(-lp)
        idx = np.searchsorted(self.h_grid, need, side="left")
        out = np.full(len(lp), np.nan)
        ok = idx < len(self.grid)
        out[ok] = self.grid[idx[ok]]
        return out


# ------------------------------------------------------------------------------ CI and domain
def calibration_uncertainty(y: np.ndarray, p: np.ndarray, *, n_boot: int = 200,
                            seed: int = 0) -> dict[str, Any]:
    """Bootstrap covariance of a logistic recalibration of held-out predictions.

    Parameters
    ----------
    y, p
        Held-out responder labels and predicted probabilities (e.g. out-of-fold).
    n_boot
        Bootstrap resamples of patients.

    Returns
    -------
    dict
        ``{"method", "n", "n_boot", "a", "b", "cov": [[Vaa, Vab], [Vab, Vbb]]}``.
    """
    # Batched Newton-Raphson over all resamples at once (evaluation's solver, stratified
    # resamples so each holds responders and non-responders).
    from icipredict.evaluation.bootstrap import bootstrap_indices
    from icipredict.evaluation.metrics import _logistic_newton

    y = np.asarray(y, dtype=float)
    s = logit(np.clip(np.asarray(p, dtype=float), 1e-6, 1 - 1e-6))
    ok = ~np.isnan(y) & ~np.isnan(s)
    y, s = y[ok], s[ok]
    x = np.stack([np.ones_like(s), s], axis=-1)
    full = _logistic_newton(x, y, np.zeros_like(s))
    idx = bootstrap_indices(len(y), n_boot, strata=y.astype(int), seed=seed)
    coefs = _logistic_newton(x[idx], y[idx], np.zeros(idx.shape))
    coefs = coefs[np.isfinite(coefs).all(axis=1)]
    cov = np.cov(coefs.T) if len(coefs) > 2 else np.zeros((2, 2))
    return {"method": "bootstrap covariance of logistic recalibration on held-out predictions",
            "n": int(len(y)), "n_boot": int(len(coefs)), "a": float(full[0]),
            "b": float(full[1]), "cov": cov.tolist()}


def response_interval(p: np.ndarray, unc: dict[str, Any] | None,
                      refit_p: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Vectorised 95% interval around ``p`` (see the module docstring).

    Parameters
    ----------
    p
        Point probabilities, shape ``(n,)``.
    unc
        From :func:`calibration_uncertainty` (or None).
    refit_p
        Probabilities of the bootstrap refits, shape ``(n, R)`` (or None).

    Returns
    -------
    low, high
        NaN where neither source of uncertainty is available.
    """
    s = logit(np.clip(p, 1e-6, 1 - 1e-6))
    var = np.zeros_like(s)
    have = False
    if unc:
        (vaa, vab), (_, vbb) = unc["cov"]
        var += np.maximum(vaa + 2 * s * vab + s * s * vbb, 0.0)
        have = True
    if refit_p is not None and refit_p.shape[1] >= 2:
        var += np.var(logit(np.clip(refit_p, 1e-6, 1 - 1e-6)), axis=1, ddof=1)
        have = True
    if not have:
        nan = np.full_like(s, np.nan)
        return nan, nan
    sd = np.sqrt(var)
    return expit(s - Z95 * sd), expit(s + Z95 * sd)


def survival_interval(point: np.ndarray, refit_cloglog: np.ndarray
                      ) -> tuple[np.ndarray, np.ndarray]:
    """95% interval of S(t) on the complementary log-log scale (see the module docstring).

    Parameters
    ----------
    point
        Point S(t), shape ``(n,)``.
    refit_cloglog
        ``log H0_r(t) + lp_r`` of the refits, shape ``(n, R)``.
    """
    with np.errstate(divide="ignore", invalid="ignore"):
        c = np.log(-np.log(np.clip(point, 1e-300, 1.0)))
        sd = np.std(refit_cloglog, axis=1, ddof=1)
        ok = np.isfinite(c) & np.isfinite(sd)
        low = np.where(ok, np.exp(-np.exp(c + Z95 * sd)), point)
        high = np.where(ok, np.exp(-np.exp(c - Z95 * sd)), point)
    return low, high


def bootstrap_refits(model: Any, X: pd.DataFrame, y: np.ndarray, *, n_refits: int = 20,
                     seed: int = 0, strata: np.ndarray | None = None) -> list[Any]:
    """Refit ``model`` (same hyperparameters) on bootstrap resamples of training patients.

    Parameters
    ----------
    model
        A fitted (or unfitted) scikit-learn-style estimator; :func:`sklearn.base.clone` is
        refitted, the original is untouched.
    X, y
        The training matrix and target the model was fitted on (survival: structured array).
    n_refits
        Number of resamples ``R`` (0 = none).
    seed
        Seed of the resampling.
    strata
        Resample within these groups (e.g. responder status, so each resample has both).

    Returns
    -------
    list
        Fitted clones; a resample the estimator refuses (e.g. no events) is skipped and logged.
    """
    from sklearn.base import clone

    from icipredict.evaluation.bootstrap import bootstrap_indices

    if n_refits <= 0:
        return []
    idx = bootstrap_indices(len(X), n_refits, strata=strata, seed=seed)
    out = []
    for rows in idx:
        try:
            out.append(clone(model).fit(X.iloc[rows], y[rows]))
        except Exception as exc:  # noqa: BLE001 - a degenerate resample must not stop training
            logger.warning("bootstrap refit skipped: %s", exc)
    return out


def training_domain(frame: pd.DataFrame, columns: list[dict[str, Any]]) -> dict[str, Any]:
    """Aggregates of the training patients' inputs (no rows): categories, ranges, centres."""
    domain: dict[str, Any] = {"n_patients": int(len(frame)), "categories": {}, "numeric": {}}
    for col in ("cancer_type", "drug_class", "sex", "msi_status"):
        if col in frame.columns:
            counts = frame[col].dropna().astype(str).value_counts().sort_index()
            domain["categories"][col] = {k: int(v) for k, v in counts.items()}
    for c in columns:
        name = c["name"]
        if c["type"] != "double" or name not in frame.columns:
            continue
        v = pd.to_numeric(frame[name], errors="coerce").dropna().to_numpy(dtype=float)
        if v.size == 0:
            continue
        q = np.quantile(v, [0.01, 0.25, 0.5, 0.75, 0.99])
        domain["numeric"][name] = {
            "min": float(v.min()), "max": float(v.max()), "q01": float(q[0]), "q25": float(q[1]),
            "q50": float(q[2]), "q75": float(q[3]), "q99": float(q[4]), "n": int(v.size),
            "missing": int(len(frame) - v.size)}
    if "centre" in frame.columns:
        counts = frame["centre"].astype(str).value_counts().sort_index()
        domain["patients_per_centre"] = {k: int(v) for k, v in counts.items()}
    return domain


def synthetic_example(columns: list[dict[str, Any]], domain: dict[str, Any]) -> pd.DataFrame:
    """A made-up input row (medians and most common categories): never a patient's record."""
    row: dict[str, Any] = {}
    for c in columns:
        name = c["name"]
        if c["type"] == "string":
            levels = domain["categories"].get(name) or {}
            row[name] = max(levels, key=levels.get) if levels else None
        else:
            num = domain["numeric"].get(name)
            row[name] = round(num["q50"], 3) if num else np.nan
    return pd.DataFrame([row])


# ------------------------------------------------------------------------------ the pyfunc model
class ICIPredictModel(mlflow.pyfunc.PythonModel):
    """The registry model (``mlflow.pyfunc``): one row per patient in, board numbers out."""

    def load_context(self, context) -> None:  # noqa: ANN001 - mlflow's PythonModelContext
        """Read the bundle (``context.artifacts["bundle"]``)."""
        self.load_bundle(Path(context.artifacts["bundle"]))

    def load_bundle(self, folder: str | Path) -> ICIPredictModel:
        """Load a bundle folder written by :func:`write_bundle` (also usable without MLflow)."""
        folder = Path(folder)
        self.manifest = json.loads((folder / "manifest.json").read_text())
        if self.manifest.get("format") != MODEL_FORMAT:
            raise ValueError(f"registry model format {self.manifest.get('format')!r}; this "
                             f"icipredict reads {MODEL_FORMAT}")
        self.builder = FeatureBuilder.from_json((folder / "builder.json").read_text())
        self.columns = self.manifest["input_columns"]
        self.required = [c["name"] for c in self.columns if c["required"]]
        self.uncertainty = self.manifest.get("response_uncertainty")
        self.response = (ResponseScorer(folder / "response", self.manifest["response"])
                         if self.manifest.get("response") else None)
        self.surv = {end: SurvivalScorer(folder / end, self.manifest[end])
                     for end in ("os", "pfs") if self.manifest.get(end)}
        refits = self.manifest.get("refits") or {}
        self.response_refits = [
            ResponseScorer(folder / "response" / REFIT_FOLDER / f"refit_{r}", entry)
            for r, entry in enumerate(refits.get("response") or [])]
        self.surv_refits = {
            end: [SurvivalScorer(folder / end / REFIT_FOLDER / f"refit_{r}", entry)
                  for r, entry in enumerate(refits.get(end) or [])]
            for end in ("os", "pfs")}
        self.names = list(self.builder.feature_names_out_)
        self._position = {n: j for j, n in enumerate(self.names)}
        self._surv_forms = {}
        for end, scorers in self.surv_refits.items():
            if scorers and all(sc.kind == "coxph" for sc in scorers):
                forms = [sc.linear_form(self.names) for sc in scorers]
                self._surv_forms[end] = (
                    np.stack([f[0] for f in forms], axis=1), np.stack([f[1] for f in forms], 1),
                    np.array([f[2] for f in forms]), [sc.t0 for sc in scorers],
                    [sc.h0 for sc in scorers])
        # OS and PFS Cox risks of a block in one matrix product (see _risks).
        cox = {end: sc for end, sc in self.surv.items() if sc.kind == "coxph"}
        forms = [sc.linear_form(self.names) for sc in cox.values()]
        self._risk_form = (list(cox), np.stack([f[0] for f in forms], axis=1),
                           np.stack([f[1] for f in forms], axis=1),
                           np.array([f[2] for f in forms])) if cox else None
        ranges = self.manifest.get("feature_ranges") or {}
        names = self.builder.feature_names_out_
        self.lower = np.array([ranges.get(n, (-np.inf, np.inf))[0] for n in names], dtype=float)
        self.upper = np.array([ranges.get(n, (-np.inf, np.inf))[1] for n in names], dtype=float)
        return self

    def clip(self, X: pd.DataFrame) -> pd.DataFrame:
        """Hold features inside the training range (``manifest["feature_ranges"]``).

        Trees answer beyond the range as at its edge anyway; linear and Cox models would
        extrapolate without bound (one absurd radiomics value gave S(t) = 0 everywhere). The
        board warns about such values separately; missing values stay missing.
        """
        if not np.isfinite(self.lower).any() and not np.isfinite(self.upper).any():
            return X
        values = np.clip(X.to_numpy(dtype=float), self.lower, self.upper)
        return pd.DataFrame(values, index=X.index, columns=X.columns)

    # -- input ---------------------------------------------------------------------------
    def _frame(self, model_input: Any) -> pd.DataFrame:
        if isinstance(model_input, dict):
            model_input = pd.DataFrame([model_input])
        if not isinstance(model_input, pd.DataFrame):
            raise CohortError("the registry model takes a DataFrame with one row per patient "
                              f"(canonical columns), got {type(model_input).__name__}")
        missing = [c for c in self.required if c not in model_input.columns]
        if missing:
            raise CohortError(f"required input column(s) missing: {missing} (see "
                              "docs/registry_model.md for the input schema)", column=missing[0])
        # Shallow copy: converted columns are replaced, never written into the caller's frame.
        frame = model_input.copy(deep=False)
        if "patient_id" in frame.columns:
            frame = frame.drop(columns=["patient_id"])
        for c in self.columns:
            name = c["name"]
            if name not in frame.columns:
                continue
            if c["type"] == "double":
                if frame[name].dtype == np.float64:
                    continue  # already numbers (the common, large-batch case)
                values = pd.to_numeric(frame[name], errors="coerce")
                bad = values.isna() & frame[name].notna()
                if bad.any():
                    first = int(np.flatnonzero(bad.to_numpy())[0])
                    raise CohortError(f"expected a number in {name}, got "
                                      f"{frame[name].iloc[first]!r}", row=first + 1, column=name)
                frame[name] = values.astype(float)
            elif frame[name].dtype != object:
                # pandas string/categorical columns: plain objects for the builder. Object
                # columns pass as they are (the builder's factorize treats None/NaN/NA alike).
                frame[name] = frame[name].astype(object).where(frame[name].notna(), None)
        return frame

    def missing_modalities(self, frame: pd.DataFrame) -> np.ndarray:
        """Per row: comma-joined modalities with no input value at all ("" when complete)."""
        n = len(frame)
        code = np.zeros(n, dtype=np.intp)  # bit k set: modality k has no value
        modalities = ("clinical", "genomic", "imaging")
        for k, modality in enumerate(modalities):
            cols = [c["name"] for c in self.columns
                    if c["modality"] == modality and c["name"] != "cancer_type"]
            if not cols:
                continue
            absent = np.ones(n, dtype=bool)
            for c in cols:
                if c not in frame.columns:
                    continue
                col = frame[c]
                absent &= (np.isnan(col.to_numpy()) if col.dtype == np.float64
                           else col.isna().to_numpy())
                if not absent.any():
                    break
            code |= absent.astype(np.intp) << k
        labels = np.array([",".join(m for k, m in enumerate(modalities) if bits >> k & 1)
                           for bits in range(2 ** len(modalities))], dtype=object)
        return labels[code]

    # -- predict helpers -----------------------------------------------------------------
    def _columns(self, Z: np.ndarray, features: list[str], dtype: Any,
                 cache: dict[tuple, np.ndarray]) -> np.ndarray:
        """``Z``'s columns ``features`` (absent ones missing), cached per selection and dtype."""
        key = (tuple(features), np.dtype(dtype).str)
        if key not in cache:
            idx = [self._position.get(f, -1) for f in features]
            # np.take keeps rows contiguous (Z[:, list] is column-major: a transposing copy).
            sel = np.take(Z, [max(i, 0) for i in idx], axis=1).astype(dtype, copy=False)
            missing = [k for k, i in enumerate(idx) if i < 0]
            if missing:
                sel[:, missing] = np.nan
            cache[key] = np.ascontiguousarray(sel)
        return cache[key]

    def _proba(self, scorer: ResponseScorer, Z: np.ndarray, X: pd.DataFrame | None,
               cache: dict[tuple, Any], n_total: int | None = None) -> np.ndarray:
        if scorer.kind == "pickle":
            if X is None:
                X = pd.DataFrame(Z, columns=self.names)
            return scorer.proba(X)
        if scorer.kind in ("linear", "linear_calibrated"):
            return scorer.proba_matrix(self._columns(Z, scorer.features, float, cache))
        M = self._columns(Z, scorer.features, np.float32, cache)
        if len(M) > DMATRIX_ROWS or scorer.trees is not None:  # inplace, or the tree walker
            return scorer.proba_matrix(M, n_total=n_total)
        key = ("dmatrix", tuple(scorer.features))
        if key not in cache:  # one DMatrix shared by the point model and its refits
            import xgboost as xgb

            cache[key] = xgb.DMatrix(M, missing=np.nan, nthread=1)
        return scorer.proba_matrix(M, cache[key])

    def _risks(self, Z: np.ndarray, X: pd.DataFrame | None) -> dict[str, np.ndarray]:
        """Risk score of each survival model for the rows of ``Z`` (see :meth:`_numbers`)."""
        risks = {end: scorer.risk(X) for end, scorer in self.surv.items()
                 if scorer.kind == "pickle"}
        if self._risk_form is not None:
            ends, C, D, e = self._risk_form
            missing = np.isnan(Z)
            if missing.any():
                lp = np.where(missing, 0.0, Z) @ C + missing @ D + e
            else:  # the builder imputed every value (the usual case)
                lp = Z @ C + e
            risks.update({end: np.ascontiguousarray(lp[:, k]) for k, end in enumerate(ends)})
        return risks

    def _survival_bands(self, end: str, Z: np.ndarray, point: np.ndarray, hs: np.ndarray
                        ) -> tuple[np.ndarray, np.ndarray] | None:
        """Refit intervals of S(t) at ``hs``, each ``(n, len(hs))``; None without refits."""
        form = self._surv_forms.get(end)
        if form is None or len(form[2]) < 2:
            return None
        C, D, e, t0s, h0s = form
        missing = np.isnan(Z)
        lp = np.where(missing, 0.0, Z) @ C + missing @ D + e  # (n, R) refit risks
        low, high = np.empty_like(point), np.empty_like(point)
        with np.errstate(divide="ignore"):
            for j, h in enumerate(hs):
                log_h0 = np.log([np.interp(h, t0, h0) for t0, h0 in zip(t0s, h0s, strict=True)])
                low[:, j], high[:, j] = survival_interval(point[:, j], lp + log_h0)
        return low, high

    def _numbers(self, frame: pd.DataFrame, hs: np.ndarray, intervals: bool, explain: bool,
                 n_total: int) -> dict[str, Any]:
        """The model's numbers for the rows of a checked input frame (see :meth:`predict`).

        Every value is a function of its own row only, so a large batch is computed in row
        blocks (:data:`CHUNK_ROWS`) and the blocks concatenated: the same numbers, without
        full-batch temporaries.
        """
        Z = self.builder.transform_array(frame)
        if np.isfinite(self.lower).any() or np.isfinite(self.upper).any():
            Z = np.clip(Z, self.lower, self.upper)  # see clip(); NaN stays NaN
        n = len(Z)
        pickled = ((self.response is not None and self.response.kind == "pickle")
                   or any(sc.kind == "pickle" for sc in self.surv.values()))
        X = pd.DataFrame(Z, index=frame.index, columns=self.names) if pickled else None
        cache: dict[tuple, Any] = {}
        nan = np.full(n, np.nan)
        num: dict[str, Any] = {}
        if self.response is not None:
            p = self._proba(self.response, Z, X, cache, n_total)
            refit_p = (np.stack([self._proba(r, Z, None, cache, n_total)
                                 for r in self.response_refits], axis=1)
                       if intervals and len(self.response_refits) >= 2 else None)
            low, high = (response_interval(p, self.uncertainty, refit_p) if intervals
                         else (nan, nan))
        else:
            p, low, high = nan, nan, nan
        num["response_probability"], num["response_ci_low"], num["response_ci_high"] = \
            p, low, high
        risks = self._risks(Z, X)
        num["risk_score"] = risks.get("os", risks.get("pfs", nan))
        for end in ("os", "pfs"):
            scorer = self.surv.get(end)
            surv = (scorer.survival(X, hs, risks[end]) if scorer
                    else np.full((n, len(hs)), np.nan))
            num[f"surv_{end}"] = surv
            num[f"median_{end}"] = scorer.median(X, risks[end]) if scorer else nan
            band = self._survival_bands(end, Z, surv, hs) if scorer and intervals else None
            if band is not None:
                num[f"band_{end}_low"], num[f"band_{end}_high"] = band
        if explain:
            if X is None:
                X = pd.DataFrame(Z, index=frame.index, columns=self.names)
            num["contrib"] = self.response.contributions(X)
        return num

    # -- predict -------------------------------------------------------------------------
    def predict(self, context, model_input: pd.DataFrame,  # noqa: ANN001 - PythonModelContext
                params: dict[str, Any] | None = None) -> pd.DataFrame:
        """Score patients.

        Parameters
        ----------
        context
            MLflow context (unused after :meth:`load_context`).
        model_input
            DataFrame, one row per patient, columns of the input schema.
        params
            ``horizons`` (months, default 6/12/24), ``explain`` (add ``contrib_<feature>``) and
            ``intervals`` (default True; False skips the bootstrap refits and returns null
            intervals: the fast path for bulk scoring of point estimates).

        Returns
        -------
        DataFrame
            The documented output columns, same index as ``model_input``.
        """
        params = params or {}
        horizons = params.get("horizons")
        horizons = list(DEFAULT_HORIZONS) if horizons is None else \
            [float(h) for h in np.atleast_1d(horizons)]
        if any(not np.isfinite(h) or h <= 0 for h in horizons):
            raise CohortError(f"horizons must be positive months, got {horizons}")
        intervals = bool(params.get("intervals", True))
        explain = bool(params.get("explain"))
        if explain and self.response is None:
            raise CohortError("explain=True needs a response model; this model has none")
        frame = self._frame(model_input)
        n = len(frame)
        hs = np.asarray(horizons, dtype=float)
        names = output_columns(horizons)[:-1]  # all numbers; missing_modalities is text
        # Every block writes its rows of one column-major block of numbers (no per-block
        # arrays to concatenate, no copy into the result frame): at a million rows those
        # full-batch copies cost as much as the scoring.
        numbers = np.empty((n, len(names)), order="F")

        # Sliced here, before any thread starts: the threads then only read their own slice.
        blocks = [(start, frame.iloc[start:start + CHUNK_ROWS])
                  for start in range(0, max(n, 1), CHUNK_ROWS)]

        def score_block(block: tuple[int, pd.DataFrame]) -> pd.DataFrame | None:
            start, rows = block
            num = self._numbers(rows, hs, intervals, explain, len(rows))
            for k, values in enumerate(_number_columns(num, len(hs))):
                numbers[start:start + len(rows), k] = values
            return num.get("contrib")

        contribs = _map_blocks(score_block, blocks)
        result = pd.DataFrame(numbers, index=frame.index, columns=names, copy=False)
        for k, name in enumerate(names):
            # Medians are always objects (None where not reached: JSON null); intervals are
            # objects when any is null. Set as object Series: pandas would otherwise scan each
            # million-row object array for dates.
            if name.startswith("median_") or ("_ci_" in name and np.isnan(numbers[:, k]).any()):
                values = _nullable(numbers[:, k], always=True)
                result[name] = pd.Series(values, index=result.index, dtype=object, copy=False)
        result["missing_modalities"] = pd.Series(self.missing_modalities(frame),
                                                 index=result.index, dtype=object, copy=False)
        if explain:
            contrib = pd.concat(contribs) if len(contribs) > 1 else contribs[0]
            result = pd.concat([result, contrib.add_prefix("contrib_")], axis=1)
        result.index = model_input.index if isinstance(model_input, pd.DataFrame) else result.index
        return result


def _number_columns(num: dict[str, Any], n_horizons: int) -> list[np.ndarray]:
    """A block's numbers (:meth:`ICIPredictModel._numbers`) in :func:`output_columns` order."""
    n = len(num["response_probability"])
    nan = np.full(n, np.nan)
    columns = [num["response_probability"], num["response_ci_low"], num["response_ci_high"],
               num["risk_score"]]
    for end in ("os", "pfs"):
        columns += [num[f"surv_{end}"][:, j] for j in range(n_horizons)]
    columns += [num["median_os"], num["median_pfs"]]
    for end in ("os", "pfs"):
        low, high = num.get(f"band_{end}_low"), num.get(f"band_{end}_high")
        for j in range(n_horizons):
            columns += [nan if low is None else low[:, j], nan if high is None else high[:, j]]
    return columns


def _map_blocks(score_block: Any, blocks: list[Any]) -> list[Any]:
    """``[score_block(b) for b in blocks]``, computed by one thread per available core.

    The blocks are independent and the heavy steps (XGBoost, numpy) release the GIL, so the
    cores share a large batch; each XGBoost call then runs single-threaded (block-sized
    ``n_total``), and results keep the order of ``blocks``.
    """
    workers = min(len(blocks), _cores(), MAX_THREADS)
    if workers < 2:
        return [score_block(b) for b in blocks]
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="icipredict-score") as pool:
        return list(pool.map(score_block, blocks))


def _cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def _nullable(values: np.ndarray, *, always: bool = False) -> np.ndarray:
    """Floats, or objects with None for missing (JSON null, never NaN) when any is missing
    (``always``: objects in any case)."""
    values = np.asarray(values, dtype=float)
    missing = np.isnan(values)
    if not missing.any() and not always:
        return values
    if missing.all():
        return np.full(len(values), None, dtype=object)
    out = values.astype(object)
    out[np.isnan(values)] = None
    return out


# ------------------------------------------------------------------------------ writing + logging
def feature_ranges(X: pd.DataFrame) -> dict[str, list[float]]:
    """``{feature: [min, max]}`` of the training feature matrix (finite values only)."""
    out = {}
    for c in X.columns:
        v = X[c].to_numpy(dtype=float)
        v = v[np.isfinite(v)]
        if v.size:
            out[c] = [float(v.min()), float(v.max())]
    return out


def risk_tertiles(risk: np.ndarray) -> dict[str, Any]:
    """Tertile cut-points of the training risk score for the board's low/intermediate/high."""
    r = np.asarray(risk, dtype=float)
    r = r[np.isfinite(r)]
    cuts = np.quantile(r, [1 / 3, 2 / 3]).tolist() if r.size else []
    return {"score": "risk_score (OS model; higher = worse)", "cut_points": cuts,
            "labels": ["low", "intermediate", "high"],
            "rule": "low: risk < cut_points[0]; high: risk >= cut_points[1]"}


#: Bundle file recording how radiomics were computed in training (absent without imaging).
RADIOMICS_FILE = "radiomics.json"


def radiomics_record(settings: str | Path = "default", rule: str = "largest") -> dict[str, Any]:
    """How training computed radiomics: the ``radiomics.json`` entry of the bundle.

    Parameters
    ----------
    settings
        What the engine was built from: a builtin name (``"default"``, ``"ibsi"``) or a settings
        YAML path (its name and text are recorded, so the board can rebuild the same engine).
    rule
        Lesion aggregation rule given to ``radiomics_matrix``.

    Returns
    -------
    dict
        ``engine``, ``engine_version``, ``settings_hash``, ``settings_source`` (the builtin
        name, or ``{"file": name, "content": text}``) and ``rule``.
    """
    from icipredict.features.radiomics_engine import BUILTIN_SETTINGS, PyRadiomicsEngine

    engine = PyRadiomicsEngine(settings)
    if str(settings) in BUILTIN_SETTINGS:
        source: Any = str(settings)
    else:
        path = Path(settings)
        source = {"file": path.name, "content": path.read_text(encoding="utf-8")}
    return {"engine": engine.name, "engine_version": engine.version,
            "settings_hash": engine.settings_hash, "settings_source": source, "rule": rule}


def write_bundle(
    folder: str | Path,
    *,
    builder: FeatureBuilder,
    response_model: Any | None,
    survival_models: dict[str, Any],
    training_frame: pd.DataFrame,
    response_uncertainty: dict[str, Any] | None = None,
    response_refits: list[Any] | None = None,
    survival_refits: dict[str, list[Any]] | None = None,
    info: dict[str, Any] | None = None,
    radiomics: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Write the registry model's artifact folder (JSON + native model files).

    Parameters
    ----------
    folder
        Output folder (created).
    builder
        Fitted feature builder.
    response_model
        Fitted response classifier (or None).
    survival_models
        ``{"os": model, "pfs": model}`` fitted survival models (either may be absent).
    training_frame
        The training patients' input frame (canonical columns); only aggregates are written.
    response_uncertainty
        From :func:`calibration_uncertainty`.
    response_refits, survival_refits
        From :func:`bootstrap_refits` (``{"os": [...], "pfs": [...]}``): the models behind the
        per-patient intervals, saved natively under ``<part>/bootstrap/refit_<r>``.
    info
        Extra manifest entries (model names, experiment, ...).
    radiomics
        From :func:`radiomics_record`: written to ``radiomics.json`` (and the manifest's
        ``radiomics`` entry) when the feature spec reads imaging; ignored otherwise.

    Returns
    -------
    dict
        The manifest.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "builder.json").write_text(builder.to_json())
    columns = input_columns(builder)
    manifest: dict[str, Any] = {"format": MODEL_FORMAT, "input_columns": columns,
                                "output_columns": output_columns(),
                                "response_uncertainty": response_uncertainty}
    manifest["response"] = (export_response(response_model, folder / "response")
                            if response_model is not None else None)
    X = builder.transform(training_frame)
    manifest["feature_ranges"] = feature_ranges(X)
    risks = {}
    for end in ("os", "pfs"):
        model = survival_models.get(end)
        manifest[end] = export_survival(model, folder / end) if model is not None else None
        if model is not None:
            risks[end] = SurvivalScorer(folder / end, manifest[end]).risk(X)
    risk = risks.get("os", risks.get("pfs"))
    pickled = [f"{part}/{manifest[part]['file']} ({manifest[part]['class']})"
               for part in ("response", "os", "pfs")
               if manifest.get(part) and manifest[part]["kind"] == "pickle"]
    refits: dict[str, Any] = {
        "method": "refits of the model on bootstrap resamples of the training patients "
                  "(hyperparameters and feature builder fixed); 95% interval from their spread "
                  "on the logit (response) / complementary log-log (survival) scale",
        "response": [], "os": [], "pfs": []}
    parts = {"response": response_refits if manifest["response"] else None,
             **{end: (survival_refits or {}).get(end) if manifest[end] else None
                for end in ("os", "pfs")}}
    for part, models in parts.items():
        export = export_response if part == "response" else export_survival
        for r, model in enumerate(models or []):
            sub = folder / part / REFIT_FOLDER / f"refit_{r}"
            entry = export(model, sub)
            refits[part].append(entry)
            if entry["kind"] == "pickle":
                pickled.append(f"{part}/{REFIT_FOLDER}/refit_{r}/{entry['file']} "
                               f"({entry['class']})")
    refits["n"] = {part: len(v) for part, v in refits.items() if isinstance(v, list)}
    manifest["refits"] = refits
    manifest["what_is_pickled"] = pickled
    manifest.update(info or {})
    # The board must compute radiomics as training did; without imaging there is nothing to pin.
    if radiomics is not None and "imaging" in builder.spec_.modalities:
        manifest["radiomics"] = {"file": RADIOMICS_FILE, **radiomics}
        (folder / RADIOMICS_FILE).write_text(json.dumps(radiomics, indent=2, allow_nan=False))
    domain = training_domain(training_frame, columns)
    (folder / "domain.json").write_text(json.dumps(domain, indent=2, allow_nan=False))
    (folder / "risk_groups.json").write_text(json.dumps(
        risk_tertiles(risk if risk is not None else np.array([])), indent=2, allow_nan=False))
    (folder / "manifest.json").write_text(json.dumps(manifest, indent=2, allow_nan=False))
    return manifest


def _version(*dists: str) -> str | None:
    for d in dists:
        try:
            return metadata.version(d)
        except metadata.PackageNotFoundError:
            continue
    return None


def pip_requirements() -> list[str]:
    """Pinned requirements of the scoring environment (the versions installed here)."""
    wanted = [("mlflow", ("mlflow", "mlflow-skinny")), ("numpy", ("numpy",)),
              ("pandas", ("pandas",)), ("scipy", ("scipy",)),
              ("scikit-learn", ("scikit-learn",)), ("xgboost", ("xgboost", "xgboost-cpu")),
              ("lifelines", ("lifelines",)), ("scikit-survival", ("scikit-survival",)),
              ("pydantic", ("pydantic",)), ("pyyaml", ("PyYAML", "pyyaml"))]
    out = []
    for name, dists in wanted:
        v = _version(*dists)
        if v is not None:
            out.append(f"{name}=={v}")
    return out


def log_registry_model(bundle: str | Path, *, name: str = "model") -> Any:
    """Log a bundle folder as the pyfunc registry model of the active run.

    Models-from-code (:data:`ENTRY_CODE`) plus ``code_paths`` with the icipredict package, so
    the saved model is self-contained and nothing but the listed ``what_is_pickled`` is pickled.

    Returns
    -------
    mlflow.models.model.ModelInfo
    """
    import mlflow

    bundle = Path(bundle)
    manifest = json.loads((bundle / "manifest.json").read_text())
    builder = FeatureBuilder.from_json((bundle / "builder.json").read_text())
    columns = manifest["input_columns"]
    domain = json.loads((bundle / "domain.json").read_text())
    example = synthetic_example(columns, domain)
    with tempfile.TemporaryDirectory() as tmp:
        entry = Path(tmp) / "icipredict_registry_model.py"
        entry.write_text(ENTRY_CODE)
        pkg = Path(tmp) / "icipredict"
        shutil.copytree(Path(__file__).resolve().parents[1], pkg,
                        ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        info = mlflow.pyfunc.log_model(
            name=name, python_model=str(entry), artifacts={"bundle": str(bundle)},
            code_paths=[str(pkg)], signature=mlflow_signature(columns),
            input_example=(example, {"horizons": list(DEFAULT_HORIZONS)}),
            pip_requirements=pip_requirements(),
            metadata={"icipredict_model_format": MODEL_FORMAT,
                      "what_is_pickled": manifest["what_is_pickled"],
                      "feature_spec": builder.spec_.name},
        )
    return info


__all__ = [
    "DEFAULT_HORIZONS", "ICIPredictModel", "ResponseScorer", "SurvivalScorer",
    "LinearLogit", "bootstrap_refits", "calibration_uncertainty",
    "survival_interval", "export_response", "feature_ranges",
    "linear_state", "export_survival", "input_columns",
    "log_registry_model", "mlflow_signature", "output_columns", "pip_requirements",
    "response_interval", "risk_tertiles", "synthetic_example", "training_domain",
    "write_bundle", "RADIOMICS_PREFIX", "RADIOMICS_FILE", "radiomics_record",
]
