"""The record equivalent to a patient of the cohort store (outcomes never enter a record)."""

from __future__ import annotations

import logging
import math
from typing import Any

import numpy as np
import pandas as pd
from pydantic import ValidationError

from icipredict.cohort.schema import CONTRACTS, Cohort
from icipredict.predict.record.model import PatientRecord, record_model

logger = logging.getLogger(__name__)


def _plain(v: Any) -> Any:
    """A store cell as a JSON-like value (missing -> None, numpy scalars -> Python)."""
    if v is None or v is pd.NA or (isinstance(v, float) and not math.isfinite(v)):
        return None
    if isinstance(v, (np.integer, np.bool_)):
        return int(v)
    if isinstance(v, np.floating):
        return float(v) if math.isfinite(v) else None
    return v


def stored_record_dict(cohort: Cohort, patient_id: str,
                       radiomics: pd.DataFrame | None = None) -> dict[str, Any]:
    """The record (JSON-ready dict) equivalent to one stored patient.

    Clinical values, labs and treatment, the first sample's genomics (in ``samples`` order, as
    :func:`icipredict.features.builder.patient_frame` takes it) with its full mutation list, and
    the patient's radiomics row (``radiomics_<feature>`` columns, index ``patient_id``) when
    given. Outcomes never enter a record.
    """
    def first(table: pd.DataFrame) -> dict[str, Any]:
        rows = table[table["patient_id"].astype(str) == patient_id]
        return {} if rows.empty else {k: _plain(v) for k, v in rows.iloc[0].items()}

    pat, labs, tx, smp = (first(cohort.patients), first(cohort.labs), first(cohort.treatments),
                          first(cohort.samples))
    rec: dict[str, Any] = {"patient_id": patient_id}
    for k in ("centre", "cancer_type", "sex", "age", "bmi", "ecog", "smoking", "stage_iv"):
        rec[k] = pat.get(k)
    for k in ("drug", "drug_class", "line", "prior_systemic_therapy"):
        rec[k] = tx.get(k)
    for k in CONTRACTS["labs"].column_names[1:]:
        rec[k] = labs.get(k)
    if smp:
        for k in ("panel", "panel_size_mb", "tumour_purity", "tmb", "msi_status", "msi_score",
                  "fcna", "hed", "hla_loh", "pdl1_tps"):
            rec[k] = smp.get(k)
        muts = cohort.mutations[cohort.mutations["sample_id"].astype(str) == str(smp["sample_id"])]
        if len(muts):
            rec["mutations"] = [
                {"gene": str(m.hugo_symbol), "variant_classification": str(m.variant_classification),
                 "protein_change": _plain(m.hgvsp_short)}
                for m in muts.itertuples()]
    if radiomics is not None and patient_id in radiomics.index:
        row = radiomics.loc[patient_id].dropna()
        if len(row):
            rec["radiomics"] = {str(k).removeprefix("radiomics_"): float(v)
                                for k, v in row.items()}
    return {k: v for k, v in rec.items() if v is not None}


def stored_record(cohort: Cohort, patient_id: str,
                  radiomics: pd.DataFrame | None = None) -> PatientRecord:
    """:func:`stored_record_dict` as a :class:`PatientRecord`.

    Stored values passed the cohort contract; should one still fail the record's checks (a
    vocabulary the record does not know), the record is built unchecked rather than refusing a
    stored patient (the model input comes from the store's tables, not from this record).
    """
    data = stored_record_dict(cohort, patient_id, radiomics)
    try:
        return record_model().model_validate(data)
    except ValidationError as exc:
        logger.warning("stored patient does not validate as a record (%d problem(s)); "
                       "using its values unchecked", len(exc.errors()))
        return PatientRecord.model_construct(**data)
