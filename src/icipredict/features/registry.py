"""The feature registry: one declarative entry per model feature.

Each :class:`Feature` says what the feature is (name, modality, display label, unit, plausible
range), which canonical input columns it reads, how it is encoded, and the words a reason uses.
The registry feeds :class:`~icipredict.features.builder.FeatureBuilder` (which columns to derive
and encode), :class:`~icipredict.features.spec.FeatureSpec` (which names a spec may list), the
registry model's input schema (:mod:`icipredict.registry.schema`), the board's
:class:`~icipredict.predict.record.PatientRecord` and the reasons
(:mod:`icipredict.predict.explain`). Adding a clinical feature is one entry here (plus its test);
see DEVELOPERS.md.

Encoders (``kind``):

- ``number``: the input as a number in its canonical unit (``derive`` may compute it, e.g. NLR
  from counts); ``flag``: a 0/1 input; missing stays missing (imputed later when the spec says so).
- ``category``: a vocabulary input mapped to a number (``mapping``; other values -> ``default``).
- ``onehot``: one column per training level (scikit-learn's ``OneHotEncoder``), ``<output>_<level>``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Literal

import numpy as np
import pandas as pd

from icipredict.cohort.schema import CONTRACTS

Modality = Literal["clinical", "genomic", "imaging"]
Kind = Literal["number", "flag", "category", "onehot"]

GENE_PREFIX = "mut_"
RADIOMICS_PREFIX = "radiomics_"
MISSING_PREFIX = "missing_"
#: Name of the grouped rare-level column of a one-hot feature (``cancer_type_other``).
OTHER_LEVEL = "other"


def numeric(frame: pd.DataFrame, column: str) -> np.ndarray:
    """A frame's column as a float array (absent or unreadable values are missing)."""
    if column not in frame.columns:
        return np.full(len(frame), np.nan)
    values = frame[column]
    if values.dtype == np.float64:
        return values.to_numpy()
    if values.dtype.kind in "biuf":  # numbers already: no parsing (pd.to_numeric is slow)
        return values.to_numpy(dtype=float, na_value=np.nan)
    return pd.to_numeric(values, errors="coerce").to_numpy(dtype=float, na_value=np.nan)


def text(frame: pd.DataFrame, column: str) -> pd.Series:
    """A frame's vocabulary column as objects (absent: all missing)."""
    if column not in frame.columns:
        return pd.Series(None, index=frame.index, dtype=object)
    return frame[column]


@dataclass(frozen=True)
class Feature:
    """One model feature, declared once.

    Parameters
    ----------
    name
        Name a feature spec lists (e.g. ``nlr``).
    modality
        ``clinical``, ``genomic`` or ``imaging``.
    label
        What the board reads (e.g. ``"Albumin"``).
    kind
        Encoder: ``number``, ``flag``, ``category`` or ``onehot`` (see the module docstring).
    inputs
        Canonical input columns read (record fields, cohort columns); default ``(name,)``.
    output
        Output column (one-hot: the prefix of its columns); default ``name``.
    unit
        Unit shown with a value; default the cohort contract's unit of the first input.
    plausible
        ``(low, high)`` a value must lie in; default the cohort contract's range.
    mapping, default
        ``category``: input value -> number; other non-missing values -> ``default`` (None:
        missing).
    derive
        Computes the feature from the input frame (default: the first input as a number).
    yes, no
        ``flag``/``category`` phrases for a value of 1 and 0 (e.g. "Prior systemic therapy",
        "No prior systemic therapy").
    level_name
        ``onehot``: how a level is read (e.g. OncoTree code -> "melanoma").
    tooltip
        Technical name shown on hover (the engine's name for radiomics).
    """

    name: str
    modality: Modality
    label: str
    kind: Kind = "number"
    inputs: tuple[str, ...] = ()
    output: str = ""
    unit: str | None = None
    plausible: tuple[float, float] | None = None
    mapping: dict[str, float] = field(default_factory=dict)
    default: float | None = None
    derive: Callable[[pd.DataFrame], np.ndarray] | None = None
    yes: str = ""
    no: str = ""
    level_name: Callable[[str], str] | None = None
    tooltip: str | None = None

    def __post_init__(self) -> None:
        if not self.inputs:
            object.__setattr__(self, "inputs", (self.name,))
        if not self.output:
            object.__setattr__(self, "output", self.name)
        contract = _contract_column(self.inputs[0])
        if self.unit is None and contract is not None:
            object.__setattr__(self, "unit", contract.unit)
        if self.plausible is None and contract is not None and contract.minimum is not None:
            object.__setattr__(self, "plausible", (contract.minimum, contract.maximum))

    def values(self, frame: pd.DataFrame) -> np.ndarray:
        """The feature's raw value per row (before caps, imputation and scaling).

        ``onehot`` features give their (normalised) category as objects, the others floats.
        """
        if self.derive is not None:
            return self.derive(frame)
        if self.kind == "category":
            # Once per distinct value (batch scoring sends millions of rows).
            codes, uniques = pd.factorize(text(frame, self.inputs[0]), use_na_sentinel=True)
            table = np.array([self.mapping.get(u, self.default) for u in uniques] + [None],
                             dtype=float)
            return table[codes]
        if self.kind == "onehot":
            return text(frame, self.inputs[0]).to_numpy(dtype=object)
        return numeric(frame, self.inputs[0])

    def phrase(self, value: Any, level: str | None = None) -> str:
        """The value in words: "TMB 24 mut/Mb", "No prior systemic therapy", "Cancer type:
        melanoma"."""
        if self.kind == "onehot" and level is not None:
            name = (self.level_name or str)(level)
            if level == OTHER_LEVEL:
                name = "a type rare in training"
            same = value == level or slug(value) == level
            return f"{self.label}: {name}" if same else f"{self.label}: not {name}"
        if self.kind in ("flag", "category") and self.yes:
            return self.yes if float(value) >= 0.5 else self.no
        return f"{self.label} {float(value):.3g}{' ' + self.unit if self.unit else ''}"


