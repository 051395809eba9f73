"""The patient record model: its fields, units, vocabularies and checks (pydantic).

See :mod:`icipredict.predict.record` for what a record holds; :func:`record_model` extends
:class:`PatientRecord` by a field per input of a feature added to the feature registry.
"""

from __future__ import annotations

import math
import re
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field, create_model, field_validator

from icipredict.cohort import harmonise as hz
from icipredict.cohort.schema import CONTRACTS, CohortError

#: Version of the record layout (bump on incompatible changes).
RECORD_VERSION = "1.0"

#: Record field -> (contract table, canonical unit shown to users).
NUMERIC_FIELDS: dict[str, tuple[str, str | None]] = {
    "age": ("patients", "years"),
    "bmi": ("patients", "kg/m2"),
    "ecog": ("patients", None),
    "neutrophils": ("labs", "10^9/L"),
    "lymphocytes": ("labs", "10^9/L"),
    "nlr": ("labs", None),
    "albumin": ("labs", "g/dL"),
    "platelets": ("labs", "10^9/L"),
    "haemoglobin": ("labs", "g/dL"),
    "ldh": ("labs", "U/L"),
    "line": ("treatments", None),
    "panel_size_mb": ("samples", "Mb"),
    "tumour_purity": ("samples", "fraction"),
    "tmb": ("samples", "mut/Mb"),
    "msi_score": ("samples", None),
    "fcna": ("samples", "fraction"),
    "hed": ("samples", None),
    "pdl1_tps": ("samples", "%"),
}

#: Which record fields belong to which modality (for data completeness).
MODALITY_FIELDS: dict[str, tuple[str, ...]] = {
    "clinical": ("age", "sex", "bmi", "ecog", "stage_iv", "prior_systemic_therapy", "drug_class",
                 "nlr", "albumin", "platelets", "haemoglobin", "ldh"),
    "genomic": ("tmb", "msi_status", "msi_score", "fcna", "hed", "hla_loh", "mutations"),
    "imaging": ("images", "radiomics"),
}

_QUANTITY_RE = re.compile(r"^\s*([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)\s*(.*?)\s*$")


class Quantity(BaseModel):
    """A measured value with its unit, e.g. ``{"value": 38, "unit": "g/L"}``."""

    model_config = ConfigDict(extra="forbid")
    value: float
    unit: str


class Mutation(BaseModel):
    """One somatic variant (gene and MAF variant class)."""

    model_config = ConfigDict(extra="forbid")
    gene: str = Field(description="HUGO gene symbol, e.g. STK11.")
    variant_classification: str = Field(
        default="Missense_Mutation", description="MAF Variant_Classification (e.g. Nonsense_Mutation).")
    protein_change: str | None = Field(default=None, description="HGVSp short, e.g. p.Q37*.")


class Lesion(BaseModel):
    """One imaged lesion: image and mask files (NIfTI, NRRD, DICOM series, RTSTRUCT or SEG)."""

    model_config = ConfigDict(extra="forbid")
    image: str = Field(description=(
        "NIfTI/NRRD file or a folder holding a CT/MR DICOM series ('folder#<SeriesInstanceUID>' "
        "when it holds several and the mask does not reference one)."))
    mask: str = Field(description=(
        "Label map (NIfTI/NRRD) on the image's grid, or a DICOM RTSTRUCT or SEG file naming its "
        "ROI or segment after '#' (e.g. 'rs.dcm#GTV-1', 'seg.dcm#2'; without '#', the file's "
        "only ROI or segment)."))
    modality: str | None = Field(None, description="CT, MR or PET.")
    lesion_id: str = "1"

    @field_validator("image", "mask")
    @classmethod
    def _path(cls, v: str) -> str:
        return _path_text(v)

    @field_validator("modality")
    @classmethod
    def _modality(cls, v: str | None) -> str | None:
        allowed = CONTRACTS["imaging"].column("modality").allowed or ()
        if v is not None and v.upper() not in allowed:
            raise ValueError(f"unknown imaging modality {v!r}; expected CT, MR or PET")
        return None if v is None else v.upper()


