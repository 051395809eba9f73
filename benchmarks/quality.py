"""The table that matters: published baselines vs our models, on real and synthetic cohorts.

Rows:

1. the Chowell 2022 random split (test n = 295);
2. the LORIS year split (test n = 515);
3. leave-one-centre-out (LOCO) on the synthetic six-centre network (3,000 patients, seed 7):
   each centre is held out in turn, everything is fitted on the other five, and the out-of-fold
   predictions are pooled.

Columns: TMB, LLR6, RF16 (refit with the published recipes) and our models, each with
AUC [95% CI], calibration slope, ECE, OS and PFS Harrell C [95% CI] (response models: C of the
negated probability, as the papers report; survival models: C of their risk score). The LOCO row
adds the range of the per-centre AUCs. Under each table, a paired comparison of our models with
the row's published baseline (RF16 on Chowell, LLR6 on LORIS and LOCO) on the same patients:
AUC difference with paired-bootstrap CI and DeLong p, OS C difference with paired-bootstrap CI.

Our response candidates on the published splits: tuned L1 logistic regression on a log view of
all features, tuned XGBoost, a random forest on all features, the LORIS recipe (caps, median
imputation, every column standardised, L1; ``LorisLLR6``) on all features with C tuned, the
published LLR6 recipe as a member, three averaged ensembles (LLR / LLR6 recipe / LORIS-recipe-all
each + XGB + RF) and a stacked ensemble (logistic regression on the five members' inner-CV
out-of-fold probabilities, scikit-learn's :class:`~sklearn.ensemble.StackingClassifier`; the
averages are its :class:`~sklearn.ensemble.VotingClassifier` with soft voting).

Everything is chosen on training data only: hyperparameters by inner 5-fold CV (model specs in
``models/``), the calibration method by inner-CV log-loss, and "ours (selected)" is the
candidate with the best inner-CV AUC. The test set (held-out centre) is scored once per model.

Cost choices that do not change the science (see ``COST`` in the output): XGBoost runs with one
thread per fit and two candidates in parallel (faster than two threads per fit on 2 cores); the
random searches use fewer candidates than the specs (``N_ITER``); the ensemble's inner-CV score
is the average of its members' out-of-fold probabilities on the same folds (identical to
refitting the ensemble per fold, without the refits); fitted members are reused.

Usage::

    .venv/bin/python benchmarks/quality.py                 # all rows; writes benchmarks/quality.md
    .venv/bin/python benchmarks/quality.py --rows loco     # one row (other rows of the .md kept)
    .venv/bin/python benchmarks/quality.py --quick         # tiny searches (smoke run)
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import logging
import os
import platform
import tempfile
import time
from importlib.metadata import version
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.special import logit
from sklearn.base import clone
from sklearn.ensemble import StackingClassifier, VotingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV, StratifiedKFold, cross_val_predict
from sksurv.util import Surv

from icipredict.config import shared_data
from icipredict.evaluation.compare import compare_auc, compare_c_index, delong_test
from icipredict.evaluation.metrics import (
    auc_score,
    auc_with_ci,
    calibration_slope,
    expected_calibration_error,
)
from icipredict.evaluation.survival_metrics import harrell_c
from icipredict.evaluation.validation import LeaveOneCentreOut
from icipredict.modeling.baselines import (
    LLR6_FEATURES,
    RF16_FEATURES,
    LorisLLR6,
    RF16Forest,
    TMBThreshold,
    chowell_features,
    response_target,
)
from icipredict.modeling.response import CalibratedResponse
from icipredict.modeling.search import tune_and_fit
from icipredict.modeling.spec import ModelSpec, load_spec

log = logging.getLogger("quality")
HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
DATA = shared_data() / "ici" / "chowell2022"
SPLITS = {
    "chowell": ("Chowell random split (test)", "chowell2022_train.csv", "chowell2022_test.csv"),
    "loris": ("LORIS year split (test)", "loris_year_split_train.csv",
              "loris_year_split_test.csv"),
}
PUBLISHED = {
    "chowell": "RF16 0.795 AUC; OS C 0.682, PFS C 0.666 (RF16_prob)",
    "loris": "LLR6 0.754 AUC; OS C 0.677, PFS C 0.665 (LORIS score)",
}
N_BOOT = 1000
#: Published baseline each row's paired comparisons are against.
BASELINE = {"chowell": "RF16", "loris": "LLR6", "loco": "LLR6"}
#: Random-search candidates: the specs' own (20 xgb_response, 15 xgb_cox); quick = smoke run.
N_ITER = {"full": {}, "quick": {"xgb_response": 3, "xgb_cox": 3}}
#: Threads per XGBoost fit and parallel search candidates (2 cores: 1 x 2 beats 2 x 1).
XGB_THREADS, SEARCH_JOBS = 1, 2
LOCO_PATIENTS, LOCO_SEED = 3000, 7
#: Candidate names of the split rows: LORIS-recipe members, averaged ensembles, the stack.
LORIS_ALL, LLR6_MEMBER = "LORIS recipe (all, tuned C)", "LLR6 recipe (member)"
AVERAGES = {
    "Ensemble (LLR+XGB+RF)": ("LLR (all, tuned C)", "XGB (tuned)", "RF (all features)"),
    "Ensemble (LLR6+XGB+RF)": (LLR6_MEMBER, "XGB (tuned)", "RF (all features)"),
    "Ensemble (LORIS-all+XGB+RF)": (LORIS_ALL, "XGB (tuned)", "RF (all features)"),
}
STACK = "Stacked (5 members, LR on inner OOF)"


def stacking(members: dict) -> StackingClassifier:
    """scikit-learn's stack of ``members``: logistic regression on 5-fold OOF probabilities."""
    folds = StratifiedKFold(5, shuffle=True, random_state=0)
    return StackingClassifier(list(members.items()), final_estimator=LogisticRegression(C=1.0),
                              cv=folds, stack_method="predict_proba")