def _contract_column(name: str) -> Any:
    for contract in CONTRACTS.values():
        try:
            return contract.column(name)
        except (KeyError, ValueError):
            continue
    return None


def _nlr(frame: pd.DataFrame) -> np.ndarray:
    """``nlr`` where given, else neutrophils / lymphocytes (a count of 0 gives missing)."""
    given = numeric(frame, "nlr")
    neut, lymph = numeric(frame, "neutrophils"), numeric(frame, "lymphocytes")
    with np.errstate(divide="ignore", invalid="ignore"):
        computed = neut / np.where(lymph > 0, lymph, np.nan)
    return np.where(np.isnan(given), computed, given)


def _normalised_cancer_type(frame: pd.DataFrame) -> np.ndarray:
    from icipredict.features.clinical import normalise_cancer_type

    return normalise_cancer_type(text(frame, "cancer_type")).to_numpy(dtype=object)


def _cancer_group(frame: pd.DataFrame) -> np.ndarray:
    from icipredict.cohort.harmonise import CHOWELL_GROUP_CODE, cancer_type_group

    def group(code: object) -> float:
        if code is None:
            return np.nan
        return float(CHOWELL_GROUP_CODE.get(cancer_type_group(str(code)),
                                            CHOWELL_GROUP_CODE["Others"]))
    codes, uniques = pd.factorize(_normalised_cancer_type(frame), use_na_sentinel=True)
    return np.array([group(u) for u in uniques] + [np.nan], dtype=float)[codes]


def _cancer_name(code: str) -> str:
    from icipredict.cohort.harmonise import cancer_type_label

    label = cancer_type_label(code)
    return code if label in ("Other", "Others") else label


def slug(level: object) -> str:
    """A level as part of a column name (``PD-1/PD-L1`` -> ``PD_1_PD_L1``)."""
    return "".join(ch if ch.isalnum() else "_" for ch in str(level)).strip("_")


def _drug_class_name(level: str) -> str:
    from icipredict.cohort.schema import DRUG_CLASSES

    return {slug(c): c for c in DRUG_CLASSES}.get(level, level)


#: Every feature a spec may list, in the default order (clinical, then genomic).
FEATURES: tuple[Feature, ...] = (
    Feature("age", "clinical", "Age"),
    Feature("bmi", "clinical", "BMI"),
    Feature("ecog", "clinical", "ECOG performance status"),
    Feature("nlr", "clinical", "Neutrophil-to-lymphocyte ratio",
            inputs=("nlr", "neutrophils", "lymphocytes"), derive=_nlr),
    Feature("albumin", "clinical", "Albumin"),
    Feature("platelets", "clinical", "Platelets"),
    Feature("haemoglobin", "clinical", "Haemoglobin"),
    Feature("ldh", "clinical", "LDH"),
    Feature("sex", "clinical", "Sex", kind="category", output="sex_male",
            mapping={"male": 1.0, "female": 0.0}, yes="Male sex", no="Female sex"),
    Feature("stage_iv", "clinical", "Stage IV", kind="flag", yes="Stage IV",
            no="Stage below IV"),
    Feature("prior_systemic_therapy", "clinical", "Prior systemic therapy", kind="flag",
            yes="Prior systemic therapy", no="No prior systemic therapy"),
    Feature("drug_combination", "clinical", "Combination ICI", kind="category",
            inputs=("drug_class",), mapping={"combination": 1.0}, default=0.0,
            yes="Combination ICI (anti-PD-1/PD-L1 + anti-CTLA-4)", no="Single-agent ICI"),
    Feature("drug_class", "clinical", "Drug class", kind="onehot", level_name=_drug_class_name),
    Feature("tmb", "genomic", "TMB", unit="mut/Mb"),
    Feature("msi_high", "genomic", "MSI-high", kind="category", inputs=("msi_status",),
            mapping={"MSI-H": 1.0, "MSS": 0.0}, yes="MSI-high tumour",
            no="Microsatellite-stable tumour"),
    Feature("msi_score", "genomic", "MSI score"),
    Feature("fcna", "genomic", "Fraction of genome with copy-number alteration", unit=""),
    Feature("hed", "genomic", "HLA-I evolutionary divergence"),
    Feature("hla_loh", "genomic", "HLA-I loss of heterozygosity", kind="flag",
            yes="HLA-I loss of heterozygosity", no="No HLA-I loss of heterozygosity"),
)

