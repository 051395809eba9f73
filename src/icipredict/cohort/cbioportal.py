"""Load a cBioPortal study folder into a validated cohort, as cBioPortal reads it.

Which files are read
--------------------
Every ``meta_*.txt`` file (cBioPortal's rule: a name with ``meta`` as a word or ``meta_``) is
parsed; its ``genetic_alteration_type`` / ``datatype`` says what its ``data_filename:`` holds:

=======================================  ===================================================
``meta_study.txt`` (``type_of_cancer``)  required; ``cancer_study_identifier`` is the default
                                         centre, ``type_of_cancer`` the cancer type of
                                         patients no ``CANCER_TYPE`` attribute types
CLINICAL / SAMPLE_ATTRIBUTES             the sample file (required)
CLINICAL / PATIENT_ATTRIBUTES            the patient file (optional; may hold only outcomes)
MUTATION_EXTENDED / MAF                  every mutation file (``.txt`` or ``.maf``), read by
                                         :func:`icipredict.cohort.maf.read_maf`
GENE_PANEL_MATRIX                        sample -> gene panel per profile (column = the
                                         mutation profile's ``stable_id``)
CANCER_TYPE                              custom cancer types (``type_of_cancer``, name, colour,
                                         parent) used to resolve ``type_of_cancer``
=======================================  ===================================================

``MUTATION_UNCALLED`` profiles are not variants: their rows are counted in ``load_report`` and not
read; other profiles (CNA, expression, ...) are ignored with a log line. A role without any meta
file falls back to the conventional names (``data_clinical_sample(s).txt``,
``data_clinical_patient(s).txt``, ``data_mutations*.txt|.maf`` except ``*uncalled*``,
``data_gene_panel_matrix.txt``), with a log line. Gene panel definitions are the
``*gene_panel*.txt`` files with ``stable_id:`` and ``gene_list:`` lines (-> ``panel_genes``).

Who was sequenced
-----------------
The ``_sequenced`` case list (``case_lists/``: a file whose ``stable_id`` ends in
``_sequenced``, or whose ``case_list_category`` is ``all_cases_with_mutation_data``) lists the
samples profiled for mutations. A sample not in it has **no panel and no panel size**, so features
treat it as not profiled (TMB and gene flags missing, never 0). A sequenced sample gets, in this
order: its panel in the gene panel matrix (``WXS``/``WGS``/``WXS/WGS`` = whole exome), its
``GENE_PANEL`` attribute, the mutation profile's ``gene_panel:`` meta property, else (cBioPortal:
no panel means whole exome/genome) ``WES`` when the profile's name or description says exome or
genome; otherwise its territory stays unknown (warning). Panel sizes come from
:func:`icipredict.cohort.harmonise.panel_size_mb` (unknown panels: missing, with a warning).
Without a ``_sequenced`` case list (older folders) the sequenced samples are those with MAF rows
or a panel.

Refused as cBioPortal's validator refuses them (``CohortError`` naming file, row and column)
-----------------------------------------------------------------------------------------------
- ``PATIENT_ID``/``SAMPLE_ID`` with characters other than letters, digits, ``.``, ``_``, ``-``
  (cBioPortal's File-Formats rule: spaces, ``,;*:`` ... are errors); sample IDs over 63 characters;
- ``OS_STATUS`` other than ``0:LIVING``/``1:DECEASED`` (or ``LIVING``/``DECEASED``), case as
  written (``0:ALIVE``, ``0:living`` are errors); ``DFS_STATUS`` other than ``0:DiseaseFree``,
  ``1:Recurred/Progressed``, ``1:Recurred``, ``1:Progressed`` (or without the prefix); any other
  ``X_STATUS`` paired with ``X_MONTHS`` (e.g. ``PFS_STATUS``) not starting ``0:`` or ``1:``;
- a sample listed twice in the gene panel matrix; matrix, case-list or MAF samples absent from
  the sample file; a matrix mutation panel for a sample outside the ``_sequenced`` list; MAF
  samples missing from the ``_sequenced`` list.

Every MAF row is accounted for: somatic rows -> ``mutations``, germline rows ->
``germline_mutations``, the others counted by reason in ``Cohort.load_report``
(``"<file>: <reason>"``).

Clinical attributes understood (either file; others are ignored with a log message):

=================================================  ======================================
PATIENT_ID, SAMPLE_ID                              patient_id, sample_id
AGE, AGE_AT_ICI, AGE_AT_TREATMENT                  age (years)
SEX, GENDER                                        sex (Male/Female)
OS_MONTHS, OS_STATUS                               os_months, os_event ("1:DECEASED"/"0:LIVING")
PFS_MONTHS, PFS_STATUS                             pfs_months, pfs_event ("1:..."/"0:...")
CANCER_TYPE (patient level from the first sample)  cancer_type (OncoTree code)
TMB_NONSYNONYMOUS, TMB                             tmb (mut/Mb)
MSI_SCORE, MSI_TYPE                                msi_score, msi_status (Instable/Stable)
GENE_PANEL                                         panel (when the matrix gives none)
TUMOR_PURITY                                       tumour_purity (read as %, converted)
FRACTION_GENOME_ALTERED, FCNA, HED, HLA_LOH        fcna, hed, hla_loh
PDL1_TPS                                           pdl1_tps (%)
DRUG_TYPE, DRUG_CLASS / DRUG, TREATMENT            drug_class / drug
PRIOR_SYSTEMIC_THERAPY, CHEMO_BEFORE_IO            prior_systemic_therapy
LINE_OF_THERAPY                                    line
ALBUMIN (g/dL), NLR, PLATELETS, HGB/HEMOGLOBIN     albumin, nlr, platelets, haemoglobin (g/dL)
NEUTROPHILS, LYMPHOCYTES, LDH                      neutrophils, lymphocytes (10^9/L), ldh (U/L)
BOR, BEST_OVERALL_RESPONSE, RECIST                 bor (responder derived unless RESPONDER)
RESPONDER                                          responder (0/1)
BMI, ECOG, SMOKING_HISTORY, STAGE                  bmi, ecog, smoking, stage_iv
=================================================  ======================================

Patients named only in the sample file are patients too (cBioPortal creates them). cBioPortal
declares no units: lab values are taken to be in the contract's units (US conventions, as at
MSK), and the range checks flag files that are not.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from icipredict.cohort import harmonise as hz
from icipredict.cohort._frame import (
    cast_tables,
    dedupe,
    harmonise_frame,
    split_tables,
    validate_tables,
)
from icipredict.cohort.column_map import ColumnSpec
from icipredict.cohort.maf import read_maf
from icipredict.cohort.schema import (
    SOURCE_ROW,
    Cohort,
    CohortError,
    CohortErrors,
    empty_table,
)

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
_SAMPLE_LEVEL = {"sample_id", "panel", "tmb", "msi_score", "msi_status", "tumour_purity", "fcna",
                 "hed", "hla_loh", "pdl1_tps"}

#: cBioPortal's test for a meta file name (validateData.process_metadata_files).
META_NAME = re.compile(r"(\b|_)meta(\b|[_0-9])", re.IGNORECASE)
#: PATIENT_ID / SAMPLE_ID characters allowed (cBioPortal File-Formats.md, clinical columns).
VALID_ID = re.compile(r"^[A-Za-z0-9._-]+$")
MAX_SAMPLE_ID_LENGTH = 63
#: OS_STATUS values cBioPortal accepts (exactly as written) -> event flag.
OS_STATUS = {"0:LIVING": "0", "1:DECEASED": "1", "LIVING": "0", "DECEASED": "1"}
#: DFS_STATUS values cBioPortal accepts -> event flag.
DFS_STATUS = {"0:DiseaseFree": "0", "1:Recurred/Progressed": "1", "1:Recurred": "1",
              "1:Progressed": "1", "DiseaseFree": "0", "Recurred/Progressed": "1",
              "Recurred": "1", "Progressed": "1"}
#: Gene panel matrix values that mean "whole exome / genome" in cBioPortal.
WHOLE_EXOME_VALUES = ("WXS", "WGS", "WXS/WGS")
_EXOME_WORDS = re.compile(r"exome|\bwes\b|\bwxs\b|whole[- ]genome|\bwgs\b", re.IGNORECASE)
_MAX_LISTED = 5


# --------------------------------------------------------------------------------------------
# Finding the files
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class MutationProfile:
    """One ``MUTATION_EXTENDED`` profile: its data file and what its meta file says."""

    data: Path
    meta: Path | None = None
    stable_id: str = "mutations"
    gene_panel: str | None = None
    description: str = ""

    @property
    def whole_exome(self) -> bool:
        """Whether the profile's name or description says exome or genome sequencing."""
        return bool(_EXOME_WORDS.search(self.description))


