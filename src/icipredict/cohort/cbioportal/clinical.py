"""Clinical files: attributes to contract columns, the study's cancer type, patient tables."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from icipredict.cohort import harmonise as hz
from icipredict.cohort._frame import harmonise_frame, split_tables, validate_tables
from icipredict.cohort.cbioportal.files import StudyFiles, meta_line
from icipredict.cohort.cbioportal.rules import check_ids, check_statuses
from icipredict.cohort.column_map import ColumnSpec
from icipredict.cohort.schema import SOURCE_ROW, CohortError

log = logging.getLogger(__name__)

#: cBioPortal attribute -> (canonical column, unit of the values or None)
ATTRIBUTES: dict[str, tuple[str, str | None]] = {
    "PATIENT_ID": ("patient_id", None), "SAMPLE_ID": ("sample_id", None),
    "AGE": ("age", "years"), "AGE_AT_ICI": ("age", "years"), "AGE_AT_TREATMENT": ("age", "years"),
    "SEX": ("sex", None), "GENDER": ("sex", None),
    "OS_MONTHS": ("os_months", "months"), "OS_STATUS": ("os_event", None),
    "PFS_MONTHS": ("pfs_months", "months"), "PFS_STATUS": ("pfs_event", None),
    "CANCER_TYPE": ("cancer_type", None),
    "TMB_NONSYNONYMOUS": ("tmb", "mut/Mb"), "TMB": ("tmb", "mut/Mb"),
    "MSI_SCORE": ("msi_score", None), "MSI_TYPE": ("msi_status", None),
    "GENE_PANEL": ("panel", None), "TUMOR_PURITY": ("tumour_purity", "%"),
    "FRACTION_GENOME_ALTERED": ("fcna", "fraction"), "FCNA": ("fcna", "fraction"),
    "HED": ("hed", None), "HLA_LOH": ("hla_loh", None), "PDL1_TPS": ("pdl1_tps", "%"),
    "DRUG_TYPE": ("drug_class", None), "DRUG_CLASS": ("drug_class", None),
    "DRUG": ("drug", None), "TREATMENT": ("drug", None),
    "PRIOR_SYSTEMIC_THERAPY": ("prior_systemic_therapy", None),
    "CHEMO_BEFORE_IO": ("prior_systemic_therapy", None), "LINE_OF_THERAPY": ("line", None),
    "ALBUMIN": ("albumin", "g/dL"), "NLR": ("nlr", None), "PLATELETS": ("platelets", "10^9/L"),
    "HGB": ("haemoglobin", "g/dL"), "HEMOGLOBIN": ("haemoglobin", "g/dL"),
    "NEUTROPHILS": ("neutrophils", "10^9/L"), "LYMPHOCYTES": ("lymphocytes", "10^9/L"),
    "LDH": ("ldh", "U/L"),
    "BOR": ("bor", None), "BEST_OVERALL_RESPONSE": ("bor", None), "RECIST": ("bor", None),
    "RESPONDER": ("responder", None),
    "BMI": ("bmi", None), "ECOG": ("ecog", None), "SMOKING_HISTORY": ("smoking", None),
    "STAGE": ("stage_iv", None),
}
CBIO_NA = ["[Not Available]", "[Not Applicable]", "[Unknown]", "[Not Evaluated]",
           "[Not Reported]", "[Discrepancy]", "[Pending]", "[Completed]", "[Null]", "NA", "N/A",
           ""]


#: Contract columns that belong to a sample, not to its patient.
SAMPLE_LEVEL = {"sample_id", "panel", "tmb", "msi_score", "msi_status", "tumour_purity", "fcna",
                "hed", "hla_loh", "pdl1_tps"}


def read_clinical(path: Path) -> tuple[pd.DataFrame, np.ndarray]:
    """Read a cBioPortal clinical file (``#`` header lines, then the attribute row) as strings."""
    with path.open(encoding="utf-8", errors="replace") as fh:
        n_comment = 0
        for line in fh:
            if not line.startswith("#"):
                break
            n_comment += 1
    try:
        df = pd.read_csv(path, sep="\t", skiprows=n_comment, dtype=str, na_values=CBIO_NA,
                         keep_default_na=False)
    except pd.errors.ParserError as exc:
        raise CohortError(f"malformed clinical file ({exc})", file=path) from exc
    except pd.errors.EmptyDataError as exc:
        raise CohortError("empty clinical file", file=path) from exc
    df.columns = [str(c).strip().upper() for c in df.columns]
    return df, np.arange(n_comment + 2, n_comment + 2 + len(df))


def _specs(df: pd.DataFrame, path: Path) -> dict[str, ColumnSpec]:
    """Column specs of the attributes the contract knows (first synonym wins); others logged."""
    specs: dict[str, ColumnSpec] = {}
    ignored = []
    for attr in df.columns:
        if attr in ATTRIBUTES and attr != "GENE_PANEL":
            canonical, unit = ATTRIBUTES[attr]
            specs.setdefault(canonical, ColumnSpec(column=attr, unit=unit))
        elif attr != "GENE_PANEL":
            ignored.append(attr)
    if ignored:
        log.info("%s: ignoring attributes not in the cohort contract: %s", path.name, ignored)
    return specs


@dataclass
class Clinical:
    """One harmonised clinical file."""

    path: Path
    raw: pd.DataFrame
    frame: pd.DataFrame
    names: dict[str, str]


def read_harmonised(path: Path, required: tuple[str, ...],
                    errors: list[CohortError]) -> Clinical:
    """Read, check (IDs, statuses, required attributes) and harmonise one clinical file."""
    raw, rows = read_clinical(path)
    for column in required:
        if column not in raw.columns:
            errors.append(CohortError(f"attribute {column} missing (cBioPortal requires it)",
                                      file=path, column=column))
    errors.extend(check_ids(raw, rows, path))
    coded, status_errors = check_statuses(raw, rows, path)
    errors.extend(status_errors)
    h = harmonise_frame(coded, _specs(coded, path), file=path, rows=rows)
    errors.extend(h.errors)
    return Clinical(path, raw, h.frame, dict(h.column_names))


def read_cancer_types(path: Path) -> dict[str, tuple[str, str]]:
    """``type_of_cancer`` (lower case) -> (name, parent) from a cBioPortal cancer type file."""
    types = {}
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        fields = [f.strip() for f in line.split("\t")]
        if len(fields) >= 4 and fields[0] and not line.startswith("#"):
            types[fields[0].lower()] = (fields[1], fields[3])
    return types


def _oncotree_or_none(value: str) -> str | None:
    """The OncoTree code of ``value``, or None when it is not a known code or name."""
    try:
        return hz.to_oncotree(value)
    except CohortError:
        return None


def study_cancer_type(files: StudyFiles, errors: list[CohortError]) -> str | None:
    """The OncoTree code of ``meta_study.txt``'s ``type_of_cancer`` (None for ``mixed``).

    Tried in order: the value itself, then (when the study's cancer type file defines it) its
    name and its parent, up the parent chain. When none is known, the value goes through the
    vocabulary policy (kept as the catch-all code with a warning, or refused by a strict ingest).
    """
    value = files.study.get("type_of_cancer", "").strip()
    if not value or value.lower() == "mixed":
        return None
    defined = read_cancer_types(files.cancer_types) if files.cancer_types else {}
    candidates, seen, current = [value], set(), value.lower()
    while current in defined and current not in seen:
        seen.add(current)
        name, parent = defined[current]
        candidates += [name, parent]
        current = parent.lower()
    for candidate in candidates:
        code = _oncotree_or_none(candidate)
        if code is not None:
            if candidate != value:
                # the other candidates come from the study's cancer type file
                assert files.cancer_types is not None
                log.info("meta_study.txt: type_of_cancer %r read as %s (from %r in %s)", value,
                         code, candidate, files.cancer_types.name)
            return code
    raw = pd.DataFrame({"type_of_cancer": [value]})
    h = harmonise_frame(raw, {"cancer_type": ColumnSpec(column="type_of_cancer")},
                        file=files.study_meta,
                        rows=np.array([meta_line(files.study_meta, "type_of_cancer") or 1]))
    errors.extend(h.errors)
    code = h.frame["cancer_type"].iloc[0] if "cancer_type" in h.frame else None
    return code if isinstance(code, str) else None


def _patient_columns(sframe: pd.DataFrame) -> list[str]:
    """Columns of a harmonised sample file that belong to the patient."""
    return [c for c in sframe.columns
            if c not in SAMPLE_LEVEL and c not in (SOURCE_ROW, "panel_size_mb")]


def patient_groups(samples: Clinical,
                   patients: Clinical | None) -> list[tuple[pd.DataFrame, Path, dict]]:
    """Patient-level rows with the file they come from: the patient file's patients (values it
    lacks filled from their first sample), then patients named only in the sample file."""
    sframe = samples.frame
    if "patient_id" not in sframe:
        return []
    first = sframe[_patient_columns(sframe) + [SOURCE_ROW]].dropna(subset=["patient_id"])
    first = first.drop_duplicates("patient_id")
    snames = {**samples.names, "patient_id": "PATIENT_ID"}
    if patients is None or "patient_id" not in patients.frame:
        return [(first.reset_index(drop=True), samples.path, snames)]
    pframe, pnames = patients.frame, {**patients.names, "patient_id": "PATIENT_ID"}
    extra = [c for c in first.columns if c not in pframe.columns and c not in ("patient_id",
                                                                               SOURCE_ROW)]
    if extra:
        pframe = pframe.merge(first[["patient_id", *extra]], on="patient_id", how="left")
        pnames.update({c: samples.names.get(c, c) for c in extra})
    only_samples = first[~first["patient_id"].isin(set(pframe["patient_id"].dropna()))]
    groups = [(pframe, patients.path, pnames)]
    if len(only_samples):
        log.info("%s: %d patient(s) have samples but no row in %s (created from the sample "
                 "file, as cBioPortal does)", samples.path.name, len(only_samples),
                 patients.path.name)
        groups.append((only_samples.reset_index(drop=True), samples.path, snames))
    return groups


def patient_tables(groups: list[tuple[pd.DataFrame, Path, dict]], *, centre: str,
                   cancer_type: str | None,
                   errors: list[CohortError]) -> dict[str, pd.DataFrame]:
    """Split, type and validate each group (errors name its file); then stack the groups."""
    parts: dict[str, list[pd.DataFrame]] = {}
    for frame, path, names in groups:
        frame = frame.copy()
        if "cancer_type" not in frame:
            frame["cancer_type"] = None
        if cancer_type is not None:
            filled = frame["cancer_type"].isna()
            frame.loc[filled, "cancer_type"] = cancer_type
        names = {"cancer_type": "CANCER_TYPE", **names}
        tables = split_tables(frame, centre=centre)
        tables.pop("samples", None)
        errors.extend(validate_tables(tables, file=path, column_names=names))
        for name, table in tables.items():
            parts.setdefault(name, []).append(table)
    return {name: pd.concat(dfs, ignore_index=True) for name, dfs in parts.items()}