# ------------------------------------------------------------------------------------------------
# helpers shared by all rows
# ------------------------------------------------------------------------------------------------


def linear_view(X: pd.DataFrame) -> pd.DataFrame:
    """Log-transform the right-skewed labs/TMB for linear models (fixed a priori, not tuned)."""
    out = X.copy()
    for col in ("tmb", "nlr", "platelets"):
        if col in out:
            out[col] = np.log1p(out[col].clip(lower=0))
    return out.drop(columns=[c for c in ("cancer_group",) if c in out])


class LinearLLR(LorisLLR6):
    """LORIS-style L1 logistic regression on the log view (so an ensemble can share one X)."""

    def _prepare(self, X):  # noqa: ANN001, ANN202
        return super()._prepare(linear_view(X))


class UnbalancedLLR(LinearLLR):
    """As :class:`LinearLLR` but without ``class_weight="balanced"`` (calibration study)."""

    def fit(self, X: pd.DataFrame, y: np.ndarray) -> UnbalancedLLR:
        """Fit as LorisLLR6, then refit the logistic model with unit class weights."""
        super().fit(X, y)
        Z = self._standardise(self._prepare(X))
        self.model_ = LogisticRegression(
            C=self.C, l1_ratio=1.0, solver="saga", max_iter=self.max_iter, tol=self.tol,
            random_state=self.random_state).fit(Z, np.asarray(y))
        self.coef_, self.intercept_ = self.model_.coef_, self.model_.intercept_
        return self


def loris_all_tuned(features: list[str], grid: list[float], seed: int = 0) -> GridSearchCV:
    """The LORIS recipe on ``features`` with C chosen by 5-fold AUC on the data it is fitted on."""
    cv = StratifiedKFold(5, shuffle=True, random_state=seed)
    return GridSearchCV(LorisLLR6(features=features), {"C": list(grid)}, scoring="roc_auc", cv=cv)


def fmt_params(params: dict) -> str:
    """Hyperparameters, floats to 3 significant digits."""
    return "{" + ", ".join(f"{k}: {float(v):.3g}" if isinstance(v, float) else f"{k}: {v}"
                           for k, v in sorted(params.items())) + "}"


def spec_for(name: str, quick: bool, ridge_only: bool = False) -> ModelSpec:
    """A model spec with the benchmark's cost settings (1 XGBoost thread; quick: few candidates).

    ``ridge_only`` restricts a Cox search to ``l1_ratio = 0``: lifelines' elastic-net fit is ~10x
    slower than ridge (5 s vs 0.5 s on 2,500 patients x 58 features here), which made the
    leave-one-centre-out row unaffordable on 2 shared cores.
    """
    spec = load_spec(name)
    if ridge_only and spec.search is not None and "l1_ratio" in spec.search.space:
        spec.search.space["l1_ratio"] = [0.0]
    if "n_jobs" in spec.params:
        spec.params["n_jobs"] = XGB_THREADS
    mode = "quick" if quick else "full"
    if spec.search is not None and name in N_ITER[mode]:
        spec.search.n_iter = N_ITER[mode][name]
    return spec


