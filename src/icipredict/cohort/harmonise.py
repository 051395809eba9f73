"""Harmonisation to the cohort contract: units, cancer types, drugs, RECIST, panels.

Each function converts *values* (scalars or pandas Series) and raises :class:`CohortError` (without
a location; loaders add file, row and column) when a value or unit is unknown.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from icipredict.cohort.schema import CohortError

# --------------------------------------------------------------------------------------------
# Units
# --------------------------------------------------------------------------------------------

DAYS_PER_MONTH = 365.25 / 12

#: quantity -> {unit as written (lower case, spaces removed) -> factor to the canonical unit}
UNIT_FACTORS: dict[str, dict[str, float]] = {
    "time": {"months": 1.0, "month": 1.0, "mo": 1.0, "days": 1 / DAYS_PER_MONTH,
             "day": 1 / DAYS_PER_MONTH, "d": 1 / DAYS_PER_MONTH, "weeks": 7 / DAYS_PER_MONTH,
             "week": 7 / DAYS_PER_MONTH, "wk": 7 / DAYS_PER_MONTH, "years": 12.0, "year": 12.0,
             "y": 12.0},
    "albumin": {"g/dl": 1.0, "g/l": 0.1},
    "haemoglobin": {"g/dl": 1.0, "g/l": 0.1, "mmol/l": 1.611},
    "cell_count": {"10^9/l": 1.0, "10e9/l": 1.0, "x10^9/l": 1.0, "g/l": 1.0, "k/ul": 1.0,
                   "10^3/ul": 1.0, "/ul": 1e-3, "cells/ul": 1e-3, "/mm3": 1e-3},
    "ldh": {"u/l": 1.0, "iu/l": 1.0, "ukat/l": 60.0},
    "age": {"years": 1.0, "year": 1.0, "y": 1.0, "months": 1 / 12, "days": 1 / 365.25},
    "fraction": {"fraction": 1.0, "%": 0.01, "percent": 0.01},
    "percent": {"%": 1.0, "percent": 1.0, "fraction": 100.0},
    "tmb": {"mut/mb": 1.0, "mutations/mb": 1.0},
    "dimensionless": {"": 1.0, "1": 1.0, "ratio": 1.0, "kg/m2": 1.0},
}

#: canonical column -> quantity whose units apply to it
COLUMN_QUANTITY: dict[str, str] = {
    "os_months": "time", "pfs_months": "time", "albumin": "albumin",
    "haemoglobin": "haemoglobin", "neutrophils": "cell_count", "lymphocytes": "cell_count",
    "platelets": "cell_count", "ldh": "ldh", "age": "age", "tumour_purity": "fraction",
    "fcna": "fraction", "vaf": "fraction", "pdl1_tps": "percent", "tmb": "tmb",
}


def unit_factor(column: str, unit: str) -> float:
    """Return the factor converting ``unit`` to the canonical unit of ``column``.

    Raises
    ------
    CohortError
        If the unit is not known for that column.
    """
    quantity = COLUMN_QUANTITY.get(column, "dimensionless")
    key = unit.strip().lower().replace(" ", "").replace("×", "x").replace("µ", "u")
    factors = UNIT_FACTORS[quantity]
    if key not in factors:
        raise CohortError(
            f"unknown unit {unit!r} for {column}; expected one of {sorted(factors)}"
        )
    return factors[key]


def convert_units(values: pd.Series, column: str, unit: str | None) -> pd.Series:
    """Convert a numeric Series from ``unit`` to the canonical unit of ``column``."""
    if unit is None:
        return values
    return values * unit_factor(column, unit)


# --------------------------------------------------------------------------------------------
# Cancer types (OncoTree codes) and the published groupings
# --------------------------------------------------------------------------------------------

#: OncoTree code -> (label used by Chowell 2022 / LORIS, Chowell's 3-level group)
CANCER_TYPES: dict[str, tuple[str, str]] = {
    "MEL": ("Melanoma", "Melanoma"),
    "NSCLC": ("NSCLC", "NSCLC"),
    "BLCA": ("Bladder", "Others"),
    "BRCA": ("Breast", "Others"),
    "COADREAD": ("Colorectal", "Others"),
    "UCEC": ("Endometrial", "Others"),
    "ESCA": ("Esophageal", "Others"),
    "STAD": ("Gastric", "Others"),
    "HNSC": ("Head & Neck", "Others"),
    "HB": ("Hepatobiliary", "Others"),
    "MESO": ("Mesothelioma", "Others"),
    "OV": ("Ovarian", "Others"),
    "PAAD": ("Pancreatic", "Others"),
    "RCC": ("Renal", "Others"),
    "SCLC": ("SCLC", "Others"),
    "SARC": ("Sarcoma", "Others"),
    "CUP": ("Unknown primary", "Others"),
    "GBM": ("Glioma", "Others"),
}

#: Code of a cancer type outside :data:`CANCER_TYPES` (kept, with a warning, by a non-strict
#: ingest; models treat it as a type they have not seen unless they were trained on it).
OTHER_CANCER_TYPE = "OTHER"
_OTHER_LABELS = ("Other", "Others")

#: Chowell 2022 integer code of the 3-level group (column Cancer_Type2)
CHOWELL_GROUP_CODE = {"Melanoma": 0, "NSCLC": 1, "Others": 2}

_CANCER_SYNONYMS: dict[str, str] = {
    "melanoma": "MEL", "skcm": "MEL", "cutaneous melanoma": "MEL", "mel": "MEL",
    "nsclc": "NSCLC", "non-small cell lung cancer": "NSCLC", "luad": "NSCLC", "lusc": "NSCLC",
    "lung adenocarcinoma": "NSCLC", "non small cell lung cancer": "NSCLC",
    "bladder": "BLCA", "blca": "BLCA", "bladder cancer": "BLCA", "urothelial": "BLCA",
    "breast": "BRCA", "brca": "BRCA", "breast cancer": "BRCA",
    "breast invasive carcinoma": "BRCA", "invasive breast carcinoma": "BRCA",
    "colorectal": "COADREAD", "coadread": "COADREAD", "coad": "COADREAD", "crc": "COADREAD",
    "colorectal cancer": "COADREAD",
    "endometrial": "UCEC", "ucec": "UCEC", "endometrial cancer": "UCEC",
    "esophageal": "ESCA", "esca": "ESCA", "oesophageal": "ESCA", "esophagogastric": "ESCA",
    "gastric": "STAD", "stad": "STAD", "stomach": "STAD", "gastric cancer": "STAD",
    "head & neck": "HNSC", "head and neck": "HNSC", "hnsc": "HNSC",
    "head and neck cancer": "HNSC",
    "hepatobiliary": "HB", "hb": "HB", "hcc": "HB", "lihc": "HB", "cholangiocarcinoma": "HB",
    "mesothelioma": "MESO", "meso": "MESO", "plmeso": "MESO",
    "ovarian": "OV", "ov": "OV", "ovary": "OV", "ovarian cancer": "OV",
    "pancreatic": "PAAD", "paad": "PAAD", "pancreas": "PAAD",
    "renal": "RCC", "rcc": "RCC", "kidney": "RCC", "ccrcc": "RCC", "kirc": "RCC",
    "renal cell carcinoma": "RCC",
    "sclc": "SCLC", "small cell lung cancer": "SCLC",
    "sarcoma": "SARC", "sarc": "SARC", "soft tissue sarcoma": "SARC",
    "unknown primary": "CUP", "cup": "CUP", "cancer of unknown primary": "CUP",
    "glioma": "GBM", "gbm": "GBM", "glioblastoma": "GBM",
    "non-small cell lung": "NSCLC", "small cell lung": "SCLC", "hepatobiliary cancer": "HB",
    "skin cancer, melanoma": "MEL", "soft tissue": "SARC", "bone": "SARC",
    "esophagogastric cancer": "ESCA", "uterine": "UCEC", "uterine endometrioid": "UCEC",
    "renal cell": "RCC", "bladder urothelial": "BLCA", "head and neck squamous cell": "HNSC",
    "liver": "HB", "hepatocellular": "HB",
}


def to_oncotree(value: object) -> str:
    """Map a cancer-type name, label or code to its OncoTree code.

    Raises
    ------
    CohortError
        If the cancer type is not known.
    """
    if isinstance(value, str):
        key = value.strip()
        if key in CANCER_TYPES or key == OTHER_CANCER_TYPE:
            return key
        low = " ".join(key.lower().replace("_", " ").split())
        # cBioPortal CANCER_TYPE values read "Bladder Cancer", "Renal Cell Carcinoma", ...
        for candidate in (low, low.removesuffix(" cancer"), low.removesuffix(" carcinoma")):
            code = _CANCER_SYNONYMS.get(candidate)
            if code is not None:
                return code
    known = ", ".join(sorted(CANCER_TYPES))
    raise CohortError(f"unknown cancer type {value!r}; expected an OncoTree code ({known}) "
                      "or a name such as 'Melanoma', 'NSCLC', 'Bladder'")


def cancer_type_label(code: str) -> str:
    """Return the published cohort label (e.g. ``"Head & Neck"``) of an OncoTree code."""
    return CANCER_TYPES.get(code, _OTHER_LABELS)[0]


def cancer_type_group(code: str) -> str:
    """Return Chowell 2022's 3-level group (Melanoma / NSCLC / Others) of an OncoTree code."""
    return CANCER_TYPES.get(code, _OTHER_LABELS)[1]


