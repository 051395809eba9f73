"""The patient record the tumour board sends: a pydantic model, its JSON Schema, harmonisation.

A record is one flat JSON object. Numbers are either plain (then in the canonical unit of the
cohort contract, e.g. albumin in g/dL) or ``{"value": 38, "unit": "g/L"}`` (or the string
``"38 g/L"``, handy in CSV lists); they are converted with :mod:`icipredict.cohort.harmonise` and
checked against the contract's plausible range, so a g/L albumin sent as a bare number is caught.
Cancer types, drugs, sex, stage, MSI and smoking use the cohort vocabularies.

Every problem in a record is reported at once (:class:`RecordError` lists them with the field
path), so a coordinator fixes a record in one pass.
"""

from __future__ import annotations

import json
import logging
import math
import re
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    create_model,
    field_validator,
)

from icipredict.cohort import harmonise as hz
from icipredict.cohort.schema import CONTRACTS, Cohort, CohortError, CohortErrors, empty_table

logger = logging.getLogger(__name__)

#: Version of the record layout (bump on incompatible changes).
RECORD_VERSION = "1.0"
#: The published JSON Schema (regenerate with :func:`write_json_schema`).
SCHEMA_PATH = Path(__file__).with_name("patient_record.schema.json")

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
        "Missense_Mutation", description="MAF Variant_Classification (e.g. Nonsense_Mutation).")
    protein_change: str | None = Field(None, description="HGVSp short, e.g. p.Q37*.")


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
        if v is not None and v.upper() not in CONTRACTS["imaging"].column("modality").allowed:
            raise ValueError(f"unknown imaging modality {v!r}; expected CT, MR or PET")
        return None if v is None else v.upper()


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
    fields = _registry_fields()
    if not fields:
        return PatientRecord
    key = tuple(sorted(fields))
    model = _RECORD_MODELS.get(key)
    if model is None:
        model = create_model("PatientRecord", __base__=PatientRecord, **fields)
        _RECORD_MODELS[key] = model
    return model


def _extra_inputs(record: PatientRecord) -> list[str]:
    return [n for n in type(record).model_fields if n not in PatientRecord.model_fields]


# ------------------------------------------------------------------------------- errors


class RecordError(CohortErrors):
    """An invalid patient record; ``problems`` lists every ``{"field", "message"}`` at once."""

    def __init__(self, problems: list[dict[str, str]], *, source: str | None = None) -> None:
        self.problems = problems
        self.source = source
        super().__init__([CohortError(p["message"], file=source, column=p["field"])
                          for p in problems])
        lines = "\n".join(f"  - {p['field']}: {p['message']}" for p in problems)
        where = f" ({source})" if source else ""
        self.message = f"{len(problems)} problem(s) in patient record{where}:\n{lines}"


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


def problems_from(exc: ValidationError) -> list[dict[str, str]]:
    """Turn a pydantic ValidationError into ``[{"field": "a.b", "message": ...}]``."""
    out = []
    for e in exc.errors():
        loc = [str(p) for p in e["loc"]]
        # Union members add their type name to the path; keep only the user's field path.
        loc = [p for p in loc if p not in ("float", "Quantity", "str", "int", "bool", "Mutation",
                                           "function-before[_quantity()]", "none")
               and not p.startswith(("function-", "constrained-"))]
        msg = e["msg"].removeprefix("Value error, ")
        if e["type"] == "extra_forbidden":
            msg = "unknown field (not in the patient record schema; check the spelling)"
        if e["type"] == "missing":
            msg = "required field is missing"
        out.append({"field": ".".join(loc) or "(record)", "message": msg})
    # Unions report one failure per member: keep the first message per field path.
    seen: dict[str, dict[str, str]] = {}
    for p in out:
        seen.setdefault(p["field"], p)
    return list(seen.values())


