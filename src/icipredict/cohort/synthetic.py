"""A deterministic synthetic network of six centres with a known generative model.

``generate_network(out, n_patients=600, seed=7)`` writes six centres, each in a real input format
that :func:`icipredict.cohort.loaders.load_source` reads, plus the truth::

    OUT/network.yaml          centres, their format, quirks and the path to pass to load_source
    OUT/truth.parquet         one row per patient: latent covariates, true TMB, true linear
                              predictor / probability of response, true log-hazards, outcomes
    OUT/truth.yaml            this generative model and its true coefficients
    OUT/<centre>/...          the centre's files (paths inside are relative to the centre folder)

Centres
-------
========== ========================= ================== =============================================
centre     format                    assay              quirks
========== ========================= ================== =============================================
harbour    cBioPortal study folder   IMPACT468/341      no imaging at all; IMPACT341 lacks B2M, JAK1,
                                                        MDM4, PBRM1 (not profiled, never wild type)
lindenhof  XLSX + column map         FoundationOneCDx   albumin and haemoglobin in g/L, purity in %,
                                                        MAF .maf.gz; NIfTI images
riverside  CSV + column map          TSO500             OS/PFS in days; plain .maf with #version line;
                                                        NIfTI images
alpenrose  TSV + column map          WES (30 Mb)        neutrophil/lymphocyte counts instead of NLR;
                                                        events coded 1 = censored; precomputed
                                                        radiomics tables instead of images
coastline  Parquet + column map      MSK-IMPACT410      binary responder only (no RECIST); drug class
                                                        only; NIfTI images, some with 2 lesions
meridian   CSV + column map          FoundationOneCDx   20% of patients not sequenced; MAF .maf.gz;
                                                        NIfTI images
========== ========================= ================== =============================================

Generative model (all draws from ``numpy.random.default_rng(seed)``)
--------------------------------------------------------------------
Covariates, following the Chowell 2022 cohort:

- centre by ``CENTRES[*].share``; cancer type (OncoTree code) from the centre's case mix (the
  base mix is Chowell's: NSCLC 36%, melanoma 13%, others; centres tilt it).
- age ~ N(63, 12) clipped to [18, 90]; sex by cancer type; BMI log-normal (median 26);
  ECOG 0/1/2 with p = .40/.50/.10; stage IV with p = .92; smoking by cancer type.
- NLR log-normal (median 4.3, sdlog 0.65); lymphocytes log-normal (median 1.2 10^9/L),
  neutrophils = NLR x lymphocytes; albumin ~ N(3.8, 0.45) g/dL clipped to [2, 5];
  platelets, haemoglobin and LDH with realistic spreads (no effect on outcome).
- prior systemic therapy (p ~ .69, lower in melanoma); drug class (combination ~17%, more in
  melanoma and renal), a concrete drug name per class, line of therapy, ICI start 2015-2018.
- latent driver mutations per gene with cancer-type prevalences (``DRIVER_PREVALENCE``);
  MSI-H (~3%, mostly UCEC/COADREAD/STAD), POLE ultramutation (~1%), BRCA1/2 carriers (~4%).
- latent TMB log-normal: median 4 x cancer-type factor, sdlog 0.95, x6 (min 20) for MSI-H,
  x15 (min 80) for POLE, x1.4 for BRCA carriers, capped at 400 mut/Mb.
- latent texture score ``texture_z`` ~ N(0, 1): lesion heterogeneity (see synthetic_images).
- FCNA, HED, HLA LOH, purity: drawn, no effect on outcome (null covariates).

Sequencing: for a sequenced patient on panel P (size s Mb), the number of nonsynonymous
variants is ``n = round(TMB_latent * s)``; latent drivers on P are placed first (up to n), the
rest are passenger variants in non-ICI genes of P. Silent and Intron variants (Poisson, about
0.3n and 0.1n) are added on any gene of P and must NOT count. The true TMB recorded in the
truth is exactly ``n / s``. A latent driver in a gene absent from P is not observed.

Response: ``logit P(response) = RESPONSE_COEF . x`` (see ``RESPONSE_COEF``) with
``x = [1, log1p(TMB_latent), albumin - 3.8, log(NLR / 4), prior therapy, ECOG, combination,
MSI-H, STK11 x NSCLC, KEAP1 x NSCLC, (B2M or JAK1 or JAK2), texture_z]`` plus a cancer-type
offset (``CANCER_RESPONSE_OFFSET``) and a small centre offset (``CENTRE_RESPONSE_OFFSET``).
Latent (biological) mutation status is used, whether or not the panel observed it; the texture
acts for every tumour but is only observed (through images) for imaged patients.
Responders get CR (25%) or PR; non-responders SD (40%), PD (50%) or NE (10%).

Survival: Weibull proportional hazards, ``S(t) = exp(-(t / scale)^k * exp(eta))`` with
``eta = OS_COEF . z + cancer-type log-HR`` (responder strongly protective). OS: k = 0.95,
scale chosen so the overall median OS is ~16 months; PFS: k = 0.85, PFS = min(progression,
death). Censoring: administrative at the 2019-06-30 data cut (6-54 months after start) and
random loss to follow-up (exponential, mean 150 months).
"""

from __future__ import annotations

import datetime as dt
import gzip
import io
import logging
import re
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
import yaml

from icipredict.cohort.harmonise import CANCER_TYPES, PANELS
from icipredict.cohort.synthetic_images import ImageTask, radiomics_rows, write_images

log = logging.getLogger(__name__)

GENERATOR_VERSION = "1"

# ------------------------------------------------------------------------------------------------
# Genes and panels
# ------------------------------------------------------------------------------------------------

#: Genes the ICI models look at; every panel has them except MSK-IMPACT341 (see PANEL_MISSING).
ICI_GENES = ("BRCA1", "BRCA2", "POLE", "STK11", "KEAP1", "PTEN", "B2M", "JAK1", "JAK2", "EGFR",
             "KRAS", "TP53", "ARID1A", "SMARCA4", "PBRM1", "MDM2", "MDM4")
OTHER_GENES = ("APC", "ATM", "BRAF", "CDKN2A", "CTNNB1", "ERBB2", "FBXW7", "FGFR3", "IDH1",
               "KDM6A", "KMT2D", "MET", "NF1", "NRAS", "PIK3CA", "RB1", "SMAD4", "VHL", "NOTCH1",
               "ATRX", "CREBBP", "EP300", "FAT1", "TERT", "ALK", "ROS1", "RET", "BAP1", "SETD2",
               "CDH1", "MSH2", "MSH6", "MLH1", "PMS2", "POLD1", "ERCC2", "NFE2L2", "CIC", "RNF43",
               "ZFHX3")
#: Synthetic filler gene names that pad panels to their real gene counts.
FILLER_GENES = tuple(f"SYNG{i:04d}" for i in range(2000))
#: panel -> (gene count, filler slice start); gene count includes the ICI and other genes.
_PANEL_LAYOUT = {
    "MSK-IMPACT468": (468, 0), "MSK-IMPACT410": (410, 0), "MSK-IMPACT341": (341, 0),
    "FoundationOneCDx": (324, 600), "TSO500": (523, 1000),
}
#: ICI genes a panel does not cover ("not profiled" on that panel).
PANEL_MISSING = {"MSK-IMPACT341": ("B2M", "JAK1", "MDM4", "PBRM1")}
#: Panels that cover the genome (no panel gene list; TMB over the exome).
GENOME_WIDE = ("WES",)


def panel_genes(panel: str) -> tuple[str, ...]:
    """Genes on a synthetic panel (for WES: every synthetic gene).

    Parameters
    ----------
    panel
        A key of :data:`icipredict.cohort.harmonise.PANELS` used by the generator.
    """
    if panel in GENOME_WIDE:
        return ICI_GENES + OTHER_GENES + FILLER_GENES
    count, start = _PANEL_LAYOUT[panel]
    core = tuple(g for g in ICI_GENES if g not in PANEL_MISSING.get(panel, ())) + OTHER_GENES
    return core + FILLER_GENES[start:start + count - len(core)]


ALL_GENES = ICI_GENES + OTHER_GENES + FILLER_GENES
_CHROM = {"BRCA1": ("17", 41196312), "BRCA2": ("13", 32889611), "POLE": ("12", 133200348),
          "STK11": ("19", 1205798), "KEAP1": ("19", 10596796), "PTEN": ("10", 89623195),
          "B2M": ("15", 45003675), "JAK1": ("1", 65298912), "JAK2": ("9", 4985033),
          "EGFR": ("7", 55086714), "KRAS": ("12", 25357723), "TP53": ("17", 7571720),
          "ARID1A": ("1", 27022522), "SMARCA4": ("19", 11071840), "PBRM1": ("3", 52579368),
          "MDM2": ("12", 69201956), "MDM4": ("1", 204485511)}


