"""Coverage of the 95% response intervals on the synthetic network's known truth.

The generator knows each patient's true response probability (``truth.parquet``:
``p_response``). Every registered response model family is trained as the pipeline trains it
(5-fold out-of-fold probabilities, then the final model on all training patients) on a few
disjoint training sets drawn from one network, and scored on the same held-out test patients.
For each family and interval method the table gives the mean width and the share of test
patients whose interval contains:

- ``p_response``: the generator's probability, which includes a latent lesion-texture score
  (logit coefficient ``texture_z`` in ``truth.yaml``) that none of these models' inputs
  measures, and centre offsets (no model reads the centre);
- ``p_inputs``: the same with the texture score averaged out (Gauss-Hermite over its N(0, 1)):
  the probability given everything but the latent texture;
- ``rate``: the response rate of test patients the final model scores alike (mean
  ``p_response`` of the 200 test patients nearest in score): what the shipped interval
  guarantees to cover.

Methods: the shipped Venn predictor on score bins with Clopper-Pearson bounds
(:mod:`icipredict.evaluation.uncertainty`); the former bootstrap refits plus recalibration
spread (re-implemented here, ``--refits``); plain Venn-Abers ``[p0, p1]`` (the ``venn-abers``
package, inductive, on the out-of-fold predictions); and a reference row "oracle": the central
95% of the true probabilities of the 200 test patients nearest in score (uses the truth: the
width any interval would need to cover 95% of true probabilities). Conformal classification
(``crepes``) gives label sets, not a probability interval: its line reports the share of
patients whose 95% set is {0, 1} and the label coverage.

``--survival`` measures the 95% survival intervals instead
(:mod:`icipredict.evaluation.survival_uncertainty`: Kaplan-Meier bands of held-out risk-score
bins) for a penalised Cox and an XGBoost Cox model, OS and PFS at 6, 12 and 24 months. The
generator gives each patient's true survival function (Weibull proportional hazards, PFS =
min(progression, death)); coverage of ``S_true`` (given the patient's realised response),
``S_baseline`` (before response is known: the mixture over response with ``p_response``) and
``rate`` (mean ``S_baseline`` of the 200 test patients nearest in risk score), with the oracle's
width (central 95% of ``S_baseline`` at this score).

Usage::

    .venv/bin/python benchmarks/interval_coverage.py                # ~20 min on 2 cores
    .venv/bin/python benchmarks/interval_coverage.py --quick        # 2 families, 1 set, no refits
    .venv/bin/python benchmarks/interval_coverage.py --survival     # ~5 min; --quick: Cox, 1 set
"""

from __future__ import annotations

import argparse
import logging
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import yaml
from scipy.special import expit, logit

from icipredict.cohort.loaders import load_source
from icipredict.evaluation.uncertainty import response_interval, response_interval_table
from icipredict.evaluation.validation import StratifiedKFoldCV, cross_validate_predictions
from icipredict.features.builder import patient_frame
from icipredict.features.spec import read_spec
from icipredict.modeling.experiment import ExperimentModels, responder_target, response_strata
from icipredict.modeling.spec import load_spec
from icipredict.synthetic import generate_network
from icipredict.training.pipeline import pooled_predictions

ROOT = Path(__file__).resolve().parents[1]
#: Test patients nearest in score whose mean / central 95% define "rate" / the oracle.
NEIGHBOURS = 200
Z95 = 1.959963984540054