def parse_record(data: dict[str, Any] | str | Path, *, source: str | None = None
                 ) -> PatientRecord:
    """Validate and harmonise one patient record.

    Parameters
    ----------
    data
        The record as a dict, a JSON string, or a path to a JSON file.
    source
        Name used in error messages (defaults to the file path).

    Returns
    -------
    PatientRecord
        With canonical units and vocabularies.

    Raises
    ------
    RecordError
        Listing every problem in the record.
    """
    if isinstance(data, Path) or (isinstance(data, str) and not data.lstrip().startswith("{")):
        path = Path(data)
        source = source or str(path)
        try:
            data = json.loads(path.read_text())
        except FileNotFoundError:
            raise RecordError([{"field": "(file)", "message": f"no such file {path}"}]) from None
        except json.JSONDecodeError as exc:
            raise RecordError([{"field": "(file)", "message": f"not valid JSON: {exc}"}],
                              source=source) from None
    elif isinstance(data, str):
        try:
            data = json.loads(data)
        except json.JSONDecodeError as exc:
            raise RecordError([{"field": "(record)", "message": f"not valid JSON: {exc}"}],
                              source=source) from None
    if not isinstance(data, dict):
        raise RecordError([{"field": "(record)", "message": "expected a JSON object"}],
                          source=source)
    dropped = sorted(str(k) for k, v in data.items() if isinstance(v, float) and math.isnan(v))
    if dropped:  # field names only, never values
        logger.warning("patient record%s: NaN in %s read as missing", f" ({source})" if source
                       else "", ", ".join(dropped))
        data = {k: v for k, v in data.items() if str(k) not in dropped}
    try:
        return record_model().model_validate(data)
    except ValidationError as exc:
        raise RecordError(problems_from(exc), source=source) from None


def parse_records(rows: list[dict[str, Any]], *, source: str | None = None
                  ) -> list[PatientRecord]:
    """Validate many records; every problem of every row is reported (field ``row N.field``)."""
    out, problems = [], []
    for i, row in enumerate(rows, start=1):
        try:
            out.append(parse_record(row))
        except RecordError as exc:
            pid = row.get("patient_id") if isinstance(row, dict) else None
            label = f"record {i}" + (f" ({pid})" if pid else "")
            problems += [{"field": f"{label}.{p['field']}", "message": p["message"]}
                         for p in exc.problems]
    if problems:
        raise RecordError(problems, source=source)
    return out


def read_record_list(path: str | Path) -> list[dict[str, Any]]:
    """Read a weekly list: CSV (one patient per row, units as "38 g/L") or a JSON list.

    A CSV has a header row of record fields (``patient_id``, ``cancer_type`` required, then any
    of the patient record schema's fields); a value may carry its unit (``38 g/L``); an empty
    cell is missing; ``mutations`` lists genes separated by ``;``. An example ships in
    ``examples/weekly.csv``.

    Raises
    ------
    CohortError
        Naming the file, when it is missing, unreadable, not UTF-8, or not a CSV/JSON list.
    """
    import pandas.errors

    path = Path(path)
    try:
        if path.suffix.lower() == ".json":
            rows = json.loads(path.read_text(encoding="utf-8"))
            if not isinstance(rows, list):
                raise CohortError("expected a JSON list of patient records", file=path)
            return rows
        df = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8")
    except FileNotFoundError:
        raise CohortError("the patient list file does not exist", file=path) from None
    except IsADirectoryError:
        raise CohortError("expected a patient list file (CSV or JSON), got a folder",
                          file=path) from None
    except PermissionError:
        raise CohortError("the patient list file cannot be read (permission denied)",
                          file=path) from None
    except UnicodeDecodeError:
        raise CohortError("the patient list is not UTF-8 text", file=path) from None
    except json.JSONDecodeError as exc:
        raise CohortError(f"not valid JSON: {exc.msg}", file=path, row=exc.lineno) from None
    except pandas.errors.EmptyDataError:
        raise CohortError("the patient list is empty (expected a header row of record fields, "
                          "see examples/weekly.csv)", file=path) from None
    except (pandas.errors.ParserError, OSError) as exc:
        raise CohortError(f"not a readable CSV patient list: {str(exc).strip()}",
                          file=path) from None
    rows = []
    for _, r in df.iterrows():
        row = {k: v for k, v in r.items() if v.strip() != ""}
        if "mutations" in row:  # "STK11;KEAP1" in a CSV cell
            row["mutations"] = [g.strip() for g in re.split(r"[;,]", row["mutations"])
                                if g.strip()]
        rows.append(row)
    return rows


