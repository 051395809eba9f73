"""The table that matters: published baselines vs our models on the published test sets.

Rows: the Chowell 2022 random split (test n = 295) and the LORIS year split (test n = 515).
Columns: TMB, LLR6, RF16 (refit with the published recipes) and our models, each with
AUC [95% CI], calibration slope, ECE, OS and PFS Harrell C [95% CI] (response models: C of the
negated probability, as the papers report; survival models: C of their risk score).

Everything is chosen on the training part of each split only: hyperparameters by inner 5-fold CV
(model specs in ``models/``), the calibration method by inner-CV log-loss, and "ours (selected)"
is the candidate with the best inner-CV AUC. The test set is scored once per model.

Usage::

    .venv/bin/python benchmarks/quality.py            # prints and writes benchmarks/quality.md
    .venv/bin/python benchmarks/quality.py --quick    # fewer search iterations (smoke run)
"""

from __future__ import annotations

import argparse
import logging
import time
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.model_selection import StratifiedKFold, cross_val_predict
from sksurv.util import Surv

from icipredict.config import SHARED_DATA
from icipredict.evaluation.metrics import (
    auc_score,
    auc_with_ci,
    calibration_slope,
    expected_calibration_error,
)
from icipredict.evaluation.survival_metrics import harrell_c
from icipredict.modeling.baselines import (
    LLR6_FEATURES,
    RF16_FEATURES,
    LorisLLR6,
    RF16Forest,
    TMBThreshold,
    chowell_features,
    response_target,
)
from icipredict.modeling.response import AveragedEnsemble, CalibratedResponse
from icipredict.modeling.search import tune_and_fit
from icipredict.modeling.spec import load_spec

log = logging.getLogger("quality")
HERE = Path(__file__).resolve().parent
DATA = SHARED_DATA / "ici" / "chowell2022"
SPLITS = {
    "Chowell random split (test)": ("chowell2022_train.csv", "chowell2022_test.csv"),
    "LORIS year split (test)": ("loris_year_split_train.csv", "loris_year_split_test.csv"),
}
PUBLISHED = {
    "Chowell random split (test)": "RF16 0.795 AUC; OS C 0.682, PFS C 0.666 (RF16_prob)",
    "LORIS year split (test)": "LLR6 0.754 AUC; OS C 0.677, PFS C 0.665 (LORIS score)",
}
N_BOOT = 1000


def linear_view(X: pd.DataFrame) -> pd.DataFrame:
    """Log-transform the right-skewed labs/TMB for linear models (fixed a priori, not tuned)."""
    out = X.copy()
    for col in ("tmb", "nlr", "platelets"):
        if col in out:
            out[col] = np.log1p(out[col])
    out = out.drop(columns=[c for c in ("cancer_group",) if c in out])
    return out


def outcomes(df: pd.DataFrame) -> dict[str, np.ndarray]:
    """Response and OS/PFS structured arrays of a published file."""
    return {
        "response": response_target(df),
        "os": Surv.from_arrays(df["OS_Event"].astype(bool), df["OS_Months"].astype(float)),
        "pfs": Surv.from_arrays(df["PFS_Event"].astype(bool), df["PFS_Months"].astype(float)),
    }


def inner_auc(model, X: pd.DataFrame, y: np.ndarray, seed: int = 0) -> float:  # noqa: ANN001
    """5-fold out-of-fold AUC on the training data (model selection, never the test set)."""
    cv = StratifiedKFold(5, shuffle=True, random_state=seed)
    p = cross_val_predict(model, X, y, cv=cv, method="predict_proba")[:, 1]
    return float(auc_score(y, p))


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
    cells = {"AUC [95% CI]": "-", "cal. slope": "-", "ECE": "-"}
    for name in ("os", "pfs"):
        event, t = y[name]["event"], y[name]["time"]
        cells[f"{name.upper()} C [95% CI]"] = str(harrell_c(t, event, risk[name], n_boot=N_BOOT))
    return cells


def to_markdown(table: pd.DataFrame) -> str:
    """A Markdown table without the optional ``tabulate`` dependency."""
    head = ["model", *table.columns]
    out = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    out += ["| " + " | ".join([str(i), *map(str, r)]) + " |" for i, r in table.iterrows()]
    return "\n".join(out)


