"""Per-patient 95% survival intervals, from held-out risk scores: Kaplan-Meier bands by bin.

The survival analogue of the response interval (:mod:`icipredict.evaluation.uncertainty`):

1. the out-of-fold risk scores of the training patients of one end point (OS or PFS; each
   predicted by a model that did not see that patient) are cut into the same equal-count bins
   as the response interval's (:func:`~icipredict.evaluation.uncertainty.score_bins`: at least
   :data:`~icipredict.evaluation.uncertainty.MIN_BIN` patients per bin);
2. in each bin, the Kaplan-Meier estimate of the bin's patients (lifelines
   ``KaplanMeierFitter``, its default 95% exponential-Greenwood band) is read at the model's
   horizons;
3. a new patient falls in the bin of the final model's risk score; the interval at horizon
   ``h`` is the bin's band at ``h``, widened to contain the patient's own predicted ``S(h)``
   (as the response interval contains its point).

**What it means.** The interval is a 95% confidence interval for the survival at ``h`` of
patients *whom the model scored alike* (held-out patients in the same risk bin); it is not a
band around the patient's own curve, and covers the patient's own survival only as far as the
risk score captures what matters for that patient. ``docs/registry_model.md`` gives the
measured coverage (``benchmarks/interval_coverage.py --survival``).

**Disclosure.** Only aggregates are stored: bin edges, patients and events per bin, and the
estimates. A horizon at which fewer than :data:`MIN_AT_RISK` of a bin's patients are still at
risk is null (its estimate, band and count), so no individual event time can be read off a
step of the curve. The bins' median survival is not stored: a Kaplan-Meier median (and its
bounds) is one patient's exact event time.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from icipredict._util import json_ready
from icipredict.evaluation.uncertainty import LEVEL, score_bins

#: Fewest patients at risk at a horizon of a bin for its estimate to be stored.
MIN_AT_RISK = 5
METHOD = (
    "Kaplan-Meier estimate (lifelines, exponential Greenwood 95% band) of the held-out "
    "patients in equal-count bins of the out-of-fold risk score, read at the horizons; "
    "widened to contain the patient's predicted survival"
)


def _bin_estimates(
    t: np.ndarray, e: np.ndarray, horizons: np.ndarray, level: float
) -> dict[str, list[float | None]]:
    """Kaplan-Meier survival, band and at-risk count at ``horizons`` of one bin's patients
    (suppressed where fewer than :data:`MIN_AT_RISK` are at risk)."""
    from lifelines import KaplanMeierFitter

    alpha = 1 - level
    at_h = KaplanMeierFitter(alpha=alpha).fit(t, e, timeline=horizons)
    band = at_h.confidence_interval_survival_function_.to_numpy(dtype=float)
    at_risk = (t[None, :] >= horizons[:, None]).sum(axis=1)
    keep = at_risk >= MIN_AT_RISK
    out: dict[str, list[float | None]] = {}
    for name, values in (
        ("survival", at_h.survival_function_.to_numpy(dtype=float)[:, 0]),
        ("low", band[:, 0]),
        ("high", band[:, 1]),
        ("at_risk", at_risk.astype(float)),
    ):
        out[name] = [float(v) if k else None for v, k in zip(values, keep, strict=True)]
    return out


def survival_interval_table(
    time: np.ndarray,
    event: np.ndarray,
    risk: np.ndarray,
    horizons: list[float],
    *,
    endpoint: str,
    bins: int | None = None,
    level: float = LEVEL,
) -> dict[str, Any] | None:
    """The survival interval table of one end point, from its held-out risk scores.

    Parameters
    ----------
    time, event
        Follow-up (months) and event indicator (1 = event) of the training patients.
    risk
        Their out-of-fold risk scores (higher = worse).
    horizons
        Months at which the table is read (the experiment's ``horizons``).
    endpoint
        ``"os"`` or ``"pfs"`` (recorded in the table).
    bins
        Number of equal-count bins (default as the response table's); fewer when scores tie.
    level
        Two-sided level of the bands.

    Returns
    -------
    dict or None
        JSON-ready (null, never NaN): ``method``, ``level``, ``endpoint``, ``n``,
        ``min_at_risk``, ``horizons``, inner bin ``edges``, per bin ``patients`` and
        ``events``, per bin and horizon ``survival``, ``low``, ``high`` and ``at_risk`` (lists
        of lists, null where suppressed). None without usable patients.
    """
    t, e, r = (np.asarray(v, dtype=float) for v in (time, event, risk))
    ok = np.isfinite(t) & np.isfinite(e) & np.isfinite(r) & (t >= 0)
    t, e, r = t[ok], e[ok], r[ok]
    hs = np.asarray(sorted({float(h) for h in horizons}), dtype=float)
    if len(t) == 0 or len(hs) == 0:
        return None
    edges, which = score_bins(r, bins)
    per_bin = [
        _bin_estimates(t[which == b], e[which == b], hs, level) for b in range(len(edges) + 1)
    ]
    table: dict[str, Any] = {
        "method": METHOD,
        "level": level,
        "endpoint": endpoint,
        "n": int(len(t)),
        "min_at_risk": MIN_AT_RISK,
        "horizons": hs.tolist(),
        "edges": edges.tolist(),
        "patients": np.bincount(which, minlength=len(edges) + 1).tolist(),
        "events": np.bincount(which, weights=e, minlength=len(edges) + 1)
        .round()
        .astype(int)
        .tolist(),
    }
    for name in ("survival", "low", "high", "at_risk"):
        table[name] = [b[name] for b in per_bin]
    return json_ready(table)


def survival_interval(
    risk: np.ndarray,
    horizons: np.ndarray,
    table: dict[str, Any] | None,
    point: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """The 95% survival interval of each patient at each horizon (module docstring).

    Parameters
    ----------
    risk
        The final model's risk scores, shape ``(n,)``.
    horizons
        Months, shape ``(k,)``; a horizon the table was not read at gets NaN.
    table
        From :func:`survival_interval_table` (or None: all NaN).
    point
        The patients' predicted ``S(h)``, shape ``(n, k)``: the interval is widened to contain
        it, and is NaN where it is NaN (a survival past the training follow-up).

    Returns
    -------
    low, high
        Shape ``(n, k)``; NaN where the table has no estimate (suppressed, not read, no table).
    """
    risk = np.asarray(risk, dtype=float)
    hs = np.atleast_1d(np.asarray(horizons, dtype=float))
    low = np.full((len(risk), len(hs)), np.nan)
    high = low.copy()
    stored = np.asarray(table["horizons"] if table else [], dtype=float)
    # each requested horizon's column in the table (-1: not read at it)
    col = np.array([next((k for k, t in enumerate(stored) if abs(t - h) < 1e-9), -1) for h in hs])
    if table and (col >= 0).any():
        b = np.searchsorted(np.asarray(table["edges"], dtype=float), risk, side="right")
        found = np.flatnonzero(col >= 0)
        for name, out in (("low", low), ("high", high)):
            by_bin = np.array(table[name], dtype=float)  # bins x horizons, None -> NaN
            out[:, found] = by_bin[:, col[found]][b]
    if point is not None:
        point = np.asarray(point, dtype=float)  # np.minimum/maximum keep NaN from either side
        low, high = np.minimum(low, point), np.maximum(high, point)
    return low, high


__all__ = ["METHOD", "MIN_AT_RISK", "survival_interval", "survival_interval_table"]