@dataclass
class StudyFiles:
    """The files of a cBioPortal study folder, by role (see the module docstring)."""

    folder: Path
    study: dict[str, str]
    samples: Path
    patients: Path | None = None
    mutations: list[MutationProfile] = field(default_factory=list)
    panel_matrix: Path | None = None
    cancer_types: Path | None = None
    uncalled: list[Path] = field(default_factory=list)

    @property
    def study_meta(self) -> Path:
        """The study's ``meta_study.txt``."""
        return self.folder / "meta_study.txt"


def read_meta(path: Path) -> dict[str, str]:
    """Parse a cBioPortal ``key: value`` meta file (``#`` lines skipped)."""
    meta = {}
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        if ":" in line and not line.startswith("#"):
            key, value = line.split(":", 1)
            meta[key.strip()] = value.strip()
    return meta


def _meta_line(path: Path, key: str) -> int | None:
    """1-based line of ``key:`` in a meta file (for error locations)."""
    for number, line in enumerate(path.read_text(encoding="utf-8",
                                                 errors="replace").splitlines(), 1):
        if line.split(":", 1)[0].strip() == key:
            return number
    return None


def _data_file(folder: Path, meta_path: Path, meta: dict[str, str]) -> Path:
    """The data file a meta file names; an error naming the meta file when absent."""
    name = meta.get("data_filename", "").strip()
    if not name:
        raise CohortError("meta file has no 'data_filename:' line", file=meta_path,
                          column="data_filename")
    path = folder / name
    if not path.is_file():
        raise CohortError(f"data file {name!r} named by 'data_filename:' not found in {folder}",
                          file=meta_path, row=_meta_line(meta_path, "data_filename"),
                          column="data_filename")
    return path