def _gene_locus(gene: str) -> tuple[str, int]:
    if gene in _CHROM:
        return _CHROM[gene]
    h = zlib.crc32(gene.encode())
    return str(h % 22 + 1), 1_000_000 + (h >> 8) % 100_000_000


_LOCUS_CHROM = np.array([_gene_locus(g)[0] for g in ALL_GENES], dtype=object)
_LOCUS_START = np.array([_gene_locus(g)[1] for g in ALL_GENES], dtype=np.int64)

# The classes cBioPortal's TMB counts (calc_nonsyn_tmb.py: Splice_Region in, Translation_Start_Site
# out), so the truth's TMB is the one the feature stage computes from the MAF.
NONSYNONYMOUS = ("Missense_Mutation", "Nonsense_Mutation", "Frame_Shift_Del", "Frame_Shift_Ins",
                 "In_Frame_Del", "In_Frame_Ins", "Splice_Site", "Nonstop_Mutation",
                 "Splice_Region")
_NONSYN_P = np.array([0.72, 0.08, 0.07, 0.03, 0.03, 0.01, 0.05, 0.005, 0.005])
_NONSYN_P = _NONSYN_P / _NONSYN_P.sum()

#: Driver hotspots: gene -> [(HGVSp_Short, Variant_Classification)].
HOTSPOTS: dict[str, list[tuple[str, str]]] = {
    "KRAS": [("p.G12C", "Missense_Mutation"), ("p.G12D", "Missense_Mutation"),
             ("p.G12V", "Missense_Mutation"), ("p.G13D", "Missense_Mutation")],
    "EGFR": [("p.L858R", "Missense_Mutation"), ("p.E746_A750del", "In_Frame_Del"),
             ("p.T790M", "Missense_Mutation")],
    "TP53": [("p.R175H", "Missense_Mutation"), ("p.R248Q", "Missense_Mutation"),
             ("p.R273H", "Missense_Mutation"), ("p.R282W", "Missense_Mutation"),
             ("p.R213*", "Nonsense_Mutation"), ("p.X125_splice", "Splice_Site")],
    "STK11": [("p.Q37*", "Nonsense_Mutation"), ("p.D194Y", "Missense_Mutation"),
              ("p.F354L", "Missense_Mutation"), ("p.P281Rfs*6", "Frame_Shift_Del")],
    "KEAP1": [("p.G333C", "Missense_Mutation"), ("p.R470C", "Missense_Mutation"),
              ("p.G480W", "Missense_Mutation"), ("p.R413L", "Missense_Mutation")],
    "POLE": [("p.P286R", "Missense_Mutation"), ("p.V411L", "Missense_Mutation"),
             ("p.S459F", "Missense_Mutation")],
    "BRCA1": [("p.E23Vfs*17", "Frame_Shift_Del"), ("p.Q1756Pfs*74", "Frame_Shift_Ins"),
              ("p.R1443*", "Nonsense_Mutation"), ("p.C61G", "Missense_Mutation"),
              ("p.M1775R", "Missense_Mutation"), ("p.S1655F", "Missense_Mutation")],
    "BRCA2": [("p.S1982Rfs*22", "Frame_Shift_Del"), ("p.E1953*", "Nonsense_Mutation"),
              ("p.K3326*", "Nonsense_Mutation"), ("p.N1784Kfs*3", "Frame_Shift_Ins"),
              ("p.D2723H", "Missense_Mutation"), ("p.R3052W", "Missense_Mutation")],
    "PTEN": [("p.R130Q", "Missense_Mutation"), ("p.R130*", "Nonsense_Mutation"),
             ("p.R233*", "Nonsense_Mutation"), ("p.K267Rfs*9", "Frame_Shift_Del")],
    "B2M": [("p.W80*", "Nonsense_Mutation"), ("p.L15Ffs*41", "Frame_Shift_Del"),
            ("p.S14*", "Nonsense_Mutation")],
    "JAK1": [("p.K860Nfs*16", "Frame_Shift_Ins"), ("p.P430Rfs*2", "Frame_Shift_Del"),
             ("p.Q503*", "Nonsense_Mutation")],
    "JAK2": [("p.Q1100*", "Nonsense_Mutation"), ("p.D313Efs*6", "Frame_Shift_Del")],
    "ARID1A": [("p.Q1334*", "Nonsense_Mutation"), ("p.D1850Tfs*33", "Frame_Shift_Del"),
               ("p.R1989*", "Nonsense_Mutation")],
    "SMARCA4": [("p.R1192C", "Missense_Mutation"), ("p.T910M", "Missense_Mutation"),
                ("p.E1153*", "Nonsense_Mutation")],
    "PBRM1": [("p.Q1298*", "Nonsense_Mutation"), ("p.E1103Kfs*2", "Frame_Shift_Del")],
    "MDM2": [("p.E216K", "Missense_Mutation")],
    "MDM4": [("p.R379H", "Missense_Mutation")],
}

# ------------------------------------------------------------------------------------------------
# Cancer types, centres and true effects
# ------------------------------------------------------------------------------------------------

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


def _per_code(table: dict[str, float], default: float) -> np.ndarray:
    return np.array([table.get(c, table.get("*", default)) for c in CODES])


def centre_mix(spec: CentreSpec) -> np.ndarray:
    """The centre's cancer-type probabilities over :data:`CODES`."""
    p = np.array([BASE_MIX[c] * spec.tilt.get(c, 1.0) for c in CODES])
    return p / p.sum()


# ------------------------------------------------------------------------------------------------
# Patients (latent truth and observed clinical values)
# ------------------------------------------------------------------------------------------------