SPECS = {
    "tmb_only.yaml": "name: tmb_only\nmodalities: [genomic]\ngenomic: [tmb]\ngenes: []\n"
                     "cancer_type: none\nimputation: median\nscaling: none\n"
                     "missing_indicators: false\n",
    "xgb_calibrated.yaml": "name: xgb_calibrated\ntask: response\nestimator: XGBResponse\n"
                           "params: {n_estimators: 300, learning_rate: 0.03, max_depth: 3, "
                           "min_child_weight: 5, subsample: 0.8, colsample_bytree: 0.8, "
                           "random_state: 0, n_jobs: 1}\ncalibrate: true\n",
    "xgb_cox_fixed.yaml": "name: xgb_cox_fixed\ntask: survival\nestimator: XGBCoxSurvival\n"
                          "params: {n_estimators: 300, learning_rate: 0.03, max_depth: 2, "
                          "min_child_weight: 5, random_state: 0, n_jobs: 1}\n",
    "rf16.yaml": "name: rf16\ntask: response\nestimator: RF16Forest\nparams: {n_estimators: "
                 "1000, max_depth: 8, min_samples_leaf: 20, min_samples_split: 2, "
                 "random_state: 0, n_jobs: 2}\n",
}
#: Months at which the survival intervals are measured (the experiments' default horizons).
HORIZONS = [6.0, 12.0, 24.0]
#: Survival family -> (feature spec, model spec), as FAMILIES.
SURVIVAL_FAMILIES = {
    "Cox PH, penalised (the demo's)": ("models/features/full.yaml",
                                       "experiments/demo/coxph_fixed.yaml"),
    "XGBoost Cox (models/xgb_cox.yaml, no search)": ("models/features/full.yaml",
                                                     "xgb_cox_fixed.yaml"),
}
#: family -> (feature spec, model spec); names in SPECS are written to a temp folder.
FAMILIES = {
    "XGBoost, calibrated (models/xgb_response.yaml, no search)":
        ("models/features/full.yaml", "xgb_calibrated.yaml"),
    "XGBoost, plain (the demo's)":
        ("models/features/full.yaml", "experiments/demo/response_xgb_small.yaml"),
    "LLR6 (LORIS logistic)": ("models/features/loris.yaml", "models/llr6.yaml"),
    "RF16 (Chowell forest)": ("models/features/rf16.yaml", "rf16.yaml"),
    "TMB >= 10 (TMB threshold)": ("tmb_only.yaml", "models/tmb10.yaml"),
}


def network_frame(folder: Path, n: int, seed: int, *, known_response: bool = True
                  ) -> pd.DataFrame:
    """Observed patients (with a known response unless ``known_response`` is False), plus
    ``p_response``, ``p_inputs`` and the truth's ``responder``, ``os_log_hazard`` and
    ``pfs_log_hazard``."""
    generate_network(folder, n_patients=n, seed=seed, workers=1)
    network = yaml.safe_load((folder / "network.yaml").read_text())
    df = pd.concat([patient_frame(load_source(folder / c["source"], centre=c["name"]),
                                  include_outcomes=True) for c in network["centres"]])
    truth = pd.read_parquet(folder / "truth.parquet").set_index(["centre",
                                                                 "source_patient_id"])
    texture = yaml.safe_load((folder / "truth.yaml").read_text())
    coef = texture["response_model"]["coefficients"]["texture_z"]
    rows = truth.loc[pd.MultiIndex.from_arrays([df["centre"], df.index])]
    df["p_response"] = rows["p_response"].to_numpy()
    lp = rows["lp_response"].to_numpy() - coef * rows["texture_z"].to_numpy()
    z, w = np.polynomial.hermite_e.hermegauss(40)
    df["p_inputs"] = expit(lp[:, None] + coef * z[None, :]) @ (w / w.sum())
    for col in ("os_log_hazard", "pfs_log_hazard"):
        df[col] = rows[col].to_numpy()
    df["true_responder"] = rows["responder"].to_numpy(dtype=float)
    return df[df["responder"].notna()] if known_response else df


def out_of_fold(feature_spec, model_spec, train: pd.DataFrame, seed: int
                ) -> tuple[np.ndarray, np.ndarray, ExperimentModels]:
    """Held-out probabilities and labels (5-fold, as the pipeline), and the final models."""
    est = ExperimentModels(feature_spec, model_spec, None, ["response"])
    long = cross_validate_predictions(est, train, response_strata(train),
                                      StratifiedKFoldCV(5, random_state=seed),
                                      method="predict")
    oof = pooled_predictions(long, train, "kfold")
    ok, y = responder_target(train.loc[oof.index])
    final = ExperimentModels(feature_spec, model_spec, None, ["response"]).fit(train)
    return oof["prob"].to_numpy()[ok], y, final