#: Cancer-type encodings (chosen by the spec's ``cancer_type``, not listed in ``clinical``).
CANCER_TYPE = Feature("cancer_type", "clinical", "Cancer type", kind="onehot",
                      derive=_normalised_cancer_type, level_name=_cancer_name)
CANCER_GROUP = Feature("cancer_group", "clinical", "Cancer group (0 melanoma, 1 NSCLC, 2 other)",
                       inputs=("cancer_type",), derive=_cancer_group)

_REGISTRY: dict[str, Feature] = {f.name: f for f in FEATURES}


def register(feature: Feature) -> Feature:
    """Add (or replace) a feature: the one place a new feature is declared."""
    _REGISTRY[feature.name] = feature
    return feature


def unregister(name: str) -> None:
    """Remove a feature added with :func:`register` (tests)."""
    _REGISTRY.pop(name, None)


def names(modality: Modality) -> tuple[str, ...]:
    """Names a spec may list under ``modality`` (``clinical`` or ``genomic``), registry order."""
    return tuple(n for n, f in _REGISTRY.items() if f.modality == modality)


def features() -> Iterator[Feature]:
    """Every registered feature (genes and radiomics columns are made on demand)."""
    return iter(tuple(_REGISTRY.values()))


def get(name: str) -> Feature:
    """The entry of a spec name, a gene flag ``mut_<GENE>`` or a radiomics column."""
    if name in _REGISTRY:
        return _REGISTRY[name]
    if name in (CANCER_TYPE.name, CANCER_GROUP.name):
        return CANCER_TYPE if name == CANCER_TYPE.name else CANCER_GROUP
    if name.startswith(GENE_PREFIX):
        return gene(name[len(GENE_PREFIX):])
    if name.startswith(RADIOMICS_PREFIX):
        return radiomics(name)
    raise KeyError(f"no feature {name!r} in the feature registry")


@lru_cache(maxsize=4096)
def gene(symbol: str) -> Feature:
    """The alteration flag of a gene (1 mutated, 0 profiled wild type, missing not profiled)."""
    column = f"{GENE_PREFIX}{symbol}"
    return Feature(column, "genomic", f"{symbol} mutation", kind="flag", unit=None,
                   yes=f"{symbol} mutated", no=f"{symbol} wild type")


#: pyradiomics feature class -> what the board reads.
_RADIOMICS_CLASSES = {"shape": "Tumour shape", "shape2D": "Tumour shape",
                      "firstorder": "Tumour intensity", "glcm": "Tumour texture",
                      "glrlm": "Tumour texture", "glszm": "Tumour texture",
                      "gldm": "Tumour texture", "ngtdm": "Tumour texture"}
#: First-order features that describe heterogeneity (texture) rather than brightness.
_HETEROGENEITY = {"Entropy", "Uniformity", "Energy", "TotalEnergy"}


def _words(camel: str) -> str:
    return " ".join(re.findall(r"[A-Z]+(?=[A-Z][a-z]|\d|\b)|[A-Z]?[a-z]+|\d+", camel)).lower()


@lru_cache(maxsize=4096)
def radiomics(column: str) -> Feature:
    """A radiomics column (``radiomics_<image type>_<class>_<Feature>``) in the board's words:
    ``radiomics_original_firstorder_Entropy`` -> "Tumour texture (entropy)", the engine's name as
    its tooltip."""
    engine = column[len(RADIOMICS_PREFIX):] if column.startswith(RADIOMICS_PREFIX) else column
    parts = engine.split("_")
    label = f"Imaging feature ({engine})"
    if len(parts) >= 3:
        image_type, klass, name = parts[0], parts[1], "_".join(parts[2:])
        what = _RADIOMICS_CLASSES.get(klass, "Tumour imaging")
        if klass == "firstorder" and name in _HETEROGENEITY:
            what = "Tumour texture"
        detail = _words(name) or name
        if image_type != "original":
            detail += f", {image_type} filter"
        label = f"{what} ({detail})"
    return Feature(column, "imaging", label, unit=None, tooltip=f"pyradiomics: {engine}")


def indicator_label(column: str, given: bool) -> str:
    """``missing_genomic`` -> "No genomic data" / "Genomic data given"."""
    modality = column[len(MISSING_PREFIX):]
    return f"{modality.capitalize()} data given" if given else f"No {modality} data"


def resolve(column: str) -> tuple[Feature, str | None]:
    """The entry behind an output column and, for a one-hot column, its level.

    ``cancer_type_MEL`` -> (cancer type, ``"MEL"``); ``sex_male`` -> (sex, None).
    """
    for f in (*_REGISTRY.values(), CANCER_GROUP):
        if f.kind != "onehot" and f.output == column:
            return f, None
    for f in (CANCER_TYPE, *_REGISTRY.values()):
        if f.kind == "onehot" and column.startswith(f"{f.output}_"):
            return f, column[len(f.output) + 1:]
    return get(column), None
