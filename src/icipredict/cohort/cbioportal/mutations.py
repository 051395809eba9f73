"""Mutation files and case lists: every MAF row accounted for, and who was sequenced."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from icipredict.cohort.cbioportal.files import StudyFiles, meta_line, read_meta
from icipredict.cohort.cbioportal.rules import MAX_LISTED, errors_at
from icipredict.cohort.maf import read_maf
from icipredict.cohort.schema import SOURCE_ROW, CohortError


@dataclass
class Mutations:
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
    """Data rows of a tab-separated file (non-blank, non-``#`` lines after the header)."""
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
    return errors_at(mask, table[SOURCE_ROW].to_numpy(), maf, "Tumor_Sample_Barcode",
                     f"sample {{value!r}} is not defined in {samples_file.name}",
                     table["sample_id"].astype(object))


def read_mutations(files: StudyFiles, defined: set[str],
                   errors: list[CohortError]) -> Mutations:
    """Read every mutation profile's file; rows of samples absent from the sample file are
    errors (cBioPortal: 'Sample ID not defined in clinical file')."""
    out = Mutations()
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


def check_case_list(case_list: CaseList, defined: set[str], mutations: Mutations,
                    samples_file: Path) -> list[CohortError]:
    """Case-list samples must be in the sample file; MAF samples must be in the case list."""
    row = meta_line(case_list.path, "case_list_ids")
    undefined = [s for s in case_list.samples if s not in defined]
    errors = [CohortError(f"sample {s!r} of stable_id {case_list.stable_id!r} is not defined in "
                          f"{samples_file.name}", file=case_list.path, row=row,
                          column="case_list_ids") for s in undefined[:MAX_LISTED]]
    listed = set(case_list.samples)
    missing = sorted(mutations.samples - listed)
    for sid in missing[:MAX_LISTED]:
        maf, maf_row = mutations.first_row[sid]
        errors.append(CohortError(
            f"sample {sid!r} has mutation rows but is missing from the _sequenced case list "
            f"{case_list.path.name} (cBioPortal requires every mutation sample there)",
            file=maf, row=maf_row, column="Tumor_Sample_Barcode"))
    if len(missing) > MAX_LISTED:
        errors.append(CohortError(f"... and {len(missing) - MAX_LISTED} more such sample(s)",
                                  file=case_list.path, column="case_list_ids"))
    return errors
