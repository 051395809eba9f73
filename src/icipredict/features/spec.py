"""The feature specification: which modalities and features, and how they are prepared.

A spec is YAML validated by :class:`FeatureSpec`. Example (``models/features/loris.yaml``)::

    name: loris
    modalities: [clinical, genomic]
    clinical: [prior_systemic_therapy, albumin, nlr, age]
    genomic: [tmb]
    cancer_type: onehot
    caps: {tmb: 50, nlr: 25, age: 85}
    scaling: standard
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from icipredict._util import read_yaml, validation_problems
from icipredict.cohort.schema import CohortError
from icipredict.features import registry
from icipredict.features.genomic import DEFAULT_GENES

Modality = Literal["clinical", "genomic", "imaging"]
#: Modalities of a spec that names none.
DEFAULT_MODALITIES: tuple[Modality, ...] = ("clinical", "genomic")

#: Clinical features a spec may list by default (the feature registry's, in its order).
CLINICAL_FEATURES: tuple[str, ...] = registry.names("clinical")
#: Sample-level genomic features a spec may list (gene flags come from ``genes``).
GENOMIC_FEATURES: tuple[str, ...] = registry.names("genomic")


class FeatureSpec(BaseModel):
    """Which features to build and how (validated from YAML)."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(description="Spec name (recorded with every model).")
    description: str = ""
    modalities: list[Modality] = Field(default_factory=lambda: list(DEFAULT_MODALITIES))
    clinical: list[str] = Field(
        default_factory=lambda: list(CLINICAL_FEATURES),
        description="Clinical features, in output order; any clinical feature of the feature "
        f"registry ({list(CLINICAL_FEATURES)}).")
    genomic: list[str] = Field(
        default_factory=lambda: list(GENOMIC_FEATURES),
        description=f"Sample-level genomic features; any of {list(GENOMIC_FEATURES)}.")
    genes: list[str] = Field(
        default_factory=list,
        description="Genes with an alteration flag mut_<GENE> (1/0, missing = not profiled). "
        f"Write [default] for {list(DEFAULT_GENES)}.")
    imaging: list[str] | None = Field(
        None, description="Radiomics columns (radiomics_<feature>); None = all seen at fit.")
    cancer_type: Literal["onehot", "chowell_group", "none"] = Field(
        "onehot", description="Cancer type encoding (clinical modality); emitted after genomic.")
    rare_type_min_count: int = Field(
        10, ge=1, description="One-hot: types with fewer training patients go to 'other'.")
    caps: dict[str, float] = Field(
        default_factory=dict, description="Upper caps on raw values, e.g. LORIS {tmb: 50, nlr: "
        "25, age: 85}; keys are output column names.")
    imputation: Literal["none", "median"] = "none"
    scaling: Literal["none", "standard"] = "none"
    missing_indicators: bool = Field(
        False, description="Add missing_<modality> (1 = all of that modality's inputs missing).")

    @field_validator("clinical", "genomic")
    @classmethod
    def _known_features(cls, value: list[str], info: ValidationInfo) -> list[str]:
        # bound to the clinical and genomic fields only
        modality: Modality = "clinical" if info.field_name == "clinical" else "genomic"
        known = registry.names(modality)  # read now: a feature registered later counts
        unknown = sorted(set(value) - set(known))
        if unknown:
            raise ValueError(f"unknown {info.field_name} feature(s) {unknown}; known: "
                             f"{list(known)}")
        return value

    @field_validator("genes", mode="before")
    @classmethod
    def _default_genes(cls, value: object) -> object:
        if value == "default" or value == ["default"]:
            return list(DEFAULT_GENES)
        return value

    @model_validator(mode="after")
    def _some_modality(self) -> FeatureSpec:
        if not self.modalities:
            raise ValueError("at least one modality is needed")
        return self


def read_spec(path: str | Path) -> FeatureSpec:
    """Read and validate a feature-spec YAML file.

    Raises
    ------
    CohortError
        If the file is missing, not YAML or does not follow :class:`FeatureSpec`.
    """
    path = Path(path)
    raw = read_yaml(path, "feature spec", CohortError)
    try:
        return FeatureSpec.model_validate(raw)
    except ValidationError as exc:
        raise CohortError(f"invalid feature spec: {validation_problems(exc)}", file=path) from exc