# --------------------------------------------------------------------------------------------
# Drugs
# --------------------------------------------------------------------------------------------

PD1_PDL1_DRUGS = {
    "pembrolizumab", "nivolumab", "cemiplimab", "dostarlimab", "atezolizumab", "durvalumab",
    "avelumab", "tislelizumab", "toripalimab", "sintilimab", "camrelizumab", "retifanlimab",
}
CTLA4_DRUGS = {"ipilimumab", "tremelimumab"}
_CLASS_SYNONYMS = {
    "pd1/pdl1": "PD-1/PD-L1", "pd-1/pd-l1": "PD-1/PD-L1", "pd1": "PD-1/PD-L1",
    "pd-1": "PD-1/PD-L1", "pdl1": "PD-1/PD-L1", "pd-l1": "PD-1/PD-L1", "anti-pd-1": "PD-1/PD-L1",
    "ctla4": "CTLA-4", "ctla-4": "CTLA-4", "anti-ctla-4": "CTLA-4",
    "combo": "combination", "combination": "combination", "pd1+ctla4": "combination",
    "pd-1+ctla-4": "combination", "pd-1/pdl-1": "PD-1/PD-L1", "pd1/pd-l1": "PD-1/PD-L1",
    "anti-pd-1/pd-l1": "PD-1/PD-L1", "anti-pd-l1": "PD-1/PD-L1", "pd-1 + ctla-4": "combination",
}


