"""Response metrics (responder = CR/PR) with bootstrap 95% confidence intervals.

Every metric here is written for arrays with patients along the *last* axis, so the same code
computes the point estimate (1-D input) and all bootstrap replicates at once (2-D input of shape
``(n_boot, n)``). Inputs are plain arrays/Series: labels ``y`` (0/1) and probabilities ``p``.

Definitions
-----------
- AUC: Mann–Whitney statistic from mid-ranks (equals ``sklearn.metrics.roc_auc_score``).
- AUPRC: average precision, with tied scores grouped as ``sklearn.metrics.average_precision_score``.
- Brier score: mean squared difference between ``p`` and ``y``.
- Calibration slope: coefficient ``b`` of ``logit(p)`` in the unpenalised logistic regression
  ``logit P(y=1) = a + b·logit(p)`` (ideal 1; < 1 means over-confident predictions).
- Calibration intercept (calibration-in-the-large): ``a`` in ``logit P(y=1) = a + logit(p)``, with
  ``logit(p)`` as an offset (ideal 0; > 0 means risks are under-estimated on average).
- ECE (expected calibration error): 10 equal-width bins on [0, 1] (bin ``k`` holds
  ``k/10 <= p < (k+1)/10``, ``p = 1`` in the last bin); ``ECE = sum_k (n_k/n)·|mean(y_k) - mean(p_k)|``.
  Its value depends on the binning, so reports carry the scheme (``ece_n_bins``, ``ece_binning``).
- ICI (integrated calibration index; Austin & Steyerberg 2019, *Stat Med* 38:4051): the mean over
  patients of ``|p_i - c(p_i)|``, where ``c`` is a calibration curve fitted to ``(p, y)``: here the
  isotonic regression of ``y`` on ``p`` (pool-adjacent-violators, tied scores pooled), a
  binning-free curve (the paper's loess needs statsmodels, which the project does not use). An
  isotonic curve follows the noise of a small sample, so the ICI of a perfectly calibrated model
  is above 0 (about 0.02-0.04 for a few hundred patients); compare models on the same patients.
- Sensitivity, specificity, PPV, NPV at a threshold: a patient is predicted responder when
  ``p >= threshold``. Choose the threshold on *training* data (:func:`youden_threshold`).

Probabilities are clipped to ``[1e-10, 1 - 1e-10]`` before taking logits.

Bootstrap: discrimination metrics conditional on the classes (AUC, AUPRC, sensitivity,
specificity) resample within responders and non-responders, so that both classes are present in
every resample; every other metric (calibration, Brier, ECE, ICI, PPV, NPV) depends on the
prevalence and resamples patients ordinarily, so its interval carries the prevalence's
uncertainty (stratifying fixes it: the intercept's interval then covered the truth about half of
the time in simulation). Resamples in which a metric is undefined (one class only, separation)
are left out of its interval and counted in ``info`` (``<metric>_boot_undefined``).
"""

from __future__ import annotations

import logging
import math

import numpy as np
import pandas as pd
from scipy.optimize import isotonic_regression
from scipy.special import expit, logit
from scipy.stats import rankdata
from sklearn.metrics import roc_curve

from icipredict.cohort.schema import CohortError
from icipredict.evaluation.bootstrap import (
    N_BOOT,
    Estimate,
    MetricReport,
    bootstrap_estimate,
    bootstrap_indices,
)

logger = logging.getLogger(__name__)

_EPS = 1e-10

THRESHOLD_METRICS = ("sensitivity", "specificity", "ppv", "npv")
#: Metrics whose bootstrap resamples within responder strata (defined only with both classes,
#: and conditional on them); the others resample patients ordinarily.
STRATIFIED_METRICS = ("auc", "auprc", "sensitivity", "specificity")
#: How :func:`expected_calibration_error` bins (reported next to the ECE).
ECE_BINNING = "equal-width bins on [0, 1]"


# --------------------------------------------------------------------------- input checks
def check_binary(y, p, *, name_p: str = "p") -> tuple[np.ndarray, np.ndarray, int]:
    """Validate labels and scores; drop patients with a missing label or score.

    Returns
    -------
    tuple
        ``(y as int array, p as float array, number of dropped patients)``.
    """
    y = np.asarray(y, dtype=float).ravel()
    p = np.asarray(p, dtype=float).ravel()
    if y.shape != p.shape:
        raise CohortError(f"y and {name_p} must have the same length, got {y.size} and {p.size}")
    keep = np.isfinite(y) & np.isfinite(p)
    dropped = int((~keep).sum())
    if dropped:
        logger.info("dropping %d patients with missing label or %s", dropped, name_p)
    y, p = y[keep], p[keep]
    if not np.isin(y, (0, 1)).all():
        raise CohortError(f"labels must be 0/1, got values {sorted(set(np.unique(y)) - {0, 1})}")
    if y.size == 0 or y.min() == y.max():
        raise CohortError("need both responders and non-responders to evaluate response metrics")
    return y.astype(int), p, dropped


