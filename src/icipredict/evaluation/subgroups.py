"""Metrics per subgroup (cancer type, centre, sex, drug class) with their sizes.

A subgroup with fewer than ``min_n`` patients, or fewer than ``min_events`` responders,
non-responders or events, gets ``too_few = True`` and no metric for that outcome: numbers from
a handful of patients mislead more than they inform.
"""

from __future__ import annotations

import logging
import math

import pandas as pd

from icipredict.cohort.schema import CohortError
from icipredict.evaluation.bootstrap import N_BOOT
from icipredict.evaluation.metrics import response_metrics
from icipredict.evaluation.survival_metrics import harrell_c

logger = logging.getLogger(__name__)

_RESPONSE = ("auc", "brier", "calibration_intercept")


def _require(df: pd.DataFrame, cols: list[str]) -> None:
    missing = [c for c in cols if c not in df.columns]
    if missing:
        raise CohortError(f"subgroup_metrics: columns {missing} not in the table")


def subgroup_metrics(
    df: pd.DataFrame,
    group_col: str,
    *,
    y_col: str | None = None,
    prob_col: str | None = None,
    time_col: str | None = None,
    event_col: str | None = None,
    risk_col: str | None = None,
    min_n: int = 20,
    min_events: int = 5,
    include_all: bool = True,
    n_boot: int = N_BOOT,
    seed: int = 0,
) -> pd.DataFrame:
    """Response and/or survival metrics within each level of ``group_col``.

    Parameters
    ----------
    df
        One row per patient with the group column, outcomes and predictions.
    group_col
        Column defining the subgroups (e.g. ``"cancer_type"``, ``"centre"``, ``"sex"``).
    y_col, prob_col
        Responder label and predicted probability (response metrics: AUC, Brier,
        calibration-in-the-large, observed and mean predicted rate).
    time_col, event_col, risk_col
        Follow-up, event flag and risk score (Harrell's C).
    min_n, min_events
        Smallest subgroup size, and smallest number of responders / non-responders / events,
        for which metrics are computed.
    include_all
        Add a first row ``"all"`` for the whole table.
    n_boot, seed
        Bootstrap settings for the CIs.

    Returns
    -------
    pandas.DataFrame
        One row per subgroup: ``group``, ``n``, and for response ``n_responders``,
        ``observed_rate``, ``mean_predicted``, ``auc``/``_ci_low``/``_ci_high``, ...; for survival
        ``n_events``, ``harrell_c`` with CI; ``too_few`` (any outcome below the minimum).
    """
    do_resp = y_col is not None and prob_col is not None
    do_surv = time_col is not None and event_col is not None and risk_col is not None
    if not (do_resp or do_surv):
        raise CohortError("give y_col and prob_col, and/or time_col, event_col and risk_col")
    cols = [group_col] + [c for c in (y_col, prob_col, time_col, event_col, risk_col) if c]
    _require(df, cols)
    parts: list[tuple[str, pd.DataFrame]] = [("all", df)] if include_all else []
    for level, sub in df.groupby(group_col, dropna=False, sort=True):
        parts.append((str(level) if not pd.isna(level) else "missing", sub))

    rows = []
    for name, sub in parts:
        row: dict = {"group_col": group_col, "group": name, "n": len(sub), "too_few": False}
        if do_resp:
            row.update(_response_row(sub[y_col], sub[prob_col], min_n, min_events, n_boot, seed))
        if do_surv:
            row.update(_survival_row(sub[time_col], sub[event_col], sub[risk_col], min_n,
                                     min_events, n_boot, seed))
        row["too_few"] = bool(row.pop("_few_resp", False) or row.pop("_few_surv", False))
        rows.append(row)
    return pd.DataFrame(rows)


def _response_row(y, p, min_n, min_events, n_boot, seed) -> dict:
    keep = y.notna() & p.notna()
    y = y[keep].astype(float).to_numpy()
    p = p[keep].astype(float).to_numpy()
    n_pos = int(y.sum())
    out = {"n_response_evaluable": int(y.size), "n_responders": n_pos,
           "observed_rate": float(y.mean()) if y.size else math.nan,
           "mean_predicted": float(p.mean()) if p.size else math.nan}
    few = y.size < min_n or n_pos < min_events or (y.size - n_pos) < min_events
    for m in _RESPONSE:
        out.update({m: math.nan, f"{m}_ci_low": math.nan, f"{m}_ci_high": math.nan})
    if not few:
        rep = response_metrics(y, p, n_boot=n_boot, seed=seed)
        for m in _RESPONSE:
            out.update(rep[m].to_dict(m))
    out["_few_resp"] = few
    return out


def _survival_row(time, event, risk, min_n, min_events, n_boot, seed) -> dict:
    keep = time.notna() & event.notna() & risk.notna()
    t = time[keep].astype(float).to_numpy()
    e = event[keep].astype(float).to_numpy()
    r = risk[keep].astype(float).to_numpy()
    n_ev = int(e.sum())
    out = {"n_survival_evaluable": int(t.size), "n_events": n_ev,
           "harrell_c": math.nan, "harrell_c_ci_low": math.nan, "harrell_c_ci_high": math.nan}
    few = t.size < min_n or n_ev < min_events
    if not few:
        out.update(harrell_c(t, e, r, n_boot=n_boot, seed=seed).to_dict("harrell_c"))
    out["_few_surv"] = few
    return out


def subgroup_table(
    df: pd.DataFrame, group_cols: list[str], **kwargs
) -> pd.DataFrame:
    """:func:`subgroup_metrics` for several grouping columns, stacked (one ``all`` row)."""
    frames: list[pd.DataFrame] = []
    for col in group_cols:
        if col not in df.columns:
            logger.info("subgroup column %s absent: skipped", col)
            continue
        frames.append(subgroup_metrics(df, col, include_all=not frames, **kwargs))
    if not frames:
        raise CohortError(f"none of the subgroup columns {group_cols} is in the table")
    return pd.concat(frames, ignore_index=True)


__all__ = ["subgroup_metrics", "subgroup_table"]