def tune(spec: ModelSpec, X: pd.DataFrame, y: np.ndarray):  # noqa: ANN201
    """tune_and_fit with parallel candidates."""
    return tune_and_fit(spec, X, y, n_jobs=SEARCH_JOBS)


def oof_proba(model, X: pd.DataFrame, y: np.ndarray, seed: int = 0) -> np.ndarray:  # noqa: ANN001
    """5-fold out-of-fold probabilities on the training data (never the test set)."""
    cv = StratifiedKFold(5, shuffle=True, random_state=seed)
    return cross_val_predict(model, X, y, cv=cv, method="predict_proba")[:, 1]


def platt_on_oof(oof: np.ndarray, y: np.ndarray) -> LogisticRegression:
    """Platt recalibration of logit(p) learnt on out-of-fold training probabilities."""
    z = logit(np.clip(oof, 1e-6, 1 - 1e-6)).reshape(-1, 1)
    return LogisticRegression(C=1e6).fit(z, y)


def apply_platt(cal: LogisticRegression, p: np.ndarray) -> np.ndarray:
    """Apply :func:`platt_on_oof`'s recalibration to probabilities ``p``."""
    return cal.predict_proba(logit(np.clip(p, 1e-6, 1 - 1e-6)).reshape(-1, 1))[:, 1]


def response_cells(p: np.ndarray, y: dict[str, np.ndarray]) -> dict[str, str]:
    """AUC [CI], calibration slope, ECE, OS/PFS C of -p [CI]."""
    auc = auc_with_ci(y["response"], p, n_boot=N_BOOT)
    cells = {"AUC [95% CI]": str(auc),
             "cal. slope": f"{calibration_slope(y['response'], p):.2f}",
             "ECE": f"{expected_calibration_error(y['response'], p):.3f}"}
    for name in ("os", "pfs"):
        event, t = y[name]["event"], y[name]["time"]
        cells[f"{name.upper()} C [95% CI]"] = str(harrell_c(t, event, -p, n_boot=N_BOOT))
    return cells


def survival_cells(risk: dict[str, np.ndarray], y: dict[str, np.ndarray]) -> dict[str, str]:
    """OS/PFS Harrell C [CI] of survival-model risk scores."""
    cells = {"AUC [95% CI]": "-", "cal. slope": "-", "ECE": "-"}
    for name in ("os", "pfs"):
        event, t = y[name]["event"], y[name]["time"]
        cells[f"{name.upper()} C [95% CI]"] = str(harrell_c(t, event, risk[name], n_boot=N_BOOT))
    return cells


def within_centre_cell(risk: np.ndarray, y: dict[str, np.ndarray], centre: np.ndarray) -> str:
    """OS Harrell C over pairs of one held-out centre only [CI]: the fold models' risk scales
    never meet (the pooled C compares patients scored by different fold models)."""
    return str(harrell_c(y["os"]["time"], y["os"]["event"], risk, strata=centre, n_boot=N_BOOT))


def to_markdown(table: pd.DataFrame) -> str:
    """A Markdown table without the optional ``tabulate`` dependency."""
    head = ["model", *table.columns]
    out = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    out += ["| " + " | ".join([str(i), *map(str, r)]) + " |" for i, r in table.iterrows()]
    return "\n".join(out)


def _table(rows: list[tuple[str, dict[str, str]]]) -> pd.DataFrame:
    table = pd.DataFrame({name: cells for name, cells in rows}).T.fillna("-")
    table.index.name = "model"
    return table


def fmt_p(p: float) -> str:
    """A p-value to 3 decimals, small ones as ``<0.001``."""
    return "<0.001" if p < 0.001 else f"{p:.3f}"