def simulate_patients(n_patients: int, seed: int, first_id: int = 0) -> pd.DataFrame:
    """Draw the per-patient truth: covariates, latent genomics, response and survival.

    Parameters
    ----------
    n_patients
        Number of patients across the network.
    seed
        Seed of the generator; the same seed gives the same patients.

    Returns
    -------
    DataFrame
        One row per patient (see the module docstring); drivers are boolean ``drv_<GENE>``
        columns of the *latent* status.
    """
    rng = np.random.default_rng([seed, 1])
    n = n_patients
    shares = np.array([c.share for c in CENTRES])
    centre = np.sort(rng.choice(len(CENTRES), n, p=shares / shares.sum()))
    cancer = np.empty(n, dtype=np.int64)
    for k, spec in enumerate(CENTRES):
        idx = np.flatnonzero(centre == k)
        cancer[idx] = rng.choice(len(CODES), idx.size, p=centre_mix(spec))
    code = np.array(CODES)[cancer]
    is_nsclc = code == "NSCLC"

    age = np.clip(rng.normal(63, 12, n), 18, 90)
    p_male = np.where(np.isin(code, ["BRCA", "OV", "UCEC"]), 0.0,
                      np.where(np.isin(code, ["BLCA", "HNSC", "ESCA", "STAD", "HB"]), 0.72, 0.57))
    sex = np.where(rng.random(n) < p_male, "male", "female")
    bmi = np.clip(np.exp(rng.normal(np.log(26.2), 0.2, n)), 14, 60)
    ecog = rng.choice(3, n, p=[0.40, 0.50, 0.10])
    stage_iv = (rng.random(n) < 0.92).astype(int)
    u = rng.random(n)
    smoking = np.where(is_nsclc, np.where(u < .15, "never", np.where(u < .75, "former", "current")),
                       np.where(u < .45, "never", np.where(u < .85, "former", "current")))

    nlr = np.clip(np.exp(rng.normal(np.log(4.3), 0.65, n)), 0.3, 80)
    lymph = np.clip(np.exp(rng.normal(np.log(1.2), 0.4, n)), 0.15, 8)
    albumin = np.clip(rng.normal(3.8, 0.45, n), 2.0, 5.0)
    platelets = np.clip(np.exp(rng.normal(np.log(250), 0.4, n)), 40, 1000)
    hgb = np.clip(rng.normal(11.7, 1.8, n), 6.5, 18)
    ldh = np.clip(np.exp(rng.normal(np.log(220), 0.45, n)), 80, 5000)

    prior = (rng.random(n) < np.where(code == "MEL", 0.40, 0.74)).astype(int)
    p_combo = np.where(code == "MEL", 0.40, np.where(code == "RCC", 0.30, 0.11))
    p_ctla4 = np.where(code == "MEL", 0.08, 0.005)
    u = rng.random(n)
    drug_class = np.where(u < p_combo, "combination",
                          np.where(u < p_combo + p_ctla4, "CTLA-4", "PD-1/PD-L1"))
    pd1 = np.array(["pembrolizumab", "nivolumab", "atezolizumab", "durvalumab"])
    drug = np.where(drug_class == "combination", "nivolumab + ipilimumab",
                    np.where(drug_class == "CTLA-4", "ipilimumab",
                             pd1[rng.choice(4, n, p=[.45, .35, .12, .08])]))
    line = np.where(prior == 1, 2 + rng.poisson(0.5, n), 1)
    start_offset = rng.integers(0, START_DAYS, n)

    # Latent genomics.
    drivers = {g: rng.random(n) < _per_code(DRIVER_PREVALENCE[g], 0.0)[cancer]
               for g in DRIVER_GENES}
    msi = rng.random(n) < _per_code(MSI_PREVALENCE, 0.0)[cancer]
    pole = drivers["POLE"]
    brca = drivers["BRCA1"] | drivers["BRCA2"]
    tmb = np.exp(rng.normal(np.log(4.0), 0.95, n)) * _per_code(TMB_FACTOR, 0.6)[cancer]
    tmb = np.where(msi, np.maximum(tmb * 6, 20), tmb)
    tmb = np.where(pole, np.maximum(tmb * 15, 80), tmb)
    tmb = np.minimum(np.where(brca, tmb * 1.4, tmb), 400.0)
    msi_score = np.where(msi, rng.uniform(10, 45, n),
                         np.clip(np.exp(rng.normal(np.log(0.3), 1.2, n)), 0, 9.9))
    fcna = rng.beta(1.1, 4.0, n)
    hed = np.clip(rng.normal(6.3, 2.0, n), 0, 11)
    hla_loh = (rng.random(n) < 0.12).astype(int)
    purity = np.clip(rng.beta(6, 5, n), 0.1, 0.95)
    texture = rng.normal(0, 1, n)

    # Response.
    ifn_loss = drivers["B2M"] | drivers["JAK1"] | drivers["JAK2"]
    x = {
        "intercept": np.ones(n), "log1p_tmb": np.log1p(tmb), "albumin_c": albumin - 3.8,
        "log_nlr_c": np.log(nlr / 4.0), "prior_therapy": prior, "ecog": ecog,
        "combination": (drug_class == "combination").astype(float), "msi_h": msi.astype(float),
        "stk11_nsclc": (drivers["STK11"] & is_nsclc).astype(float),
        "keap1_nsclc": (drivers["KEAP1"] & is_nsclc).astype(float),
        "ifn_loss": ifn_loss.astype(float), "texture_z": texture,
        "age10_c": (age - 63) / 10, "responder": np.zeros(n),
    }
    lp = sum(RESPONSE_COEF[k] * x[k] for k in RESPONSE_COEF)
    lp = lp + _per_code(CANCER_RESPONSE_OFFSET, 0.0)[cancer]
    lp = lp + np.array([c.response_offset for c in CENTRES])[centre]
    p_resp = 1 / (1 + np.exp(-lp))
    responder = (rng.random(n) < p_resp).astype(int)
    u = rng.random(n)
    bor = np.where(responder == 1, np.where(u < .25, "CR", "PR"),
                   np.where(u < .40, "SD", np.where(u < .90, "PD", "NE")))

    # Survival.
    x["responder"] = responder.astype(float)
    eta_os = sum(OS_COEF[k] * x[k] for k in OS_COEF) + _per_code(CANCER_OS_LOGHR, 0.0)[cancer]
    eta_pfs = sum(PFS_COEF[k] * x[k] for k in PFS_COEF)
    t_os = OS_SCALE * (rng.exponential(1.0, n) / np.exp(eta_os)) ** (1 / OS_SHAPE)
    t_prog = PFS_SCALE * (rng.exponential(1.0, n) / np.exp(eta_pfs)) ** (1 / PFS_SHAPE)
    t_pfs = np.minimum(t_prog, t_os)
    admin = (DATA_CUT - START_FIRST).days - start_offset
    censor = np.minimum(admin / (365.25 / 12), rng.exponential(LOSS_MEAN_MONTHS, n))
    os_months = np.minimum(t_os, censor)
    pfs_months = np.minimum(t_pfs, censor)

    df = pd.DataFrame({
        "centre": np.array([c.name for c in CENTRES])[centre], "centre_index": centre,
        "cancer_type": code, "sex": sex, "age": age, "bmi": bmi, "ecog": ecog,
        "stage_iv": stage_iv, "smoking": smoking, "nlr": nlr, "lymphocytes": lymph,
        "neutrophils": nlr * lymph, "albumin": albumin, "platelets": platelets,
        "haemoglobin": hgb, "ldh": ldh, "prior_systemic_therapy": prior, "drug": drug,
        "drug_class": drug_class, "line": line,
        "start_date": pd.to_datetime(START_FIRST) + pd.to_timedelta(start_offset, unit="D"),
        "tmb_latent": tmb, "msi_h": msi, "msi_score": msi_score, "pole": pole,
        "brca_carrier": brca, "fcna": fcna, "hed": hed, "hla_loh": hla_loh,
        "tumour_purity": purity, "texture_z": texture,
        "lp_response": lp, "p_response": p_resp, "responder": responder, "bor": bor,
        "os_log_hazard": eta_os, "pfs_log_hazard": eta_pfs, "os_time_true": t_os,
        "pfs_time_true": t_pfs, "os_months": os_months, "os_event": (t_os <= censor).astype(int),
        "pfs_months": pfs_months, "pfs_event": (t_pfs <= censor).astype(int),
    })
    for g in DRIVER_GENES:
        df[f"drv_{g}"] = drivers[g]
    _assign_assays_and_ids(df, rng, first_id)
    return df


_ID_STYLE = {
    "harbour": lambda i: f"P-{1000 + 7 * i:07d}",
    "lindenhof": lambda i: f"LH-{i + 1:05d}",
    "riverside": lambda i: f"RS{i + 1:04d}",
    "alpenrose": lambda i: f"AR_{2015 + i % 4}_{i + 1:04d}",
    "coastline": lambda i: f"C-{i + 1}",
    "meridian": lambda i: f"MER-{i + 1:04d}-A",
}


def _assign_assays_and_ids(df: pd.DataFrame, rng: np.random.Generator, first_id: int = 0) -> None:
    """Add source IDs, panel, sequencing and imaging assignments (in place).

    ``first_id`` shifts each centre's running number, so a later export of the same centres
    (new patients) never reuses an earlier export's source IDs: the same ID at the same centre
    is the same person, and gets the same pseudonym.
    """
    n = len(df)
    pid = np.empty(n, dtype=object)
    sid = np.empty(n, dtype=object)
    panel = np.empty(n, dtype=object)
    sequenced = np.zeros(n, dtype=bool)
    n_lesions = np.zeros(n, dtype=np.int64)
    within = np.zeros(n, dtype=np.int64)
    for k, spec in enumerate(CENTRES):
        idx = np.flatnonzero(df["centre_index"].to_numpy() == k)
        m = idx.size
        within[idx] = np.arange(m)
        ids = [_ID_STYLE[spec.name](first_id + i) for i in range(m)]
        pid[idx] = ids
        names = list(spec.panels)
        chosen = np.array(names, dtype=object)[rng.choice(len(names), m,
                                                          p=list(spec.panels.values()))]
        panel[idx] = chosen
        sequenced[idx] = rng.random(m) < spec.sequenced
        if spec.name == "harbour":
            suffix = np.where(chosen == "MSK-IMPACT468", "IM6", "IM3")
            sid[idx] = [f"{p}-T01-{s}" for p, s in zip(ids, suffix, strict=True)]
        else:
            sid[idx] = [f"{p}-S1" for p in ids]
        if spec.imaging:
            imaged = rng.random(m) < spec.imaged
            two = rng.random(m) < spec.two_lesions
            n_lesions[idx] = np.where(imaged, np.where(two, 2, 1), 0)
    df["source_patient_id"] = pid
    df["source_sample_id"] = np.where(sequenced, sid, None)
    df["panel"] = np.where(sequenced, panel, None)
    df["panel_size_mb"] = np.where(sequenced, [PANELS.get(p, np.nan) if p else np.nan
                                               for p in panel], np.nan).astype(float)
    df["sequenced"] = sequenced
    df["n_lesions"] = n_lesions
    df["within_index"] = within


# ------------------------------------------------------------------------------------------------
# Mutations
# ------------------------------------------------------------------------------------------------

_AA = np.array(list("ACDEFGHIKLMNPQRSTVWY"))
_BASES = np.array(list("ACGT"))