if TYPE_CHECKING:  # after validation, a number is a float in the canonical unit
    Number = float | None
else:  # what a record may send: plain, {"value", "unit"} or "38 g/L"
    Number = float | Quantity | str | None

#: Longest file path a record may name (Linux PATH_MAX).
MAX_PATH_CHARS = 4096


def _path_text(v: str) -> str:
    """A file path as given, refused when no file system could hold it (NUL, empty, too long)."""
    if not v.strip():
        raise ValueError("empty file path")
    if "\x00" in v:
        raise ValueError("file path contains a NUL character")
    if len(v) > MAX_PATH_CHARS:
        raise ValueError(f"file path longer than {MAX_PATH_CHARS} characters")
    return v


def _num_field(name: str) -> Any:
    table, unit = NUMERIC_FIELDS[name]
    col = CONTRACTS[table].column(name)
    unit_txt = f" Plain numbers are in {unit}; or give {{'value': x, 'unit': '...'}}." if unit \
        else ""
    return Field(None, description=f"{col.description}{unit_txt}")


class PatientRecord(BaseModel):
    """One patient as the tumour board sends it (see the module docstring for units).

    After validation every number is a float in the canonical unit and every vocabulary value is
    the cohort's canonical label (OncoTree code, drug class, ...).
    """

    model_config = ConfigDict(extra="forbid", title="icipredict patient record")

    record_version: str = Field(RECORD_VERSION, description="Record layout version.")
    patient_id: str | None = Field(None, description="Pseudonymous ID (never a name or MRN).")
    centre: str | None = None
    cancer_type: str = Field(description="OncoTree code or name, e.g. NSCLC, Melanoma, Bladder.")
    sex: str | None = Field(None, description="male/female (M/F).")
    age: Number = _num_field("age")
    bmi: Number = _num_field("bmi")
    ecog: Number = _num_field("ecog")
    smoking: str | None = Field(None, description="never, former or current.")
    stage_iv: int | str | None = Field(
        None, description="1/0, or a written stage (IV, IIIB, metastatic).")
    drug: str | None = Field(None, description="ICI drug(s), e.g. 'nivolumab + ipilimumab'.")
    drug_class: str | None = Field(None, description="PD-1/PD-L1, CTLA-4 or combination "
                                   "(derived from drug when absent).")
    line: Number = _num_field("line")
    prior_systemic_therapy: int | bool | str | None = Field(
        None, description="1/0 or yes/no: systemic therapy before ICI.")
    neutrophils: Number = _num_field("neutrophils")
    lymphocytes: Number = _num_field("lymphocytes")
    nlr: Number = _num_field("nlr")
    albumin: Number = _num_field("albumin")
    platelets: Number = _num_field("platelets")
    haemoglobin: Number = _num_field("haemoglobin")
    ldh: Number = _num_field("ldh")
    panel: str | None = Field(None, description="Sequencing assay, e.g. MSK-IMPACT468, WES.")
    panel_size_mb: Number = _num_field("panel_size_mb")
    tumour_purity: Number = _num_field("tumour_purity")
    tmb: Number = _num_field("tmb")
    msi_status: str | int | None = Field(None, description="MSI-H or MSS.")
    msi_score: Number = _num_field("msi_score")
    fcna: Number = _num_field("fcna")
    hed: Number = _num_field("hed")
    hla_loh: int | bool | str | None = Field(None, description="1 = HLA-I LOH.")
    pdl1_tps: Number = _num_field("pdl1_tps")
    mutations: list[Mutation | str] | None = Field(
        None, description="Somatic variants on the panel (gene symbols or objects); an empty "
        "list means sequenced without variants.")
    maf_path: str | None = Field(None, description="Path to a MAF with this patient's variants.")
    images: list[Lesion] | None = None
    radiomics: dict[str, float] | None = Field(
        None, description="Precomputed radiomics features (pyradiomics names).")

    # -- harmonisation ---------------------------------------------------------------------

    @field_validator(*NUMERIC_FIELDS, mode="before")
    @classmethod
    def _quantity(cls, v: Any, info: Any) -> Any:
        name = info.field_name
        if v is None or (isinstance(v, str) and not v.strip()):
            return None
        if isinstance(v, bool):
            raise ValueError("expected a number, got a boolean")
        unit = None
        if isinstance(v, dict):
            v = Quantity.model_validate(v)
        if isinstance(v, Quantity):
            value, unit = v.value, v.unit
        elif isinstance(v, str):
            m = _QUANTITY_RE.match(v)
            if not m:
                raise ValueError(f"expected a number with an optional unit, got {v!r}")
            value, unit = float(m.group(1)), (m.group(2) or None)
        elif isinstance(v, (int, float)):
            try:
                value = float(v)
            except OverflowError:
                raise ValueError("expected a finite number, got one too large") from None
        else:
            raise ValueError(f"expected a number, got {_kind(v)}")
        if not math.isfinite(value):
            raise ValueError("expected a finite number")
        if unit is not None:
            try:
                value = value * hz.unit_factor(name, unit)
            except CohortError as exc:
                raise ValueError(exc.message) from None
        table, canonical = NUMERIC_FIELDS[name]
        col = CONTRACTS[table].column(name)
        shown = f" {canonical}" if canonical else ""
        hint = " (wrong unit? give {'value': x, 'unit': '...'})" if canonical else ""
        if col.minimum is not None and value < col.minimum:
            raise ValueError(f"{value:g}{shown} is below the plausible minimum "
                             f"{col.minimum:g}{shown}{hint}")
        if col.maximum is not None and value > col.maximum:
            raise ValueError(f"{value:g}{shown} is above the plausible maximum "
                             f"{col.maximum:g}{shown}{hint}")
        if col.kind == "int" and not float(value).is_integer():
            raise ValueError(f"expected a whole number, got {value:g}")
        return value

    @field_validator("cancer_type")
    @classmethod
    def _cancer(cls, v: str) -> str:
        return _vocab(hz.to_oncotree, v)

    @field_validator("sex")
    @classmethod
    def _sex(cls, v: str | None) -> str | None:
        return None if v is None else _vocab(hz.to_sex, v)

    @field_validator("smoking")
    @classmethod
    def _smoking(cls, v: str | None) -> str | None:
        return None if v is None else _vocab(hz.to_smoking, v)

    @field_validator("stage_iv", mode="before")
    @classmethod
    def _stage(cls, v: Any) -> int | None:
        if v is None or v in (0, 1) and not isinstance(v, str):
            return None if v is None else int(v)
        if isinstance(v, str) and v.strip() in ("0", "1"):
            return int(v.strip())
        return _vocab(hz.stage_iv_flag, v)

    @field_validator("prior_systemic_therapy", "hla_loh", mode="before")
    @classmethod
    def _flag(cls, v: Any) -> int | None:
        if v is None:
            return None
        if isinstance(v, bool) or (isinstance(v, (int, float)) and v in (0, 1)):
            return int(v)
        if isinstance(v, str) and v.strip() in ("0", "1"):
            return int(v.strip())
        return _vocab(hz.yes_no_flag, v)

    @field_validator("drug")
    @classmethod
    def _drug(cls, v: str | None) -> str | None:
        if v is None:
            return None
        _vocab(hz.drug_class, v)  # known drug(s) only
        return " + ".join(p.strip().lower() for p in re.split(r"[+/,&]| and ", v) if p.strip())

    @field_validator("drug_class")
    @classmethod
    def _drug_class(cls, v: str | None) -> str | None:
        return None if v is None else _vocab(hz.drug_class, v)

    @field_validator("msi_status", mode="before")
    @classmethod
    def _msi(cls, v: Any) -> str | None:
        return None if v is None else _vocab(hz.to_msi_status, v)

    @field_validator("panel")
    @classmethod
    def _panel(cls, v: str | None) -> str | None:
        return None if v is None else _vocab(hz.to_panel, v)

    @field_validator("maf_path")
    @classmethod
    def _maf_path(cls, v: str | None) -> str | None:
        return None if v is None else _path_text(v)

    @field_validator("radiomics")
    @classmethod
    def _radiomics(cls, v: dict[str, float] | None) -> dict[str, float] | None:
        if v is not None:
            bad = [k for k, x in v.items() if not math.isfinite(x)]
            if bad:
                raise ValueError(f"non-finite radiomics values: {bad}")
        return v

    # -- derived values ---------------------------------------------------------------------

    def resolved_drug_class(self) -> str | None:
        """Drug class as given, else derived from the drug name."""
        if self.drug_class is not None:
            return self.drug_class
        return hz.drug_class(self.drug) if self.drug else None

    def completeness(self) -> dict[str, float]:
        """Fraction of each modality's fields that the record fills (0-1)."""
        out = {}
        for modality, fields in MODALITY_FIELDS.items():
            if modality == "imaging":
                out[modality] = 1.0 if (self.images or self.radiomics) else 0.0
                continue
            filled = 0
            for f in fields:
                value = self.resolved_drug_class() if f == "drug_class" else getattr(self, f)
                if f == "nlr" and value is None and self.neutrophils and self.lymphocytes:
                    value = self.neutrophils / self.lymphocytes
                if f == "tmb" and value is None and self.mutations is not None and (
                        self.panel_size_mb or self.panel):
                    value = 1.0
                filled += value is not None
            out[modality] = filled / len(fields)
        return out

    def missing_modalities(self) -> list[str]:
        """Modalities with no value at all in the record."""
        return [m for m, f in self.completeness().items() if f == 0]