def paired_table(y: dict[str, np.ndarray], p: dict[str, np.ndarray],
                 risk_os: dict[str, np.ndarray], baseline: str) -> list[str]:
    """Markdown lines: each of our models vs ``baseline`` on the same test patients.

    Response models: AUC difference (ours - baseline) with the paired-bootstrap 95% CI
    (``N_BOOT`` resamples stratified on response, seed 0) and DeLong's p. Survival models: OS
    Harrell C of our risk score minus the baseline's OS C of its negated probability (paired
    bootstrap, stratified on the event). The predictions are the ones in the table above.
    """
    resp, os_ = y["response"], y["os"]
    base = p[baseline]
    out = [f"Paired comparison with {baseline} on the same test patients ({N_BOOT} paired "
           "bootstrap resamples; DeLong for AUC):", "",
           "| model | AUC difference vs " + baseline + " [95% CI] | bootstrap p | DeLong p "
           "| OS C difference vs " + baseline + " [95% CI] | bootstrap p |",
           "|---|---|---|---|---|---|"]
    for name, prob in p.items():
        if name == baseline or not name.startswith(
                ("Ours", "LLR (", "XGB", "RF (", "Ens", "LORIS", "Stack")):
            continue
        boot = compare_auc(resp, prob, base, n_boot=N_BOOT, seed=0)
        dl = delong_test(resp, prob, base)
        c = compare_c_index(os_["time"], os_["event"], -prob, -base, n_boot=N_BOOT, seed=0)
        out.append(f"| {name} | {boot.difference} | {fmt_p(boot.p_value)} | {fmt_p(dl.p_value)} "
                   f"| {c.difference} | {fmt_p(c.p_value)} |")
    for name, risk in risk_os.items():
        c = compare_c_index(os_["time"], os_["event"], risk, -base, n_boot=N_BOOT, seed=0)
        out.append(f"| {name} (OS risk) | - | - | - | {c.difference} | {fmt_p(c.p_value)} |")
    return out + [""]


# ------------------------------------------------------------------------------------------------
# rows 1-2: published splits
# ------------------------------------------------------------------------------------------------


def outcomes(df: pd.DataFrame) -> dict[str, np.ndarray]:
    """Response and OS/PFS structured arrays of a published file."""
    return {
        "response": response_target(df),
        "os": Surv.from_arrays(df["OS_Event"].astype(bool), df["OS_Months"].astype(float)),
        "pfs": Surv.from_arrays(df["PFS_Event"].astype(bool), df["PFS_Months"].astype(float)),
    }