def simulate_mutations(truth: pd.DataFrame, seed: int) -> pd.DataFrame:
    """Draw MAF rows for every sequenced patient, consistent with its TMB and panel.

    Adds ``n_nonsynonymous``, ``tmb_true`` and ``mut_<GENE>`` (observed nonsynonymous status;
    missing when the gene is not on the panel or the patient was not sequenced) to ``truth``
    in place and returns the MAF as a DataFrame (MAF column names plus ``centre``).
    """
    rng = np.random.default_rng([seed, 2])
    seq = truth["sequenced"].to_numpy()
    size = truth["panel_size_mb"].to_numpy()
    n_nonsyn = np.where(seq, np.rint(truth["tmb_latent"].to_numpy() * np.nan_to_num(size)), 0)
    n_nonsyn = n_nonsyn.astype(np.int64)
    n = len(truth)
    panels = truth["panel"].to_numpy()
    on_panel = np.zeros((n, len(DRIVER_GENES)), dtype=bool)
    for p in pd.unique(panels[seq]):
        genes = set(panel_genes(p))
        rows = panels == p
        on_panel[rows] = [g in genes for g in DRIVER_GENES]
    latent = np.column_stack([truth[f"drv_{g}"].to_numpy() for g in DRIVER_GENES])
    candidates = latent & on_panel & seq[:, None]
    # Place latent drivers in random order while the nonsynonymous budget lasts.
    prio = np.where(candidates, rng.random(candidates.shape), np.inf)
    rank = np.argsort(np.argsort(prio, axis=1), axis=1)
    placed = candidates & (rank < n_nonsyn[:, None])
    n_pass = n_nonsyn - placed.sum(axis=1)

    parts = []
    # Drivers.
    pi, gi = np.nonzero(placed)
    if pi.size:
        gene = np.array(DRIVER_GENES)[gi]
        hs = [HOTSPOTS[g][k % len(HOTSPOTS[g])]
              for g, k in zip(gene, rng.integers(0, 60, pi.size), strict=True)]
        parts.append(pd.DataFrame({
            "row": pi, "Hugo_Symbol": gene, "HGVSp_Short": [h[0] for h in hs],
            "Variant_Classification": [h[1] for h in hs], "driver": True}))
    # Passengers (nonsynonymous, non-ICI genes) and silent/intron (any panel gene).
    n_silent = np.where(seq, rng.poisson(0.3 * n_nonsyn + 0.3), 0)
    n_intron = np.where(seq, rng.poisson(0.1 * n_nonsyn + 0.1), 0)
    for p in sorted(pd.unique(panels[seq])):
        rows = np.flatnonzero((panels == p) & seq)
        genes = np.array(panel_genes(p))
        passenger_pool = genes[~np.isin(genes, ICI_GENES)]
        for count, pool, classes in (
            (n_pass[rows], passenger_pool, None),
            (n_silent[rows], genes, "Silent"),
            (n_intron[rows], genes, "Intron"),
        ):
            r = np.repeat(rows, count)
            if r.size == 0:
                continue
            g = pool[rng.integers(0, pool.size, r.size)]
            vc = (np.array(NONSYNONYMOUS)[rng.choice(len(NONSYNONYMOUS), r.size, p=_NONSYN_P)]
                  if classes is None else np.full(r.size, classes))
            parts.append(pd.DataFrame({"row": r, "Hugo_Symbol": g,
                                       "Variant_Classification": vc, "HGVSp_Short": None,
                                       "driver": False}))
    maf = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(
        columns=["row", "Hugo_Symbol", "Variant_Classification", "HGVSp_Short", "driver"])
    _fill_maf_fields(maf, truth, rng)

    nonsyn = maf["Variant_Classification"].isin(NONSYNONYMOUS).to_numpy()
    counts = np.bincount(maf["row"].to_numpy()[nonsyn], minlength=n)
    truth["n_nonsynonymous"] = np.where(seq, counts, np.nan)
    truth["tmb_true"] = np.where(seq, counts / np.where(seq, size, 1.0), np.nan)
    truth["n_silent_intron"] = np.where(seq, np.bincount(maf["row"].to_numpy()[~nonsyn],
                                                         minlength=n), np.nan)
    for j, g in enumerate(DRIVER_GENES):
        truth[f"mut_{g}"] = np.where(on_panel[:, j] & seq, placed[:, j].astype(float), np.nan)
    return maf


def _fill_maf_fields(maf: pd.DataFrame, truth: pd.DataFrame, rng: np.random.Generator) -> None:
    m = len(maf)
    rows = maf["row"].to_numpy()
    maf["Tumor_Sample_Barcode"] = truth["source_sample_id"].to_numpy()[rows]
    maf["centre"] = truth["centre"].to_numpy()[rows]
    gene_idx = pd.Index(ALL_GENES).get_indexer(maf["Hugo_Symbol"])
    maf["Chromosome"] = _LOCUS_CHROM[gene_idx]
    start = _LOCUS_START[gene_idx] + rng.integers(0, 40_000, m)
    vc = maf["Variant_Classification"].to_numpy().astype(str)
    ref_i = rng.integers(0, 4, m)
    ref1 = _BASES[ref_i]
    alt1 = _BASES[(ref_i + rng.integers(1, 4, m)) % 4]
    tri = np.char.add(np.char.add(ref1, _BASES[rng.integers(0, 4, m)]),
                      _BASES[rng.integers(0, 4, m)])
    is_del = np.isin(vc, ["Frame_Shift_Del", "In_Frame_Del"])
    is_ins = np.isin(vc, ["Frame_Shift_Ins", "In_Frame_Ins"])
    in_frame = np.isin(vc, ["In_Frame_Del", "In_Frame_Ins"])
    ref = np.where(is_del, np.where(in_frame, tri, ref1), np.where(is_ins, "-", ref1))
    alt = np.where(is_del, "-", np.where(is_ins, np.where(in_frame, tri, alt1), alt1))
    maf["Variant_Type"] = np.where(is_del, "DEL", np.where(is_ins, "INS", "SNP"))
    maf["Start_Position"] = start
    maf["End_Position"] = np.where(is_ins, start + 1, start + np.char.str_len(ref) - 1)
    maf["Reference_Allele"] = ref
    maf["Tumor_Seq_Allele1"] = ref
    maf["Tumor_Seq_Allele2"] = alt
    # Protein changes for non-driver rows, built per class on that class's rows only.
    pos = rng.integers(2, 1500, m)
    a1, a2 = _AA[rng.integers(0, 20, m)], _AA[rng.integers(0, 20, m)]
    hgvsp = maf["HGVSp_Short"].to_numpy().astype(object)
    todo = ~maf["driver"].to_numpy().astype(bool)
    templates = {
        "Missense_Mutation": "p.{a1}{pos}{a2}", "Nonsense_Mutation": "p.{a1}{pos}*",
        "Frame_Shift_Del": "p.{a1}{pos}fs", "Frame_Shift_Ins": "p.{a1}{pos}fs",
        "In_Frame_Del": "p.{a1}{pos}del", "In_Frame_Ins": "p.{a1}{pos}_ins{a2}",
        "Splice_Site": "p.X{pos}_splice", "Nonstop_Mutation": "p.*{pos}{a2}ext*?",
        "Splice_Region": "p.X{pos}_splice", "Silent": "p.{a1}{pos}=",
    }
    for cls, template in templates.items():
        sel = np.flatnonzero(todo & (vc == cls))
        hgvsp[sel] = [template.format(a1=x, pos=q, a2=y)
                      for x, q, y in zip(a1[sel], pos[sel], a2[sel], strict=True)]
    hgvsp[vc == "Intron"] = ""
    maf["HGVSp_Short"] = hgvsp
    # Read depths; drivers are clonal (higher VAF) and scale with purity.
    purity = truth["tumour_purity"].to_numpy()[rows]
    wes = truth["panel"].to_numpy()[rows] == "WES"
    depth = np.where(wes, rng.poisson(110, m), rng.poisson(550, m)) + 20
    vaf = np.where(maf["driver"].to_numpy().astype(bool), purity / 2 * rng.uniform(0.8, 1.2, m),
                   rng.beta(3, 9, m) * purity * 1.4)
    alt_count = np.maximum(rng.binomial(depth, np.clip(vaf, 0.02, 0.98)), 4)
    maf["t_depth"] = depth
    maf["t_alt_count"] = alt_count
    maf["t_ref_count"] = depth - alt_count


MAF_COLUMNS = ["Hugo_Symbol", "Entrez_Gene_Id", "Center", "NCBI_Build", "Chromosome",
               "Start_Position", "End_Position", "Strand", "Variant_Classification",
               "Variant_Type", "Reference_Allele", "Tumor_Seq_Allele1", "Tumor_Seq_Allele2",
               "Tumor_Sample_Barcode", "HGVSp_Short", "t_depth", "t_ref_count", "t_alt_count"]


def _maf_text(maf: pd.DataFrame, centre: str, version_line: bool) -> str:
    out = maf.sort_values(["Tumor_Sample_Barcode", "Chromosome", "Start_Position"],
                          kind="stable").assign(Entrez_Gene_Id=0, Center=centre,
                                                NCBI_Build="GRCh37", Strand="+")
    # pyarrow writes a 300k-row MAF ~5x faster than DataFrame.to_csv; no quoting, as in MAFs.
    buf = io.BytesIO()
    table = pa.Table.from_pandas(out[MAF_COLUMNS].astype(str), preserve_index=False)
    pacsv.write_csv(table, buf, pacsv.WriteOptions(delimiter="\t", quoting_style="none",
                                                   include_header=False))
    text = "\t".join(MAF_COLUMNS) + "\n" + buf.getvalue().decode()
    return ("#version 2.4\n" if version_line else "") + text