def find_study_files(folder: Path) -> StudyFiles:
    """Find a study's files from its meta files (conventional names when a role has no meta).

    Raises
    ------
    CohortError
        No ``meta_study.txt``, a meta file naming a missing data file, no sample file, or two
        meta files for the sample (or patient) attributes.
    """
    meta_path = folder / "meta_study.txt"
    if not meta_path.is_file():
        raise CohortError("not a cBioPortal study: meta_study.txt is missing", file=folder)
    roles: dict[str, list[tuple[Path, dict[str, str]]]] = {}
    for path in sorted(folder.iterdir()):
        if (not path.is_file() or path.name.startswith(".") or path.name.endswith("~")
                or path == meta_path or not META_NAME.search(path.name)):
            continue
        meta = read_meta(path)
        role = _meta_role(meta)
        if role is None:
            kind = meta.get("genetic_alteration_type") or meta.get("resource_type", "?")
            log.info("%s: %s/%s data not used by the cohort, ignored", path.name, kind,
                     meta.get("datatype", "-"))
            continue
        roles.setdefault(role, []).append((path, meta))
    files = StudyFiles(folder=folder, study=read_meta(meta_path),
                       samples=_clinical_file(folder, roles, "samples"),
                       patients=_clinical_file(folder, roles, "patients"))
    files.mutations = _mutation_profiles(folder, roles)
    files.uncalled = [_data_file(folder, p, m) for p, m in roles.get("uncalled", [])]
    files.panel_matrix = _single_file(folder, roles, "matrix", "data_gene_panel_matrix.txt")
    files.cancer_types = _single_file(folder, roles, "cancer_type", None)
    return files


def _meta_role(meta: dict[str, str]) -> str | None:
    kind = (meta.get("genetic_alteration_type", "").upper(), meta.get("datatype", "").upper())
    return {("CLINICAL", "SAMPLE_ATTRIBUTES"): "samples",
            ("CLINICAL", "PATIENT_ATTRIBUTES"): "patients",
            ("MUTATION_EXTENDED", "MAF"): "mutations",
            ("MUTATION_UNCALLED", "MAF"): "uncalled",
            ("GENE_PANEL_MATRIX", "GENE_PANEL_MATRIX"): "matrix",
            ("CANCER_TYPE", "CANCER_TYPE"): "cancer_type"}.get(kind)


_CONVENTIONAL = {"samples": ("data_clinical_sample.txt", "data_clinical_samples.txt"),
                 "patients": ("data_clinical_patient.txt", "data_clinical_patients.txt")}


def _clinical_file(folder: Path, roles: dict, role: str) -> Path | None:
    found = roles.get(role, [])
    if len(found) > 1:
        raise CohortError(f"two meta files declare the {role} attributes ({found[0][0].name}, "
                          f"{found[1][0].name}); cBioPortal reads one", file=found[1][0])
    if found:
        return _data_file(folder, *found[0])
    for name in _CONVENTIONAL[role]:
        if (folder / name).is_file():
            log.info("%s: no meta file for the %s attributes, read by its conventional name",
                     name, role)
            return folder / name
    if role == "samples":
        raise CohortError("no sample file: no meta file with 'datatype: SAMPLE_ATTRIBUTES' "
                          "and no data_clinical_sample.txt", file=folder / "meta_study.txt")
    return None


def _single_file(folder: Path, roles: dict, role: str, conventional: str | None) -> Path | None:
    found = roles.get(role, [])
    if found:
        return _data_file(folder, *found[0])
    if conventional and (folder / conventional).is_file():
        return folder / conventional
    return None


