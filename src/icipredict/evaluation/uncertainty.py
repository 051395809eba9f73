"""Per-patient 95% interval of the response probability, from held-out predictions.

A **Venn predictor on score bins with exact binomial bounds** (Vovk, Gammerman & Shafer,
*Algorithmic Learning in a Random World*, 2005, ch. 6; Clopper & Pearson 1934):

1. the out-of-fold probabilities of the training patients (each predicted by a model that did
   not see that patient) are cut into ``B`` equal-count bins (:func:`n_bins`: ``ceil(2 n^(1/3))``,
   at least :data:`MIN_BIN` patients per bin); bin ``b`` holds ``m_b`` patients, ``k_b`` of
   them responders;
2. a new patient falls in the bin of the final model's probability ``p``; as a Venn predictor
   does, the patient is counted once as a non-responder and once as a responder, and each count
   gets its exact (Clopper-Pearson) two-sided 95% bound: the interval is
   ``[CP_low(k_b; m_b + 1), CP_high(k_b + 1; m_b + 1)]``;
3. the interval is widened to contain ``p`` itself, so the board never shows a probability
   outside its interval (where held-out data show the model miscalibrated, the interval then
   spans both).

**What it guarantees.** For a patient exchangeable with the training patients, the interval
contains ``pi_b``, the response rate of patients whose held-out probability falls in the same
bin, with probability >= 95% (exact in finite samples: given the held-out scores, the bin's
responder count is a sum of independent Bernoulli draws, for which Clopper-Pearson bounds are
conservative). It covers the patient's *own* probability only as far as the model's score
captures what matters for that patient: patients with equal scores may differ in factors the
model does not see, and no interval built from 0/1 outcomes can measure that spread (Barber
2020, *Electron. J. Statist.* 14:3487). ``docs/registry_model.md`` gives the measured coverage
(``benchmarks/interval_coverage.py``).

Only aggregates are stored (:func:`response_interval_table`: bin edges, ``m_b``, ``k_b`` and the
bounds); scoring is one ``searchsorted`` (:func:`response_interval`), no extra model.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from scipy.stats import beta

#: Two-sided level of the intervals.
LEVEL = 0.95
#: Fewest held-out patients in a bin (and fewer bins than ``ceil(2 n^(1/3))`` when needed).
MIN_BIN = 20
METHOD = ("Venn predictor on equal-count bins of the out-of-fold probabilities, "
          "Clopper-Pearson bounds of the bin's response rate (patient counted as non-responder "
          "for the lower, responder for the upper bound), widened to contain the point")


def n_bins(n: int) -> int:
    """Bins for ``n`` held-out patients: ``ceil(2 n^(1/3))``, at most ``n // MIN_BIN``, >= 1.

    ``n^(1/3)`` bins minimise a histogram's mean squared error; twice as many keep the bin's
    rate close to the local rate at the patient's score (undersmoothing, so the interval's
    width, not the bin's slope, dominates).
    """
    if n <= 0:
        return 1
    return max(1, min(math.ceil(2 * n ** (1 / 3)), n // MIN_BIN))


def clopper_pearson(k: np.ndarray, m: np.ndarray, level: float = LEVEL
                    ) -> tuple[np.ndarray, np.ndarray]:
    """Exact two-sided binomial interval of ``k`` successes in ``m`` trials (vectorised)."""
    k, m = np.asarray(k, dtype=float), np.asarray(m, dtype=float)
    a = (1 - level) / 2
    with np.errstate(invalid="ignore"):
        low = np.where(k > 0, beta.ppf(a, k, m - k + 1), 0.0)
        high = np.where(k < m, beta.ppf(1 - a, k + 1, m - k), 1.0)
    return np.nan_to_num(low, nan=0.0), np.nan_to_num(high, nan=1.0)


def score_bins(score: np.ndarray, bins: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Equal-count bins of held-out scores, each of at least :data:`MIN_BIN` scores.

    Parameters
    ----------
    score
        Finite held-out scores (probabilities, risk scores).
    bins
        Number of bins (default :func:`n_bins`); fewer when scores tie.

    Returns
    -------
    edges, which
        The ``B - 1`` inner edges (a score ``s`` is in bin ``searchsorted(edges, s, "right")``)
        and the bin of each score.
    """
    score = np.asarray(score, dtype=float)
    B = n_bins(len(score)) if bins is None else max(1, int(bins))
    edges = np.unique(np.quantile(score, np.linspace(0, 1, B + 1))[1:-1]) if len(score) \
        else np.array([])
    while True:  # tied scores can leave a bin (nearly) empty: merge it into its neighbour
        which = np.searchsorted(edges, score, side="right")
        m = np.bincount(which, minlength=len(edges) + 1)
        small = np.flatnonzero(m < min(MIN_BIN, len(score)))
        if len(small) == 0 or len(edges) == 0:
            return edges, which
        edges = np.delete(edges, max(small[0] - 1, 0))


def response_interval_table(y: np.ndarray, p: np.ndarray, *, bins: int | None = None,
                            level: float = LEVEL) -> dict[str, Any] | None:
    """The interval table of a response model, from its held-out predictions.

    Parameters
    ----------
    y, p
        Responder labels (0/1) and out-of-fold probabilities of the training patients.
    bins
        Number of equal-count bins (default :func:`n_bins`); fewer when scores tie.
    level
        Two-sided level.

    Returns
    -------
    dict or None
        ``{"method", "level", "n", "edges", "patients", "responders", "low", "high"}``: the
        ``B - 1`` inner bin edges (a score ``s`` is in bin ``searchsorted(edges, s, "right")``),
        each bin's held-out patients and responders, and the interval bounds of a new patient
        in that bin (before widening to the point). None without held-out predictions.
    """
    y = np.asarray(y, dtype=float)
    p = np.asarray(p, dtype=float)
    ok = np.isfinite(y) & np.isfinite(p)
    y, p = y[ok], p[ok]
    if len(y) == 0:
        return None
    edges, which = score_bins(p, bins)
    m = np.bincount(which, minlength=len(edges) + 1)
    k = np.bincount(which, weights=y, minlength=len(edges) + 1).round()
    low, _ = clopper_pearson(k, m + 1, level)
    _, high = clopper_pearson(k + 1, m + 1, level)
    return {"method": METHOD, "level": level, "n": int(len(y)), "edges": edges.tolist(),
            "patients": m.astype(int).tolist(), "responders": k.astype(int).tolist(),
            "low": low.tolist(), "high": high.tolist()}


def response_interval(p: np.ndarray, table: dict[str, Any] | None
                      ) -> tuple[np.ndarray, np.ndarray]:
    """The 95% interval of each probability in ``p`` (see the module docstring).

    Parameters
    ----------
    p
        The model's probabilities, shape ``(n,)``.
    table
        From :func:`response_interval_table` (or None).

    Returns
    -------
    low, high
        ``[min(low_b, p), max(high_b, p)]`` of each patient's bin ``b``; NaN without a table.
    """
    p = np.asarray(p, dtype=float)
    if not table:
        nan = np.full(p.shape, np.nan)
        return nan, nan.copy()
    b = np.searchsorted(np.asarray(table["edges"], dtype=float), p, side="right")
    low = np.minimum(np.asarray(table["low"], dtype=float)[b], p)
    high = np.maximum(np.asarray(table["high"], dtype=float)[b], p)
    return low, high


__all__ = ["LEVEL", "METHOD", "MIN_BIN", "clopper_pearson", "n_bins", "response_interval",
           "response_interval_table", "score_bins"]