def _write_text(path: Path, text: str, gz: bool = False) -> None:
    data = text.encode()
    if gz:
        # mtime=0 and no file name in the header: byte-identical output for the same seed.
        buf = io.BytesIO()
        with gzip.GzipFile(filename="", mode="wb", fileobj=buf, mtime=0, compresslevel=1) as fh:
            fh.write(data)
        data = buf.getvalue()
    path.write_bytes(data)


# ------------------------------------------------------------------------------------------------
# Writers: canonical frames -> each centre's own conventions
# ------------------------------------------------------------------------------------------------


@dataclass
class Col:
    """One source column: canonical name, source name and how the centre writes it."""

    canonical: str
    source: str
    unit: str | None = None
    scale: float = 1.0              # canonical value x scale = source value
    decimals: int | None = None
    values: dict | None = None      # canonical value -> source value
    event_value: int | None = None  # 0 when the source codes 1 = censored

    def spec(self) -> str | dict:
        """The column-map entry for this column."""
        d: dict = {"column": self.source}
        if self.unit:
            d["unit"] = self.unit
        if self.values is not None:
            d["values"] = {v: k for k, v in self.values.items()}
        if self.event_value is not None:
            d["event_value"] = self.event_value
        return d if len(d) > 1 else self.source

    def render(self, s: pd.Series) -> pd.Series:
        """Convert canonical values to the centre's source values."""
        if self.event_value == 0:
            s = 1 - s
        if self.values is not None:
            return s.map(lambda v: self.values.get(v, v) if pd.notna(v) else None)
        if self.scale != 1.0:
            s = s * self.scale
        if self.decimals is not None:
            s = s.round(self.decimals)
            if self.decimals == 0:
                s = s.astype("Int64")
        return s


def _render(df: pd.DataFrame, cols: list[Col]) -> tuple[pd.DataFrame, dict]:
    out = pd.DataFrame({c.source: c.render(df[c.canonical]).to_numpy() for c in cols})
    return out, {c.canonical: c.spec() for c in cols}


def _observed(truth: pd.DataFrame) -> pd.DataFrame:
    """Canonical observed values (what the centres measured), rounded like real records."""
    obs = truth.copy()
    obs["patient_id"] = obs["source_patient_id"]
    obs["sample_id"] = obs["source_sample_id"]
    for col, dec in (("age", 1), ("bmi", 1), ("nlr", 2), ("lymphocytes", 2), ("neutrophils", 2),
                     ("albumin", 1), ("platelets", 0), ("haemoglobin", 1), ("ldh", 0),
                     ("os_months", 2), ("pfs_months", 2), ("fcna", 3), ("hed", 2),
                     ("tumour_purity", 2), ("msi_score", 2)):
        obs[col] = obs[col].round(dec)
    obs["tmb"] = obs["tmb_true"].round(2)
    obs["msi_status"] = np.where(obs["msi_h"], "MSI-H", "MSS")
    obs["start_date"] = obs["start_date"].dt.strftime("%Y-%m-%d")
    obs["oncotree"] = obs["cancer_type"]
    obs["cancer_label"] = [CANCER_TYPES[c][0] for c in obs["cancer_type"]]
    return obs


def _yaml_dump(path: Path, data: dict) -> None:
    path.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=100))


def _imaging_tasks(obs: pd.DataFrame, seed: int, folder: Path | None) -> list[ImageTask]:
    tasks = []
    for row in obs.loc[obs["n_lesions"] > 0].itertuples():
        base = f"images/{scan_stem(row.within_index)}"
        tasks.append(ImageTask(
            seed=seed, centre_index=int(row.centre_index), patient_index=int(row.within_index),
            texture_z=float(row.texture_z), n_lesions=int(row.n_lesions),
            image_path=str(folder / f"{base}_ct.nii.gz") if folder else None,
            mask_paths=tuple(str(folder / f"{base}_L{k + 1}_mask.nii.gz")
                             for k in range(row.n_lesions)) if folder else None))
    return tasks


def scan_stem(within_index: int) -> str:
    """File stem of a patient's images: a per-centre scan number, never the patient ID."""
    return f"scan{int(within_index) + 1:05d}"


def _imaging_rows(obs: pd.DataFrame) -> pd.DataFrame:
    """One row per lesion with URIs relative to the centre folder."""
    img = obs.loc[obs["n_lesions"] > 0, ["patient_id", "n_lesions", "within_index"]]
    rep = img.loc[img.index.repeat(img["n_lesions"])].copy()
    rep["k"] = rep.groupby("patient_id").cumcount() + 1
    rep["lesion_id"] = "L" + rep["k"].astype(str)
    rep["modality"] = "CT"
    stem = rep["within_index"].map(scan_stem).astype(object)
    rep["image_uri"] = "images/" + stem + "_ct.nii.gz"
    rep["mask_uri"] = "images/" + stem + "_" + rep["lesion_id"] + "_mask.nii.gz"
    rep["radiomics_uri"] = "radiomics/" + stem + "_" + rep["lesion_id"] + ".csv"
    return rep.reset_index(drop=True)


def _panel_gene_frame(panels: list[str]) -> pd.DataFrame:
    rows = [(p, g) for p in panels if p not in GENOME_WIDE for g in panel_genes(p)]
    return pd.DataFrame(rows, columns=["panel", "gene"])


def _column_map(name: str, centre: str, description: str, files: list[dict],
                mutations: str | None) -> dict:
    d = {"name": name, "description": description, "centre": centre, "files": files}
    if mutations:
        d["mutations"] = mutations
    return d


# --- cBioPortal ---------------------------------------------------------------------------------

def _cbio_clinical(df: pd.DataFrame, attrs: list[tuple[str, str, str]]) -> str:
    """cBioPortal clinical file: 4 '#' header lines (names, descriptions, types, priorities)."""
    cols = [a[0] for a in attrs]
    head = ["#" + "\t".join(a[1] for a in attrs), "#" + "\t".join(a[1] for a in attrs),
            "#" + "\t".join(a[2] for a in attrs), "#" + "\t".join("1" for _ in attrs)]
    body = df[cols].to_csv(sep="\t", index=False, lineterminator="\n", na_rep="NA")
    return "\n".join(head) + "\n" + body


