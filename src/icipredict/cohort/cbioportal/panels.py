"""Gene panels: the panel matrix, each sample's panel and its size, panel definitions."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import overload

import numpy as np
import pandas as pd

from icipredict.cohort import harmonise as hz
from icipredict.cohort.cbioportal.files import META_NAME, StudyFiles
from icipredict.cohort.cbioportal.mutations import CaseList, Mutations
from icipredict.cohort.cbioportal.rules import MAX_LISTED
from icipredict.cohort.schema import CohortError, empty_table

log = logging.getLogger(__name__)

WHOLE_EXOME_VALUES = ("WXS", "WGS", "WXS/WGS")


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
                           row=line, column="SAMPLE_ID") for sid, line in undefined[:MAX_LISTED]]
    if len(undefined) > MAX_LISTED:
        errors.append(CohortError(f"... and {len(undefined) - MAX_LISTED} more such sample(s)",
                                  file=path, column="SAMPLE_ID"))
    return PanelMatrix(path, panels, rows, column)


def check_matrix_sequenced(matrix: PanelMatrix, case_list: CaseList) -> list[CohortError]:
    """A sample with a mutation panel must be in the ``_sequenced`` case list (cBioPortal)."""
    listed = set(case_list.samples)
    return [CohortError(f"sample {sid!r} has a mutation gene panel but is not in the "
                        f"_sequenced case list {case_list.path.name}", file=matrix.path,
                        row=matrix.rows[sid], column=matrix.column)
            for sid, panel in matrix.panels.items() if panel is not None and sid not in listed]


@overload
def panel_name(value: str) -> str: ...
@overload
def panel_name(value: object) -> object: ...


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


def _profile_panel(sid: str, files: StudyFiles, mutations: Mutations) -> str | None:
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
                  mutations: Mutations) -> pd.Series:
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


def sequenced_samples(case_list: CaseList | None, sample_ids: pd.Series, *,
                      matrix: PanelMatrix | None, attribute: pd.Series | None,
                      mutations: Mutations, files: StudyFiles) -> set[str]:
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