def _registry_fields() -> dict[str, tuple[Any, Any]]:
    """Fields for the inputs of registered features that the record does not declare."""
    from icipredict.features import registry

    out: dict[str, tuple[Any, Any]] = {}
    for feature in registry.features():
        for name in feature.inputs:
            if name in PatientRecord.model_fields or name in out:
                continue
            unit = f" Plain numbers are in {feature.unit}." if feature.unit else ""
            if feature.kind in ("category", "onehot"):
                out[name] = (str | None, Field(None, description=feature.label))
                continue
            low, high = feature.plausible or (None, None)
            out[name] = (float | None, Field(None, ge=low, le=high,
                                             description=f"{feature.label}.{unit}"))
    return out


_RECORD_MODELS: dict[tuple[str, ...], type[PatientRecord]] = {}


def record_model() -> type[PatientRecord]:
    """The record class for the features registered now: :class:`PatientRecord`, extended by a
    field per input of a feature added to the registry (so one registry entry is enough)."""
    fields: dict[str, Any] = _registry_fields()
    if not fields:
        return PatientRecord
    key = tuple(sorted(fields))
    model = _RECORD_MODELS.get(key)
    if model is None:
        model = create_model("PatientRecord", __base__=PatientRecord, **fields)
        _RECORD_MODELS[key] = model
    return model


def extra_inputs(record: PatientRecord) -> list[str]:
    """Fields of ``record`` that come from registry features (not declared on PatientRecord)."""
    return [n for n in type(record).model_fields if n not in PatientRecord.model_fields]


def _kind(value: Any) -> str:
    """The JSON kind of ``value`` for messages ("a list", "an object"), never its content."""
    if isinstance(value, (list, tuple)):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return f"a {type(value).__name__}"


def _vocab(fn: Any, value: Any) -> Any:
    try:
        return fn(value)
    except CohortError as exc:
        raise ValueError(exc.message) from None