def _write_cbioportal(folder: Path, obs: pd.DataFrame, maf: pd.DataFrame) -> str:
    study = "harbour_ici_2019"
    p = obs.copy()
    p["SEX"] = p["sex"].str.capitalize()
    p["SMOKING_HISTORY"] = p["smoking"].str.capitalize()
    p["STAGE"] = np.where(p["stage_iv"] == 1, "IV", "I-III")
    p["PRIOR_SYSTEMIC_THERAPY"] = np.where(p["prior_systemic_therapy"] == 1, "Yes", "No")
    p["DRUG_TYPE"] = p["drug_class"].map({"PD-1/PD-L1": "PD-1/PDL-1", "CTLA-4": "CTLA4",
                                          "combination": "Combo"})
    p["OS_STATUS"] = np.where(p["os_event"] == 1, "1:DECEASED", "0:LIVING")
    p["PFS_STATUS"] = np.where(p["pfs_event"] == 1, "1:PROGRESSION", "0:CENSORED")
    p = p.rename(columns={"patient_id": "PATIENT_ID", "age": "AGE", "bmi": "BMI",
                          "ecog": "ECOG", "albumin": "ALBUMIN", "nlr": "NLR",
                          "platelets": "PLATELETS", "haemoglobin": "HGB", "drug": "DRUG",
                          "line": "LINE_OF_THERAPY", "start_date": "ICI_START_DATE",
                          "bor": "BEST_OVERALL_RESPONSE", "os_months": "OS_MONTHS",
                          "pfs_months": "PFS_MONTHS"})
    patient_attrs = [
        ("PATIENT_ID", "Patient Identifier", "STRING"), ("SEX", "Sex", "STRING"),
        ("AGE", "Age at ICI start", "NUMBER"), ("BMI", "Body mass index", "NUMBER"),
        ("ECOG", "ECOG performance status", "NUMBER"),
        ("SMOKING_HISTORY", "Smoking history", "STRING"), ("STAGE", "Stage at ICI start", "STRING"),
        ("ALBUMIN", "Albumin (g/dL)", "NUMBER"), ("NLR", "Neutrophil-to-lymphocyte ratio", "NUMBER"),
        ("PLATELETS", "Platelets (10^9/L)", "NUMBER"), ("HGB", "Haemoglobin (g/dL)", "NUMBER"),
        ("DRUG", "ICI drug", "STRING"), ("DRUG_TYPE", "ICI drug class", "STRING"),
        ("LINE_OF_THERAPY", "Line of therapy", "NUMBER"),
        ("PRIOR_SYSTEMIC_THERAPY", "Systemic therapy before ICI", "STRING"),
        ("ICI_START_DATE", "ICI start date", "STRING"),
        ("BEST_OVERALL_RESPONSE", "RECIST best overall response", "STRING"),
        ("OS_STATUS", "Overall survival status", "STRING"),
        ("OS_MONTHS", "Overall survival (months)", "NUMBER"),
        ("PFS_STATUS", "Progression-free survival status", "STRING"),
        ("PFS_MONTHS", "Progression-free survival (months)", "NUMBER"),
    ]
    _write_text(folder / "data_clinical_patient.txt", _cbio_clinical(p, patient_attrs))
    s = obs.loc[obs["sequenced"]].copy()
    s["MSI_TYPE"] = np.where(s["msi_h"], "Instable", "Stable")
    s["SAMPLE_TYPE"] = np.where(s["within_index"] % 3 == 0, "Primary", "Metastasis")
    s = s.rename(columns={"sample_id": "SAMPLE_ID", "patient_id": "PATIENT_ID",
                          "cancer_label": "CANCER_TYPE", "oncotree": "ONCOTREE_CODE",
                          "tmb": "TMB_NONSYNONYMOUS", "msi_score": "MSI_SCORE",
                          "fcna": "FRACTION_GENOME_ALTERED"})
    sample_attrs = [
        ("SAMPLE_ID", "Sample Identifier", "STRING"), ("PATIENT_ID", "Patient Identifier", "STRING"),
        ("CANCER_TYPE", "Cancer Type", "STRING"), ("ONCOTREE_CODE", "Oncotree Code", "STRING"),
        ("SAMPLE_TYPE", "Sample Type", "STRING"),
        ("TMB_NONSYNONYMOUS", "TMB (nonsynonymous)", "NUMBER"),
        ("MSI_SCORE", "MSI Score", "NUMBER"), ("MSI_TYPE", "MSI Type", "STRING"),
        ("FRACTION_GENOME_ALTERED", "Fraction Genome Altered", "NUMBER"),
    ]
    _write_text(folder / "data_clinical_sample.txt", _cbio_clinical(s, sample_attrs))
    _write_text(folder / "data_mutations_extended.txt",
                _maf_text(maf, "harbour", version_line=False))
    cbio_panel = {"MSK-IMPACT468": "IMPACT468", "MSK-IMPACT341": "IMPACT341"}
    for panel, stable in cbio_panel.items():
        genes = "\t".join(panel_genes(panel))
        _write_text(folder / f"data_gene_panel_{stable}.txt",
                    f"stable_id: {stable}\ndescription: synthetic {panel} panel "
                    f"({len(panel_genes(panel))} genes)\ngene_list: {genes}\n")
    matrix = pd.DataFrame({"SAMPLE_ID": s["SAMPLE_ID"], "mutations": s["panel"].map(cbio_panel)})
    _write_text(folder / "data_gene_panel_matrix.txt",
                matrix.to_csv(sep="\t", index=False, lineterminator="\n"))
    meta = {
        "meta_study.txt": {"type_of_cancer": "mixed", "cancer_study_identifier": study,
                           "name": "Harbour ICI cohort (synthetic)",
                           "description": "Synthetic ICI-treated patients, icipredict generator",
                           "short_name": "Harbour ICI", "add_global_case_list": "true"},
        "meta_clinical_patient.txt": {"cancer_study_identifier": study,
                                      "genetic_alteration_type": "CLINICAL",
                                      "datatype": "PATIENT_ATTRIBUTES",
                                      "data_filename": "data_clinical_patient.txt"},
        "meta_clinical_sample.txt": {"cancer_study_identifier": study,
                                     "genetic_alteration_type": "CLINICAL",
                                     "datatype": "SAMPLE_ATTRIBUTES",
                                     "data_filename": "data_clinical_sample.txt"},
        "meta_mutations_extended.txt": {
            "cancer_study_identifier": study, "genetic_alteration_type": "MUTATION_EXTENDED",
            "datatype": "MAF", "stable_id": "mutations", "show_profile_in_analysis_tab": "true",
            "profile_name": "Mutations", "profile_description": "Somatic mutations (synthetic)",
            "data_filename": "data_mutations_extended.txt"},
        "meta_gene_panel_matrix.txt": {
            "cancer_study_identifier": study, "genetic_alteration_type": "GENE_PANEL_MATRIX",
            "datatype": "GENE_PANEL_MATRIX", "data_filename": "data_gene_panel_matrix.txt"},
    }
    for name, fields in meta.items():
        _write_text(folder / name, "".join(f"{k}: {v}\n" for k, v in fields.items()))
    return "."


# --- column-map centres ---------------------------------------------------------------------------

def _write_lindenhof(folder: Path, obs: pd.DataFrame, maf: pd.DataFrame) -> str:
    from openpyxl import Workbook

    clinical = [
        Col("patient_id", "Patient ID"), Col("sex", "Sex", values={"male": "M", "female": "F"}),
        Col("age", "Age at ICI start", unit="years"), Col("bmi", "BMI"),
        Col("ecog", "ECOG PS"),
        Col("smoking", "Smoking", values={"never": "never", "former": "ex-smoker",
                                          "current": "smoker"}),
        Col("cancer_type", "Tumour type"),
        Col("stage_iv", "Stage", values={1: "IV", 0: "III"}),
        Col("albumin", "Albumin (g/L)", unit="g/L", scale=10, decimals=0),
        Col("nlr", "NLR"), Col("platelets", "Platelets (10^9/L)", unit="10^9/L"),
        Col("haemoglobin", "Haemoglobin (g/L)", unit="g/L", scale=10, decimals=0),
        Col("ldh", "LDH (U/L)", unit="U/L"),
        Col("drug", "ICI drug"), Col("line", "Line"),
        Col("prior_systemic_therapy", "Prior chemotherapy", values={1: "yes", 0: "no"}),
        Col("start_date", "ICI start"),
        Col("bor", "Best response", values={"CR": "Complete response", "PR": "Partial response",
                                            "SD": "Stable disease", "PD": "Progressive disease",
                                            "NE": "Not evaluable"}),
        Col("os_months", "OS (months)", unit="months"), Col("os_event", "Death", event_value=1),
        Col("pfs_months", "PFS (months)", unit="months"),
        Col("pfs_event", "Progression or death", event_value=1),
    ]
    obs = obs.assign(**{"cancer_type": obs["cancer_label"]})
    clin_df, clin_map = _render(obs, clinical)
    clin_df["ICI start"] = pd.to_datetime(clin_df["ICI start"]).dt.date
    seq = obs.loc[obs["sequenced"]].assign(panel="FoundationOne CDx")
    samples = [Col("sample_id", "Sample ID"), Col("patient_id", "Patient ID"),
               Col("panel", "Assay"), Col("tumour_purity", "Purity (%)", unit="%", scale=100,
                                          decimals=0),
               Col("msi_status", "MSI"), Col("tmb", "TMB (mut/Mb)", unit="mut/Mb")]
    samp_df, samp_map = _render(seq, samples)
    imaging = [Col("patient_id", "Patient ID"), Col("lesion_id", "Lesion"),
               Col("modality", "Modality"), Col("image_uri", "Image file"),
               Col("mask_uri", "Mask file")]
    img_df, img_map = _render(_imaging_rows(obs), imaging)
    genes = _panel_gene_frame(["FoundationOneCDx"]).assign(panel="FoundationOne CDx")

    wb = Workbook()
    wb.remove(wb.active)
    for title, frame in (("Clinical", clin_df), ("Samples", samp_df), ("Imaging", img_df),
                         ("Panel genes", genes)):
        ws = wb.create_sheet(title)
        ws.append(list(frame.columns))
        for row in frame.astype(object).where(frame.notna(), None).itertuples(index=False):
            ws.append(list(row))
    buf = io.BytesIO()
    wb.save(buf)
    (folder / "lindenhof_ici.xlsx").write_bytes(_deterministic_xlsx(buf.getvalue()))
    _write_text(folder / "lindenhof_mutations.maf.gz", _maf_text(maf, "lindenhof", False), gz=True)
    files = [
        {"path": "lindenhof_ici.xlsx", "sheet": "Clinical", "columns": clin_map},
        {"path": "lindenhof_ici.xlsx", "sheet": "Samples", "columns": samp_map},
        {"path": "lindenhof_ici.xlsx", "sheet": "Imaging", "columns": img_map},
    ]
    cmap = _column_map("lindenhof_ici", "lindenhof",
                       "Lindenhof ICI registry export (XLSX). Albumin and haemoglobin in g/L; "
                       "tumour purity in %. Sheet 'Panel genes' lists the FoundationOne CDx genes. "
                       "Image and mask paths are relative to this file's folder.",
                       files, "lindenhof_mutations.maf.gz")
    _yaml_dump(folder / "column_map.yaml", cmap)
    return "column_map.yaml"