def bootstrap_interval(final: ExperimentModels, train: pd.DataFrame, Xt: pd.DataFrame,
                       p: np.ndarray, y_oof: np.ndarray, p_oof: np.ndarray, refits: int,
                       seed: int) -> tuple[np.ndarray, np.ndarray]:
    """The former interval: spread of ``refits`` bootstrap refits plus the bootstrap
    covariance of a logistic recalibration of the held-out predictions (logit scale)."""
    from sklearn.base import clone
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(seed)
    ok, y = responder_target(train)
    X = final.builder_.transform(train)[ok]
    draws = []
    for _ in range(refits):
        idx = np.concatenate([rng.choice(np.flatnonzero(y == c), (y == c).sum())
                              for c in (0, 1)])
        model = clone(final.response_).fit(X.iloc[idx], y[idx])
        draws.append(model.predict_proba(Xt)[:, 1])
    s = logit(np.clip(p, 1e-6, 1 - 1e-6))
    var = np.var(logit(np.clip(np.stack(draws, 1), 1e-6, 1 - 1e-6)), axis=1, ddof=1)
    so = logit(np.clip(p_oof, 1e-6, 1 - 1e-6)).reshape(-1, 1)
    coefs = []
    for _ in range(200):
        idx = rng.integers(0, len(so), len(so))
        fit = LogisticRegression(C=1e6).fit(so[idx], y_oof[idx])
        coefs.append([fit.intercept_[0], fit.coef_[0, 0]])
    (vaa, vab), (_, vbb) = np.cov(np.asarray(coefs).T)
    sd = np.sqrt(var + np.maximum(vaa + 2 * s * vab + s * s * vbb, 0))
    return expit(s - Z95 * sd), expit(s + Z95 * sd)