def run_split(
    train: pd.DataFrame, test: pd.DataFrame, quick: bool, baseline: str
) -> tuple[list, list[str], list[str]]:
    """Fit every model on ``train``, score ``test``.

    Returns table rows, a log of choices, and the paired comparisons with ``baseline``.
    """
    Xtr, Xte = chowell_features(train), chowell_features(test)
    Xtr = Xtr.drop(columns=["msi_score"], errors="ignore")  # absent from the LORIS layout
    Xte = Xte[Xtr.columns]
    ytr, yte = outcomes(train), outcomes(test)
    y = ytr["response"]
    notes: list[str] = []
    rows: list[tuple[str, dict[str, str]]] = []
    preds: dict[str, np.ndarray] = {}  # test probabilities, for the paired comparisons

    def add(name: str, p: np.ndarray) -> None:
        preds[name] = p
        rows.append((name, response_cells(p, yte)))

    # --- published baselines, refit
    add("TMB", TMBThreshold().fit(Xtr, y).predict_proba(Xte)[:, 1])
    add("LLR6", LorisLLR6(features=LLR6_FEATURES).fit(Xtr, y).predict_proba(Xte)[:, 1])
    add("RF16", RF16Forest(features=RF16_FEATURES).fit(Xtr, y).predict_proba(Xte)[:, 1])

    # --- our response candidates (all on the same training-only footing)
    _, llr_search = tune(load_spec("llr_tuned"), linear_view(Xtr), y)
    notes.append(f"llr_tuned: C={llr_search.best_params_['C']} "
                 f"(inner AUC {llr_search.best_score_:.3f})")
    xgb_spec = spec_for("xgb_response", quick).model_copy(update={"calibrate": False})
    _, xgb_search = tune(xgb_spec, Xtr, y)
    notes.append(f"xgb ({xgb_spec.search.n_iter} candidates): {fmt_params(xgb_search.best_params_)} "
                 f"(inner AUC {xgb_search.best_score_:.3f})")
    c_best = llr_search.best_params_["C"]
    # LORIS recipe on all features: C from the llr_tuned grid by 5-fold AUC on the training
    # patients (same footing as the other tuned members: tuned once, then cross-validated).
    all_features = [c for c in Xtr.columns if c != "cancer_group"]
    loris_search = loris_all_tuned(all_features, load_spec("llr_tuned").search.space["C"])
    loris_search.fit(Xtr, y)
    notes.append(f"{LORIS_ALL}: C={loris_search.best_params_['C']} "
                 f"(inner AUC {loris_search.best_score_:.3f})")
    members = {
        "LLR (all, tuned C)": LinearLLR(C=c_best),
        "XGB (tuned)": xgb_spec.build(**xgb_search.best_params_),
        "RF (all features)": RF16Forest(n_estimators=300),  # 300 trees: CV cost on 2 cores
        # LORIS recipe (caps, median imputation, every column standardised, L1) on all features.
        LORIS_ALL: LorisLLR6(C=loris_search.best_params_["C"], features=all_features),
        # The published LLR6 recipe itself (C = 0.1, 6 features), as a member.
        LLR6_MEMBER: LorisLLR6(features=LLR6_FEATURES),
    }
    oof = {}
    for name, model in members.items():
        t0 = time.perf_counter()
        oof[name] = oof_proba(model, Xtr, y)
        log.warning("inner CV %s: %.0f s", name, time.perf_counter() - t0)
    # Same folds, members fitted on the same fold data: an average's OOF is their mean.
    for ens_name, names in AVERAGES.items():
        oof[ens_name] = np.mean([oof[n] for n in names], axis=0)
    # Stacking (StackingClassifier's recipe): meta logistic regression on the members' OOF
    # probabilities (training only); its own inner-CV AUC from a second-level 5-fold CV of the
    # meta model on those OOF features.
    stack_names = list(members)
    z = np.column_stack([oof[n] for n in stack_names])
    oof[STACK] = oof_proba(LogisticRegression(C=1.0), z, y, seed=1)
    for name, p in oof.items():
        notes.append(f"inner-CV {name}: AUC {auc_score(y, p):.3f}, "
                     f"cal. slope {calibration_slope(y, p):.2f}"
                     + (" (= the LLR6 row's model)" if name == LLR6_MEMBER else ""))
    selected = max(oof, key=lambda n: auc_score(y, oof[n]))
    notes.append(f"selected by inner-CV AUC: {selected}")

    fitted = {name: model.fit(Xtr, y) for name, model in members.items()}
    # How optimistic is "tune on all training, then cross-validate"? The nested version (C
    # re-tuned inside every outer fold) of the same candidate, as a diagnostic only.
    nested = oof_proba(clone(loris_search), Xtr, y)
    notes.append(f"nested inner-CV {LORIS_ALL} (C re-tuned in each fold; diagnostic, not used "
                 f"for selection): AUC {auc_score(y, nested):.3f}")
    candidates: dict[str, object] = dict(members)
    p_test = {name: m.predict_proba(Xte)[:, 1] for name, m in fitted.items()}
    for ens_name, names in AVERAGES.items():
        # Soft voting with equal weights = the mean of the fitted members' probabilities
        # (reused here instead of refitting the same members inside a VotingClassifier).
        candidates[ens_name] = VotingClassifier([(n, members[n]) for n in names], voting="soft")
        p_test[ens_name] = np.mean([p_test[n] for n in names], axis=0)
    # The stack's meta model on the members' training OOF probabilities, as StackingClassifier
    # fits it (the fitted members reused).
    meta = LogisticRegression(C=1.0).fit(z, y)
    notes.append(f"{STACK} meta coefficients: " + ", ".join(
        f"{n} {c:.2f}" for n, c in zip(stack_names, meta.coef_[0], strict=True)))
    candidates[STACK] = stacking(members)
    p_test[STACK] = meta.predict_proba(np.column_stack([p_test[n] for n in stack_names]))[:, 1]
    for name, p in p_test.items():
        if name != LLR6_MEMBER:  # identical to the LLR6 row
            add(name, p)

    calibrated = CalibratedResponse(candidates[selected]).fit(Xtr, y)
    notes.append(f"calibration of {selected}: {calibrated.method_} "
                 f"(inner log-loss {calibrated.method_losses_})")
    add(f"Ours: {selected} + calibration", calibrated.predict_proba(Xte)[:, 1])
    platt = platt_on_oof(oof[selected], y)
    notes.append(f"Platt on inner-CV OOF of {selected}: slope {platt.coef_[0, 0]:.2f}, "
                 f"intercept {platt.intercept_[0]:.2f}")
    add(f"Ours: {selected} + Platt on inner OOF", apply_platt(platt, p_test[selected]))
    # Calibration study: unweighted LLR (no class_weight balancing), same C.
    unbal = UnbalancedLLR(C=c_best)
    p_unbal_oof = oof_proba(unbal, Xtr, y)
    notes.append(f"inner-CV LLR unbalanced: AUC {auc_score(y, p_unbal_oof):.3f}, "
                 f"cal. slope {calibration_slope(y, p_unbal_oof):.2f}")
    add("LLR (all, tuned C, unbalanced)", unbal.fit(Xtr, y).predict_proba(Xte)[:, 1])

    # --- survival models (OS and PFS), tuned by inner-CV Harrell C
    risk_os: dict[str, np.ndarray] = {}
    for spec_name, view in (("coxph", linear_view), ("xgb_cox", lambda X: X)):
        spec = spec_for(spec_name, quick)
        risk = {}
        for endpoint in ("os", "pfs"):
            model, search = tune(spec, view(Xtr), ytr[endpoint])
            risk[endpoint] = model.predict(view(Xte))
            notes.append(f"{spec_name} {endpoint}: {fmt_params(search.best_params_)} "
                         f"(inner C {search.best_score_:.3f})")
        rows.append((f"Ours: {spec_name} (OS/PFS)", survival_cells(risk, yte)))
        risk_os[f"Ours: {spec_name}"] = risk["os"]
    return rows, notes, paired_table(yte, preds, risk_os, baseline)