def _check_prob(p: np.ndarray) -> None:
    if p.min() < 0 or p.max() > 1:
        raise CohortError(f"probabilities must lie in [0, 1], got range [{p.min()}, {p.max()}]")


# --------------------------------------------------------------------------- discrimination
def auc_score(y: np.ndarray, p: np.ndarray) -> np.ndarray | float:
    """ROC AUC from mid-ranks (vectorised over leading axes)."""
    y = np.asarray(y, dtype=float)
    ranks = rankdata(p, axis=-1)
    n1 = y.sum(-1)
    n0 = y.shape[-1] - n1
    with np.errstate(invalid="ignore", divide="ignore"):
        return ((ranks * y).sum(-1) - n1 * (n1 + 1) / 2) / (n1 * n0)


def average_precision(y: np.ndarray, p: np.ndarray) -> np.ndarray | float:
    """Average precision (area under the precision–recall step curve), vectorised.

    ``AP = (1/n_pos) * sum over positives of the precision at the end of their tie group``, which
    is sklearn's definition (tied scores enter the curve as one step).
    """
    y = np.asarray(y, dtype=float)
    p = np.asarray(p, dtype=float)
    order = np.argsort(-p, axis=-1, kind="stable")
    p_s = np.take_along_axis(p, order, -1)
    y_s = np.take_along_axis(y, order, -1)
    n = p.shape[-1]
    tp = np.cumsum(y_s, -1)
    precision = tp / np.arange(1, n + 1)
    # last position of each group of tied scores
    is_last = np.ones(p_s.shape, dtype=bool)
    is_last[..., :-1] = p_s[..., 1:] != p_s[..., :-1]
    pos = np.broadcast_to(np.arange(n), p_s.shape)
    end = np.where(is_last, pos, n - 1)
    end = np.flip(np.minimum.accumulate(np.flip(end, -1), -1), -1)
    prec_end = np.take_along_axis(precision, end, -1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return (y_s * prec_end).sum(-1) / y_s.sum(-1)


# --------------------------------------------------------------------------- calibration
def brier_score(y: np.ndarray, p: np.ndarray) -> np.ndarray | float:
    """Mean squared error of the probabilities (vectorised)."""
    return np.mean((np.asarray(p, dtype=float) - y) ** 2, axis=-1)


def _logit(p: np.ndarray) -> np.ndarray:
    return logit(np.clip(p, _EPS, 1 - _EPS))


def _logistic_newton(
    x: np.ndarray, y: np.ndarray, offset: np.ndarray, max_iter: int = 100, tol: float = 1e-10
) -> np.ndarray:
    """Unpenalised logistic regression by Newton–Raphson, batched over leading axes.

    ``x`` has shape ``(..., n, k)``, ``y`` and ``offset`` ``(..., n)``; returns ``(..., k)``.
    Replicates that do not converge (e.g. separation) are returned as ``NaN``.
    """
    k = x.shape[-1]
    beta = np.zeros(x.shape[:-2] + (k,))
    ridge = 1e-12 * np.eye(k)  # keeps a near-singular Hessian solvable
    converged = np.zeros(x.shape[:-2], dtype=bool)
    for _ in range(max_iter):
        mu = expit(offset + np.einsum("...nk,...k->...n", x, beta))
        grad = np.einsum("...nk,...n->...k", x, y - mu)
        hess = np.einsum("...nk,...n,...nj->...kj", x, mu * (1 - mu), x) + ridge
        step = np.linalg.solve(hess, grad[..., None])[..., 0]
        step = np.where(converged[..., None], 0.0, step)
        beta = beta + step
        converged |= np.abs(step).max(-1) < tol
        if converged.all():
            break
    return np.where(converged[..., None], beta, np.nan)


def calibration_slope(y: np.ndarray, p: np.ndarray) -> np.ndarray | float:
    """Slope of ``logit(p)`` in a logistic recalibration model (vectorised; ideal 1)."""
    lp = _logit(np.asarray(p, dtype=float))
    x = np.stack([np.ones_like(lp), lp], axis=-1)
    return _logistic_newton(x, np.asarray(y, dtype=float), np.zeros_like(lp))[..., 1]


def calibration_intercept(y: np.ndarray, p: np.ndarray) -> np.ndarray | float:
    """Calibration-in-the-large: intercept with ``logit(p)`` as offset (vectorised; ideal 0)."""
    lp = _logit(np.asarray(p, dtype=float))
    x = np.ones(lp.shape + (1,))
    return _logistic_newton(x, np.asarray(y, dtype=float), lp)[..., 0]


def _bin_index(p: np.ndarray, n_bins: int) -> np.ndarray:
    return np.minimum((np.asarray(p, dtype=float) * n_bins).astype(int), n_bins - 1)


def expected_calibration_error(
    y: np.ndarray, p: np.ndarray, n_bins: int = 10
) -> np.ndarray | float:
    """ECE with ``n_bins`` equal-width bins on [0, 1] (vectorised; ideal 0)."""
    y = np.asarray(y, dtype=float)
    p = np.asarray(p, dtype=float)
    resid = y - p
    bins = _bin_index(p, n_bins)
    if p.ndim == 1:
        return float(np.abs(np.bincount(bins, weights=resid, minlength=n_bins)).sum() / p.size)
    rows = p.shape[0]
    flat = (bins + n_bins * np.arange(rows)[:, None]).ravel()
    sums = np.bincount(flat, weights=resid.ravel(), minlength=rows * n_bins).reshape(rows, n_bins)
    return np.abs(sums).sum(-1) / p.shape[-1]


def isotonic_calibration_curve(y: np.ndarray, p: np.ndarray) -> np.ndarray:
    """Observed response rate at each patient's probability: isotonic regression of ``y`` on
    ``p`` (scipy's pool-adjacent-violators), patients with equal ``p`` pooled first."""
    y = np.asarray(y, dtype=float)
    p = np.asarray(p, dtype=float)
    levels, inverse, counts = np.unique(p, return_inverse=True, return_counts=True)
    means = np.bincount(inverse, weights=y, minlength=levels.size) / counts
    return isotonic_regression(means, weights=counts.astype(float)).x[inverse]


def integrated_calibration_index(y: np.ndarray, p: np.ndarray) -> float:
    """ICI: mean ``|p - c(p)|`` over patients, ``c`` the isotonic calibration curve (ideal 0).

    Austin & Steyerberg (2019), *Stat Med* 38:4051; binning-free, unlike the ECE.
    """
    p = np.asarray(p, dtype=float)
    return float(np.mean(np.abs(p - isotonic_calibration_curve(y, p))))


def calibration_table(y, p, n_bins: int = 10) -> pd.DataFrame:
    """Observed vs predicted per equal-width bin, with Wilson 95% intervals of the observed rate.

    Returns
    -------
    pandas.DataFrame
        Columns ``bin_low``, ``bin_high``, ``n``, ``mean_predicted``, ``observed``,
        ``observed_ci_low``, ``observed_ci_high`` (empty bins omitted).
    """
    y, p, _ = check_binary(y, p)
    bins = _bin_index(p, n_bins)
    rows = []
    z = 1.959963984540054
    for b in range(n_bins):
        m = bins == b
        k = int(m.sum())
        if k == 0:
            continue
        obs = y[m].mean()
        centre = (obs + z**2 / (2 * k)) / (1 + z**2 / k)
        half = z * math.sqrt(obs * (1 - obs) / k + z**2 / (4 * k**2)) / (1 + z**2 / k)
        rows.append(
            {
                "bin_low": b / n_bins,
                "bin_high": (b + 1) / n_bins,
                "n": k,
                "mean_predicted": float(p[m].mean()),
                "observed": float(obs),
                "observed_ci_low": max(0.0, centre - half),
                "observed_ci_high": min(1.0, centre + half),
            }
        )
    return pd.DataFrame(rows)


# --------------------------------------------------------------------------- thresholds
def youden_threshold(y_train, p_train) -> float:
    """Threshold maximising Youden's J (sensitivity + specificity - 1) on *training* data.

    Predicted responder means ``p >= threshold``. Choosing it on the test set would leak.
    """
    y, p, _ = check_binary(y_train, p_train)
    fpr, tpr, thr = roc_curve(y, p)
    finite = np.isfinite(thr)
    j = (tpr - fpr)[finite]
    return float(thr[finite][int(np.argmax(j))])


def _confusion(y: np.ndarray, p: np.ndarray, threshold: float):
    y = np.asarray(y, dtype=bool)
    pred = np.asarray(p) >= threshold
    tp = (pred & y).sum(-1)
    fp = (pred & ~y).sum(-1)
    fn = (~pred & y).sum(-1)
    tn = (~pred & ~y).sum(-1)
    return tp, fp, fn, tn


def _ratio(a, b):
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(b > 0, a / np.where(b > 0, b, 1), np.nan)


def threshold_metrics_fn(name: str, threshold: float):
    """Vectorised function ``(y, p) -> metric`` for one of sensitivity/specificity/ppv/npv."""

    def fn(y, p):
        tp, fp, fn_, tn = _confusion(y, p, threshold)
        return {
            "sensitivity": _ratio(tp, tp + fn_),
            "specificity": _ratio(tn, tn + fp),
            "ppv": _ratio(tp, tp + fp),
            "npv": _ratio(tn, tn + fn_),
        }[name]

    return fn


# --------------------------------------------------------------------------- report
def response_metrics(
    y,
    p,
    *,
    threshold: float | None = None,
    n_boot: int = N_BOOT,
    seed: int = 0,
    alpha: float = 0.05,
    n_bins: int = 10,
) -> MetricReport:
    """All response metrics with bootstrap confidence intervals.

    Parameters
    ----------
    y
        Responder labels (0/1); patients with a missing label or probability are dropped.
    p
        Predicted response probabilities in [0, 1].
    threshold
        Decision threshold (chosen on training data, e.g. :func:`youden_threshold`); adds
        sensitivity, specificity, PPV and NPV when given.
    n_boot
        Bootstrap resamples over patients (0 = point estimates only): stratified by responder
        for :data:`STRATIFIED_METRICS`, ordinary for the others (see the module docstring).
    seed
        Seed of the resampling.
    alpha
        1 - confidence level.
    n_bins
        Equal-width bins of the expected calibration error.

    Returns
    -------
    MetricReport
        Metrics ``auc``, ``auprc``, ``brier``, ``calibration_intercept``, ``calibration_slope``,
        ``ece``, ``ici`` (+ threshold metrics), ``n`` and ``n_events`` (= responders); ``info``
        names the ECE's binning (``ece_n_bins``, ``ece_binning``) and counts the resamples in
        which a metric was undefined (``<metric>_boot_undefined``, only when any).
    """
    y, p, dropped = check_binary(y, p)
    _check_prob(p)
    idx = {True: bootstrap_indices(y.size, n_boot, strata=y, seed=seed) if n_boot else None,
           False: bootstrap_indices(y.size, n_boot, seed=seed) if n_boot else None}
    fns = {
        "auc": auc_score,
        "auprc": average_precision,
        "brier": brier_score,
        "calibration_intercept": calibration_intercept,
        "calibration_slope": calibration_slope,
        "ece": lambda yy, pp: expected_calibration_error(yy, pp, n_bins),
    }
    if threshold is not None:
        fns.update({k: threshold_metrics_fn(k, threshold) for k in THRESHOLD_METRICS})
    report = MetricReport(n=int(y.size), n_events=int(y.sum()))
    for name, fn in fns.items():
        report.estimates[name], reps = bootstrap_estimate(
            fn, (y, p), idx[name in STRATIFIED_METRICS], alpha=alpha)
        _count_undefined(report, name, reps)
    report.estimates["ici"], reps = bootstrap_estimate(
        integrated_calibration_index, (y, p), idx[False], vectorised=False, alpha=alpha)
    _count_undefined(report, "ici", reps)
    report.info.update({"n_boot": n_boot, "alpha": alpha, "ece_n_bins": int(n_bins),
                        "ece_binning": ECE_BINNING})
    if threshold is not None:
        report.info["threshold"] = float(threshold)
    if dropped:
        report.notes.append(f"{dropped} patients without label or prediction were dropped")
    return report


def _count_undefined(report: MetricReport, name: str, reps: np.ndarray) -> None:
    """Record how many bootstrap resamples left ``name`` undefined (one class, separation)."""
    bad = int((~np.isfinite(reps)).sum())
    if bad:
        report.info[f"{name}_boot_undefined"] = bad
        report.notes.append(f"{name}: undefined in {bad} of {reps.size} bootstrap resamples "
                            "(one class only or separation); its interval uses the others")


def auc_with_ci(y, p, *, n_boot: int = N_BOOT, seed: int = 0, alpha: float = 0.05) -> Estimate:
    """ROC AUC with a stratified bootstrap confidence interval."""
    y, p, _ = check_binary(y, p)
    idx = bootstrap_indices(y.size, n_boot, strata=y, seed=seed) if n_boot else None
    return bootstrap_estimate(auc_score, (y, p), idx, alpha=alpha)[0]