def neighbours(score: np.ndarray, truth: np.ndarray) -> tuple[np.ndarray, ...]:
    """Per patient: mean, 2.5% and 97.5% of ``truth`` over the test patients nearest in score."""
    order = np.argsort(score, kind="stable")
    n, k = len(score), min(NEIGHBOURS, len(score))
    mean, low, high = (np.empty(n) for _ in range(3))
    for pos, i in enumerate(order):
        start = min(max(pos - k // 2, 0), n - k)
        window = truth[order[start:start + k]]
        mean[i] = window.mean()
        low[i], high[i] = np.quantile(window, [0.025, 0.975])
    return mean, low, high


def conformal_sets(p_oof: np.ndarray, y: np.ndarray, p: np.ndarray, y_test: np.ndarray
                   ) -> dict[str, float]:
    """crepes' conformal classifier at 95%: share of {0, 1} sets and label coverage."""
    from crepes import ConformalClassifier
    from crepes.extras import hinge

    cal = np.column_stack([1 - p_oof, p_oof])
    cc = ConformalClassifier().fit(hinge(cal, classes=np.array([0, 1]), y=y))
    sets = cc.predict_set(hinge(np.column_stack([1 - p, p])), confidence=0.95, seed=0)
    return {"both": float(np.mean(sets.sum(axis=1) == 2)),
            "label_coverage": float(np.mean(sets[np.arange(len(p)), y_test.astype(int)]))}


def intervals(p: np.ndarray, p_oof: np.ndarray, y: np.ndarray, oracle: tuple
              ) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """The interval of each method (the bootstrap one is added by the caller)."""
    from venn_abers import VennAbers

    va = VennAbers().fit(np.column_stack([1 - p_oof, p_oof]), y)
    _, p01 = va.predict_proba(np.column_stack([1 - p, p]))
    return {"Venn bins + Clopper-Pearson (shipped)":
            response_interval(p, response_interval_table(y, p_oof)),
            "Venn-Abers [p0, p1] (venn-abers)": (p01[:, 0], p01[:, 1]),
            "oracle: central 95% of true p at this score": oracle}


def run_family(name: str, test: pd.DataFrame, trains: list[pd.DataFrame], spec_dir: Path,
               refits: int) -> tuple[list[dict], list[dict]]:
    """Rows of the coverage table (one per method and training set) and conformal lines."""
    fspec, mspec = FAMILIES[name]
    path = {f: spec_dir / f if f in SPECS else ROOT / f for f in (fspec, mspec)}
    feature_spec, model_spec = read_spec(path[fspec]), load_spec(path[mspec])
    rows, conformal = [], []
    for r, train in enumerate(trains):
        start = time.perf_counter()
        p_oof, y, final = out_of_fold(feature_spec, model_spec, train, r)
        Xt = final.builder_.transform(test)
        p = final.response_.predict_proba(Xt)[:, 1]
        rate, lo, hi = neighbours(p, test["p_response"].to_numpy())
        found = intervals(p, p_oof, y, (lo, hi))
        if refits > 0:
            found["bootstrap refits + recalibration (before)"] = bootstrap_interval(
                final, train, Xt, p, y, p_oof, refits, r)
        truths = {"p_response": test["p_response"].to_numpy(),
                  "p_inputs": test["p_inputs"].to_numpy(), "rate": rate}
        for method, (low, high) in found.items():
            row = {"family": name, "method": method, "set": r, "width": np.mean(high - low)}
            for key, value in truths.items():
                row[key] = np.mean((low <= value + 1e-12) & (value <= high + 1e-12))
            rows.append(row)
        conformal.append(conformal_sets(p_oof, y, p, test["responder"].to_numpy()))
        logging.getLogger(__name__).info("%s set %d: %.0f s", name, r, time.perf_counter() - start)
    return rows, conformal


# ------------------------------------------------------------------------------ survival
def true_survival(df: pd.DataFrame, end: str, h: float, responder: np.ndarray) -> np.ndarray:
    """The generator's ``S(h)`` of each patient had their response been ``responder``
    (Weibull PH; PFS = min(progression, death), independent draws)."""
    from icipredict.synthetic.model import (
        OS_COEF,
        OS_SCALE,
        OS_SHAPE,
        PFS_COEF,
        PFS_SCALE,
        PFS_SHAPE,
    )

    shift = responder - df["true_responder"].to_numpy()
    eta_os = df["os_log_hazard"].to_numpy() + OS_COEF["responder"] * shift
    s = np.exp(-((h / OS_SCALE) ** OS_SHAPE) * np.exp(eta_os))
    if end == "pfs":
        eta = df["pfs_log_hazard"].to_numpy() + PFS_COEF["responder"] * shift
        s = s * np.exp(-((h / PFS_SCALE) ** PFS_SHAPE) * np.exp(eta))
    return s


def survival_truths(df: pd.DataFrame, end: str, h: float) -> dict[str, np.ndarray]:
    """``S_true``: given the patient's realised response (the generator's hazard);
    ``S_baseline``: before the response is known (the mixture over it with ``p_response``)."""
    p = df["p_response"].to_numpy()
    one, zero = (true_survival(df, end, h, np.full(len(df), r)) for r in (1.0, 0.0))
    return {"S_true": true_survival(df, end, h, df["true_responder"].to_numpy()),
            "S_baseline": p * one + (1 - p) * zero}


def run_survival_family(name: str, test: pd.DataFrame, trains: list[pd.DataFrame],
                        spec_dir: Path) -> list[dict]:
    """Rows of the survival coverage table: one per training set, end point and horizon."""
    from icipredict.evaluation.survival_uncertainty import survival_interval
    from icipredict.training.pipeline import survival_interval_inputs

    fspec, mspec = SURVIVAL_FAMILIES[name]
    path = {f: spec_dir / f if f in SPECS else ROOT / f for f in (fspec, mspec)}
    feature_spec, model_spec = read_spec(path[fspec]), load_spec(path[mspec])
    rows = []
    for r, train in enumerate(trains):
        est = ExperimentModels(feature_spec, None, model_spec, ["os", "pfs"])
        long = cross_validate_predictions(est, train, response_strata(train),
                                          StratifiedKFoldCV(5, random_state=r), method="predict")
        oof = pooled_predictions(long, train, "kfold")
        tables = survival_interval_inputs(train.loc[oof.index], oof, HORIZONS) or {}
        final = ExperimentModels(feature_spec, None, model_spec, ["os", "pfs"]).fit(train)
        Xt = final.builder_.transform(test)
        for end, model in final.survival_.items():
            risk = model.predict(Xt)
            point = model.predict_survival(Xt, HORIZONS)
            low, high = survival_interval(risk, np.array(HORIZONS), tables.get(end), point=point)
            for j, h in enumerate(HORIZONS):
                truths = survival_truths(test, end, h)
                rate, lo, hi = neighbours(risk, truths["S_baseline"])
                truths["rate"] = rate
                ok = np.isfinite(low[:, j])
                row = {"family": name, "end": end.upper(), "horizon": h, "set": r,
                       "shown": ok.mean(), "width": np.mean(high[ok, j] - low[ok, j]),
                       "oracle_width": np.mean(hi - lo)}
                for key, value in truths.items():
                    row[key] = np.mean((low[ok, j] <= value[ok] + 1e-12)
                                       & (value[ok] <= high[ok, j] + 1e-12))
                row["oracle_covers_S_true"] = np.mean((lo <= truths["S_true"])
                                                      & (truths["S_true"] <= hi))
                rows.append(row)
    return rows


def survival_main(args: argparse.Namespace) -> None:
    """The survival coverage table (``--survival``)."""
    families = list(SURVIVAL_FAMILIES)[: 1 if args.quick else None]
    sets = 1 if args.quick else args.sets
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        for name, text in SPECS.items():
            (tmp / name).write_text(text)
        df = network_frame(tmp / "net", args.patients, seed=11, known_response=False)
        df = df[df["os_months"].notna() & df["os_event"].notna()]
        order = np.random.default_rng(0).permutation(len(df))
        test = df.iloc[order[:args.test]]
        trains = [df.iloc[order[args.test + k * args.train:args.test + (k + 1) * args.train]]
                  for k in range(sets)]
        rows = []
        for name in families:
            rows += run_survival_family(name, test, trains, tmp)
    res = pd.DataFrame(rows)
    print(f"Synthetic network: {args.patients} patients (seed 11), {len(df)} with known OS; "
          f"{sets} disjoint training set(s) of {args.train}, {args.test} test patients; "
          "coverage = share of test patients (with a non-null interval) whose 95% interval "
          "contains the value (mean over training sets).\n")
    print("| family | end point | month | interval shown | mean width | covers S_true | "
          "covers S_baseline | covers rate | oracle width | oracle covers S_true |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    table = res.groupby(["family", "end", "horizon"], sort=False).mean(numeric_only=True)
    for (family, end, h), row in table.iterrows():
        print(f"| {family} | {end} | {h:g} | {row['shown']:.2f} | {row['width']:.3f} | "
              f"{row['S_true']:.2f} | {row['S_baseline']:.2f} | {row['rate']:.2f} | "
              f"{row['oracle_width']:.3f} | {row['oracle_covers_S_true']:.2f} |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--patients", type=int, default=8000, help="network size")
    ap.add_argument("--train", type=int, default=1500, help="patients per training set")
    ap.add_argument("--test", type=int, default=3000, help="test patients")
    ap.add_argument("--sets", type=int, default=2, help="disjoint training sets")
    ap.add_argument("--refits", type=int, default=20, help="bootstrap refits (0: skip)")
    ap.add_argument("--quick", action="store_true", help="2 fast families, 1 set, no refits")
    ap.add_argument("--survival", action="store_true",
                    help="the survival intervals (OS, PFS) instead of the response interval")
    args = ap.parse_args()
    if args.survival:
        logging.basicConfig(level=logging.INFO, format="%(message)s")
        for noisy in ("icipredict", "xgboost"):
            logging.getLogger(noisy).setLevel(logging.ERROR)
        warnings.filterwarnings("ignore")
        survival_main(args)
        return
    families = list(FAMILIES)
    if args.quick:
        families, args.sets, args.refits = families[1:3], 1, 0
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    for noisy in ("icipredict", "xgboost"):
        logging.getLogger(noisy).setLevel(logging.ERROR)
    warnings.filterwarnings("ignore")
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        for name, text in SPECS.items():
            (tmp / name).write_text(text)
        df = network_frame(tmp / "net", args.patients, seed=11)
        order = np.random.default_rng(0).permutation(len(df))
        test = df.iloc[order[:args.test]]
        trains = [df.iloc[order[args.test + k * args.train:args.test + (k + 1) * args.train]]
                  for k in range(args.sets)]
        rows, conformal = [], {}
        for name in families:
            got, conformal[name] = run_family(name, test, trains, tmp, args.refits)
            rows += got
    report(pd.DataFrame(rows), conformal, args, len(df))


def report(res: pd.DataFrame, conformal: dict[str, list[dict]], args, n: int) -> None:
    """Print the markdown table (means over the training sets)."""
    print(f"Synthetic network: {args.patients} patients (seed 11), {n} with a known response; "
          f"{args.sets} disjoint training set(s) of {args.train}, {args.test} test patients; "
          f"coverage = share of test patients whose 95% interval contains the value "
          f"(mean over training sets).\n")
    print("| family | method | mean width | covers p_response | covers p_inputs | "
          "covers rate |")
    print("|---|---|---|---|---|---|")
    table = res.groupby(["family", "method"], sort=False).mean(numeric_only=True)
    for (family, method), row in table.iterrows():
        print(f"| {family} | {method} | {row['width']:.3f} | {row['p_response']:.2f} | "
              f"{row['p_inputs']:.2f} | {row['rate']:.2f} |")
    print("\nConformal label sets (crepes ConformalClassifier, 95%): share of patients whose set "
          "is {0, 1} (uninformative) / label coverage:")
    for family, lines in conformal.items():
        both = np.mean([c["both"] for c in lines])
        cover = np.mean([c["label_coverage"] for c in lines])
        print(f"- {family}: {both:.2f} / {cover:.2f}")


if __name__ == "__main__":
    main()
