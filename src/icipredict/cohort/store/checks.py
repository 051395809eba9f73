"""Re-ingest refusal rules: dropped rows, unit shifts and implausible survival times.

A centre's new data is compared with its current version before it is stored (see
:func:`change_problems`); a problem refuses the ingest unless ``accept_changes``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from icipredict.cohort.schema import CONTRACTS
from icipredict.cohort.store.settings import DEFAULT_MAX_DROP
from icipredict.cohort.store.sql import CENTRE_TABLES

#: (table, column) -> largest plausible factor between a re-ingest's values and the current
#: version's. Values are compared per patient (median of new/old over the patients in both) or,
#: with fewer than :data:`MIN_VALUES` such patients, as the ratio of the two medians. The factors
#: lie below the unit errors they catch and above real change: survival times 3 (catches days vs
#: months x30.4, years vs months x12, weeks vs months x4.35; follow-up that matures by more than
#: 3x between two sends needs ``accept_changes``); age, BMI, albumin, haemoglobin 1.5 (baseline
#: values of the same patients do not change; catches g/L vs g/dL x10, months vs years x12,
#: mmol/L vs g/dL x1.6); blood counts and LDH 2 (x1000 for /uL vs 10^9/L, x60 for ukat/L vs U/L).
UNIT_CHECKS: dict[tuple[str, str], float] = {
    ("outcomes", "os_months"): 3.0, ("outcomes", "pfs_months"): 3.0,
    ("patients", "age"): 1.5, ("patients", "bmi"): 1.5,
    ("labs", "albumin"): 1.5, ("labs", "haemoglobin"): 1.5,
    ("labs", "neutrophils"): 2.0, ("labs", "lymphocytes"): 2.0, ("labs", "platelets"): 2.0,
    ("labs", "ldh"): 2.0,
}

#: Fewest values (or patients with a value in both versions) for a distribution rule to apply.
MIN_VALUES = 10

#: Plausible range (months) of a centre's median OS/PFS time, checked at every ingest: an ICI
#: cohort's median follow-up below a month means months declared as days (divided by 30.4);
#: above 10 years (ICIs are used since ~2011) means days or weeks declared as months.
TIME_MEDIAN_RANGE: tuple[float, float] = (1.0, 120.0)
_TIME_COLUMNS = ("os_months", "pfs_months")


def compared_columns(name: str) -> list[str]:
    """Columns of a table that :func:`change_problems` reads: its key and checked values."""
    key = list(CONTRACTS[name].key)
    values = [col for (table, col) in UNIT_CHECKS if table == name]
    return key + [c for c in values if c not in key]


def change_problems(new: dict[str, pd.DataFrame], old: dict[str, pd.DataFrame] | None, *,
                    max_drop: float = DEFAULT_MAX_DROP) -> list[str]:
    """Implausible changes of a centre's new data, against its current version.

    Rules (each gives one message naming the table, column, numbers and likely cause):

    1. **Dropped rows**: in a table with a key (patients, samples, labs, ...), the share of the
       current version's keys (pseudonymous IDs) absent from the new data; in a table without
       (mutations), the share by which the row count fell. More than ``max_drop`` is refused: a
       truncated file, a lost modality, or IDs that changed form (all pseudonyms change).
    2. **Unit shift**: for each column of :data:`UNIT_CHECKS`, the median of new/old over the
       patients present in both with positive values (>= :data:`MIN_VALUES` of them), else the
       ratio of the two medians (>= :data:`MIN_VALUES` values each); beyond the column's factor
       either way is refused.
    3. **Implausible times** (also at a centre's first ingest): the median ``os_months`` or
       ``pfs_months`` (>= :data:`MIN_VALUES` values) outside :data:`TIME_MEDIAN_RANGE`.

    Parameters
    ----------
    new
        The new data per centre table (store columns, at least those compared).
    old
        The current version's compared columns per table (None at a first ingest).
    max_drop
        Largest accepted share of dropped rows (0-1).

    Returns
    -------
    list of str
        One message per problem (empty: plausible).
    """
    problems = _time_range_problems(new.get("outcomes"))
    if old is None:
        return problems
    for name in CENTRE_TABLES:
        if name in old and name in new:
            problems += _drop_problems(name, new[name], old[name], max_drop)
    for (name, col), factor in UNIT_CHECKS.items():
        if name in old and name in new and col in new[name] and col in old[name]:
            problems += _unit_problems(name, col, factor, new[name], old[name])
    return problems


def _drop_problems(name: str, new: pd.DataFrame, old: pd.DataFrame, max_drop: float) -> list[str]:
    """Rule 1 of :func:`change_problems`: too many of the current version's rows missing."""
    n_old = len(old)
    if n_old == 0:
        return []
    key = list(CONTRACTS[name].key)
    if key:
        old_keys = set(old[key].itertuples(index=False, name=None))
        lost = len(old_keys - set(new[key].itertuples(index=False, name=None)))
        what = (f"{lost} of the current version's {n_old} {name} rows are missing from the new "
                "data (or their IDs changed form)")
    else:
        lost = max(n_old - len(new), 0)
        what = f"{len(new)} {name} rows instead of the current version's {n_old}"
    share = lost / n_old
    if share <= max_drop:
        return []
    return [f"{what}: {share:.0%} fewer, more than the {max_drop:.0%} allowed (a truncated or "
            "partial file?)"]


def _unit_problems(name: str, col: str, factor: float, new: pd.DataFrame,
                   old: pd.DataFrame) -> list[str]:
    """Rule 2 of :func:`change_problems`: a value's typical size changed by a unit factor."""
    key = list(CONTRACTS[name].key)
    ratio, basis = None, ""
    if key:
        both = new[[*key, col]].merge(old[[*key, col]], on=key, suffixes=("_new", "_old"))
        a = pd.to_numeric(both[f"{col}_new"], errors="coerce")
        b = pd.to_numeric(both[f"{col}_old"], errors="coerce")
        ok = (a > 0) & (b > 0)
        if ok.sum() >= MIN_VALUES:
            ratio = float(np.median(a[ok] / b[ok]))
            basis = f"median ratio over the {int(ok.sum())} patients in both versions"
    if ratio is None:
        a = pd.to_numeric(new[col], errors="coerce").dropna()
        b = pd.to_numeric(old[col], errors="coerce").dropna()
        if len(a) < MIN_VALUES or len(b) < MIN_VALUES or not b.median() > 0:
            return []
        ratio = float(a.median() / b.median())
        basis = f"median {a.median():.3g} vs {b.median():.3g}"
    if 1 / factor <= ratio <= factor:
        return []
    unit = CONTRACTS[name].column(col).unit or "its unit"
    return [f"{name}.{col} is {ratio:.3g}x the current version's ({basis}); a change beyond "
            f"{factor:g}x either way signals a unit error (values not in {unit}: e.g. days "
            "vs months is 30.4x, g/L vs g/dL 10x)"]


def _time_range_problems(outcomes: pd.DataFrame | None) -> list[str]:
    """Rule 3 of :func:`change_problems`: median OS/PFS time outside :data:`TIME_MEDIAN_RANGE`."""
    if outcomes is None:
        return []
    low, high = TIME_MEDIAN_RANGE
    out = []
    for col in _TIME_COLUMNS:
        if col not in outcomes:
            continue
        values = pd.to_numeric(outcomes[col], errors="coerce").dropna()
        if len(values) < MIN_VALUES:
            continue
        median = float(values.median())
        if median < low:
            out.append(f"outcomes.{col}: median {median:.3g} months over {len(values)} patients "
                       f"is below {low:g} month (times in months declared as days, divided by "
                       "30.4?)")
        elif median > high:
            out.append(f"outcomes.{col}: median {median:.3g} months over {len(values)} patients "
                       f"is above {high:g} months (times in days or weeks declared as months?)")
    return out
