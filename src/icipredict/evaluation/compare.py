"""Paired comparison of two models scored on the same patients.

- :func:`compare_auc` / :func:`compare_c_index`: bootstrap the *difference* (model A - model B)
  over patients, with both models evaluated on the same resamples (so the pairing is kept), and
  report a percentile 95% CI and a two-sided bootstrap p-value.
- :func:`delong_test`: DeLong, DeLong & Clarke-Pearson (1988) test for two correlated ROC AUCs,
  computed with the mid-rank algorithm of Sun & Xu (2014). It reproduces R pROC's ``roc.test``
  (tested on pROC's aSAH example).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.stats import norm, rankdata

from icipredict.cohort.schema import CohortError
from icipredict.evaluation.bootstrap import (
    N_BOOT,
    Estimate,
    bootstrap_indices,
    bootstrap_p_value,
    counts_from_indices,
    percentile_ci,
)
from icipredict.evaluation.metrics import auc_score, check_binary
from icipredict.evaluation.survival_metrics import _pair_matrices, check_survival


@dataclass(frozen=True)
class PairedComparison:
    """Result of comparing model A with model B on the same patients.

    Attributes
    ----------
    metric
        ``"auc"`` or ``"harrell_c"``.
    a, b
        The metric of each model with its own bootstrap CI.
    difference
        ``a - b`` with the CI of the paired bootstrap (or DeLong's normal CI).
    p_value
        Two-sided p-value for "no difference".
    method
        ``"bootstrap"`` or ``"delong"``.
    n
        Patients compared.
    """

    metric: str
    a: Estimate
    b: Estimate
    difference: Estimate
    p_value: float
    method: str
    n: int

    def to_dict(self) -> dict:
        """Flat dictionary (``<metric>_a``, ``<metric>_a_ci_low``, ..., ``difference``, ``p_value``)."""
        out = {"metric": self.metric, "method": self.method, "n": self.n}
        out.update(self.a.to_dict(f"{self.metric}_a"))
        out.update(self.b.to_dict(f"{self.metric}_b"))
        out.update(self.difference.to_dict("difference"))
        out["p_value"] = self.p_value
        return out


def _joint(y, p_a, p_b) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Align labels and two score vectors; drop patients missing any of them."""
    y_arr = np.asarray(y, dtype=float).ravel()
    a = np.asarray(p_a, dtype=float).ravel()
    b = np.asarray(p_b, dtype=float).ravel()
    if not (y_arr.shape == a.shape == b.shape):
        raise CohortError("y, p_a and p_b must have the same length (same patients)")
    keep = np.isfinite(y_arr) & np.isfinite(a) & np.isfinite(b)
    y_int, a, _ = check_binary(y_arr[keep], a[keep])
    return y_int, a, b[keep]


def _paired(reps_a: np.ndarray, reps_b: np.ndarray, value_a: float, value_b: float,
            metric: str, n: int, alpha: float) -> PairedComparison:
    diff = reps_a - reps_b
    return PairedComparison(
        metric=metric,
        a=Estimate(value_a, *percentile_ci(reps_a, alpha)),
        b=Estimate(value_b, *percentile_ci(reps_b, alpha)),
        difference=Estimate(value_a - value_b, *percentile_ci(diff, alpha)),
        p_value=bootstrap_p_value(diff),
        method="bootstrap",
        n=n,
    )


def compare_auc(
    y, p_a, p_b, *, n_boot: int = N_BOOT, seed: int = 0, alpha: float = 0.05
) -> PairedComparison:
    """Paired bootstrap comparison of two models' ROC AUC on the same patients.

    Parameters
    ----------
    y
        Responder labels (0/1).
    p_a, p_b
        Scores of model A and model B for the same patients, in the same order.
    n_boot, seed, alpha
        Bootstrap resamples (stratified on ``y``), seed, 1 - confidence level.
    """
    y_int, a, b = _joint(y, p_a, p_b)
    idx = bootstrap_indices(y_int.size, n_boot, strata=y_int, seed=seed)
    yy = y_int[idx]
    # auc_score over a (n_boot, n) matrix is one AUC per replicate: an array, never a float
    return _paired(np.asarray(auc_score(yy, a[idx])), np.asarray(auc_score(yy, b[idx])),
                   float(auc_score(y_int, a)), float(auc_score(y_int, b)), "auc",
                   int(y_int.size), alpha)


def compare_c_index(
    time, event, risk_a, risk_b, *, n_boot: int = N_BOOT, seed: int = 0, alpha: float = 0.05
) -> PairedComparison:
    """Paired bootstrap comparison of two risk scores' Harrell C on the same patients."""
    time, event, ra = check_survival(time, event, risk_a)
    _, _, rb = check_survival(time, event, risk_b)
    ones = np.ones(time.size)
    num_a, den = _pair_matrices(time, event, ra, ones)
    num_b, _ = _pair_matrices(time, event, rb, ones)
    c = counts_from_indices(
        bootstrap_indices(time.size, n_boot, strata=event, seed=seed), time.size
    ).astype(float)
    with np.errstate(invalid="ignore", divide="ignore"):
        d = ((c @ den) * c).sum(1)
        reps_a = ((c @ num_a) * c).sum(1) / d
        reps_b = ((c @ num_b) * c).sum(1) / d
    total = den.sum()
    return _paired(reps_a, reps_b, float(num_a.sum() / total), float(num_b.sum() / total),
                   "harrell_c", int(time.size), alpha)


def delong_covariance(y, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """AUCs and their DeLong covariance matrix for several models on the same patients.

    Parameters
    ----------
    y
        0/1 labels, shape ``(n,)``.
    scores
        Array of shape ``(k, n)``: one row per model.

    Returns
    -------
    tuple
        ``(aucs of shape (k,), covariance of shape (k, k))``.
    """
    y = np.asarray(y)
    scores = np.atleast_2d(np.asarray(scores, dtype=float))
    if scores.shape[1] != y.size:
        raise CohortError(f"scores must have shape (k, {y.size}), got {scores.shape}")
    if not np.isin(y, (0, 1)).all() or y.min() == y.max():
        raise CohortError("DeLong needs 0/1 labels with both classes")
    pos, neg = scores[:, y == 1], scores[:, y == 0]
    m, n = pos.shape[1], neg.shape[1]
    tx = rankdata(pos, axis=1)
    ty = rankdata(neg, axis=1)
    tz = rankdata(np.hstack([pos, neg]), axis=1)
    aucs = (tz[:, :m].sum(1) / m - (m + 1) / 2) / n
    v10 = (tz[:, :m] - tx) / n  # structural components of the positives
    v01 = 1 - (tz[:, m:] - ty) / m  # ... and of the negatives
    s10 = np.atleast_2d(np.cov(v10))
    s01 = np.atleast_2d(np.cov(v01))
    return aucs, s10 / m + s01 / n


def delong_test(y, p_a, p_b, *, alpha: float = 0.05) -> PairedComparison:
    """DeLong's test for the difference of two correlated AUCs (two-sided).

    Returns a :class:`PairedComparison` with normal-theory CIs (DeLong variance) for each AUC
    and for the difference; ``p_value`` is ``2·(1 - Φ(|z|))``.
    """
    y, a, b = _joint(y, p_a, p_b)
    aucs, cov = delong_covariance(y, np.vstack([a, b]))
    z_crit = norm.ppf(1 - alpha / 2)
    var_d = cov[0, 0] + cov[1, 1] - 2 * cov[0, 1]
    diff = aucs[0] - aucs[1]
    if var_d <= 0:
        p, half_d = (1.0 if diff == 0 else 0.0), 0.0
    else:
        half_d = z_crit * math.sqrt(var_d)
        p = float(2 * norm.sf(abs(diff) / math.sqrt(var_d)))

    def est(k: int) -> Estimate:
        half = z_crit * math.sqrt(max(cov[k, k], 0.0))
        return Estimate(float(aucs[k]), float(aucs[k] - half), float(aucs[k] + half))

    return PairedComparison("auc", est(0), est(1),
                            Estimate(float(diff), float(diff - half_d), float(diff + half_d)),
                            p, "delong", int(y.size))
