"""The truth: which columns ``truth.parquet`` keeps, and the model written to ``truth.yaml``."""

from __future__ import annotations

import pandas as pd

from icipredict.cohort.harmonise import PANELS
from icipredict.synthetic.genes import GENOME_WIDE, NONSYNONYMOUS, PANEL_MISSING, panel_genes
from icipredict.synthetic.model import (
    CANCER_OS_LOGHR,
    CANCER_RESPONSE_OFFSET,
    CENTRES,
    DATA_CUT,
    DRIVER_PREVALENCE,
    GENERATOR,
    LOSS_MEAN_MONTHS,
    MSI_PREVALENCE,
    OS_COEF,
    OS_SCALE,
    OS_SHAPE,
    PFS_COEF,
    PFS_SCALE,
    PFS_SHAPE,
    RESPONSE_COEF,
    START_DAYS,
    START_FIRST,
    TMB_FACTOR,
)

TRUTH_COLUMNS = [
    "centre", "source_patient_id", "source_sample_id", "cancer_type", "panel", "panel_size_mb",
    "sequenced", "n_lesions", "image_stem", "tmb_latent", "n_nonsynonymous", "n_silent_intron", "tmb_true",
    "msi_h", "pole", "brca_carrier", "texture_z", "age", "sex", "albumin", "nlr",
    "prior_systemic_therapy", "ecog", "drug_class", "lp_response", "p_response", "responder",
    "bor", "os_log_hazard", "pfs_log_hazard", "os_time_true", "pfs_time_true", "os_months",
    "os_event", "pfs_months", "pfs_event", "brca_case",
]


def truth_doc(n: int, seed: int, brca: pd.DataFrame | None = None) -> dict:
    """The ``truth.yaml`` document: the generative model and its true coefficients.

    ``brca`` (the ``brca_truth.parquet`` table) adds the BRCA1/2 registry's expected counts.
    """
    doc = {
        "generator": GENERATOR,
        "seed": seed, "patients": n,
        "response_model": {
            "link": "logit",
            "terms": {
                "log1p_tmb": "log(1 + latent TMB in mut/Mb)",
                "albumin_c": "albumin (g/dL) - 3.8", "log_nlr_c": "log(NLR / 4)",
                "prior_therapy": "1 = systemic therapy before ICI", "ecog": "ECOG 0-2",
                "combination": "1 = PD-1/PD-L1 + CTLA-4", "msi_h": "1 = MSI-H",
                "stk11_nsclc": "latent STK11 mutation in NSCLC",
                "keap1_nsclc": "latent KEAP1 mutation in NSCLC",
                "ifn_loss": "latent B2M, JAK1 or JAK2 mutation",
                "texture_z": "latent lesion texture score (N(0,1)); image noise SD = "
                             "18 * exp(0.45 * texture_z) HU",
            },
            "coefficients": dict(RESPONSE_COEF),
            "cancer_type_offset": dict(CANCER_RESPONSE_OFFSET),
            "centre_offset": {c.name: c.response_offset for c in CENTRES},
            "null_covariates": ["bmi", "sex", "platelets", "haemoglobin", "ldh", "fcna", "hed",
                                "hla_loh", "tumour_purity", "smoking", "stage_iv"],
        },
        "os_model": {"family": "Weibull proportional hazards", "shape": OS_SHAPE,
                     "scale_months": OS_SCALE, "log_hr": dict(OS_COEF),
                     "cancer_type_log_hr": dict(CANCER_OS_LOGHR),
                     "extra_terms": {"age10_c": "(age - 63) / 10", "responder": "CR/PR"}},
        "pfs_model": {"family": "Weibull proportional hazards (then min with death)",
                      "shape": PFS_SHAPE, "scale_months": PFS_SCALE, "log_hr": dict(PFS_COEF)},
        "censoring": {"administrative_cut": DATA_CUT.isoformat(),
                      "start_dates": f"{START_FIRST.isoformat()} + U(0, {START_DAYS}) days",
                      "loss_to_follow_up": f"exponential, mean {LOSS_MEAN_MONTHS} months"},
        "tmb": {"latent": "lognormal(log 4 + log factor[cancer], 0.95); x6 (min 20) MSI-H; "
                          "x15 (min 80) POLE; x1.4 BRCA1/2; cap 400",
                "cancer_type_factor": dict(TMB_FACTOR), "default_factor": 0.6,
                "observed": "n_nonsynonymous = round(tmb_latent * panel_size_mb); "
                            "tmb_true = n_nonsynonymous / panel_size_mb",
                "nonsynonymous_classes": list(NONSYNONYMOUS),
                "not_counted": ["Silent", "Intron"]},
        "driver_prevalence": {g: dict(v) for g, v in DRIVER_PREVALENCE.items()},
        "msi_prevalence": dict(MSI_PREVALENCE),
        "panels": {p: {"size_mb": PANELS[p],
                       "genes": (len(panel_genes(p)) if p not in GENOME_WIDE else "genome-wide"),
                       "missing_ici_genes": list(PANEL_MISSING.get(p, ()))}
                   for p in sorted({q for c in CENTRES for q in c.panels})},
    }
    if brca is not None:
        doc["brca_registry"] = brca_summary(brca)
    return doc


def brca_summary(brca: pd.DataFrame) -> dict:
    """Expected BRCA1/2 registry counts from the ``brca_truth.parquet`` table."""
    som = brca[brca["origin"] != "germline"]
    plp = som["classification"].isin(["pathogenic", "likely_pathogenic"])
    return {
        "table": "brca_truth.parquet: one row per registry row (somatic, germline and deep "
                 "deletion) with the class, rule, origin, follow-up and second hit the "
                 "registry must assign (cases: see icipredict.synthetic.brca.CASES)",
        "somatic_rows": len(som), "germline_rows": int(len(brca) - len(som)),
        "somatic_patients": int(som["source_patient_id"].nunique()),
        "pathogenic_carriers": int(som.loc[plp, "source_patient_id"].nunique()),
        "by_classification": {k: int(v) for k, v in
                              som["classification"].value_counts().sort_index().items()},
        "by_case": {k: int(v) for k, v in
                    brca.groupby("case")["source_patient_id"].nunique().sort_index().items()},
    }
