"""Bootstrap over patients, and the result types every metric returns.

Two resampling schemes: draw patients with replacement, either ordinarily or stratified by a
label (the responder flag or the event indicator) so that every resample keeps the observed number
of each class. Stratified resampling suits metrics conditional on the classes (an AUC or a C-index
is then defined in every replicate); it fixes the prevalence, so metrics that depend on it
(calibration intercept, Brier score, ECE) resample ordinarily, or their intervals are too narrow
(:mod:`icipredict.evaluation.metrics` says which metric uses which). Resamples are drawn as an index
matrix of shape ``(n_boot, n)`` shared by the metrics of a report that use the same scheme, so
their replicates (and those of two models in a paired comparison) come from the same patients.

Confidence intervals are percentile intervals of the replicates (``alpha/2`` and ``1 - alpha/2``).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from icipredict.cohort.schema import CohortError

logger = logging.getLogger(__name__)

#: Default number of bootstrap resamples.
N_BOOT = 1000


@dataclass(frozen=True)
class Estimate:
    """A point estimate with its (bootstrap) confidence interval.

    Parameters
    ----------
    value
        Point estimate on the full sample.
    low, high
        Lower and upper confidence limits (``NaN`` when no interval was computed).
    """

    value: float
    low: float = math.nan
    high: float = math.nan

    def contains(self, x: float) -> bool:
        """Whether ``x`` lies inside the closed interval ``[low, high]``."""
        return bool(self.low <= x <= self.high)

    @property
    def width(self) -> float:
        """``high - low``."""
        return self.high - self.low

    def to_dict(self, name: str) -> dict[str, float]:
        """Flat mapping ``{name, name_ci_low, name_ci_high}``."""
        return {name: self.value, f"{name}_ci_low": self.low, f"{name}_ci_high": self.high}

    def __str__(self) -> str:
        if math.isnan(self.low):
            return f"{self.value:.3f}"
        return f"{self.value:.3f} [{self.low:.3f}, {self.high:.3f}]"


@dataclass
class MetricReport:
    """A named set of :class:`Estimate` plus counts, settings and notes.

    Parameters
    ----------
    estimates
        Metric name -> estimate (e.g. ``"auc"``).
    n
        Number of patients evaluated.
    n_events
        Number of responders (response metrics) or events (survival metrics).
    info
        Scalar settings and facts of the evaluation (threshold, tau, horizons used, ...).
    notes
        Human-readable remarks (e.g. horizons dropped because they exceed the training follow-up).
    """

    estimates: dict[str, Estimate] = field(default_factory=dict)
    n: int = 0
    n_events: int = 0
    info: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def __getitem__(self, name: str) -> Estimate:
        return self.estimates[name]

    def to_dict(self) -> dict[str, Any]:
        """Flat dictionary: ``n``, ``n_events``, ``<metric>``, ``<metric>_ci_low``,
        ``<metric>_ci_high`` for each metric, the ``info`` entries and ``notes`` joined by ``"; "``.
        """
        out: dict[str, Any] = {"n": self.n, "n_events": self.n_events}
        for name, est in self.estimates.items():
            out.update(est.to_dict(name))
        out.update(self.info)
        out["notes"] = "; ".join(self.notes)
        return out

    def to_frame(self) -> pd.DataFrame:
        """One row per metric with columns ``value``, ``ci_low``, ``ci_high``."""
        rows = [
            {"metric": k, "value": e.value, "ci_low": e.low, "ci_high": e.high}
            for k, e in self.estimates.items()
        ]
        return pd.DataFrame(rows, columns=["metric", "value", "ci_low", "ci_high"]).set_index(
            "metric"
        )


def bootstrap_indices(
    n: int,
    n_boot: int = N_BOOT,
    *,
    strata: np.ndarray | None = None,
    seed: int | np.random.Generator | None = 0,
) -> np.ndarray:
    """Draw bootstrap resamples of patient indices.

    Parameters
    ----------
    n
        Number of patients.
    n_boot
        Number of resamples.
    strata
        Optional label per patient (e.g. responder or event flag). When given, each resample
        draws with replacement *within* each stratum, keeping the stratum sizes, so every
        resample contains both classes.
    seed
        Seed or generator (reproducible resamples).

    Returns
    -------
    numpy.ndarray
        Integer array of shape ``(n_boot, n)``.
    """
    rng = np.random.default_rng(seed)
    if n_boot < 1:
        raise CohortError(f"n_boot must be >= 1, got {n_boot}")
    if strata is None:
        return rng.integers(0, n, size=(n_boot, n))
    strata = np.asarray(strata)
    if strata.shape != (n,):
        raise CohortError(f"strata must have shape ({n},), got {strata.shape}")
    blocks = []
    for level in np.unique(strata):
        members = np.flatnonzero(strata == level)
        blocks.append(members[rng.integers(0, members.size, size=(n_boot, members.size))])
    return np.concatenate(blocks, axis=1)


def counts_from_indices(idx: np.ndarray, n: int) -> np.ndarray:
    """How often each patient appears in each resample: ``(n_boot, n)`` from an index matrix."""
    n_boot = idx.shape[0]
    flat = (idx + n * np.arange(n_boot)[:, None]).ravel()
    return np.bincount(flat, minlength=n_boot * n).reshape(n_boot, n)


def percentile_ci(replicates: np.ndarray, alpha: float = 0.05) -> tuple[float, float]:
    """Percentile interval of bootstrap replicates, ignoring replicates that are ``NaN``."""
    reps = np.asarray(replicates, dtype=float)
    reps = reps[np.isfinite(reps)]
    if reps.size == 0:
        return math.nan, math.nan
    low, high = np.percentile(reps, [100 * alpha / 2, 100 * (1 - alpha / 2)])
    return float(low), float(high)


def bootstrap_estimate(
    statistic: Callable[..., Any],
    arrays: Sequence[np.ndarray],
    idx: np.ndarray | None,
    *,
    vectorised: bool = True,
    alpha: float = 0.05,
) -> tuple[Estimate, np.ndarray]:
    """Evaluate ``statistic`` on the full sample and on each resample.

    Parameters
    ----------
    statistic
        Function of the arrays (patients along the last axis). When ``vectorised`` it must accept
        2-D inputs of shape ``(n_boot, n)`` and return ``n_boot`` values.
    arrays
        Per-patient arrays, all of length ``n``.
    idx
        Resample indices from :func:`bootstrap_indices`; ``None`` gives a point estimate only.
    vectorised
        Call ``statistic`` once on all resamples instead of once per resample.
    alpha
        1 - confidence level.

    Returns
    -------
    tuple
        The :class:`Estimate` and the replicate array (empty when ``idx`` is None).
    """
    value = float(statistic(*arrays))
    if idx is None:
        return Estimate(value), np.empty(0)
    if vectorised:
        reps = np.asarray(statistic(*[a[idx] for a in arrays]), dtype=float)
    else:
        reps = np.array([statistic(*[a[row] for a in arrays]) for row in idx], dtype=float)
    low, high = percentile_ci(reps, alpha)
    return Estimate(value, low, high), reps


def bootstrap_p_value(differences: np.ndarray) -> float:
    """Two-sided bootstrap p-value for "difference = 0".

    Twice the smaller tail fraction of the replicates on either side of zero, capped at 1 and
    floored at ``1 / (n_boot + 1)`` (a bootstrap cannot show a smaller p-value).
    """
    d = np.asarray(differences, dtype=float)
    d = d[np.isfinite(d)]
    if d.size == 0:
        return math.nan
    p = 2 * min(np.mean(d <= 0), np.mean(d >= 0))
    return float(min(1.0, max(p, 1 / (d.size + 1))))
