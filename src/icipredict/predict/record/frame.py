"""A record as model input: a one-patient cohort, or directly the row the builder would make."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from icipredict.cohort import harmonise as hz
from icipredict.cohort.schema import CONTRACTS, Cohort, empty_table
from icipredict.predict.record.model import Mutation, PatientRecord, extra_inputs


def record_cohort(record: PatientRecord, patient_id: str = "patient") -> Cohort:
    """The record as a one-patient :class:`Cohort` (contract tables, canonical units)."""
    pid = record.patient_id or patient_id
    cohort = Cohort()
    cohort.patients = pd.DataFrame([{
        "patient_id": pid, "centre": record.centre or "board", "sex": record.sex,
        "age": record.age, "bmi": record.bmi,
        "ecog": None if record.ecog is None else int(record.ecog),
        "smoking": record.smoking, "cancer_type": record.cancer_type,
        "stage_iv": record.stage_iv}])
    cohort.labs = pd.DataFrame([{"patient_id": pid, **{
        c: getattr(record, c) for c in CONTRACTS["labs"].column_names if c != "patient_id"}}])
    cohort.treatments = pd.DataFrame([{
        "patient_id": pid, "drug": record.drug, "drug_class": record.resolved_drug_class(),
        "line": record.line, "prior_systemic_therapy": record.prior_systemic_therapy}])
    genomic = [record.tmb, record.msi_status, record.msi_score, record.fcna, record.hed,
               record.hla_loh, record.pdl1_tps, record.panel]
    mutations = _record_mutations(record, f"{pid}-S1")
    if mutations is not None or any(v is not None for v in genomic):
        size = record.panel_size_mb
        if size is None and record.panel is not None:
            size = hz.panel_size_mb(record.panel)
        cohort.samples = pd.DataFrame([{
            "sample_id": f"{pid}-S1", "patient_id": pid, "panel": record.panel,
            "panel_size_mb": size, "tumour_purity": record.tumour_purity, "tmb": record.tmb,
            "msi_status": record.msi_status, "msi_score": record.msi_score,
            "fcna": record.fcna, "hed": record.hed, "hla_loh": record.hla_loh,
            "pdl1_tps": record.pdl1_tps}])
        if mutations is not None:
            cohort.mutations = mutations
    for name in ("patients", "labs", "treatments", "samples"):
        table = getattr(cohort, name)
        if len(table):
            template = empty_table(name)
            table = table.reindex(columns=template.columns)
            setattr(cohort, name, table.astype(template.dtypes.to_dict()))
    return cohort


def _record_mutations(record: PatientRecord, sample_id: str) -> pd.DataFrame | None:
    if record.maf_path:
        from icipredict.features.genomic import read_maf_fast

        maf = read_maf_fast(record.maf_path)
        maf = maf.rename(columns={"Tumor_Sample_Barcode": "sample_id",
                                  "Hugo_Symbol": "hugo_symbol",
                                  "Variant_Classification": "variant_classification"})
        return maf.assign(sample_id=sample_id)
    if record.mutations is None:
        return None
    rows = []
    for m in record.mutations:
        m = Mutation(gene=m) if isinstance(m, str) else m
        rows.append({"sample_id": sample_id, "hugo_symbol": m.gene.strip().upper(),
                     "variant_classification": m.variant_classification,
                     "hgvsp_short": m.protein_change})
    return pd.DataFrame(rows, columns=["sample_id", "hugo_symbol", "variant_classification",
                                       "hgvsp_short"])


#: Columns of the model input frame, in order (a superset of what any model reads).
def _frame_columns() -> list[str]:
    from icipredict.features.genomic import DEFAULT_GENES, PASSTHROUGH, gene_column

    cols = [c for t in ("patients", "labs", "treatments") for c in CONTRACTS[t].column_names
            if c != "patient_id"]
    cols += ["sample_id", *PASSTHROUGH, "tmb_reported",
             "tmb_computed", "tmb", "tmb_source"]
    return cols + [gene_column(g) for g in DEFAULT_GENES]


FRAME_COLUMNS: list[str] = _frame_columns()
_STRING_COLUMNS = {"centre", "sex", "smoking", "cancer_type", "drug", "drug_class", "sample_id",
                   "msi_status", "tmb_source"}


def record_row(record: PatientRecord, patient_id: str = "patient") -> dict[str, Any]:
    """One record as the model-input row, without building a cohort (the fast path).

    Gives the same values as :func:`icipredict.features.builder.patient_frame` on
    :func:`record_cohort` (checked in the tests), in well under a millisecond. One deliberate
    difference: an empty ``mutations`` list with a known panel means *sequenced, no variant*
    (TMB 0, genes wild type), where a cohort without any MAF row cannot say so.
    """
    from icipredict.features.genomic import (
        DEFAULT_GENES,
        MIN_TERRITORY_MB,
        NONSYNONYMOUS_CLASSES,
        gene_column,
    )

    row: dict[str, Any] = dict.fromkeys(FRAME_COLUMNS)
    row.update({
        "centre": record.centre or "board", "sex": record.sex, "age": record.age,
        "bmi": record.bmi, "ecog": record.ecog, "smoking": record.smoking,
        "cancer_type": record.cancer_type, "stage_iv": record.stage_iv, "drug": record.drug,
        "drug_class": record.resolved_drug_class(), "line": record.line,
        "prior_systemic_therapy": record.prior_systemic_therapy})
    for c in CONTRACTS["labs"].column_names[1:]:
        row[c] = getattr(record, c)
    for c in extra_inputs(record):  # inputs of features added to the registry
        row[c] = getattr(record, c)
    genomic = [record.tmb, record.msi_status, record.msi_score, record.fcna, record.hed,
               record.hla_loh, record.pdl1_tps, record.panel]
    if record.mutations is None and all(v is None for v in genomic):
        return row
    size = record.panel_size_mb
    if size is None and record.panel is not None:
        size = hz.panel_size_mb(record.panel)
    size = None if size is None or math.isnan(size) else size
    row.update({"sample_id": f"{record.patient_id or patient_id}-S1",
                "msi_status": record.msi_status, "msi_score": record.msi_score,
                "fcna": record.fcna, "hed": record.hed, "hla_loh": record.hla_loh,
                "tmb_reported": record.tmb})
    muts = [Mutation(gene=m) if isinstance(m, str) else m for m in record.mutations or []]
    hits = {m.gene.strip().upper() for m in muts
            if m.variant_classification in NONSYNONYMOUS_CLASSES}
    sequenced = record.mutations is not None
    computed = None
    if sequenced and size is not None and size >= MIN_TERRITORY_MB:
        computed = sum(m.variant_classification in NONSYNONYMOUS_CLASSES for m in muts) / size
    row["tmb_computed"] = computed
    row["tmb"] = computed if computed is not None else record.tmb
    row["tmb_source"] = ("computed" if computed is not None
                         else "reported" if record.tmb is not None else None)
    profiled = sequenced and record.panel is not None
    for g in DEFAULT_GENES:
        row[gene_column(g)] = 1.0 if g in hits else (0.0 if profiled else None)
    return row


def record_frame(records: list[PatientRecord] | PatientRecord, *, fast: bool = True
                 ) -> pd.DataFrame:
    """Model input: one row per record (index ``patient_id``), columns :data:`FRAME_COLUMNS`
    plus ``radiomics_<feature>``.

    Rows are what :func:`icipredict.features.builder.patient_frame` builds for training patients
    (TMB from the mutation list and the panel size, ``mut_<GENE>`` flags with missing = not
    profiled). ``fast`` builds them directly (:func:`record_row`); records with a MAF file, or
    ``fast=False``, go through ``patient_frame`` itself.
    """
    from icipredict.features.builder import RADIOMICS_PREFIX, patient_frame

    if isinstance(records, PatientRecord):
        records = [records]
    rows, index, radiomics = [], [], {}
    for i, rec in enumerate(records, start=1):
        pid = rec.patient_id or f"patient-{i}"
        index.append(pid)
        if rec.radiomics:
            radiomics[pid] = {f"{RADIOMICS_PREFIX}{k}": v for k, v in rec.radiomics.items()}
        if fast and not rec.maf_path:
            rows.append(record_row(rec, pid))
        else:
            pf = patient_frame(record_cohort(rec, pid)).reindex(columns=FRAME_COLUMNS)
            rows.append({c: (None if pd.isna(v) else v) for c, v in pf.iloc[0].items()})
    # Column by column from plain lists: one DataFrame construction, no per-column casts.
    data: dict[str, Any] = {}
    columns = FRAME_COLUMNS + [c for c in rows[0] if c not in FRAME_COLUMNS] if rows else []
    for c in columns or FRAME_COLUMNS:
        values = [r.get(c) for r in rows]
        if c in _STRING_COLUMNS or any(isinstance(v, str) for v in values):
            data[c] = np.array(values, dtype=object)
        else:
            data[c] = np.array([np.nan if v is None else v for v in values], dtype=float)
    frame = pd.DataFrame(data, index=pd.Index(index, name="patient_id"))
    if radiomics:
        frame = frame.join(pd.DataFrame.from_dict(radiomics, orient="index"))
    return frame