# ------------------------------------------------------------------------------- to the model


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
    for c in _extra_inputs(record):  # inputs of features added to the registry
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


# ------------------------------------------------------------------------------- JSON Schema


def json_schema() -> dict[str, Any]:
    """The published JSON Schema of a patient record."""
    schema = record_model().model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = f"https://icipredict.example/schemas/patient_record/{RECORD_VERSION}.json"
    schema["description"] = (
        "A patient record for icipredict's tumour-board scoring. Numbers are plain (canonical "
        "unit) or {value, unit}; vocabularies follow the cohort contract.")
    return schema


def write_json_schema(path: str | Path = SCHEMA_PATH) -> Path:
    """Write :func:`json_schema` to ``path`` (the published file lives next to this module)."""
    path = Path(path)
    path.write_text(json.dumps(json_schema(), indent=2) + "\n")
    return path


# ------------------------------------------------------------------------------- from the store


def _plain(v: Any) -> Any:
    """A store cell as a JSON-like value (missing -> None, numpy scalars -> Python)."""
    if v is None or v is pd.NA or (isinstance(v, float) and not math.isfinite(v)):
        return None
    if isinstance(v, (np.integer, np.bool_)):
        return int(v)
    if isinstance(v, np.floating):
        return float(v) if math.isfinite(v) else None
    return v


def stored_record_dict(cohort: Cohort, patient_id: str,
                       radiomics: pd.DataFrame | None = None) -> dict[str, Any]:
    """The record (JSON-ready dict) equivalent to one stored patient.

    Clinical values, labs and treatment, the first sample's genomics (in ``samples`` order, as
    :func:`icipredict.features.builder.patient_frame` takes it) with its full mutation list, and
    the patient's radiomics row (``radiomics_<feature>`` columns, index ``patient_id``) when
    given. Outcomes never enter a record.
    """
    def first(table: pd.DataFrame) -> dict[str, Any]:
        rows = table[table["patient_id"].astype(str) == patient_id]
        return {} if rows.empty else {k: _plain(v) for k, v in rows.iloc[0].items()}

    pat, labs, tx, smp = (first(cohort.patients), first(cohort.labs), first(cohort.treatments),
                          first(cohort.samples))
    rec: dict[str, Any] = {"patient_id": patient_id}
    for k in ("centre", "cancer_type", "sex", "age", "bmi", "ecog", "smoking", "stage_iv"):
        rec[k] = pat.get(k)
    for k in ("drug", "drug_class", "line", "prior_systemic_therapy"):
        rec[k] = tx.get(k)
    for k in CONTRACTS["labs"].column_names[1:]:
        rec[k] = labs.get(k)
    if smp:
        for k in ("panel", "panel_size_mb", "tumour_purity", "tmb", "msi_status", "msi_score",
                  "fcna", "hed", "hla_loh", "pdl1_tps"):
            rec[k] = smp.get(k)
        muts = cohort.mutations[cohort.mutations["sample_id"].astype(str) == str(smp["sample_id"])]
        if len(muts):
            rec["mutations"] = [
                {"gene": str(m.hugo_symbol), "variant_classification": str(m.variant_classification),
                 "protein_change": _plain(m.hgvsp_short)}
                for m in muts.itertuples()]
    if radiomics is not None and patient_id in radiomics.index:
        row = radiomics.loc[patient_id].dropna()
        if len(row):
            rec["radiomics"] = {str(k).removeprefix("radiomics_"): float(v)
                                for k, v in row.items()}
    return {k: v for k, v in rec.items() if v is not None}


def stored_record(cohort: Cohort, patient_id: str,
                  radiomics: pd.DataFrame | None = None) -> PatientRecord:
    """:func:`stored_record_dict` as a :class:`PatientRecord`.

    Stored values passed the cohort contract; should one still fail the record's checks (a
    vocabulary the record does not know), the record is built unchecked rather than refusing a
    stored patient (the model input comes from the store's tables, not from this record).
    """
    data = stored_record_dict(cohort, patient_id, radiomics)
    try:
        return record_model().model_validate(data)
    except ValidationError as exc:
        logger.warning("stored patient does not validate as a record (%d problem(s)); "
                       "using its values unchecked", len(exc.errors()))
        return PatientRecord.model_construct(**data)