# ------------------------------------------------------------------------------------------------
# row 3: leave-one-centre-out on the synthetic network
# ------------------------------------------------------------------------------------------------


def synthetic_cohort(out: Path) -> pd.DataFrame:
    """Generate the network and flatten every centre (through the loaders) into one frame."""
    from icipredict.cohort.loaders import load_source
    from icipredict.features.builder import patient_frame
    from icipredict.synthetic import generate_network

    net = generate_network(out, n_patients=LOCO_PATIENTS, seed=LOCO_SEED)
    frames = [patient_frame(load_source(src, centre=c), include_outcomes=True)
              for c, src in net.sources.items()]
    df = pd.concat(frames)
    df = df[df["responder"].notna() & df["os_months"].notna() & df["pfs_months"].notna()]
    return df


def _builder(name: str):  # noqa: ANN202
    """FeatureBuilder of a spec in ``models/features`` without the imaging modality."""
    from icipredict.features.builder import FeatureBuilder
    from icipredict.features.spec import read_spec

    spec = read_spec(ROOT / "models" / "features" / f"{name}.yaml")
    spec = spec.model_copy(update={"modalities": [m for m in spec.modalities if m != "imaging"]})
    return FeatureBuilder(spec)


def _targets(df: pd.DataFrame) -> dict[str, np.ndarray]:
    return {
        "response": df["responder"].to_numpy(dtype=int),
        "os": Surv.from_arrays(df["os_event"].astype(bool), df["os_months"].astype(float)),
        "pfs": Surv.from_arrays(df["pfs_event"].astype(bool), df["pfs_months"].astype(float)),
    }


def loco_fold(train: pd.DataFrame, test: pd.DataFrame, quick: bool) -> tuple[dict, list[str]]:
    """Fit every LOCO model on the training centres; return test predictions and notes."""
    ytr = _targets(train)
    y = ytr["response"]
    feats = {}
    for name in ("full", "loris", "rf16"):
        fb = _builder(name).fit(train)
        feats[name] = (fb.transform(train), fb.transform(test))
    pred: dict[str, np.ndarray] = {}
    notes: list[str] = []
    pred["TMB"] = TMBThreshold().fit(train[["tmb"]], y).predict_proba(test[["tmb"]])[:, 1]
    Ltr, Lte = feats["loris"]  # builder already caps and scales as LORIS does
    pred["LLR6"] = LorisLLR6(caps={}).fit(Ltr, y).predict_proba(Lte)[:, 1]
    Rtr, Rte = feats["rf16"]
    pred["RF16-style"] = RF16Forest().fit(Rtr, y).predict_proba(Rte)[:, 1]

    Ftr, Fte = feats["full"]
    _, llr_search = tune(load_spec("llr_tuned"), linear_view(Ftr), y)
    xgb_spec = spec_for("xgb_response", quick).model_copy(update={"calibrate": False})
    _, xgb_search = tune(xgb_spec, Ftr, y)
    llr = LinearLLR(C=llr_search.best_params_["C"]).fit(Ftr, y)
    xgb = xgb_spec.build(**xgb_search.best_params_).fit(Ftr, y)
    pred["LLR (all, tuned C)"] = llr.predict_proba(Fte)[:, 1]
    pred["XGB (tuned)"] = xgb.predict_proba(Fte)[:, 1]
    pred["Ensemble (LLR+XGB)"] = (pred["LLR (all, tuned C)"] + pred["XGB (tuned)"]) / 2
    ens = VotingClassifier([("llr", LinearLLR(C=llr_search.best_params_["C"])),
                            ("xgb", xgb_spec.build(**xgb_search.best_params_))], voting="soft")
    cal = CalibratedResponse(ens).fit(Ftr, y)
    pred["Ours: Ensemble + calibration"] = cal.predict_proba(Fte)[:, 1]
    notes.append(f"C={llr_search.best_params_['C']}, xgb inner AUC "
                 f"{xgb_search.best_score_:.3f}, calibration {cal.method_}")
    for spec_name, view in (("coxph", linear_view), ("xgb_cox", lambda X: X)):
        spec = spec_for(spec_name, quick, ridge_only=True)
        for endpoint in ("os", "pfs"):
            model, search = tune(spec, view(Ftr), ytr[endpoint])
            pred[f"{spec_name}|{endpoint}"] = model.predict(view(Fte))
            notes.append(f"{spec_name} {endpoint} {fmt_params(search.best_params_)}")
    return pred, notes


