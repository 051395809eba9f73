"""The loader: :func:`load_cbioportal` joins the files, clinical tables, mutations and panels."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd

from icipredict.cohort._frame import cast_tables, dedupe, split_tables, validate_tables
from icipredict.cohort.cbioportal.clinical import (
    Clinical,
    patient_groups,
    patient_tables,
    read_harmonised,
    study_cancer_type,
)
from icipredict.cohort.cbioportal.cna import read_cna_files
from icipredict.cohort.cbioportal.files import find_study_files
from icipredict.cohort.cbioportal.mutations import (
    check_case_list,
    read_mutations,
    sequenced_case_list,
)
from icipredict.cohort.cbioportal.panels import (
    check_matrix_sequenced,
    panel_sizes,
    read_gene_panels,
    read_panel_matrix,
    sample_panels,
    sequenced_samples,
)
from icipredict.cohort.schema import Cohort, CohortError, CohortErrors

log = logging.getLogger(__name__)


def _raise(errors: list[CohortError]) -> None:
    """Raise the collected errors (one, or all together), duplicates removed."""
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


def _sample_table(samples: Clinical, panels: pd.Series, names: dict[str, str],
                  listed: set[str] | None, errors: list[CohortError]) -> dict[str, pd.DataFrame]:
    """The validated samples table; ``listed``: the _sequenced case list's samples, if any."""
    sframe = samples.frame.copy()
    if "sample_id" not in sframe:  # reported by read_harmonised
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
    samples = read_harmonised(files.samples, ("SAMPLE_ID", "PATIENT_ID"), errors)
    patients = (read_harmonised(files.patients, ("PATIENT_ID",), errors)
                if files.patients is not None else None)
    groups = patient_groups(samples, patients)
    needs_type = any("cancer_type" not in f or f["cancer_type"].isna().any()
                     for f, _, _ in groups)
    cancer_type = study_cancer_type(files, errors) if needs_type else None
    ptables = patient_tables(groups, centre=centre, cancer_type=cancer_type, errors=errors)

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
    sequenced = sequenced_samples(case_list, sample_ids, matrix=matrix, attribute=attribute,
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
    cohort.cna = read_cna_files(files.cna, defined)
    cohort.validate(source=files.folder)
    log.info("loaded cBioPortal study %s: %d patients, %d samples (%d with a panel), %d somatic "
             "and %d germline variants, dropped %s", centre, len(cohort.patients),
             len(cohort.samples), int(cohort.samples["panel"].notna().sum()),
             len(cohort.mutations), len(cohort.germline_mutations), mutations.report)
    return cohort
