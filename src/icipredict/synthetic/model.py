"""The generative model: cancer types, centres, case mix and the true effects on outcome."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import numpy as np

from icipredict.cohort.harmonise import CANCER_TYPES

GENERATOR_VERSION = "1"


#: The generator as named in ``network.yaml`` and ``truth.yaml``. Kept as first written (the
#: generator lived in ``icipredict.cohort.synthetic``): the same seed gives the same bytes.
GENERATOR = f"icipredict.cohort.synthetic v{GENERATOR_VERSION}"


CODES = tuple(CANCER_TYPES)
#: Base case mix (Chowell 2022: NSCLC 36%, melanoma 13%, 16 other types).
BASE_MIX = {"NSCLC": .36, "MEL": .13, "BLCA": .055, "RCC": .06, "HNSC": .047, "SARC": .045,
            "UCEC": .044, "STAD": .043, "HB": .035, "SCLC": .034, "COADREAD": .031, "ESCA": .03,
            "PAAD": .024, "MESO": .023, "OV": .021, "BRCA": .017, "CUP": .015, "GBM": .015}
#: TMB multiplier by cancer type (median TMB ~ 4 x factor; overall median ~5).
TMB_FACTOR = {"MEL": 2.2, "NSCLC": 1.6, "BLCA": 1.6, "UCEC": 1.2, "COADREAD": 0.9, "HNSC": 1.0,
              "SCLC": 1.6, "ESCA": 0.9, "STAD": 0.9, "CUP": 1.0}
#: Response log-odds offset by cancer type (relative to NSCLC).
CANCER_RESPONSE_OFFSET = {"MEL": 0.45, "RCC": 0.85, "UCEC": 0.2, "ESCA": 0.35, "STAD": 0.25,
                          "COADREAD": -0.5, "BLCA": -0.6, "BRCA": -0.3, "HNSC": -0.35,
                          "HB": -0.5, "MESO": -0.4, "OV": -0.3, "PAAD": -1.8, "SCLC": -0.6,
                          "SARC": -0.1, "CUP": -0.4, "GBM": -1.2, "NSCLC": 0.0}
#: OS log-hazard offset by cancer type.
CANCER_OS_LOGHR = {"MEL": -0.35, "RCC": -0.35, "PAAD": 0.5, "HB": 0.3, "SCLC": 0.3, "GBM": 0.4,
                   "MESO": 0.1, "ESCA": 0.15, "STAD": 0.15}

#: Response model coefficients (logit scale); the intercept is calibrated to ~27% responders.
RESPONSE_COEF = {
    "intercept": -1.76,
    "log1p_tmb": 0.55,            # per unit log(1 + TMB mut/Mb)
    "albumin_c": 0.75,            # per g/dL above 3.8
    "log_nlr_c": -0.55,           # per unit log(NLR / 4)
    "prior_therapy": -0.40,
    "ecog": -0.30,                # per ECOG point
    "combination": 0.40,
    "msi_h": 0.80,
    "stk11_nsclc": -0.80,
    "keap1_nsclc": -0.60,
    "ifn_loss": -0.80,            # B2M or JAK1 or JAK2 mutated
    "texture_z": 0.70,            # radiomic texture (lesion heterogeneity)
}
#: OS log-hazard coefficients (Weibull PH).
OS_COEF = {"responder": -1.30, "log_nlr_c": 0.45, "albumin_c": -0.55, "ecog": 0.30,
           "age10_c": 0.08, "prior_therapy": 0.20, "log1p_tmb": -0.10, "stk11_nsclc": 0.30}
#: PFS log-hazard coefficients (Weibull PH, before taking min with death).
PFS_COEF = {"responder": -1.80, "log_nlr_c": 0.30, "albumin_c": -0.40, "ecog": 0.20,
            "prior_therapy": 0.15, "log1p_tmb": -0.05}
OS_SHAPE, OS_SCALE = 0.95, 26.0     # months, baseline (eta = 0)
PFS_SHAPE, PFS_SCALE = 0.85, 6.5
LOSS_MEAN_MONTHS = 150.0
DATA_CUT = dt.date(2019, 6, 30)
START_FIRST = dt.date(2015, 1, 1)
START_DAYS = 4 * 365

#: latent driver prevalence: gene -> {cancer type: p, "*": default}
DRIVER_PREVALENCE: dict[str, dict[str, float]] = {
    "TP53": {"*": 0.40, "OV": 0.9, "HNSC": 0.7, "ESCA": 0.8, "SCLC": 0.85, "MEL": 0.15,
             "RCC": 0.05},
    "KRAS": {"*": 0.03, "NSCLC": 0.30, "COADREAD": 0.45, "PAAD": 0.85},
    "EGFR": {"*": 0.01, "NSCLC": 0.10, "GBM": 0.3},
    "STK11": {"*": 0.01, "NSCLC": 0.15},
    "KEAP1": {"*": 0.01, "NSCLC": 0.12},
    "PTEN": {"*": 0.04, "UCEC": 0.5, "GBM": 0.35, "MEL": 0.08},
    "ARID1A": {"*": 0.05, "UCEC": 0.35, "STAD": 0.2, "OV": 0.15, "BLCA": 0.2},
    "SMARCA4": {"*": 0.02, "NSCLC": 0.07},
    "PBRM1": {"*": 0.02, "RCC": 0.4, "MESO": 0.1},
    "B2M": {"*": 0.025}, "JAK1": {"*": 0.02}, "JAK2": {"*": 0.01},
    "MDM2": {"*": 0.02}, "MDM4": {"*": 0.01},
    "BRCA1": {"*": 0.012, "OV": 0.08, "BRCA": 0.08},
    "BRCA2": {"*": 0.02, "OV": 0.06, "BRCA": 0.06, "PAAD": 0.06},
    "POLE": {"*": 0.006, "UCEC": 0.06, "COADREAD": 0.03},
}
DRIVER_GENES = tuple(DRIVER_PREVALENCE)
MSI_PREVALENCE = {"*": 0.008, "UCEC": 0.2, "COADREAD": 0.12, "STAD": 0.1}


@dataclass(frozen=True)
class CentreSpec:
    """One synthetic centre: size, case mix, assay, imaging and its data conventions."""

    name: str
    fmt: str
    share: float
    tilt: dict[str, float]
    panels: dict[str, float]
    sequenced: float
    imaging: str | None             # "nifti", "radiomics" or None
    imaged: float = 0.0             # fraction of the centre's patients with imaging
    two_lesions: float = 0.0        # fraction of imaged patients with 2 lesions
    response_offset: float = 0.0
    quirks: tuple[str, ...] = field(default_factory=tuple)


CENTRES: tuple[CentreSpec, ...] = (
    CentreSpec("harbour", "cbioportal", 0.30, {},
               {"MSK-IMPACT468": 0.7, "MSK-IMPACT341": 0.3}, 1.0, None,
               quirks=("cBioPortal study folder", "no imaging",
                       "IMPACT341 lacks B2M, JAK1, MDM4, PBRM1")),
    CentreSpec("lindenhof", "xlsx", 0.12, {"MEL": 3.0}, {"FoundationOneCDx": 1.0}, 0.95,
               "nifti", 0.55, 0.15, 0.10,
               quirks=("XLSX workbook", "albumin and haemoglobin in g/L", "tumour purity in %",
                       "mutations as .maf.gz")),
    CentreSpec("riverside", "csv", 0.18, {"NSCLC": 1.8, "SCLC": 2.0, "MESO": 2.0},
               {"TSO500": 1.0}, 0.92, "nifti", 0.55, 0.15, -0.10,
               quirks=("CSV", "OS/PFS in days", "MAF with #version header")),
    CentreSpec("alpenrose", "tsv", 0.14, {}, {"WES": 1.0}, 0.90, "radiomics", 0.70, 0.2, 0.05,
               quirks=("TSV", "neutrophil and lymphocyte counts instead of NLR",
                       "events coded 1 = censored", "precomputed radiomics tables, no images",
                       "whole exome")),
    CentreSpec("coastline", "parquet", 0.12,
               {"COADREAD": 3.0, "STAD": 3.0, "ESCA": 3.0, "HB": 3.0, "PAAD": 3.0},
               {"MSK-IMPACT410": 1.0}, 0.88, "nifti", 0.50, 0.3, -0.15,
               quirks=("Parquet", "binary responder only (no RECIST)", "drug class only")),
    CentreSpec("meridian", "csv", 0.14, {"BLCA": 3.0, "RCC": 3.0, "UCEC": 3.0, "OV": 3.0},
               {"FoundationOneCDx": 1.0}, 0.80, "nifti", 0.50, 0.15, 0.10,
               quirks=("CSV", "20% of patients not sequenced", "mutations as .maf.gz")),
)


def per_code(table: dict[str, float], default: float) -> np.ndarray:
    """A per-cancer-type table as an array over :data:`CODES` (``*`` or ``default`` elsewhere)."""
    return np.array([table.get(c, table.get("*", default)) for c in CODES])


def centre_mix(spec: CentreSpec) -> np.ndarray:
    """The centre's cancer-type probabilities over :data:`CODES`."""
    p = np.array([BASE_MIX[c] * spec.tilt.get(c, 1.0) for c in CODES])
    return p / p.sum()