def _deterministic_xlsx(data: bytes) -> bytes:
    """Rewrite an XLSX zip with fixed timestamps so the same seed gives the same bytes."""
    fixed = "2019-06-30T00:00:00Z"
    src = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            content = src.read(info.filename)
            if info.filename == "docProps/core.xml":
                text = content.decode()
                text = re.sub(r"(<dcterms:(created|modified)[^>]*>)[^<]*(<)", rf"\g<1>{fixed}\3",
                              text)
                content = text.encode()
            zi = zipfile.ZipInfo(info.filename, date_time=(2019, 6, 30, 0, 0, 0))
            zi.compress_type = zipfile.ZIP_DEFLATED
            dst.writestr(zi, content)
    return out.getvalue()


def _write_riverside(folder: Path, obs: pd.DataFrame, maf: pd.DataFrame) -> str:
    days = 365.25 / 12
    clinical = [
        Col("patient_id", "patient"), Col("sex", "gender"), Col("age", "age"),
        Col("bmi", "bmi"), Col("ecog", "ecog"), Col("smoking", "smoking_status"),
        Col("cancer_type", "histology"), Col("stage_iv", "stage_iv"),
        Col("albumin", "alb_gdl", unit="g/dL"), Col("nlr", "nlr"), Col("platelets", "plt"),
        Col("haemoglobin", "hgb", unit="g/dL"), Col("ldh", "ldh", unit="U/L"),
        Col("drug", "regimen"), Col("line", "line"),
        Col("prior_systemic_therapy", "prior_systemic"), Col("start_date", "start_date"),
        Col("bor", "recist_bor"),
        Col("os_months", "os_days", unit="days", scale=days, decimals=0),
        Col("os_event", "os_event", event_value=1),
        Col("pfs_months", "pfs_days", unit="days", scale=days, decimals=0),
        Col("pfs_event", "pfs_event", event_value=1),
    ]
    clin_df, clin_map = _render(obs, clinical)
    clin_df["pfs_days"] = np.minimum(clin_df["pfs_days"], clin_df["os_days"])
    seq = obs.loc[obs["sequenced"]]
    samples = [Col("sample_id", "sample"), Col("patient_id", "patient"), Col("panel", "assay"),
               Col("tumour_purity", "purity", unit="fraction"), Col("msi_status", "msi")]
    samp_df, samp_map = _render(seq, samples)
    imaging = [Col("patient_id", "patient"), Col("lesion_id", "lesion"),
               Col("modality", "modality"), Col("image_uri", "image"), Col("mask_uri", "mask")]
    img_df, img_map = _render(_imaging_rows(obs), imaging)
    for name, frame in (("clinical.csv", clin_df), ("samples.csv", samp_df),
                        ("imaging.csv", img_df), ("panel_genes.csv", _panel_gene_frame(["TSO500"]))):
        _write_text(folder / name, frame.to_csv(index=False, lineterminator="\n"))
    _write_text(folder / "riverside.maf", _maf_text(maf, "riverside", version_line=True))
    files = [{"path": "clinical.csv", "columns": clin_map},
             {"path": "samples.csv", "columns": samp_map},
             {"path": "imaging.csv", "columns": img_map}]
    cmap = _column_map("riverside_ici", "riverside",
                       "Riverside thoracic-oncology export (CSV). Survival times in DAYS. "
                       "Image and mask paths are relative to this file's folder; "
                       "panel_genes.csv lists the TSO500 genes.", files, "riverside.maf")
    _yaml_dump(folder / "column_map.yaml", cmap)
    return "column_map.yaml"


def _write_alpenrose(folder: Path, obs: pd.DataFrame, maf: pd.DataFrame, seed: int) -> str:
    names = {"NSCLC": "Non-small cell lung cancer", "MEL": "Cutaneous melanoma",
             "BLCA": "Bladder cancer", "BRCA": "Breast cancer", "COADREAD": "Colorectal cancer",
             "UCEC": "Endometrial cancer", "HNSC": "Head and neck cancer",
             "RCC": "Renal cell carcinoma", "SCLC": "Small cell lung cancer",
             "OV": "Ovarian cancer", "SARC": "Soft tissue sarcoma", "STAD": "Gastric cancer",
             "CUP": "Cancer of unknown primary"}
    obs = obs.assign(cancer_type=obs["cancer_type"].map(lambda c: names.get(c, c)))
    clinical = [
        Col("patient_id", "pid"), Col("sex", "sex", values={"male": 1, "female": 2}),
        Col("age", "age_years", unit="years"), Col("ecog", "ecog"),
        Col("cancer_type", "diagnosis"),
        Col("neutrophils", "neutrophils_abs", unit="10^9/L"),
        Col("lymphocytes", "lymphocytes_abs", unit="10^9/L"),
        Col("albumin", "albumin", unit="g/dL"), Col("drug", "drug"),
        Col("prior_systemic_therapy", "prior_systemic_tx", values={1: "yes", 0: "no"}),
        Col("start_date", "ici_start"), Col("bor", "bor"),
        Col("os_months", "os_mo", unit="months"), Col("os_event", "os_censored", event_value=0),
        Col("pfs_months", "pfs_mo", unit="months"),
        Col("pfs_event", "pfs_censored", event_value=0),
    ]
    clin_df, clin_map = _render(obs, clinical)
    seq = obs.loc[obs["sequenced"]].assign(panel="WES")
    samples = [Col("sample_id", "sample_id"), Col("patient_id", "pid"),
               Col("panel", "platform"), Col("tmb", "tmb_per_mb", unit="mut/Mb")]
    samp_df, samp_map = _render(seq, samples)
    rows = _imaging_rows(obs)
    imaging = [Col("patient_id", "pid"), Col("lesion_id", "lesion"),
               Col("modality", "modality"), Col("radiomics_uri", "radiomics_file")]
    img_df, img_map = _render(rows, imaging)
    (folder / "radiomics").mkdir(exist_ok=True)
    tasks = _imaging_tasks(obs, seed, None)
    for task in tasks:
        for k, feats in enumerate(radiomics_rows(task), start=1):
            text = "feature,value\n" + "".join(f"{f},{v:.6g}\n" for f, v in feats.items())
            _write_text(folder / "radiomics" / f"{scan_stem(task.patient_index)}_L{k}.csv", text)
    for name, frame in (("clinical.tsv", clin_df), ("samples.tsv", samp_df),
                        ("imaging.tsv", img_df)):
        _write_text(folder / name, frame.to_csv(sep="\t", index=False, lineterminator="\n"))
    _write_text(folder / "alpenrose_wes.maf.gz", _maf_text(maf, "alpenrose", False), gz=True)
    files = [{"path": "clinical.tsv", "columns": clin_map},
             {"path": "samples.tsv", "columns": samp_map},
             {"path": "imaging.tsv", "columns": img_map}]
    cmap = _column_map("alpenrose_ici", "alpenrose",
                       "Alpenrose export (TSV). Neutrophil and lymphocyte counts (no NLR); event "
                       "columns are CENSORING flags (1 = censored). Whole-exome sequencing. "
                       "Radiomics are precomputed per lesion (radiomics/scanNNNNN_<lesion>.csv, "
                       "columns feature,value; pyradiomics names), paths relative to this folder.",
                       files, "alpenrose_wes.maf.gz")
    _yaml_dump(folder / "column_map.yaml", cmap)
    return "column_map.yaml"


def _write_coastline(folder: Path, obs: pd.DataFrame, maf: pd.DataFrame) -> str:
    clinical = [
        Col("patient_id", "PatientID"), Col("sex", "Sex", values={"male": 1, "female": 0}),
        Col("age", "Age"), Col("bmi", "BMI"), Col("cancer_type", "CancerType"),
        Col("stage_iv", "Stage"), Col("albumin", "Albumin", unit="g/dL"), Col("nlr", "NLR"),
        Col("platelets", "Platelets"), Col("haemoglobin", "HGB", unit="g/dL"),
        Col("drug_class", "Drug_class", values={"PD-1/PD-L1": "PD1/PDL1", "CTLA-4": "CTLA4",
                                                "combination": "Combo"}),
        Col("prior_systemic_therapy", "Chemo_before_IO"),
        Col("responder", "Response"),
        Col("os_months", "OS_Months", unit="months"), Col("os_event", "OS_Event", event_value=1),
        Col("pfs_months", "PFS_Months", unit="months"),
        Col("pfs_event", "PFS_Event", event_value=1),
    ]
    obs = obs.assign(cancer_type=obs["cancer_label"])
    clin_df, clin_map = _render(obs, clinical)
    seq = obs.loc[obs["sequenced"]].assign(panel="MSK-IMPACT410")
    samples = [Col("sample_id", "SampleID"), Col("patient_id", "PatientID"),
               Col("panel", "Panel"), Col("tmb", "TMB", unit="mut/Mb"), Col("fcna", "FCNA"),
               Col("hed", "HED"), Col("hla_loh", "HLA_LOH"), Col("msi_score", "MSI_SCORE"),
               Col("msi_status", "MSI", values={"MSI-H": 1, "MSS": 0})]
    samp_df, samp_map = _render(seq, samples)
    imaging = [Col("patient_id", "PatientID"), Col("lesion_id", "LesionID"),
               Col("modality", "Modality"), Col("image_uri", "ImagePath"),
               Col("mask_uri", "MaskPath")]
    img_df, img_map = _render(_imaging_rows(obs), imaging)
    for name, frame in (("clinical.parquet", clin_df), ("samples.parquet", samp_df),
                        ("imaging.parquet", img_df),
                        ("panel_genes.parquet", _panel_gene_frame(["MSK-IMPACT410"]))):
        frame.to_parquet(folder / name, index=False)
    _write_text(folder / "coastline.maf", _maf_text(maf, "coastline", version_line=False))
    files = [{"path": "clinical.parquet", "columns": clin_map},
             {"path": "samples.parquet", "columns": samp_map},
             {"path": "imaging.parquet", "columns": img_map}]
    cmap = _column_map("coastline_ici", "coastline",
                       "Coastline GI-oncology export (Parquet). Binary responder only (no "
                       "RECIST); drug class only. Image and mask paths are relative to this "
                       "file's folder.", files, "coastline.maf")
    _yaml_dump(folder / "column_map.yaml", cmap)
    return "column_map.yaml"