def _mutation_profiles(folder: Path, roles: dict) -> list[MutationProfile]:
    profiles = [MutationProfile(data=_data_file(folder, path, meta), meta=path,
                                stable_id=meta.get("stable_id", "mutations") or "mutations",
                                gene_panel=meta.get("gene_panel") or None,
                                description=" ".join([meta.get("profile_name", ""),
                                                      meta.get("profile_description", "")]))
                for path, meta in roles.get("mutations", [])]
    if profiles or roles.get("uncalled"):
        return profiles
    legacy = sorted({*folder.glob("data_mutations*.txt"), *folder.glob("data_mutations*.maf")})
    return [MutationProfile(data=p) for p in legacy if "uncalled" not in p.name]


# --------------------------------------------------------------------------------------------
# Clinical files
# --------------------------------------------------------------------------------------------


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


def _errors_at(mask: pd.Series, rows: np.ndarray, path: Path, column: str,
               message: str, values: pd.Series) -> list[CohortError]:
    """One error per flagged row (the first few), then a count of the rest."""
    hits = np.flatnonzero(mask.to_numpy())
    errors = [CohortError(message.format(value=values.iloc[i]), file=path, row=int(rows[i]),
                          column=column) for i in hits[:_MAX_LISTED]]
    if len(hits) > _MAX_LISTED:
        errors.append(CohortError(f"... and {len(hits) - _MAX_LISTED} more such value(s)",
                                  file=path, column=column))
    return errors


def check_ids(raw: pd.DataFrame, rows: np.ndarray, path: Path) -> list[CohortError]:
    """PATIENT_ID/SAMPLE_ID characters and sample ID length, as cBioPortal requires."""
    errors: list[CohortError] = []
    for column in ("PATIENT_ID", "SAMPLE_ID"):
        if column not in raw.columns:
            continue
        values = raw[column].astype(object)
        present = values.notna()
        text = values.where(present, "").astype(str).str.strip()
        bad = present & ~text.str.fullmatch(VALID_ID)
        errors += _errors_at(bad, rows, path, column,
                             f"{column} {{value!r}} has characters cBioPortal does not allow; "
                             "IDs may contain only letters, digits, '.', '_' and '-'", values)
        if column == "SAMPLE_ID":
            long = present & (text.str.len() > MAX_SAMPLE_ID_LENGTH)
            errors += _errors_at(long, rows, path, column,
                                 f"SAMPLE_ID {{value!r}} is longer than cBioPortal's "
                                 f"{MAX_SAMPLE_ID_LENGTH} characters", values)
    return errors


def check_statuses(raw: pd.DataFrame, rows: np.ndarray,
                   path: Path) -> tuple[pd.DataFrame, list[CohortError]]:
    """Survival status columns as cBioPortal's validator accepts them, recoded to ``0``/``1``.

    ``OS_STATUS`` and ``DFS_STATUS`` take only cBioPortal's listed values (case as written);
    any other ``X_STATUS`` with an ``X_MONTHS`` column must start ``0:`` or ``1:``.
    """
    raw = raw.copy()
    errors: list[CohortError] = []
    for column in raw.columns:
        if not column.endswith("_STATUS"):
            continue
        prefix = column.removesuffix("_STATUS")
        if column not in ("OS_STATUS", "DFS_STATUS") and f"{prefix}_MONTHS" not in raw.columns:
            continue
        values = raw[column].astype(object)
        text = values.where(values.notna(), "").astype(str).str.strip()
        coded, expected = _status_codes(column, text)
        bad = values.notna() & coded.isna()
        errors += _errors_at(bad, rows, path, column,
                             f"{column} value {{value!r}} is not one cBioPortal accepts; "
                             f"expected {expected}", values)
        raw[column] = coded.where(values.notna(), None)
    return raw, errors


def _status_codes(column: str, text: pd.Series) -> tuple[pd.Series, str]:
    if column == "OS_STATUS":
        return text.map(OS_STATUS), "'0:LIVING' or '1:DECEASED'"
    if column == "DFS_STATUS":
        return text.map(DFS_STATUS), "'0:DiseaseFree' or '1:Recurred/Progressed'"
    prefix = text.str.extract(r"^([01]):", expand=False)
    return prefix, "'0:<label>' (no event) or '1:<label>' (event), e.g. '1:PROGRESSION'"


def _specs(df: pd.DataFrame, path: Path) -> dict[str, ColumnSpec]:
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
class _Clinical:
    """One harmonised clinical file."""

    path: Path
    raw: pd.DataFrame
    frame: pd.DataFrame
    names: dict[str, str]


def _read_harmonised(path: Path, required: tuple[str, ...],
                     errors: list[CohortError]) -> _Clinical:
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
    return _Clinical(path, raw, h.frame, dict(h.column_names))


# --------------------------------------------------------------------------------------------
# Cancer type of the study
# --------------------------------------------------------------------------------------------


def read_cancer_types(path: Path) -> dict[str, tuple[str, str]]:
    """``type_of_cancer`` (lower case) -> (name, parent) from a cBioPortal cancer type file."""
    types = {}
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        fields = [f.strip() for f in line.split("\t")]
        if len(fields) >= 4 and fields[0] and not line.startswith("#"):
            types[fields[0].lower()] = (fields[1], fields[3])
    return types


