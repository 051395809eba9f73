"""Outcomes per BRCA class: patients, centres, treatments, ORR (Wilson 95% CI), OS/PFS KM, log-rank.

Per centre and pooled (``centre = "all"``). Small cells are suppressed: a class with fewer than
:data:`MIN_CELL` patients in a scope has its counts and estimates withheld (``suppressed`` true,
numbers missing) and is left out of that scope's log-rank test and plots.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from lifelines import KaplanMeierFitter
from lifelines.statistics import multivariate_logrank_test

from icipredict.cohort.brca.defects import MIN_CELL, PATIENT_CLASSES

POOLED = "all"


def wilson_ci(k: int, n: int, z: float = 1.959963984540054) -> tuple[float, float]:
    """Wilson score 95% interval of a proportion ``k / n`` (NaN, NaN when n = 0)."""
    if n == 0:
        return (math.nan, math.nan)
    p = k / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return (max(0.0, centre - half), min(1.0, centre + half))


def _median(times: pd.Series, events: pd.Series) -> float | None:
    """Kaplan-Meier median (None when not reached or no data)."""
    ok = times.notna() & events.notna()
    if not ok.any():
        return None
    km = KaplanMeierFitter().fit(times[ok], events[ok].astype(int))
    m = km.median_survival_time_
    return None if not np.isfinite(m) else float(m)


def outcome_table(frame: pd.DataFrame) -> pd.DataFrame:
    """One row per scope (each centre, then pooled) and class.

    ``frame``: one row per patient with ``centre, brca_class, responder, os_months, os_event,
    pfs_months, pfs_event`` (and ``drug_class``, ``line``). Columns: ``centre, brca_class,
    patients, centres, suppressed, evaluable, responders, orr, orr_low, orr_high,
    os_median, pfs_median, drug_classes, median_line, os_logrank_p, pfs_logrank_p``.
    """
    frame = frame[frame["brca_class"].isin(PATIENT_CLASSES)]
    rows = []
    scopes = [(c, g) for c, g in frame.groupby("centre", sort=True)] + [(POOLED, frame)]
    for scope, g in scopes:
        shown = []
        for cls in PATIENT_CLASSES:
            d = g[g["brca_class"] == cls]
            n = len(d)
            row = {"centre": scope, "brca_class": cls, "patients": n,
                   "centres": d["centre"].nunique(), "suppressed": 0 < n < MIN_CELL}
            if n >= MIN_CELL:
                shown.append(cls)
                ev = d["responder"].dropna()
                k = int(ev.sum())
                lo, hi = wilson_ci(k, len(ev))
                drugs = d.get("drug_class", pd.Series(dtype=object)).dropna().value_counts()
                row.update(evaluable=len(ev), responders=k,
                           orr=k / len(ev) if len(ev) else math.nan, orr_low=lo, orr_high=hi,
                           os_median=_median(d["os_months"], d["os_event"]),
                           pfs_median=_median(d["pfs_months"], d["pfs_event"]),
                           drug_classes="; ".join(f"{i} {v}" for i, v in drugs.items()),
                           median_line=_line(d))
            elif n:
                row["patients"] = None
            rows.append(row)
        for end in ("os", "pfs"):
            p = _logrank(g[g["brca_class"].isin(shown)], end) if len(shown) > 1 else math.nan
            for row in rows[-len(PATIENT_CLASSES):]:
                row[f"{end}_logrank_p"] = p
    cols = ["centre", "brca_class", "patients", "centres", "suppressed", "evaluable",
            "responders", "orr", "orr_low", "orr_high", "os_median", "pfs_median",
            "drug_classes", "median_line", "os_logrank_p", "pfs_logrank_p"]
    out = pd.DataFrame(rows).reindex(columns=cols)
    out["patients"] = out["patients"].astype("Int64")
    for c in ("evaluable", "responders"):
        out[c] = pd.to_numeric(out[c], errors="coerce").astype("Int64")
    return out


def _line(d: pd.DataFrame) -> float:
    """Median treatment line (NaN when no line is known)."""
    line = pd.to_numeric(d["line"], errors="coerce").dropna() if "line" in d else pd.Series()
    return float(line.median()) if len(line) else math.nan


def _logrank(g: pd.DataFrame, end: str) -> float:
    t, e = g[f"{end}_months"], g[f"{end}_event"]
    ok = t.notna() & e.notna()
    if ok.sum() < 2 or g.loc[ok, "brca_class"].nunique() < 2:
        return math.nan
    res = multivariate_logrank_test(t[ok], g.loc[ok, "brca_class"], e[ok].astype(int))
    return float(res.p_value)


def km_curves(frame: pd.DataFrame, end: str = "os") -> dict[str, pd.DataFrame]:
    """Pooled Kaplan-Meier curve (``timeline, survival``) of each class with >= MIN_CELL patients."""
    curves = {}
    for cls in PATIENT_CLASSES:
        d = frame[(frame["brca_class"] == cls) & frame[f"{end}_months"].notna()
                  & frame[f"{end}_event"].notna()]
        if len(d) < MIN_CELL:
            continue
        km = KaplanMeierFitter().fit(d[f"{end}_months"], d[f"{end}_event"].astype(int))
        sf = km.survival_function_
        curves[cls] = pd.DataFrame({"timeline": sf.index.to_numpy(),
                                    "survival": sf.iloc[:, 0].to_numpy()})
    return curves