def run_loco(quick: bool) -> tuple[list, list[str], int, list[str]]:
    """Leave-one-centre-out on the synthetic network; pooled out-of-fold metrics."""
    with tempfile.TemporaryDirectory() as tmp:
        df = synthetic_cohort(Path(tmp))
    splitter = LeaveOneCentreOut()
    centres = splitter.test_centres(df)
    parts, notes = [], []
    for centre, (tr, te) in zip(centres, splitter.split(df), strict=True):
        t0 = time.perf_counter()
        pred, fold_notes = loco_fold(df.iloc[tr], df.iloc[te], quick)
        part = pd.DataFrame(pred, index=df.index[te])
        part["centre"] = centre
        parts.append(part)
        notes.append(f"held out {centre} (n={te.size}): " + "; ".join(fold_notes)
                     + f" ({time.perf_counter() - t0:.0f} s)")
        log.warning(notes[-1])
    oof = pd.concat(parts).loc[df.index]
    y = _targets(df)
    rows: list[tuple[str, dict[str, str]]] = []
    for name in [c for c in oof.columns if c != "centre" and "|" not in c]:
        cells = response_cells(oof[name].to_numpy(), y)
        per = [auc_score(df["responder"].to_numpy(dtype=int)[m], oof[name].to_numpy()[m])
               for m in (oof["centre"] == c for c in centres)]
        cells["per-centre AUC range"] = f"{min(per):.3f}-{max(per):.3f}"
        cells["OS C within centre [95% CI]"] = within_centre_cell(
            -oof[name].to_numpy(), y, oof["centre"].to_numpy())
        rows.append((name, cells))
    for spec_name in ("coxph", "xgb_cox"):
        risk = {e: oof[f"{spec_name}|{e}"].to_numpy() for e in ("os", "pfs")}
        cells = survival_cells(risk, y)
        cells["per-centre AUC range"] = "-"
        cells["OS C within centre [95% CI]"] = within_centre_cell(risk["os"], y,
                                                                  oof["centre"].to_numpy())
        rows.append((f"Ours: {spec_name} (OS/PFS)", cells))
    names = [c for c in oof.columns if c != "centre" and "|" not in c]
    paired = paired_table(y, {n: oof[n].to_numpy() for n in names},
                          {f"Ours: {s}": oof[f"{s}|os"].to_numpy() for s in ("coxph", "xgb_cox")},
                          BASELINE["loco"])
    counts = df.groupby("centre").size()
    notes.insert(0, "patients per centre: " + ", ".join(f"{c} {n}" for c, n in counts.items())
                 + f"; responders {df['responder'].mean():.1%}")
    return rows, notes, len(df), paired


# ------------------------------------------------------------------------------------------------
# report
# ------------------------------------------------------------------------------------------------


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()[:12]


def provenance(quick: bool) -> list[str]:
    """Date, machine, package versions and data fingerprints of this run."""
    pkgs = ", ".join(f"{p} {version(p)}" for p in (
        "numpy", "scikit-learn", "xgboost-cpu", "lifelines", "scikit-survival"))
    files = ", ".join(f"`{f}` sha256:{_sha(DATA / f)}" for s in SPLITS.values() for f in s[1:])
    return [
        f"- measured: {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC"
        + (" (**--quick smoke run**)" if quick else ""),
        f"- machine: {platform.platform()}, {os.cpu_count()} CPUs (shared with other jobs), "
        f"Python {platform.python_version()}; {pkgs}",
        f"- data: `../shared/data/ici/chowell2022` ({files}); synthetic network "
        f"`generate_network(n_patients={LOCO_PATIENTS}, seed={LOCO_SEED})`, no imaging features",
        f"- cost settings: random-search candidates "
        f"{N_ITER['quick' if quick else 'full'] or 'as in the specs'}; Cox search in the "
        "leave-one-centre-out row ridge only (l1_ratio 0); "
        f"XGBoost {XGB_THREADS} thread/fit x {SEARCH_JOBS} parallel candidates, "
        f"{N_BOOT} bootstrap resamples",
    ]


