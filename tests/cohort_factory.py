"""A small hand-made cohort (one centre) whose summary numbers are known by hand.

Source IDs are long distinctive strings so a test can search the store for any trace of them.

Patients 1-5 (``MRN-<tag>-00k``):

====  ======  =======  ===========================  ====  ======  ====  ========  ==========
pat   sample  labs     mutations                     img   bor     resp  OS (mo)   PFS (mo)
====  ======  =======  ===========================  ====  ======  ====  ========  ==========
1     yes     values   BRCA2 Frame_Shift_Del, TP53  yes   CR      1     2 event   1 event
2     yes     values   BRCA2 Silent, KRAS           no    PD      0     5 cens    2 event
3     yes     values   BRCA1 Missense               no    PR      1     8 event   8 cens
4     yes     all NaN  none                         yes   SD      0     12 cens   3 event
5     no      none     none                         no    --      NA    20 cens   20 cens
====  ======  =======  ===========================  ====  ======  ====  ========  ==========

By hand: patients 5, samples 4, with_mutations 3, with_imaging 2, with_labs 3, responders 2,
evaluable 4, OS events 2, PFS events 3. Reverse Kaplan-Meier on OS (censoring = event): at risk
5 -> 4 after the death at 2; censoring at 5 (4 at risk): 0.75; death at 8 leaves 2 at risk;
censoring at 12: 0.75 * 1/2 = 0.375 < 0.5, so median follow-up = 12 months.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from icipredict.cohort.schema import Cohort

NA = np.nan


def patient_ids(tag: str = "ALPHA") -> list[str]:
    """Source patient IDs of :func:`make_cohort`."""
    return [f"MRN-{tag}-00{k}" for k in range(1, 6)]


def sample_ids(tag: str = "ALPHA") -> list[str]:
    """Source sample IDs of :func:`make_cohort` (patients 1-4)."""
    return [f"TUMOUR-{tag}-S0{k}" for k in range(1, 5)]


def make_cohort(centre: str = "Alpha", tag: str = "ALPHA", albumin_shift: float = 0.0) -> Cohort:
    """The five-patient cohort described in the module docstring."""
    pid, sid = patient_ids(tag), sample_ids(tag)
    patients = pd.DataFrame({
        "patient_id": pid, "centre": centre,
        "sex": ["male", "female", "male", "female", None],
        "age": [61.0, 70.0, 55.5, 48.0, 80.0], "bmi": [24.0, NA, 31.0, 22.0, 19.5],
        "ecog": pd.array([0, 1, 1, None, 2], dtype="Int64"),
        "smoking": ["former", "never", None, "current", "never"],
        "cancer_type": ["NSCLC", "Melanoma", "Bladder", "NSCLC", "Renal"],
        "stage_iv": pd.array([1, 1, 0, 1, None], dtype="Int64"),
    })
    samples = pd.DataFrame({
        "sample_id": sid, "patient_id": pid[:4],
        "panel": ["IMPACT468", "IMPACT468", "IMPACT410", "IMPACT468"],
        "panel_size_mb": [1.22, 1.22, 1.06, 1.22], "tumour_purity": [0.5, 0.3, NA, 0.8],
        "tmb": [12.3, 4.1, 30.2, 1.0], "msi_status": ["MSS", "MSS", "MSI-H", None],
        "msi_score": [0.5, 1.0, 25.0, NA], "fcna": [0.2, NA, 0.1, 0.4],
        "hed": [6.0, 7.5, NA, 5.0], "hla_loh": pd.array([0, 1, None, 0], dtype="Int64"),
        "pdl1_tps": [50.0, NA, 1.0, 0.0],
    })
    mutations = pd.DataFrame({
        "sample_id": [sid[0], sid[0], sid[1], sid[1], sid[2]],
        "hugo_symbol": ["BRCA2", "TP53", "BRCA2", "KRAS", "BRCA1"],
        "variant_classification": ["Frame_Shift_Del", "Missense_Mutation", "Silent",
                                   "Missense_Mutation", "Missense_Mutation"],
        "hgvsp_short": ["p.K3326fs", "p.R273H", "p.S100S", "p.G12C", "p.C61G"],
        "chromosome": ["13", "17", "13", "12", "17"],
        "start_position": pd.array([32972626, 7577120, 32890600, 25398285, 41258504],
                                   dtype="Int64"),
        "reference_allele": ["A", "C", "G", "C", "A"],
        "tumor_seq_allele2": ["-", "T", "A", "A", "C"],
        "vaf": [0.42, 0.35, 0.5, 0.21, 0.18],
    })
    labs = pd.DataFrame({
        "patient_id": pid[:4],
        "neutrophils": [5.0, 7.2, 3.1, NA], "lymphocytes": [1.0, 1.2, 1.5, NA],
        "nlr": [5.0, 6.0, 2.07, NA],
        "albumin": [3.9 + albumin_shift, 3.2 + albumin_shift, 4.1 + albumin_shift, NA],
        "platelets": [250.0, 310.0, NA, NA], "haemoglobin": [12.5, 10.9, 13.8, NA],
        "ldh": [210.0, NA, 180.0, NA],
    })
    treatments = pd.DataFrame({
        "patient_id": pid, "drug": ["pembrolizumab", "nivolumab+ipilimumab", "atezolizumab",
                                    "pembrolizumab", "ipilimumab"],
        "drug_class": ["PD-1/PD-L1", "combination", "PD-1/PD-L1", "PD-1/PD-L1", "CTLA-4"],
        "line": pd.array([1, 2, 1, 3, None], dtype="Int64"),
        "prior_systemic_therapy": pd.array([0, 1, 0, 1, None], dtype="Int64"),
        "start_date": pd.to_datetime(["2017-03-01", "2018-01-15", None, "2016-11-30",
                                      "2019-06-01"]),
    })
    imaging = pd.DataFrame({
        "patient_id": [pid[0], pid[0], pid[3]], "lesion_id": ["L1", "L2", "L1"],
        "modality": ["CT", "CT", "MR"],
        "image_uri": ["img/a1.nii.gz", "img/a1.nii.gz", "img/a4.nii.gz"],
        "mask_uri": ["img/a1_m1.nii.gz", "img/a1_m2.nii.gz", "img/a4_m1.nii.gz"],
        "radiomics_uri": [None, None, None],
    })
    outcomes = pd.DataFrame({
        "patient_id": pid, "bor": ["CR", "PD", "PR", "SD", None],
        "responder": pd.array([1, 0, 1, 0, None], dtype="Int64"),
        "os_months": [2.0, 5.0, 8.0, 12.0, 20.0],
        "os_event": pd.array([1, 0, 1, 0, 0], dtype="Int64"),
        "pfs_months": [1.0, 2.0, 8.0, 3.0, 20.0],
        "pfs_event": pd.array([1, 1, 0, 1, 0], dtype="Int64"),
    })
    radiomics = pd.DataFrame({
        "patient_id": [pid[0], pid[0]], "lesion_id": ["L1", "L1"],
        "feature": ["original_firstorder_Mean", "original_shape_VoxelVolume"],
        "value": [35.2, 1200.0],
    })
    panel_genes = pd.DataFrame({
        "panel": ["IMPACT468"] * 3 + ["IMPACT410"] * 2,
        "hugo_symbol": ["BRCA1", "BRCA2", "TP53", "BRCA1", "KRAS"],
    })
    return Cohort(patients=patients, samples=samples, mutations=mutations, labs=labs,
                  treatments=treatments, imaging=imaging, outcomes=outcomes,
                  radiomics=radiomics, panel_genes=panel_genes)


#: A small hospital export (CSV) and its column map, as a centre would send them: the CLI and
#: key tests ingest it through the real loader.
CLINICAL = """PID,Tumour,Age,Sex,OS_days,Dead,BOR,Albumin_gL
H-0001,Melanoma,64,M,300,1,PR,38
H-0002,NSCLC,71,F,820,0,PD,41
H-0003,Bladder,58,M,120,1,SD,29
"""

COLUMN_MAP = """name: hospital
files:
  - path: clin.csv
    columns:
      patient_id: PID
      cancer_type: Tumour
      age: {column: Age, unit: years}
      sex: {column: Sex, values: {M: male, F: female}}
      os_months: {column: OS_days, unit: days}
      os_event: {column: Dead, event_value: 1}
      bor: BOR
      albumin: {column: Albumin_gL, unit: g/L}
"""
