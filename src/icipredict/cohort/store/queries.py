"""Read queries of the store: the cohort, patient search, the per-centre summary, follow-up."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime

import numpy as np
import pandas as pd

from icipredict.cohort.schema import CONTRACTS, CohortError, empty_table

_LAB_VALUES = ("neutrophils", "lymphocytes", "nlr", "albumin", "platelets", "haemoglobin", "ldh")

SUMMARY_SQL = f"""
WITH v AS (
  SELECT c.centre, c.version, i.ingested_at
  FROM current_versions c JOIN ingests i ON i.centre = c.centre AND i.version = c.version),
p AS (SELECT centre, count(*) AS n FROM current_patients GROUP BY centre),
s AS (SELECT centre, count(*) AS n FROM current_samples GROUP BY centre),
mut AS (
  SELECT s.centre, count(DISTINCT s.patient_id) AS n
  FROM current_mutations m
  JOIN current_samples s ON s.centre = m.centre AND s.sample_id = m.sample_id
  GROUP BY s.centre),
img AS (
  SELECT centre, count(DISTINCT patient_id) AS n FROM (
    SELECT centre, patient_id FROM current_imaging
    UNION ALL SELECT centre, patient_id FROM current_radiomics)
  GROUP BY centre),
lab AS (
  SELECT centre, count(DISTINCT patient_id) AS n FROM current_labs
  WHERE coalesce({", ".join(_LAB_VALUES)}) IS NOT NULL GROUP BY centre),
o AS (
  SELECT centre, sum(responder) AS responders, count(responder) AS evaluable,
         sum(os_event) AS os_events, sum(pfs_event) AS pfs_events
  FROM current_outcomes GROUP BY centre)
SELECT v.centre,
       coalesce(p.n, 0) AS patients,
       coalesce(s.n, 0) AS samples,
       coalesce(mut.n, 0) AS with_mutations,
       coalesce(img.n, 0) AS with_imaging,
       coalesce(lab.n, 0) AS with_labs,
       coalesce(o.responders, 0) AS responders,
       coalesce(o.evaluable, 0) AS evaluable,
       coalesce(o.os_events, 0) AS os_events,
       coalesce(o.pfs_events, 0) AS pfs_events,
       v.version, v.ingested_at
FROM v
LEFT JOIN p USING (centre) LEFT JOIN s USING (centre) LEFT JOIN mut USING (centre)
LEFT JOIN img USING (centre) LEFT JOIN lab USING (centre) LEFT JOIN o USING (centre)
ORDER BY v.centre
"""


def cohort_query(name: str, centres: list[str] | None,
                 patient_ids: Sequence[str] | None) -> tuple[str, list]:
    """SQL and parameters reading one contract table's current rows for :meth:`cohort`."""
    cols = ", ".join(CONTRACTS[name].column_names)
    params: list = []
    if name == "panel_genes":
        where = ""
        if centres is not None:
            where = (" WHERE panel IN (SELECT panel FROM current_samples "
                     "WHERE list_contains(?, centre))")
            params = [centres]
        order = " ORDER BY panel, hugo_symbol"
        source = name
    else:
        where = " WHERE list_contains(?, centre)" if centres is not None else ""
        params = [centres] if centres is not None else []
        key = CONTRACTS[name].key or ("sample_id", "hugo_symbol", "start_position")
        order = " ORDER BY centre, " + ", ".join(key)
        source = f"current_{name}"
    if patient_ids is not None:
        ids = [str(p) for p in patient_ids]
        in_samples = "(SELECT {} FROM current_samples WHERE list_contains(?, patient_id))"
        if "patient_id" in CONTRACTS[name].column_names:
            cond = "list_contains(?, patient_id)"
        elif "sample_id" in CONTRACTS[name].column_names:
            cond = f"sample_id IN {in_samples.format('sample_id')}"
        else:
            cond = f"panel IN {in_samples.format('panel')}"
        where += (" AND " if where else " WHERE ") + cond
        params = [*params, ids]
    return f"SELECT {cols} FROM {source}{where}{order}", params


def patient_query(*, centres: list[str] | None, cancer_types: Sequence[str] | None,
                  started_from: str | date | None, started_to: str | date | None,
                  without_outcome: bool, patient_ids: list[str] | None) -> tuple[str, list]:
    """SQL and parameters of :meth:`~icipredict.cohort.store.CohortStore.find_patients`.

    Every condition given narrows the current patients; the IDs come ordered by centre, then ID.
    """
    where: list[str] = []
    params: list = []
    if centres is not None:
        where.append("list_contains(?, p.centre)")
        params.append(centres)
    if cancer_types is not None:
        where.append("list_contains(?, p.cancer_type)")
        params.append([str(c) for c in cancer_types])
    for name, op, bound in (("started_from", ">=", started_from),
                            ("started_to", "<=", started_to)):
        if bound is not None:
            where.append(f"t.start_date {op} ?")
            params.append(as_day(bound, name))
    if without_outcome:
        where.append("(o.patient_id IS NULL OR (o.bor IS NULL AND o.responder IS NULL "
                     "AND o.os_months IS NULL AND o.pfs_months IS NULL))")
    if patient_ids is not None:
        where.append("list_contains(?, p.patient_id)")
        params.append(patient_ids)
    sql = ("SELECT p.patient_id FROM current_patients p "
           "LEFT JOIN current_treatments t ON t.centre = p.centre "
           "AND t.patient_id = p.patient_id "
           "LEFT JOIN current_outcomes o ON o.centre = p.centre AND o.patient_id = p.patient_id"
           + (" WHERE " + " AND ".join(where) if where else "")
           + " ORDER BY p.centre, p.patient_id")
    return sql, params


def as_day(value: str | date, name: str) -> date:
    """An ISO day (``YYYY-MM-DD``) or a date; a clear error naming the option otherwise."""
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value).strip())
    except ValueError:
        raise CohortError(f"{name} must be a day as YYYY-MM-DD, got {value!r}",
                          column=name) from None


def reverse_km_median(time: pd.Series, event: pd.Series) -> float:
    """Median follow-up by reverse Kaplan-Meier (censoring is the 'event'); NaN if not reached.

    Parameters
    ----------
    time
        Follow-up times (months).
    event
        1 = event (death), 0 = censored.
    """
    from lifelines import KaplanMeierFitter

    time = pd.to_numeric(time, errors="coerce")
    event = pd.to_numeric(event, errors="coerce")
    ok = time.notna() & event.notna()
    if not ok.any():
        return float("nan")
    kmf = KaplanMeierFitter().fit(time[ok], event_observed=1 - event[ok].astype(int))
    median = float(kmf.median_survival_time_)
    return median if np.isfinite(median) else float("nan")


def as_contract(df: pd.DataFrame, name: str) -> pd.DataFrame:
    """Cast a table read from DuckDB to the contract dtypes of :func:`empty_table`."""
    dtypes = empty_table(name).dtypes
    out = df.copy()
    for col, dtype in dtypes.items():
        if str(dtype) == "object":
            out[col] = out[col].astype(object).where(out[col].notna(), None)
        else:
            out[col] = out[col].astype(dtype)
    return out