def run_split(train: pd.DataFrame, test: pd.DataFrame, quick: bool) -> tuple[list, list[str]]:
    """Fit every model on ``train``, score ``test``; return table rows and a log of choices."""
    Xtr, Xte = chowell_features(train), chowell_features(test)
    Xtr = Xtr.drop(columns=["msi_score"], errors="ignore")  # absent from the LORIS layout
    Xte = Xte[Xtr.columns]
    ytr, yte = outcomes(train), outcomes(test)
    notes: list[str] = []
    rows: list[tuple[str, dict[str, str]]] = []

    # --- published baselines, refit
    tmb = TMBThreshold().fit(Xtr, ytr["response"])
    rows.append(("TMB", response_cells(tmb.predict_proba(Xte)[:, 1], yte)))
    llr6 = LorisLLR6(features=LLR6_FEATURES).fit(Xtr, ytr["response"])
    rows.append(("LLR6", response_cells(llr6.predict_proba(Xte)[:, 1], yte)))
    rf16 = RF16Forest(features=RF16_FEATURES).fit(Xtr, ytr["response"])
    rows.append(("RF16", response_cells(rf16.predict_proba(Xte)[:, 1], yte)))

    # --- our response candidates (all on the same training-only footing)
    xgb_spec = load_spec("xgb_response")
    if quick:
        xgb_spec.search.n_iter = 4
    Ltr = linear_view(Xtr)
    llr_spec = load_spec("llr_tuned")
    llr_tuned, llr_search = tune_and_fit(llr_spec, Ltr, ytr["response"])
    notes.append(f"llr_tuned: C={llr_search.best_params_['C']} "
                 f"(inner AUC {llr_search.best_score_:.3f})")
    xgb_base = xgb_spec.model_copy(update={"calibrate": False})
    xgb_fit, xgb_search = tune_and_fit(xgb_base, Xtr, ytr["response"])
    notes.append(f"xgb: {xgb_search.best_params_} (inner AUC {xgb_search.best_score_:.3f})")
    xgb_best = xgb_base.build(**xgb_search.best_params_)

    class _Linear(LorisLLR6):
        """LLR on the log view (so the ensemble can share one X)."""

        def _prepare(self, X):  # noqa: ANN001, ANN202
            return super()._prepare(linear_view(X))

    llr_best = _Linear(C=llr_search.best_params_["C"])
    rf_all = RF16Forest(n_estimators=300)  # 300 trees: CV cost on 2 cores
    candidates = {
        "LLR (all, tuned C)": llr_best,
        "XGB (tuned)": xgb_best,
        "RF (all features)": rf_all,
        "Ensemble (LLR+XGB+RF)": AveragedEnsemble(
            [("llr", llr_best), ("xgb", xgb_best), ("rf", rf_all)]),
    }
    inner = {}
    for name, model in candidates.items():
        t0 = time.perf_counter()
        inner[name] = inner_auc(model, Xtr, ytr["response"])
        notes.append(f"inner-CV AUC {name}: {inner[name]:.3f} ({time.perf_counter() - t0:.0f} s)")
        print(notes[-1], flush=True)
    selected = max(inner, key=inner.get)
    notes.append(f"selected by inner-CV AUC: {selected}")
    for name, model in candidates.items():
        fitted = model.fit(Xtr, ytr["response"])
        rows.append((name, response_cells(fitted.predict_proba(Xte)[:, 1], yte)))
        print(name, rows[-1][1], flush=True)
    calibrated = CalibratedResponse(candidates[selected]).fit(Xtr, ytr["response"])
    notes.append(f"calibration of {selected}: {calibrated.method_} "
                 f"(inner log-loss {calibrated.method_losses_})")
    rows.append((f"Ours: {selected} + calibration",
                 response_cells(calibrated.predict_proba(Xte)[:, 1], yte)))

    # --- survival models (OS and PFS), tuned by inner-CV Harrell C
    for spec_name, view in (("coxph", linear_view), ("xgb_cox", lambda X: X)):
        spec = load_spec(spec_name)
        if quick and spec.search is not None and spec.search.method == "random":
            spec.search.n_iter = 4
        risk = {}
        for endpoint in ("os", "pfs"):
            model, search = tune_and_fit(spec, view(Xtr), ytr[endpoint])
            risk[endpoint] = model.predict(view(Xte))
            notes.append(f"{spec_name} {endpoint}: {search.best_params_} "
                         f"(inner C {search.best_score_:.3f})")
        rows.append((f"Ours: {spec_name} (OS/PFS)", survival_cells(risk, yte)))
    return rows, notes


def main() -> None:
    """Run both splits, print the table and write ``benchmarks/quality.md``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small searches (smoke run)")
    parser.add_argument("--out", type=Path, default=HERE / "quality.md")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    if not DATA.is_dir():
        raise SystemExit(f"real data folder {DATA} is absent: nothing to benchmark")
    lines = ["# Quality against published numbers", "",
             "Generated by `benchmarks/quality.py`"
             + (" --quick" if args.quick else "") + f"; bootstrap CIs with {N_BOOT} resamples "
             "(icipredict.evaluation.metrics / survival_metrics). Response-model C-indices are "
             "of the negated probability. Leave-one-centre-out on the synthetic network: to be "
             "added by the lead.", ""]
    for split, (train_file, test_file) in SPLITS.items():
        t0 = time.perf_counter()
        train, test = pd.read_csv(DATA / train_file), pd.read_csv(DATA / test_file)
        rows, notes = run_split(train, test, args.quick)
        table = pd.DataFrame({name: cells for name, cells in rows}).T
        table.index.name = "model"
        lines += [f"## {split} (train n={len(train)}, test n={len(test)})", "",
                  f"Published: {PUBLISHED[split]}", "", to_markdown(table), "",
                  "Choices made on training data:", ""]
        lines += [f"- {n}" for n in notes]
        lines += ["", f"({time.perf_counter() - t0:.0f} s)", ""]
        print("\n".join(lines[-(len(notes) + 10):]), flush=True)
    args.out.write_text("\n".join(lines))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