def drug_class(drug: object) -> str:
    """Return the ICI class of a drug name, a '+'-joined combination, or a class label.

    Examples
    --------
    >>> drug_class("Nivolumab + Ipilimumab")
    'combination'
    >>> drug_class("pembrolizumab")
    'PD-1/PD-L1'
    """
    if not isinstance(drug, str) or not drug.strip():
        raise CohortError(f"unknown drug {drug!r}")
    key = drug.strip().lower()
    if key in _CLASS_SYNONYMS:
        return _CLASS_SYNONYMS[key]
    parts = {p.strip() for p in re.split(r"[+/,&]| and ", key) if p.strip()}
    classes = set()
    for part in parts:
        if part in PD1_PDL1_DRUGS:
            classes.add("PD-1/PD-L1")
        elif part in CTLA4_DRUGS:
            classes.add("CTLA-4")
        else:
            raise CohortError(
                f"unknown drug {part!r}; expected an ICI such as pembrolizumab, nivolumab, "
                "atezolizumab, ipilimumab, or a class (PD-1/PD-L1, CTLA-4, combination)"
            )
    if classes == {"PD-1/PD-L1", "CTLA-4"}:
        return "combination"
    return classes.pop()


# --------------------------------------------------------------------------------------------
# RECIST
# --------------------------------------------------------------------------------------------