def _oncotree_or_none(value: str) -> str | None:
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
                log.info("meta_study.txt: type_of_cancer %r read as %s (from %r in %s)", value,
                         code, candidate, files.cancer_types.name)
            return code
    raw = pd.DataFrame({"type_of_cancer": [value]})
    h = harmonise_frame(raw, {"cancer_type": ColumnSpec(column="type_of_cancer")},
                        file=files.study_meta,
                        rows=np.array([_meta_line(files.study_meta, "type_of_cancer") or 1]))
    errors.extend(h.errors)
    code = h.frame["cancer_type"].iloc[0] if "cancer_type" in h.frame else None
    return code if isinstance(code, str) else None


# --------------------------------------------------------------------------------------------
# Patients
# --------------------------------------------------------------------------------------------


def _patient_columns(sframe: pd.DataFrame) -> list[str]:
    return [c for c in sframe.columns
            if c not in _SAMPLE_LEVEL and c not in (SOURCE_ROW, "panel_size_mb")]


def _patient_groups(samples: _Clinical,
                    patients: _Clinical | None) -> list[tuple[pd.DataFrame, Path, dict]]:
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


def _patient_tables(groups: list[tuple[pd.DataFrame, Path, dict]], *, centre: str,
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


# --------------------------------------------------------------------------------------------
# Mutations, case lists, gene panel matrix
# --------------------------------------------------------------------------------------------


@dataclass
class _Mutations:
    """What the study's mutation files gave."""

    somatic: list[pd.DataFrame] = field(default_factory=list)
    germline: list[pd.DataFrame] = field(default_factory=list)
    samples_by_profile: dict[str, set[str]] = field(default_factory=dict)
    first_row: dict[str, tuple[Path, int]] = field(default_factory=dict)
    report: dict[str, int] = field(default_factory=dict)

    @property
    def samples(self) -> set[str]:
        """Samples with at least one somatic or germline row."""
        return set().union(*self.samples_by_profile.values()) if self.samples_by_profile \
            else set()


def _count_data_rows(path: Path) -> int:
    with path.open(encoding="utf-8", errors="replace") as fh:
        lines = sum(1 for line in fh if line.strip() and not line.startswith("#"))
    return max(lines - 1, 0)


def _undefined_samples(table: pd.DataFrame, defined: set[str], maf: Path,
                       samples_file: Path) -> list[CohortError]:
    """Rows whose sample is not in the sample file (checked per distinct sample ID)."""
    undefined = [s for s in pd.unique(table["sample_id"]) if str(s) not in defined]
    if not undefined:
        return []
    mask = table["sample_id"].isin(undefined)
    return _errors_at(mask, table[SOURCE_ROW].to_numpy(), maf, "Tumor_Sample_Barcode",
                      f"sample {{value!r}} is not defined in {samples_file.name}",
                      table["sample_id"].astype(object))


def read_mutations(files: StudyFiles, defined: set[str],
                   errors: list[CohortError]) -> _Mutations:
    """Read every mutation profile's file; rows of samples absent from the sample file are
    errors (cBioPortal: 'Sample ID not defined in clinical file')."""
    out = _Mutations()
    for profile in files.mutations:
        maf = read_maf(profile.data)
        for reason, count in maf.dropped.items():
            key = f"{profile.data.name}: {reason}"
            out.report[key] = out.report.get(key, 0) + count
        ids: set[str] = set()
        for table in (maf.mutations, maf.germline):
            errors.extend(_undefined_samples(table, defined, profile.data, files.samples))
            firsts = table.drop_duplicates("sample_id")
            for sid, row in zip(firsts["sample_id"].astype(str), firsts[SOURCE_ROW], strict=True):
                out.first_row.setdefault(sid, (profile.data, int(row)))
                ids.add(sid)
        out.somatic.append(maf.mutations)
        out.germline.append(maf.germline)
        out.samples_by_profile[profile.stable_id] = \
            out.samples_by_profile.get(profile.stable_id, set()) | ids
    for path in files.uncalled:
        out.report[f"{path.name}: MUTATION_UNCALLED profile, not variants (not read)"] = \
            _count_data_rows(path)
    return out


@dataclass(frozen=True)
class CaseList:
    """A case list file: its stable ID and sample IDs."""

    path: Path
    stable_id: str
    samples: tuple[str, ...]


def read_case_list(path: Path) -> CaseList:
    """Parse one ``case_lists/`` file (``key: value`` lines; ``case_list_ids`` tab-separated)."""
    meta = read_meta(path)
    ids = tuple(dict.fromkeys(s.strip() for s in meta.get("case_list_ids", "").split("\t")
                              if s.strip()))
    return CaseList(path, meta.get("stable_id", ""), ids)


def sequenced_case_list(folder: Path) -> CaseList | None:
    """The study's ``_sequenced`` case list (or the one of category
    ``all_cases_with_mutation_data``), None when there is none."""
    directory = folder / "case_lists"
    if not directory.is_dir():
        return None
    by_category = None
    for path in sorted(directory.iterdir()):
        if not path.is_file() or path.name.startswith(".") or path.name.endswith("~"):
            continue
        meta = read_meta(path)
        if meta.get("stable_id", "").split("_")[-1] == "sequenced":
            return read_case_list(path)
        if meta.get("case_list_category") == "all_cases_with_mutation_data" and not by_category:
            by_category = read_case_list(path)
    return by_category


def check_case_list(case_list: CaseList, defined: set[str], mutations: _Mutations,
                    samples_file: Path) -> list[CohortError]:
    """Case-list samples must be in the sample file; MAF samples must be in the case list."""
    row = _meta_line(case_list.path, "case_list_ids")
    undefined = [s for s in case_list.samples if s not in defined]
    errors = [CohortError(f"sample {s!r} of stable_id {case_list.stable_id!r} is not defined in "
                          f"{samples_file.name}", file=case_list.path, row=row,
                          column="case_list_ids") for s in undefined[:_MAX_LISTED]]
    listed = set(case_list.samples)
    missing = sorted(mutations.samples - listed)
    for sid in missing[:_MAX_LISTED]:
        maf, maf_row = mutations.first_row[sid]
        errors.append(CohortError(
            f"sample {sid!r} has mutation rows but is missing from the _sequenced case list "
            f"{case_list.path.name} (cBioPortal requires every mutation sample there)",
            file=maf, row=maf_row, column="Tumor_Sample_Barcode"))
    if len(missing) > _MAX_LISTED:
        errors.append(CohortError(f"... and {len(missing) - _MAX_LISTED} more such sample(s)",
                                  file=case_list.path, column="case_list_ids"))
    return errors


@dataclass
class PanelMatrix:
    """The gene panel matrix: the mutation panel of each listed sample (None = ``NA``)."""

    path: Path
    panels: dict[str, str | None]
    rows: dict[str, int]
    column: str | None


def read_panel_matrix(path: Path, stable_ids: list[str], defined: set[str],
                      errors: list[CohortError]) -> PanelMatrix:
    """Read the matrix; a duplicated or undefined sample is an error naming file and row."""
    try:
        raw = pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False, comment=None)
    except (pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise CohortError(f"malformed gene panel matrix ({exc})", file=path) from exc
    raw.columns = [str(c).strip() for c in raw.columns]
    if "SAMPLE_ID" not in raw.columns:
        raise CohortError("gene panel matrix needs a SAMPLE_ID column", file=path, row=1,
                          column="SAMPLE_ID")
    column = next((c for c in [*stable_ids, "mutations"] if c in raw.columns), None)
    panels: dict[str, str | None] = {}
    rows: dict[str, int] = {}
    undefined: list[tuple[str, int]] = []
    values = raw[column].fillna("").str.strip() if column else pd.Series("", index=raw.index)
    for i, sid in enumerate(raw["SAMPLE_ID"].fillna("").str.strip()):
        line = i + 2
        if sid in rows:
            errors.append(CohortError(f"sample {sid!r} is listed twice (first on line "
                                      f"{rows[sid]}); cBioPortal refuses duplicated samples",
                                      file=path, row=line, column="SAMPLE_ID"))
            continue
        rows[sid] = line
        if sid not in defined:
            undefined.append((sid, line))
        panels[sid] = None if values.iloc[i] in ("", "NA") else values.iloc[i]
    errors += [CohortError(f"sample {sid!r} is not defined in the sample file", file=path,
                           row=line, column="SAMPLE_ID") for sid, line in undefined[:_MAX_LISTED]]
    if len(undefined) > _MAX_LISTED:
        errors.append(CohortError(f"... and {len(undefined) - _MAX_LISTED} more such sample(s)",
                                  file=path, column="SAMPLE_ID"))
    return PanelMatrix(path, panels, rows, column)


def check_matrix_sequenced(matrix: PanelMatrix, case_list: CaseList) -> list[CohortError]:
    """A sample with a mutation panel must be in the ``_sequenced`` case list (cBioPortal)."""
    listed = set(case_list.samples)
    return [CohortError(f"sample {sid!r} has a mutation gene panel but is not in the "
                        f"_sequenced case list {case_list.path.name}", file=matrix.path,
                        row=matrix.rows[sid], column=matrix.column)
            for sid, panel in matrix.panels.items() if panel is not None and sid not in listed]


# --------------------------------------------------------------------------------------------
# Panels of the samples
# --------------------------------------------------------------------------------------------


def panel_name(value: object) -> object:
    """Canonical panel name when known (IMPACT468 -> MSK-IMPACT468, WXS -> WES), else as given."""
    if not isinstance(value, str):
        return value
    if value.strip().upper() in WHOLE_EXOME_VALUES:
        return "WES"
    try:
        return hz.to_panel(value)
    except CohortError:
        return value.strip()


def _profile_panel(sid: str, files: StudyFiles, mutations: _Mutations) -> str | None:
    """Panel a sequenced sample gets from its mutation profile's meta (gene_panel or WES)."""
    mine = [p for p in files.mutations if sid in mutations.samples_by_profile.get(p.stable_id,
                                                                                  ())]
    candidates = mine or files.mutations
    for profile in candidates:
        if profile.gene_panel:
            return profile.gene_panel
    if any(p.whole_exome for p in candidates):
        return "WES"
    return None


def sample_panels(sample_ids: pd.Series, sequenced: set[str], *, matrix: PanelMatrix | None,
                  attribute: pd.Series | None, files: StudyFiles,
                  mutations: _Mutations) -> pd.Series:
    """Panel of each sample: None when not sequenced (see the module docstring for the order)."""
    out = []
    for i, sid in enumerate(sample_ids):
        panel = None
        if sid in sequenced:
            panel = matrix.panels.get(sid) if matrix is not None else None
            if panel is None and attribute is not None and isinstance(attribute.iloc[i], str):
                panel = attribute.iloc[i]
            if panel is None:
                panel = _profile_panel(sid, files, mutations)
        out.append(panel_name(panel) if panel is not None else None)
    return pd.Series(out, index=sample_ids.index, dtype=object)


def panel_sizes(panels: pd.Series) -> pd.Series:
    """Territory (Mb) of each panel name; missing (with one warning per panel) when unknown."""
    sizes: dict[str, float] = {}
    for name in pd.unique(panels.dropna()):
        try:
            sizes[name] = hz.panel_size_mb(name)
        except CohortError:
            sizes[name] = np.nan
        if np.isnan(sizes[name]):
            log.warning("panel %r has no known size: panel_size_mb left missing for its %d "
                        "sample(s), so their TMB is the reported one or missing", name,
                        int((panels == name).sum()))
    return panels.map(sizes).astype(float)


def _sequenced(case_list: CaseList | None, sample_ids: pd.Series, *, matrix: PanelMatrix | None,
               attribute: pd.Series | None, mutations: _Mutations,
               files: StudyFiles) -> set[str]:
    """Samples profiled for mutations: the _sequenced list, else (older folders) samples with
    MAF rows or a panel."""
    if case_list is not None:
        return set(case_list.samples)
    if files.mutations:
        log.warning("%s: no _sequenced case list in case_lists/: samples with MAF rows or a "
                    "gene panel are taken as sequenced", files.folder.name)
    seq = set(mutations.samples)
    if matrix is not None:
        seq |= {s for s, p in matrix.panels.items() if p is not None}
    if attribute is not None:
        seq |= set(sample_ids[attribute.notna().to_numpy()])
    return seq


# --------------------------------------------------------------------------------------------
# Gene panels
# --------------------------------------------------------------------------------------------


def read_gene_panels(folder: Path) -> pd.DataFrame:
    """Read every ``*gene_panel*.txt`` panel definition into the ``panel_genes`` table."""
    rows: list[tuple[str, str]] = []
    for path in sorted(folder.glob("*gene_panel*.txt")):
        if "matrix" in path.name or META_NAME.search(path.name):
            continue
        panel, genes = None, []
        for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
            key, _, value = line.partition(":")
            if key.strip() == "stable_id":
                panel = value.strip()
            elif key.strip() == "gene_list":
                genes = [g.strip() for g in value.replace(",", "\t").split("\t") if g.strip()]
        if panel is None or not genes:
            raise CohortError("gene panel file needs 'stable_id:' and 'gene_list:' lines",
                              file=path)
        name = panel_name(panel)
        rows.extend((name, g) for g in dict.fromkeys(genes))
    if not rows:
        return empty_table("panel_genes")
    return pd.DataFrame(rows, columns=["panel", "hugo_symbol"])


# --------------------------------------------------------------------------------------------
# The loader
# --------------------------------------------------------------------------------------------


def _raise(errors: list[CohortError]) -> None:
    errors = dedupe(errors)
    if errors:
        raise errors[0] if len(errors) == 1 else CohortErrors(errors)


def _stack(tables: list[pd.DataFrame], empty: pd.DataFrame) -> pd.DataFrame:
    """Rows of several files' tables (the empty table when none has rows)."""
    tables = [t for t in tables if len(t)]
    if not tables:
        return empty
    return tables[0] if len(tables) == 1 else pd.concat(tables, ignore_index=True)


def _drop_unsequenced_tmb(sframe: pd.DataFrame, listed: set[str], path: Path) -> None:
    """A reported TMB of a sample outside the _sequenced case list is dropped (missing): the
    study itself says the sample was not profiled for mutations."""
    if "tmb" not in sframe:
        return
    outside = sframe["tmb"].notna() & ~sframe["sample_id"].isin(listed)
    if outside.any():
        log.warning("%s: %d sample(s) report a TMB but are not in the _sequenced case list, "
                    "e.g. %s: their TMB is set missing (not profiled is never a measurement)",
                    path.name, int(outside.sum()), sframe.loc[outside, "sample_id"].tolist()[:3])
        sframe.loc[outside, "tmb"] = np.nan


def _sample_table(samples: _Clinical, panels: pd.Series, names: dict[str, str],
                  listed: set[str] | None, errors: list[CohortError]) -> dict[str, pd.DataFrame]:
    """The validated samples table; ``listed``: the _sequenced case list's samples, if any."""
    sframe = samples.frame.copy()
    if "sample_id" not in sframe:  # reported by _read_harmonised
        return {}
    sframe["panel"] = panels.to_numpy()
    sframe["panel_size_mb"] = panel_sizes(panels).to_numpy()
    if listed is not None:
        _drop_unsequenced_tmb(sframe, listed, samples.path)
    stables = {"samples": split_tables(sframe)["samples"]}
    snames = {**samples.names, **names, "sample_id": "SAMPLE_ID", "patient_id": "PATIENT_ID"}
    errors.extend(validate_tables(stables, file=samples.path, column_names=snames))
    return stables


def load_cbioportal(folder: str | Path, *, centre: str | None = None) -> Cohort:
    """Load a cBioPortal study folder (see the module docstring for what is read and refused).

    Parameters
    ----------
    folder
        The study folder (with ``meta_study.txt``).
    centre
        Centre name (default: the study's ``cancer_study_identifier``).

    Returns
    -------
    Cohort
        Validated tables with the source IDs; ``load_report`` counts the MAF rows not kept as
        somatic or germline variants, by file and reason.

    Raises
    ------
    CohortError, CohortErrors
        Located at the source file, line and attribute.
    """
    files = find_study_files(Path(folder))
    centre = centre or files.study.get("cancer_study_identifier") or files.folder.name
    errors: list[CohortError] = []
    samples = _read_harmonised(files.samples, ("SAMPLE_ID", "PATIENT_ID"), errors)
    patients = (_read_harmonised(files.patients, ("PATIENT_ID",), errors)
                if files.patients is not None else None)
    groups = _patient_groups(samples, patients)
    needs_type = any("cancer_type" not in f or f["cancer_type"].isna().any()
                     for f, _, _ in groups)
    cancer_type = study_cancer_type(files, errors) if needs_type else None
    ptables = _patient_tables(groups, centre=centre, cancer_type=cancer_type, errors=errors)

    sample_ids = samples.frame.get("sample_id", pd.Series(dtype=object)).astype(object)
    defined = set(sample_ids.dropna())
    mutations = read_mutations(files, defined, errors)
    case_list = sequenced_case_list(files.folder)
    if case_list is not None:
        errors.extend(check_case_list(case_list, defined, mutations, files.samples))
    matrix = (read_panel_matrix(files.panel_matrix, [p.stable_id for p in files.mutations],
                                defined, errors) if files.panel_matrix else None)
    if matrix is not None and case_list is not None:
        errors.extend(check_matrix_sequenced(matrix, case_list))
    attribute = samples.raw["GENE_PANEL"] if "GENE_PANEL" in samples.raw else None
    sequenced = _sequenced(case_list, sample_ids, matrix=matrix, attribute=attribute,
                           mutations=mutations, files=files)
    panels = sample_panels(sample_ids, sequenced, matrix=matrix, attribute=attribute,
                           files=files, mutations=mutations)
    panel_source = f"{matrix.path.name}:{matrix.column}" if matrix else "GENE_PANEL"
    listed = set(case_list.samples) if case_list is not None else None
    stables = _sample_table(samples, panels, {"panel": panel_source,
                                              "panel_size_mb": panel_source}, listed, errors)
    _raise(errors)

    cohort = Cohort(**cast_tables({**ptables, **stables}))
    cohort.mutations = _stack(mutations.somatic, cohort.mutations)
    cohort.germline_mutations = _stack(mutations.germline, cohort.germline_mutations)
    cohort.load_report.update(mutations.report)
    cohort.panel_genes = read_gene_panels(files.folder)
    cohort.validate(source=files.folder)
    log.info("loaded cBioPortal study %s: %d patients, %d samples (%d with a panel), %d somatic "
             "and %d germline variants, dropped %s", centre, len(cohort.patients),
             len(cohort.samples), int(cohort.samples["panel"].notna().sum()),
             len(cohort.mutations), len(cohort.germline_mutations), mutations.report)
    return cohort