def _write_meridian(folder: Path, obs: pd.DataFrame, maf: pd.DataFrame) -> str:
    clinical = [
        Col("patient_id", "Patient_Ref"), Col("sex", "Sex"), Col("age", "Age_at_start"),
        Col("bmi", "BMI"), Col("ecog", "ECOG"), Col("smoking", "Smoker"),
        Col("cancer_type", "Primary_site_code"),
        Col("stage_iv", "Metastatic", values={1: "yes", 0: "no"}),
        Col("albumin", "Albumin_g_dl", unit="g/dL"), Col("nlr", "NLR"),
        Col("platelets", "Platelets"), Col("ldh", "LDH", unit="U/L"),
        Col("drug", "Agent"), Col("line", "Line"),
        Col("prior_systemic_therapy", "Prior_therapy"), Col("start_date", "Start"),
        Col("bor", "BOR"), Col("os_months", "OS_months", unit="months"),
        Col("os_event", "Dead", event_value=1), Col("pfs_months", "PFS_months", unit="months"),
        Col("pfs_event", "Progressed", event_value=1),
    ]
    clin_df, clin_map = _render(obs, clinical)
    seq = obs.loc[obs["sequenced"]].assign(panel="F1CDx")
    samples = [Col("sample_id", "Specimen"), Col("patient_id", "Patient_Ref"),
               Col("panel", "Test"), Col("msi_status", "MSI_status"),
               Col("tumour_purity", "Purity", unit="fraction")]
    samp_df, samp_map = _render(seq, samples)
    imaging = [Col("patient_id", "Patient_Ref"), Col("lesion_id", "Lesion"),
               Col("modality", "Modality"), Col("image_uri", "CT"), Col("mask_uri", "Segmentation")]
    img_df, img_map = _render(_imaging_rows(obs), imaging)
    for name, frame in (("clinical.csv", clin_df), ("samples.csv", samp_df),
                        ("imaging.csv", img_df),
                        ("panel_genes.csv", _panel_gene_frame(["FoundationOneCDx"]))):
        _write_text(folder / name, frame.to_csv(index=False, lineterminator="\n"))
    _write_text(folder / "meridian.maf.gz", _maf_text(maf, "meridian", False), gz=True)
    files = [{"path": "clinical.csv", "columns": clin_map},
             {"path": "samples.csv", "columns": samp_map},
             {"path": "imaging.csv", "columns": img_map}]
    cmap = _column_map("meridian_ici", "meridian",
                       "Meridian GU/gynae-oncology export (CSV). About 20% of patients were not "
                       "sequenced (no sample row). Image and mask paths are relative to this "
                       "file's folder.", files, "meridian.maf.gz")
    _yaml_dump(folder / "column_map.yaml", cmap)
    return "column_map.yaml"


# ------------------------------------------------------------------------------------------------
# The network
# ------------------------------------------------------------------------------------------------


@dataclass
class Network:
    """What :func:`generate_network` wrote."""

    out: Path
    sources: dict[str, Path]        # centre -> path to pass to load_source
    n_patients: int
    n_imaged: int
    n_variants: int


TRUTH_COLUMNS = [
    "centre", "source_patient_id", "source_sample_id", "cancer_type", "panel", "panel_size_mb",
    "sequenced", "n_lesions", "image_stem", "tmb_latent", "n_nonsynonymous", "n_silent_intron", "tmb_true",
    "msi_h", "pole", "brca_carrier", "texture_z", "age", "sex", "albumin", "nlr",
    "prior_systemic_therapy", "ecog", "drug_class", "lp_response", "p_response", "responder",
    "bor", "os_log_hazard", "pfs_log_hazard", "os_time_true", "pfs_time_true", "os_months",
    "os_event", "pfs_months", "pfs_event",
]


def generate_network(out: str | Path, n_patients: int = 600, seed: int = 7,
                     workers: int = 1, first_id: int = 0) -> Network:
    """Write the synthetic six-centre network to ``out``.

    Parameters
    ----------
    out
        Output folder (created; existing files of the same names are overwritten).
    n_patients
        Patients across all centres.
    seed
        Random seed: the same seed gives byte-identical files.
    workers
        Processes used to write images (the output does not depend on it).
    first_id
        First running number of each centre's source IDs: give a later export of new patients
        a number past the earlier export's, so no source ID means two people.

    Returns
    -------
    Network
        Paths of the centres' sources and counts.
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    truth = simulate_patients(n_patients, seed, first_id)
    maf = simulate_mutations(truth, seed)
    obs = _observed(truth)
    writers = {"harbour": _write_cbioportal, "lindenhof": _write_lindenhof,
               "riverside": _write_riverside, "coastline": _write_coastline,
               "meridian": _write_meridian}
    sources: dict[str, Path] = {}
    tasks: list[ImageTask] = []
    for spec in CENTRES:
        folder = out / spec.name
        folder.mkdir(exist_ok=True)
        sel = (obs["centre"] == spec.name).to_numpy()
        c_obs = obs.loc[sel].reset_index(drop=True)
        c_maf = maf.loc[maf["centre"] == spec.name]
        if spec.name == "alpenrose":
            rel = _write_alpenrose(folder, c_obs, c_maf, seed)
        else:
            rel = writers[spec.name](folder, c_obs, c_maf)
        if spec.imaging == "nifti":
            (folder / "images").mkdir(exist_ok=True)
            tasks.extend(_imaging_tasks(c_obs, seed, folder))
        sources[spec.name] = folder / rel if rel != "." else folder
        log.info("wrote centre %s (%d patients)", spec.name, int(sel.sum()))
    write_images(tasks, workers=workers)

    truth["image_stem"] = np.where(truth["n_lesions"] > 0,
                                   truth["within_index"].map(scan_stem), None)
    truth_out = truth[TRUTH_COLUMNS + [c for c in truth.columns if c.startswith("mut_")]
                      + [c for c in truth.columns if c.startswith("drv_")]].copy()
    truth_out.to_parquet(out / "truth.parquet", index=False)
    _yaml_dump(out / "truth.yaml", _truth_doc(n_patients, seed))
    _yaml_dump(out / "network.yaml", _network_doc(out, sources, truth, n_patients, seed))
    return Network(out, sources, n_patients, len(tasks), len(maf))


def _network_doc(out: Path, sources: dict[str, Path], truth: pd.DataFrame, n: int,
                 seed: int) -> dict:
    centres = []
    for spec in CENTRES:
        t = truth[truth["centre"] == spec.name]
        centres.append({
            "name": spec.name,
            "format": spec.fmt,
            "source": sources[spec.name].relative_to(out).as_posix(),
            "patients": len(t),
            "sequenced": int(t["sequenced"].sum()),
            "panels": sorted(spec.panels),
            "imaging": spec.imaging or "none",
            "imaged_patients": int((t["n_lesions"] > 0).sum()),
            "quirks": list(spec.quirks),
        })
    return {
        "name": "icipredict synthetic network",
        "generator": f"icipredict.cohort.synthetic v{GENERATOR_VERSION}",
        "seed": seed, "patients": n,
        "usage": "pass <this folder>/<centre.source> to icipredict.cohort.loaders.load_source "
                 "(a cBioPortal study folder or a column-map YAML); relative paths inside a "
                 "centre (data files, image/mask/radiomics URIs) are relative to the folder "
                 "holding the column map or the study.",
        "centres": centres,
        "truth": {"patients": "truth.parquet", "model": "truth.yaml"},
    }


def _truth_doc(n: int, seed: int) -> dict:
    return {
        "generator": f"icipredict.cohort.synthetic v{GENERATOR_VERSION}",
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
