"""External validation of scores on a cohort the model never saw (TRIPOD+AI spirit; no MLflow).

Everything here takes plain arrays/frames and returns JSON-ready dicts. It reuses the package's
metric functions and its one bootstrap (:mod:`icipredict.evaluation.bootstrap`); nothing is
re-implemented:

- :func:`case_mix_shift`: the cohort's inputs against the training domain stored with the model
  (aggregates only), per feature, with the share of patients outside the training range;
- :func:`score_metrics`: response (AUC, AUPRC, Brier, calibration intercept and slope, ECE,
  calibration table, decision curve) and OS/PFS (Harrell's and Uno's C, time-dependent AUC) for
  one score, every number with a bootstrap 95% CI;
- :func:`paired_differences`: the model against a reference on the same patients (paired
  bootstrap of the AUC and C-index differences);
- :func:`subgroup_rows`: per cancer type, counts under :data:`MIN_CELL` suppressed;
- :func:`treatment_interaction`: predictive vs prognostic, the score x treatment interaction of a
  Cox model (lifelines) and the score's C-index in treated and untreated patients.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy.stats import norm

from icipredict._util import finite_float, json_ready
from icipredict.cohort.schema import CohortError
from icipredict.evaluation.bootstrap import (
    N_BOOT,
    Estimate,
    bootstrap_estimate,
    bootstrap_indices,
)
from icipredict.evaluation.compare import compare_auc, compare_c_index
from icipredict.evaluation.decision import decision_curve
from icipredict.evaluation.metrics import calibration_table, response_metrics
from icipredict.evaluation.subgroups import subgroup_metrics
from icipredict.evaluation.survival_metrics import (
    HORIZONS,
    check_survival,
    harrell_c,
    survival_metrics,
    time_dependent_auc,
)

logger = logging.getLogger(__name__)

#: Cells (subgroups, categories) with fewer patients show ``"<5"`` instead of a count.
MIN_CELL = 5
#: ECE binning stated with every ECE (the scheme of :func:`evaluation.metrics.expected_calibration_error`).
ECE_BINNING = "10 equal-width bins on [0, 1]; ECE = sum_k (n_k/n) |observed_k - predicted_k|"
#: Bootstrap resamples of the time-dependent AUC (one sksurv call per resample).
TD_AUC_BOOT = 200


@dataclass
class Score:
    """One score evaluated on the cohort (the model or a reference).

    Parameters
    ----------
    name
        Label in the report (``model``, ``tmb_ge_10``, ``loris_llr6_published``, ...).
    probability
        Response probability per patient (calibration metrics need it), or None.
    rank
        Response ranking score (higher = more likely to respond) when it is not a probability
        (e.g. the TMB >= 10 indicator); defaults to ``probability``.
    os_risk, pfs_risk
        Risk scores for OS/PFS (higher = earlier event), or None.
    label
        Human-readable description.
    """

    name: str
    probability: np.ndarray | None = None
    rank: np.ndarray | None = None
    os_risk: np.ndarray | None = None
    pfs_risk: np.ndarray | None = None
    label: str = ""

    def response_score(self) -> np.ndarray | None:
        """What the AUC ranks: ``rank`` if given, else ``probability``."""
        return self.rank if self.rank is not None else self.probability


def _est(e: Estimate) -> dict[str, float | None]:
    return {"value": finite_float(e.value), "ci_low": finite_float(e.low), "ci_high": finite_float(e.high)}


def cell(count: int) -> int | str:
    """A count, or ``"<5"`` when it is below :data:`MIN_CELL` (and not zero)."""
    return count if count == 0 or count >= MIN_CELL else f"<{MIN_CELL}"


def share(count: int, total: int) -> float | None:
    """``count / total``, or None when the count is suppressed (``0 < count < MIN_CELL``: the
    share would give the count away) or ``total`` is 0."""
    if total == 0 or 0 < count < MIN_CELL:
        return None
    return count / total


# --------------------------------------------------------------------------- case mix
def case_mix_shift(frame: pd.DataFrame, domain: dict[str, Any]) -> dict[str, Any]:
    """The cohort's inputs against the model's training domain (aggregates only).

    Parameters
    ----------
    frame
        The cohort, one row per patient, canonical input columns.
    domain
        The training domain stored with the model
        (:func:`icipredict.registry.bundle.training_domain`).

    Returns
    -------
    dict
        ``numeric``: per feature the training median and IQR, the cohort's median and IQR,
        its missing share, the median shift in training IQRs and the share of patients below
        the training minimum or above its maximum (``outside``); ``categorical``: per column the
        training and cohort shares of each level and the share in levels unseen in training.
    """
    n = len(frame)
    numeric = []
    for name, d in sorted((domain.get("numeric") or {}).items()):
        if name not in frame.columns:
            continue
        v = pd.to_numeric(frame[name], errors="coerce").to_numpy(dtype=float)
        ok = v[np.isfinite(v)]
        row: dict[str, Any] = {"feature": name, "train_median": d.get("q50"),
                               "train_q25": d.get("q25"), "train_q75": d.get("q75"),
                               "n": int(ok.size), "missing_share": 1 - ok.size / n if n else None}
        if ok.size:
            q25, q50, q75 = np.quantile(ok, [0.25, 0.5, 0.75])
            iqr = (d.get("q75") or 0) - (d.get("q25") or 0)
            outside = (ok < d["min"]) | (ok > d["max"])
            row.update({"median": q50, "q25": q25, "q75": q75,
                        "median_shift_iqr": (q50 - d["q50"]) / iqr if iqr > 0 else None,
                        "outside_share": share(int(outside.sum()), ok.size),
                        "outside_n": cell(int(outside.sum()))})
        numeric.append(row)
    categorical = []
    for col, counts in sorted((domain.get("categories") or {}).items()):
        if col not in frame.columns:
            continue
        total = sum(counts.values()) or 1
        seen = frame[col].dropna().astype(str)
        here = seen.value_counts()
        unseen = ~seen.isin(list(counts))
        levels = [{"level": lvl, "train_share": counts.get(lvl, 0) / total,
                   "share": share(int(here.get(lvl, 0)), len(seen)),
                   "n": cell(int(here.get(lvl, 0)))}
                  for lvl in sorted(set(counts) | set(here.index))]
        categorical.append({"column": col, "levels": levels,
                            "unseen_share": share(int(unseen.sum()), len(seen)),
                            "unseen_n": cell(int(unseen.sum()))})
    return json_ready({"n": n, "numeric": numeric, "categorical": categorical})


# --------------------------------------------------------------------------- one score
def _finite(first: np.ndarray, *rest: np.ndarray | None) -> np.ndarray:
    """Patients finite in every array (an absent array, None, keeps nobody)."""
    keep = np.ones(len(first), dtype=bool)
    for a in (first, *rest):
        keep &= np.isfinite(np.asarray(a, dtype=float))
    return keep


def response_block(y: np.ndarray, score: Score, *, n_boot: int, seed: int) -> dict[str, Any]:
    """Response metrics of one score (probabilities: calibration too) with bootstrap CIs."""
    rank = score.response_score()
    keep = _finite(y, rank)
    out: dict[str, Any] = {"n": int(keep.sum()), "n_excluded": int((~keep).sum())}
    yk = y[keep]
    if yk.size == 0 or yk.min() == yk.max():
        out["note"] = "needs responders and non-responders with a score"
        return out
    out["n_responders"] = int(yk.sum())
    if score.probability is None:
        assert rank is not None  # without a score _finite kept nobody: returned above
        rep = response_metrics(yk, _to_unit(rank[keep]), n_boot=n_boot, seed=seed)
        out["auc"] = _est(rep["auc"])
        out["note"] = "not a probability: discrimination only"
        return out
    p = score.probability[keep]
    rep = response_metrics(yk, p, n_boot=n_boot, seed=seed)
    for m in ("auc", "auprc", "brier", "calibration_intercept", "calibration_slope", "ece"):
        out[m] = _est(rep[m])
    out["ece_binning"] = ECE_BINNING
    out["observed_rate"] = float(yk.mean())
    out["mean_predicted"] = float(p.mean())
    out["calibration_curve"] = calibration_table(yk, p).to_dict(orient="records")
    dc = decision_curve(yk, {"score": p}, np.round(np.arange(0.05, 0.65, 0.05), 2),
                        n_boot=n_boot, seed=seed)
    out["decision_curve"] = dc.to_dict(orient="records")
    return out


def _to_unit(x: np.ndarray) -> np.ndarray:
    """Map a ranking score into [0, 1] keeping its order (for the AUC of a non-probability)."""
    x = np.asarray(x, dtype=float)
    lo, hi = float(np.min(x)), float(np.max(x))
    return np.zeros_like(x) if hi == lo else (x - lo) / (hi - lo)


def survival_block(time: np.ndarray, event: np.ndarray, risk: np.ndarray, *,
                   horizons: tuple[float, ...] = HORIZONS, n_boot: int, seed: int,
                   td_boot: int = TD_AUC_BOOT) -> dict[str, Any]:
    """Harrell's and Uno's C and the time-dependent AUC of one risk score, with bootstrap CIs.

    The censoring distribution of Uno's C and the time-dependent AUC is estimated on the cohort
    itself (the model's training follow-up is not stored with it). The time-dependent AUC's CI
    comes from ``td_boot`` resamples (one sksurv call each).
    """
    keep = _finite(time, event, risk)
    out: dict[str, Any] = {"n": int(keep.sum()), "n_excluded": int((~keep).sum())}
    t, e, r = time[keep], event[keep], risk[keep]
    if t.size < 2 or e.sum() == 0:
        out["note"] = "no events: survival metrics undefined"
        return out
    rep = survival_metrics(t, e, r, horizons=horizons, n_boot=n_boot, seed=seed)
    out["n_events"] = rep.n_events
    out["harrell_c"] = _est(rep["harrell_c"])
    out["uno_c"] = _est(rep["uno_c"])
    out["uno_tau"] = rep.info.get("tau")
    out["notes"] = list(rep.notes)
    idx = bootstrap_indices(t.size, td_boot, strata=e, seed=seed) if td_boot else None
    td: dict[str, Any] = {}
    for h in horizons:
        if not np.isfinite(rep.estimates[f"td_auc_{h:g}"].value):
            td[f"{h:g}"] = None
            continue

        def one(tt, ee, rr, h=h):  # noqa: ANN001 - arrays of one resample
            try:
                frame, _ = time_dependent_auc(tt, ee, rr, train_time=tt, train_event=ee,
                                              horizons=(h,))
                return float(frame["auc"].iloc[0])
            except (CohortError, ValueError):
                return math.nan
        est, _ = bootstrap_estimate(one, (t, e.astype(float), r), idx, vectorised=False)
        td[f"{h:g}"] = _est(est)
    out["td_auc"] = td
    return out


def score_metrics(score: Score, outcomes: pd.DataFrame, *, horizons: tuple[float, ...] = HORIZONS,
                  n_boot: int = N_BOOT, seed: int = 0) -> dict[str, Any]:
    """Response and OS/PFS metrics of one score on the cohort (bootstrap 95% CIs).

    Parameters
    ----------
    score
        The score (:class:`Score`).
    outcomes
        Columns ``responder``, ``os_months``/``os_event``, ``pfs_months``/``pfs_event`` (any may
        be absent or missing for some patients).
    horizons
        Months of the time-dependent AUC.
    n_boot, seed
        Bootstrap settings.
    """
    out: dict[str, Any] = {"label": score.label}
    if "responder" in outcomes and score.response_score() is not None:
        y = outcomes["responder"].to_numpy(dtype=float)
        out["response"] = response_block(y, score, n_boot=n_boot, seed=seed)
    for end in ("os", "pfs"):
        risk = getattr(score, f"{end}_risk")
        cols = (f"{end}_months", f"{end}_event")
        if risk is None or not all(c in outcomes for c in cols):
            continue
        out[end] = survival_block(outcomes[cols[0]].to_numpy(dtype=float),
                                  outcomes[cols[1]].to_numpy(dtype=float),
                                  np.asarray(risk, dtype=float), horizons=horizons,
                                  n_boot=n_boot, seed=seed)
    return json_ready(out)


# --------------------------------------------------------------------------- paired
def paired_differences(model: Score, reference: Score, outcomes: pd.DataFrame, *,
                       n_boot: int = N_BOOT, seed: int = 0) -> dict[str, Any]:
    """Model minus reference on the same patients: AUC and Harrell's C (paired bootstrap)."""
    out: dict[str, Any] = {}
    a, b = model.response_score(), reference.response_score()
    if "responder" in outcomes and a is not None and b is not None:
        y = outcomes["responder"].to_numpy(dtype=float)
        keep = _finite(y, a, b)
        if keep.sum() and 0 < y[keep].sum() < keep.sum():
            res = compare_auc(y[keep], a[keep], b[keep], n_boot=n_boot, seed=seed)
            out["auc"] = {"n": res.n, **_est(res.difference), "p_value": res.p_value}
    for end in ("os", "pfs"):
        ra, rb = getattr(model, f"{end}_risk"), getattr(reference, f"{end}_risk")
        cols = (f"{end}_months", f"{end}_event")
        if ra is None or rb is None or not all(c in outcomes for c in cols):
            continue
        t = outcomes[cols[0]].to_numpy(dtype=float)
        e = outcomes[cols[1]].to_numpy(dtype=float)
        keep = _finite(t, e, ra, rb)
        if keep.sum() < 2 or e[keep].sum() == 0:
            continue
        res = compare_c_index(t[keep], e[keep], ra[keep], rb[keep], n_boot=n_boot, seed=seed)
        out[f"{end}_harrell_c"] = {"n": res.n, **_est(res.difference), "p_value": res.p_value}
    return json_ready(out)


# --------------------------------------------------------------------------- subgroups
def subgroup_rows(frame: pd.DataFrame, score: Score, *, group_col: str = "cancer_type",
                  n_boot: int = N_BOOT, seed: int = 0) -> list[dict[str, Any]]:
    """Per cancer type: counts (``"<5"`` under :data:`MIN_CELL`), AUC, Brier, calibration
    intercept and OS Harrell's C where the group has at least 20 patients and 5 of each class
    (:func:`icipredict.evaluation.subgroups.subgroup_metrics`)."""
    if group_col not in frame.columns:
        return []
    df = pd.DataFrame({group_col: frame[group_col].to_numpy()})
    kwargs: dict[str, Any] = {}
    if score.probability is not None and "responder" in frame:
        df["y"] = frame["responder"].to_numpy(dtype=float)
        df["p"] = score.probability
        kwargs.update(y_col="y", prob_col="p")
    if score.os_risk is not None and "os_months" in frame and "os_event" in frame:
        df["t"] = frame["os_months"].to_numpy(dtype=float)
        df["e"] = frame["os_event"].to_numpy(dtype=float)
        df["r"] = score.os_risk
        kwargs.update(time_col="t", event_col="e", risk_col="r")
    if not kwargs:
        return []
    table = subgroup_metrics(df, group_col, n_boot=n_boot, seed=seed, **kwargs)
    rows = []
    for rec in table.to_dict(orient="records"):
        small = rec["n"] < MIN_CELL
        row = {"group": rec["group"], "n": cell(int(rec["n"])), "too_few": bool(rec["too_few"])}
        for key in ("n_responders", "n_events"):
            if key in rec and not small:
                row[key] = cell(int(rec[key]))
        for m in ("auc", "brier", "calibration_intercept", "harrell_c"):
            if m in rec and not small:
                row[m] = {"value": rec[m], "ci_low": rec[f"{m}_ci_low"],
                          "ci_high": rec[f"{m}_ci_high"]}
        n_pos = rec.get("n_responders", 0)
        n_neg = rec.get("n_response_evaluable", 0) - n_pos
        if "observed_rate" in rec and min(n_pos, n_neg) >= MIN_CELL:  # else it gives n away
            row["observed_rate"] = rec["observed_rate"]
            row["mean_predicted"] = rec["mean_predicted"]
        rows.append(row)
    return json_ready(rows)


# --------------------------------------------------------------------------- predictive
def treatment_interaction(time, event, risk, treated, *, n_boot: int = N_BOOT,
                          seed: int = 0, alpha: float = 0.05) -> dict[str, Any]:
    """Is a score predictive of ICI benefit, or only prognostic?

    Fits the Cox model ``h(t) = h0(t) exp(b1 z + b2 treated + b3 z x treated)`` (lifelines
    ``CoxPHFitter``), with ``z`` the risk score standardised over both groups (per SD). ``exp(b3)``
    is the ratio of the score's hazard ratio per SD in treated over untreated patients: 1 means
    the score ranks survival equally in both (prognostic); away from 1, the score says more (or
    less) about survival under ICI than without it (predictive).

    Parameters
    ----------
    time, event
        Follow-up in months and event flags (1 = event).
    risk
        Risk score, higher = earlier event (pass ``-logit(p)`` for a response probability).
    treated
        1 = treated with ICI, 0 = not.
    n_boot, seed, alpha
        Bootstrap of each group's Harrell's C; 1 - confidence level of every interval.

    Returns
    -------
    dict
        ``c_treated``/``c_untreated`` (Harrell's C with CI), ``hr_per_sd_treated`` /
        ``hr_per_sd_untreated``, ``interaction_hr_ratio`` (value, CI, p), counts and the verdict
        ``predictive`` (the ratio's CI excludes 1).
    """
    from lifelines import CoxPHFitter

    t, e, r = check_survival(time, event, risk)
    g = np.asarray(treated, dtype=float).ravel()
    if g.shape != t.shape or not np.isin(g, (0, 1)).all():
        raise CohortError("treated must be 0/1 for every patient")
    if g.min() == g.max():
        raise CohortError("the interaction needs treated and untreated patients")
    sd = float(np.std(r))
    if sd == 0:
        raise CohortError("the score is constant: no interaction can be estimated")
    z = (r - r.mean()) / sd
    df = pd.DataFrame({"t": t, "e": e.astype(int), "z": z, "treated": g, "z_x_treated": z * g})
    cph = CoxPHFitter(alpha=alpha).fit(df, duration_col="t", event_col="e")
    s = cph.summary
    lo_col = next(c for c in s.columns if c.startswith("exp(coef) lower"))
    hi_col = next(c for c in s.columns if c.startswith("exp(coef) upper"))

    def hr(term: str) -> dict[str, Any]:
        return {"value": float(s.loc[term, "exp(coef)"]), "ci_low": float(s.loc[term, lo_col]),
                "ci_high": float(s.loc[term, hi_col]), "p_value": float(s.loc[term, "p"])}

    # the score's HR per SD in the treated: exp(b1 + b3), its variance from the covariance
    cov = cph.variance_matrix_
    b = cph.params_
    v = float(cov.loc["z", "z"] + cov.loc["z_x_treated", "z_x_treated"]
              + 2 * cov.loc["z", "z_x_treated"])
    zq = float(norm.ppf(1 - alpha / 2))
    lin = float(b["z"] + b["z_x_treated"])
    ratio = hr("z_x_treated")
    out = {
        "n_treated": int(g.sum()), "n_untreated": int((1 - g).sum()),
        "events_treated": int(e[g == 1].sum()), "events_untreated": int(e[g == 0].sum()),
        "c_treated": _est(harrell_c(t[g == 1], e[g == 1], r[g == 1], n_boot=n_boot,
                                    seed=seed, alpha=alpha)),
        "c_untreated": _est(harrell_c(t[g == 0], e[g == 0], r[g == 0], n_boot=n_boot,
                                      seed=seed, alpha=alpha)),
        "hr_per_sd_untreated": hr("z"),
        "hr_per_sd_treated": {"value": math.exp(lin), "ci_low": math.exp(lin - zq * v ** .5),
                              "ci_high": math.exp(lin + zq * v ** .5)},
        "hr_treated_vs_untreated_at_mean_score": hr("treated"),
        "interaction_hr_ratio": ratio,
        "score_sd": sd,
        "model": "Cox PH (lifelines): z + treated + z x treated; z = risk score per SD",
        "predictive": bool(ratio["ci_low"] > 1 or ratio["ci_high"] < 1),
    }
    return json_ready(out)


__all__ = ["ECE_BINNING", "MIN_CELL", "Score", "case_mix_shift", "cell", "json_ready", "share",
           "paired_differences", "response_block", "score_metrics", "subgroup_rows",
           "survival_block", "treatment_interaction"]