NOTES_MARK = "<!-- notes: hand-written below this line, kept by quality.py -->"


def kept_notes(out: Path) -> list[str]:
    """The hand-written notes section of an existing report (kept across runs)."""
    if not out.is_file() or NOTES_MARK not in out.read_text():
        return [NOTES_MARK, ""]
    return [NOTES_MARK + out.read_text().split(NOTES_MARK, 1)[1]]


#: Section heading prefix of each row in the report (to keep rows that were not re-run).
ROW_HEADINGS = {"chowell": "## Chowell", "loris": "## LORIS", "loco": "## Leave-one-centre-out"}


def kept_rows(out: Path) -> dict[str, list[str]]:
    """The row sections of an existing report, by row key (kept when a run skips that row)."""
    if not out.is_file():
        return {}
    body = out.read_text().split(NOTES_MARK, 1)[0].splitlines()
    sections: dict[str, list[str]] = {}
    current = None
    for line in body:
        if line.startswith("## "):
            current = next((k for k, h in ROW_HEADINGS.items() if line.startswith(h)), None)
        if current is not None:
            sections.setdefault(current, []).append(line)
    return sections


def report(head: list[str], sections: dict[str, list[str]], out: Path) -> str:
    """Header, the row sections in the fixed order, then the kept hand-written notes."""
    body = [line for key in ROW_HEADINGS if key in sections for line in sections[key]]
    return "\n".join(head + body + kept_notes(out))


def main() -> None:
    """Run the chosen rows, print the tables and write ``benchmarks/quality.md``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small searches (smoke run)")
    parser.add_argument("--rows", nargs="+", choices=["chowell", "loris", "loco"],
                        default=["chowell", "loris", "loco"])
    parser.add_argument("--out", type=Path, default=HERE / "quality.md")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(message)s")
    if not DATA.is_dir():
        raise SystemExit(f"real data folder {DATA} is absent: nothing to benchmark")
    lines = ["# Quality against published numbers", "",
             "Generated by `benchmarks/quality.py`" + (" --quick" if args.quick else "")
             + "; bootstrap CIs over patients (icipredict.evaluation.metrics / "
             "survival_metrics). Response-model C-indices are of the negated probability.", "",
             *provenance(args.quick)]
    sections = kept_rows(args.out)
    kept = [k for k in sections if k not in args.rows]
    lines += ([f"- rows re-run now: {', '.join(args.rows)}; kept from the previous report "
               f"(earlier run, same script otherwise): {', '.join(kept)}"] if kept else []) + [""]
    for key in args.rows:
        row: list[str] = []
        t0 = time.perf_counter()
        if key == "loco":
            rows, notes, n, paired = run_loco(args.quick)
            row += [f"## Leave-one-centre-out, synthetic network ({n} patients, 6 centres)",
                      "", "Pooled out-of-fold predictions of the six held-out centres; features "
                      "by FeatureBuilder (specs `full`, `loris`, `rf16`, imaging modality "
                      "skipped) fitted on the training centres only. The pooled C compares "
                      "patients scored by different fold models; the within-centre OS C counts "
                      "only pairs of one held-out centre.", ""]
        else:
            title, train_file, test_file = SPLITS[key]
            train, test = pd.read_csv(DATA / train_file), pd.read_csv(DATA / test_file)
            rows, notes, paired = run_split(train, test, args.quick, BASELINE[key])
            row += [f"## {title} (train n={len(train)}, test n={len(test)})", "",
                      f"Published: {PUBLISHED[key]}", ""]
        row += [to_markdown(_table(rows)), "", *paired, "Choices made on training data:", ""]
        row += [f"- {n}" for n in notes]
        row += ["", f"({time.perf_counter() - t0:.0f} s)", ""]
        print("\n".join(row), flush=True)
        sections[key] = row
        # after every row, so a crash keeps the finished rows (and the rows not re-run)
        args.out.write_text(report(lines, sections, args.out))
    args.out.write_text(report(lines, sections, args.out))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