_RECIST_SYNONYMS = {
    "cr": "CR", "complete response": "CR", "pr": "PR", "partial response": "PR",
    "sd": "SD", "stable disease": "SD", "pd": "PD", "progressive disease": "PD",
    "ne": "NE", "not evaluable": "NE", "nd": "NE",
}


def to_recist(value: object) -> str:
    """Normalise a RECIST best overall response to CR/PR/SD/PD/NE."""
    if isinstance(value, str) and value.strip().lower() in _RECIST_SYNONYMS:
        return _RECIST_SYNONYMS[value.strip().lower()]
    raise CohortError(f"unknown RECIST response {value!r}; expected CR, PR, SD, PD or NE")


def responder_from_recist(bor: pd.Series) -> pd.Series:
    """Binary responder (1 = CR/PR, 0 = SD/PD/NE, missing when BOR is missing)."""
    out = bor.map(lambda v: np.nan if pd.isna(v) else float(v in ("CR", "PR")))
    return out.astype("Float64").astype("Int64")


# --------------------------------------------------------------------------------------------
# Sequencing panels
# --------------------------------------------------------------------------------------------

#: panel name -> (size of the TMB territory in Mb, genes on the panel or None when genome-wide)
#: Sizes: MSK-IMPACT per Samstein 2019 (0.98/1.06/1.22 Mb); FoundationOne CDx 0.8 Mb;
#: TSO500 1.33 Mb TMB region; whole exome ~30 Mb of callable coding sequence.
PANELS: dict[str, float] = {
    "MSK-IMPACT341": 0.98,
    "MSK-IMPACT410": 1.06,
    "MSK-IMPACT468": 1.22,
    "FoundationOne": 0.8,
    "FoundationOneCDx": 0.8,
    "TSO500": 1.33,
    "WES": 30.0,
}
_PANEL_SYNONYMS = {
    "impact341": "MSK-IMPACT341", "msk-impact341": "MSK-IMPACT341", "msk-impact 341": "MSK-IMPACT341",
    "impact410": "MSK-IMPACT410", "msk-impact410": "MSK-IMPACT410", "msk-impact 410": "MSK-IMPACT410",
    "impact468": "MSK-IMPACT468", "msk-impact468": "MSK-IMPACT468", "msk-impact 468": "MSK-IMPACT468",
    "foundationone": "FoundationOne", "f1": "FoundationOne", "foundationonecdx": "FoundationOneCDx",
    "f1cdx": "FoundationOneCDx", "foundationone cdx": "FoundationOneCDx",
    "tso500": "TSO500", "trusight oncology 500": "TSO500", "wes": "WES", "exome": "WES",
    "whole exome": "WES", "wxs": "WES",
}


#: Panel names that are known but whose TMB territory is not (e.g. "MSK-IMPACT" when a cohort
#: mixes the 341/410/468-gene versions without saying which one each sample had). Their
#: panel_size_mb is missing, never guessed.
UNSIZED_PANELS: dict[str, str] = {
    "MSK-IMPACT": "MSK-IMPACT, version (341/410/468 genes) not given per sample",
}
_PANEL_SYNONYMS.update({"msk-impact": "MSK-IMPACT", "impact": "MSK-IMPACT",
                        "msk impact": "MSK-IMPACT"})


