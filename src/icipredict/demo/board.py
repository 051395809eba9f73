"""Demo step 6: score three example patients and a weekly list for the tumour board."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from icipredict.cohort.schema import Cohort
from icipredict.cohort.store import CohortStore
from icipredict.demo.cohort import cohort_radiomics
from icipredict.demo.context import DemoContext
from icipredict.demo.training import external_cohort

if TYPE_CHECKING:
    from icipredict.predict.record import PatientRecord


# ------------------------------------------------------------------------------ 6 board
def _value(v: Any) -> Any:
    if v is None or (isinstance(v, float) and not np.isfinite(v)) or v is pd.NA:
        return None
    if isinstance(v, np.integer | np.bool_):
        return int(v)
    if isinstance(v, np.floating):
        return float(v)
    return v


def patient_record(cohort: Cohort, patient_id: str,
                   radiomics: pd.DataFrame | None = None) -> dict[str, Any]:
    """A tumour-board patient record (JSON-ready dict) of one stored patient.

    Clinical values, labs, treatment, the first sample's genomics with its full mutation list
    (so TMB is recomputed exactly as in training) and precomputed radiomics when imaged.
    """
    def first(table: pd.DataFrame) -> dict[str, Any]:
        rows = table[table["patient_id"].astype(str) == patient_id]
        return {} if rows.empty else {k: _value(v) for k, v in rows.iloc[0].items()}

    pat, labs, tx, smp = (first(cohort.patients), first(cohort.labs), first(cohort.treatments),
                          first(cohort.samples))
    rec: dict[str, Any] = {"patient_id": patient_id, "centre": pat.get("centre")}
    for k in ("cancer_type", "sex", "age", "bmi", "ecog", "smoking", "stage_iv"):
        rec[k] = pat.get(k)
    for k in ("drug", "drug_class", "line", "prior_systemic_therapy"):
        rec[k] = tx.get(k)
    for k in ("nlr", "albumin", "platelets", "haemoglobin", "ldh"):
        rec[k] = labs.get(k)
    if smp:
        for k in ("panel", "panel_size_mb", "tmb", "msi_status", "msi_score", "fcna", "hed",
                  "hla_loh"):
            rec[k] = smp.get(k)
        muts = cohort.mutations[cohort.mutations["sample_id"] == smp["sample_id"]]
        rec["mutations"] = [
            {"gene": str(r.hugo_symbol), "variant_classification": str(r.variant_classification),
             "protein_change": _value(r.hgvsp_short) if pd.notna(r.hgvsp_short) else None}
            for r in muts.itertuples()]
    if radiomics is not None and patient_id in radiomics.index:
        row = radiomics.loc[patient_id].dropna()
        if len(row):
            rec["radiomics"] = {k.removeprefix("radiomics_"): float(v) for k, v in row.items()}
    return {k: v for k, v in rec.items() if v is not None}


def example_records(cohort: Cohort, radiomics: pd.DataFrame | None,
                    domain_types: set[str]) -> dict[str, dict[str, Any]]:
    """The three example patients: complete, without imaging, outside the training domain."""
    from icipredict.cohort.harmonise import CANCER_TYPES

    # "Sequenced" here: a sample with at least one variant (a TMB of 0 makes a poor example).
    mutated = set(cohort.mutations["sample_id"].astype(str))
    samples = cohort.samples[cohort.samples["sample_id"].astype(str).isin(mutated)]
    sequenced = set(samples["patient_id"].astype(str))
    labs = cohort.labs.set_index(cohort.labs["patient_id"].astype(str))
    with_labs = set(labs.index[labs[["nlr", "albumin"]].notna().all(axis=1)])
    imaged = set(radiomics.index) if radiomics is not None else set()
    ids = sorted(cohort.patients["patient_id"].astype(str))
    complete = next(p for p in ids if p in sequenced and p in imaged and p in with_labs)
    no_img = next(p for p in ids if p in sequenced and p not in imaged and p in with_labs
                  and p != complete)
    other = next(p for p in reversed(ids) if p in sequenced and p not in (complete, no_img))
    ood = patient_record(cohort, other)
    unseen = [t for t in ("GBM", *CANCER_TYPES) if t not in domain_types]
    ood.update({"cancer_type": unseen[0] if unseen else ood["cancer_type"], "age": 97.0,
                "nlr": 95.0})
    ood.pop("radiomics", None)
    return {"complete": patient_record(cohort, complete, radiomics),
            "no_imaging": patient_record(cohort, no_img, radiomics), "out_of_domain": ood}


def step_board(ctx: DemoContext) -> str:
    """Score the three example patients and a weekly list from the champion; write reports."""
    import mlflow

    from icipredict.predict.report import write_list, write_report
    from icipredict.predict.scorer import clear_model_cache, load_board_model, score, score_batch

    mlflow.set_tracking_uri(ctx.tracking_uri)
    mlflow.set_registry_uri(ctx.tracking_uri)
    clear_model_cache()  # the champion alias may have moved in this process
    if not ctx.external_store_path.exists():
        external_cohort(ctx)
    cohort = CohortStore(ctx.external_store_path).cohort()
    rad, _, _ = cohort_radiomics(cohort, ctx.cache_dir)
    domain = load_board_model(ctx.model_uri).domain
    types = set((domain.get("categories") or {}).get("cancer_type") or [])
    records = example_records(cohort, rad, types)
    (ctx.board_dir / "patients").mkdir(parents=True, exist_ok=True)
    ctx.scores = {}
    for label, rec in records.items():
        path = ctx.board_dir / "patients" / f"{label}.json"
        path.write_text(json.dumps(rec, indent=2))
        s = score(path, ctx.model_uri)
        (ctx.board_dir / f"{label}.json").write_text(s.to_json(indent=2))
        write_report(s, ctx.board_dir / f"{label}.html")
        ctx.scores[label] = s
    ids = sorted(cohort.patients["patient_id"].astype(str))
    chosen = {r["patient_id"] for r in records.values()}
    others = [p for p in ids if p not in chosen][:ctx.n_weekly]
    weekly: list[PatientRecord | dict[str, Any]] = [patient_record(cohort, p, rad) for p in others]
    weekly += list(records.values())
    (ctx.board_dir / "weekly_patients.json").write_text(json.dumps(weekly, indent=2))
    ctx.weekly = write_list(score_batch(weekly, ctx.model_uri), ctx.board_dir / "weekly")
    parts = []
    for label, s in ctx.scores.items():
        p = s.response.probability
        parts.append(f"{label}: {'n/a' if p is None else f'{100 * p:.0f}%'} response, risk "
                     f"{s.risk.group or 'n/a'}, {len(s.warnings)} warning(s)")
    return "; ".join(parts) + f"; weekly list of {len(weekly)} -> {ctx.weekly['html']}"
