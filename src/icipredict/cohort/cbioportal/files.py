"""A study folder's files by role: meta files, the data files they name, conventional names."""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from pathlib import Path

from icipredict.cohort.schema import CohortError

log = logging.getLogger(__name__)

#: cBioPortal's test for a meta file name (validateData.process_metadata_files).
META_NAME = re.compile(r"(\b|_)meta(\b|[_0-9])", re.IGNORECASE)


_EXOME_WORDS = re.compile(r"exome|\bwes\b|\bwxs\b|whole[- ]genome|\bwgs\b", re.IGNORECASE)


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
    cna: list[Path] = field(default_factory=list)

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


def meta_line(path: Path, key: str) -> int | None:
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
                          file=meta_path, row=meta_line(meta_path, "data_filename"),
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
    samples = _clinical_file(folder, roles, "samples")
    assert samples is not None  # _clinical_file raises when a study has no sample file
    files = StudyFiles(folder=folder, study=read_meta(meta_path), samples=samples,
                       patients=_clinical_file(folder, roles, "patients"))
    files.mutations = _mutation_profiles(folder, roles)
    files.uncalled = [_data_file(folder, p, m) for p, m in roles.get("uncalled", [])]
    files.cna = [_data_file(folder, p, m) for p, m in roles.get("cna", [])]
    files.panel_matrix = _single_file(folder, roles, "matrix", "data_gene_panel_matrix.txt")
    files.cancer_types = _single_file(folder, roles, "cancer_type", None)
    return files


def _meta_role(meta: dict[str, str]) -> str | None:
    """The role of a meta file's data (``samples``, ``mutations``, ...), None when unused."""
    kind = (meta.get("genetic_alteration_type", "").upper(), meta.get("datatype", "").upper())
    return {("CLINICAL", "SAMPLE_ATTRIBUTES"): "samples",
            ("CLINICAL", "PATIENT_ATTRIBUTES"): "patients",
            ("MUTATION_EXTENDED", "MAF"): "mutations",
            ("MUTATION_UNCALLED", "MAF"): "uncalled",
            ("GENE_PANEL_MATRIX", "GENE_PANEL_MATRIX"): "matrix",
            ("COPY_NUMBER_ALTERATION", "DISCRETE"): "cna",
            ("COPY_NUMBER_ALTERATION", "DISCRETE_LONG"): "cna",
            ("CANCER_TYPE", "CANCER_TYPE"): "cancer_type"}.get(kind)


_CONVENTIONAL = {"samples": ("data_clinical_sample.txt", "data_clinical_samples.txt"),
                 "patients": ("data_clinical_patient.txt", "data_clinical_patients.txt")}


def _clinical_file(folder: Path, roles: dict, role: str) -> Path | None:
    """The sample or patient file: from its one meta file, else by its conventional name."""
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
    """The data file of a one-file role: its meta file's, else the conventional name."""
    found = roles.get(role, [])
    if found:
        return _data_file(folder, *found[0])
    if conventional and (folder / conventional).is_file():
        return folder / conventional
    return None


def _mutation_profiles(folder: Path, roles: dict) -> list[MutationProfile]:
    """The ``MUTATION_EXTENDED`` profiles; without meta files, the conventional mutation files."""
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