def to_panel(value: object) -> str:
    """Normalise a panel/assay name to a key of :data:`PANELS` or :data:`UNSIZED_PANELS`."""
    if isinstance(value, str):
        if value in PANELS or value in UNSIZED_PANELS:
            return value
        key = value.strip().lower()
        if key in _PANEL_SYNONYMS:
            return _PANEL_SYNONYMS[key]
    raise CohortError(f"unknown sequencing panel {value!r}; expected one of "
                      f"{sorted(PANELS) + sorted(UNSIZED_PANELS)} or give panel_size_mb explicitly")


def panel_size_mb(panel: object) -> float:
    """Return the TMB territory (Mb) of a panel name (any synonym); NaN when not known.

    Anything but a known panel name (a missing value, a number) raises :class:`CohortError`.
    """
    name = to_panel(panel)
    return PANELS.get(name, float("nan"))


# --------------------------------------------------------------------------------------------
# Small vocabularies (sex, MSI, smoking, stage, yes/no)
# --------------------------------------------------------------------------------------------

_SEX = {"male": "male", "m": "male", "man": "male", "female": "female", "f": "female",
        "woman": "female"}
#: MSI wording -> status; None = explicitly unknown (cBioPortal "Indeterminate", "Do not report").
_MSI: dict[str, str | None] = {
    "msi-h": "MSI-H", "msi_h": "MSI-H", "msih": "MSI-H", "msi-high": "MSI-H", "msi high": "MSI-H",
    "instable": "MSI-H", "unstable": "MSI-H", "1": "MSI-H",
    "mss": "MSS", "stable": "MSS", "msi-l": "MSS", "msi-low": "MSS", "mss/msi-l": "MSS",
    "stable_indeterminate": "MSS", "0": "MSS",
    "indeterminate": None, "do not report": None, "not reported": None, "unknown": None,
}
_SMOKING = {"never": "never", "non-smoker": "never", "nonsmoker": "never", "no": "never",
            "former": "former", "ex-smoker": "former", "past": "former", "current": "current",
            "smoker": "current", "yes": "current"}
_STAGE_IV = {"iv": 1, "iva": 1, "ivb": 1, "ivc": 1, "stage iv": 1, "metastatic": 1,
             "i": 0, "ia": 0, "ib": 0, "ii": 0, "iia": 0, "iib": 0, "iic": 0, "iii": 0,
             "iiia": 0, "iiib": 0, "iiic": 0, "i-iii": 0, "stage i": 0, "stage ii": 0,
             "stage iii": 0}
_YES_NO = {"yes": 1, "y": 1, "true": 1, "no": 0, "n": 0, "false": 0}


def _lookup(table: dict, value: object, what: str, expected: str):
    key = str(value).strip().lower()
    if key in table:
        return table[key]
    raise CohortError(f"unknown {what} {value!r}; expected {expected}")


def to_sex(value: object) -> str:
    """Normalise sex wording (male/female, M/F). Numeric codes need an explicit ``values`` map."""
    if isinstance(value, (int, float)) or str(value).strip().lstrip("-").replace(".", "").isdigit():
        raise CohortError(f"sex coded as a number ({value!r}); declare the coding in the column "
                          "map, e.g. values: {1: male, 0: female}")
    return _lookup(_SEX, value, "sex", "male or female (M/F)")


def to_msi_status(value: object) -> str | None:
    """Normalise MSI wording or a 0/1 flag to MSI-H / MSS (None when reported as unknown)."""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return _lookup(_MSI, value, "MSI status", "MSI-H/MSS, Instable/Stable or 1/0")


def to_smoking(value: object) -> str:
    """Normalise smoking history to never / former / current."""
    return _lookup(_SMOKING, value, "smoking history", "never, former or current")


def stage_iv_flag(value: object) -> int:
    """1 for stage IV (any substage), 0 for stage I-III, from a written stage."""
    return _lookup(_STAGE_IV, value, "stage", "a stage I-IV (roman numerals) or a 0/1 flag")


def yes_no_flag(value: object) -> int:
    """1 for yes/true, 0 for no/false."""
    return _lookup(_YES_NO, value, "flag", "0/1 or yes/no")
