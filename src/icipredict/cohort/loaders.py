"""Load a centre's data in its own format into a validated, harmonised :class:`Cohort`.

Three kinds of source (see :func:`load_source`):

- a cBioPortal study folder (:func:`icipredict.cohort.cbioportal.load_cbioportal`);
- generic tables (CSV/TSV/Parquet/XLSX) described by a YAML column map (:func:`load_column_map`,
  map format in :mod:`icipredict.cohort.column_map`);
- a MAF file, mutations only (:func:`icipredict.cohort.maf.load_maf`).

Every returned cohort is validated (errors name the source file, the 1-based source line and the
source column; all problems of a file are raised together as :class:`CohortErrors`). IDs stay the
source IDs: pseudonymisation happens in the store. The ``centre`` column comes from the map or the
``centre`` argument (the argument wins).
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np
import pandas as pd

from icipredict.cohort._frame import (
    Harmonised,
    cast_tables,
    dedupe,
    harmonise_frame,
    split_tables,
    validate_tables,
    vocabulary_policy,
)
from icipredict.cohort.cbioportal import load_cbioportal
from icipredict.cohort.column_map import ColumnMap, FileMap, read_column_map
from icipredict.cohort.maf import MafRead, load_maf, read_maf
from icipredict.cohort.schema import (
    CONTRACTS,
    SOURCE_ROW,
    Cohort,
    CohortError,
    CohortErrors,
    empty_table,
)

__all__ = ["load_cbioportal", "load_column_map", "load_maf", "load_source", "read_table"]

log = logging.getLogger(__name__)

_SEPARATORS = {".csv": ",", ".tsv": "\t", ".txt": "\t", ".tab": "\t"}


def read_table(
    path: str | Path,
    *,
    format: str | None = None,  # noqa: A002 - the column-map key is called "format"
    sheet: str | None = None,
    sep: str | None = None,
    na_values: list[str] | tuple[str, ...] = (),
) -> tuple[pd.DataFrame, np.ndarray]:
    """Read a source table as-is (text formats as strings) with the source line of each row.

    Parameters
    ----------
    path
        CSV/TSV (optionally ``.gz``), Parquet or XLSX file.
    format
        ``csv``, ``tsv``, ``parquet`` or ``xlsx``; default from the suffix.
    sheet
        XLSX sheet name (default: the first sheet).
    sep
        Field separator for text formats.
    na_values
        Extra strings meaning missing.

    Returns
    -------
    (DataFrame, ndarray)
        The table and the 1-based line of each row (header = line 1; Parquet: record number + 1).

    Raises
    ------
    CohortError
        Missing file, unknown format, missing sheet (listing the sheets), ragged rows.
    """
    path = Path(path)
    if not path.is_file():
        raise CohortError("data file not found", file=path)
    suffixes = [s.lower() for s in path.suffixes if s.lower() != ".gz"]
    fmt = (format or (suffixes[-1].lstrip(".") if suffixes else "")).lower()
    if fmt in ("xlsx", "xlsm", "xls"):
        df = _read_xlsx(path, sheet)
    elif fmt == "parquet":
        try:
            df = pd.read_parquet(path)
        except Exception as exc:  # pyarrow raises several types for a bad file
            raise CohortError(f"cannot read Parquet: {exc}", file=path) from exc
    elif fmt in ("csv", "tsv", "txt", "tab"):
        separator = sep or _SEPARATORS[f".{fmt}"]
        try:
            df = pd.read_csv(path, sep=separator, dtype=str, na_values=list(na_values),
                             keep_default_na=True, skipinitialspace=True)
        except pd.errors.ParserError as exc:
            raise CohortError(f"malformed table ({exc})", file=path,
                              row=_parser_line(str(exc))) from exc
        except (UnicodeDecodeError, OSError, EOFError) as exc:
            raise CohortError(f"cannot read file: {exc}", file=path) from exc
    else:
        raise CohortError(f"unknown table format {fmt!r}; expected csv, tsv, parquet or xlsx",
                          file=path)
    df.columns = [str(c).strip() for c in df.columns]
    return df.reset_index(drop=True), np.arange(2, len(df) + 2)


def _parser_line(message: str) -> int | None:
    import re

    m = re.search(r"line (\d+)", message)
    return int(m.group(1)) if m else None


def _read_xlsx(path: Path, sheet: str | None) -> pd.DataFrame:
    from openpyxl import load_workbook

    try:
        wb = load_workbook(path, read_only=True)
    except Exception as exc:  # zipfile/openpyxl raise several types for a bad workbook
        raise CohortError(f"cannot open XLSX workbook: {exc}", file=path) from exc
    sheets = list(wb.sheetnames)
    wb.close()
    if sheet is not None and sheet not in sheets:
        raise CohortError(f"sheet {sheet!r} does not exist; the workbook has sheets {sheets}",
                          file=path, column=None)
    return pd.read_excel(path, sheet_name=sheet if sheet is not None else 0, dtype=object,
                         engine="openpyxl")


def _shared_tail(path: Path) -> Path | None:
    parts = path.parts
    for i in range(len(parts) - 1):
        if parts[i] == "shared" and parts[i + 1] == "data":
            return Path(*parts[i + 2:]) if len(parts) > i + 2 else Path()
    return None


def resolve_data_path(cmap: ColumnMap, path: str, data_dir: str | Path | None = None) -> Path:
    """Resolve a data path written in a column map (see the column-map docs, "Data paths")."""
    p = Path(path).expanduser()
    if p.is_absolute():
        return p
    tail = _shared_tail(p)
    base = data_dir if data_dir is not None else os.environ.get("ICIPREDICT_SHARED_DATA")
    if tail is not None and base:
        return Path(base) / tail
    if data_dir is not None:
        return Path(data_dir) / p
    return cmap.resolve(path)


def load_column_map(
    column_map: str | Path | ColumnMap,
    *,
    centre: str | None = None,
    data_dir: str | Path | None = None,
) -> Cohort:
    """Load generic tables described by a YAML column map into a validated cohort.

    Parameters
    ----------
    column_map
        Path of the YAML column map, or a :class:`ColumnMap` already read.
    centre
        Centre name for every patient (default: the map's ``centre``).
    data_dir
        Base folder for the data paths (overrides ``shared/data`` paths and
        ``$ICIPREDICT_SHARED_DATA``; see :mod:`icipredict.cohort.column_map`).

    Returns
    -------
    Cohort
        Validated, harmonised tables (source IDs, ``_source_row`` kept).

    Raises
    ------
    CohortError, CohortErrors
        Every problem of the map and its files, each naming file, row and source column.
    """
    map_path: Path | None = None
    if not isinstance(column_map, ColumnMap):
        map_path = Path(column_map)
        column_map = read_column_map(map_path)
    centre = centre or column_map.centre
    if not centre:
        raise CohortError("no centre given: set 'centre:' in the column map or pass --centre",
                          file=map_path)
    if not column_map.files:
        raise CohortError("the column map lists no files", file=map_path)

    errors: list[CohortError] = []
    mapped = set()
    for fm in column_map.files:
        mapped |= set(fm.columns) | set(fm.constants)
    for col in CONTRACTS["patients"].columns:
        if col.required and col.name not in mapped and col.name != "centre":
            errors.append(CohortError(
                f"required canonical column {col.name!r} is mapped by no file ({col.description})",
                file=map_path, column=col.name))
    loaded = _read_mapped_files(column_map, map_path, data_dir, errors)
    provided = mapped | {c for _, _, h in loaded for c in h.frame.columns} | {"centre"}
    per_file: list[tuple[frozenset, Path, Harmonised, dict[str, pd.DataFrame]]] = []
    for fm, path, h in loaded:
        tables = split_tables(h.frame, centre=centre)
        units = {k: s.unit for k, s in fm.columns.items() if s.unit}
        errors.extend(validate_tables(tables, file=path, column_names=h.column_names,
                                      units=units, provided_elsewhere=provided))
        per_file.append((frozenset(fm.columns) | frozenset(fm.constants), path, h, tables))
    if not errors:  # joining needs clean files (and the patients' cancer type)
        combined, combine_errors = _combine(per_file)
        errors.extend(combine_errors)
    errors = dedupe(errors)
    if errors:
        raise errors[0] if len(errors) == 1 else CohortErrors(errors)

    cohort = Cohort(**cast_tables(combined))
    if column_map.mutations:
        _add_maf(cohort, read_maf(resolve_data_path(column_map, column_map.mutations, data_dir)))
    source = per_file[0][1] if len(per_file) == 1 else map_path
    cohort.validate(source=source)
    log.info("loaded %d patients of centre %s from %s", len(cohort.patients), centre,
             map_path or column_map.name)
    return cohort


def _read_mapped_files(column_map: ColumnMap, map_path: Path | None,
                       data_dir: str | Path | None,
                       errors: list[CohortError]) -> list[tuple[FileMap, Path, Harmonised]]:
    """Read and harmonise every file of a column map; problems are added to ``errors``."""
    loaded: list[tuple[FileMap, Path, Harmonised]] = []
    for i, fm in enumerate(column_map.files):
        if fm.path is None or "patient_id" not in fm.columns:
            errors.append(CohortError(
                f"files[{i}] needs a 'path' and must map 'patient_id'", file=map_path))
            continue
        path = resolve_data_path(column_map, fm.path, data_dir)
        try:
            raw, rows = read_table(path, format=fm.format, sheet=fm.sheet, sep=fm.sep,
                                   na_values=fm.na_values)
        except CohortError as exc:
            errors.append(exc)
            continue
        h = harmonise_frame(raw, fm.columns, file=path, rows=rows, constants=fm.constants,
                            id_prefix=fm.id_prefix)
        _resolve_uris(h.frame, path.parent)
        errors.extend(h.errors)
        loaded.append((fm, path, h))
    return loaded


def _combine(
    per_file: list[tuple[frozenset, Path, Harmonised, dict[str, pd.DataFrame]]],
) -> tuple[dict[str, pd.DataFrame], list[CohortError]]:
    """Stack files with the same canonical columns, join the stacks on patient_id."""
    errors: list[CohortError] = []
    groups: dict[frozenset, list] = {}
    for key, path, h, tables in per_file:
        groups.setdefault(key, []).append((path, h, tables))
    stacks = []
    for key, members in groups.items():
        seen: dict[str, tuple[Path, int]] = {}
        for path, h, tables in members:
            if "patients" not in tables:  # rows per sample/lesion: repeats are expected
                seen.update((pid, (path, 0)) for pid in h.frame["patient_id"])
                continue
            ids = h.frame["patient_id"]
            for pid, row in zip(ids, h.frame[SOURCE_ROW], strict=True):
                if pid in seen and seen[pid][0] != path:
                    errors.append(CohortError(
                        f"duplicate patient_id {pid!r}: also in {seen[pid][0]} row {seen[pid][1]}",
                        file=path, row=int(row), column=h.column_names.get("patient_id")))
                seen.setdefault(pid, (path, int(row)))
        stacked = {}
        for name in CONTRACTS:
            parts = [t[name] for _, _, t in members if name in t]
            if parts:
                stacked[name] = pd.concat(parts, ignore_index=True)
        stacks.append((key, members, stacked, set(seen)))
    overlap: set[str] = set()
    for i, (k1, _, _, _) in enumerate(stacks):
        for k2, _, _, _ in stacks[i + 1:]:
            overlap |= (k1 & k2) - {"patient_id", "sample_id"}
    if overlap:
        errors.append(CohortError(
            f"canonical column(s) {sorted(overlap)} given by files with different columns; "
            "a column may come from only one group of files"))
    if errors:
        return {}, errors
    # the primary stack holds the patients' cancer type; others attach to its patients
    stacks.sort(key=lambda s: "cancer_type" not in s[0])
    _, _, combined, primary_ids = stacks[0]
    for _, members, stacked, _ids in stacks[1:]:
        for path, h, _ in members:
            extra = ~h.frame["patient_id"].isin(primary_ids)
            for pid, row in zip(h.frame.loc[extra, "patient_id"][:5],
                                h.frame.loc[extra, SOURCE_ROW][:5], strict=True):
                errors.append(CohortError(
                    f"patient_id {pid!r} is not in the file(s) giving the cancer type",
                    file=path, row=int(row), column=h.column_names.get("patient_id")))
        for name, df in stacked.items():
            if name not in combined:
                combined[name] = df
                continue
            on = list(CONTRACTS[name].key)
            right = df.drop(columns=[SOURCE_ROW, "centre"], errors="ignore")
            combined[name] = combined[name].merge(right, on=on, how="left")
    for name in CONTRACTS:
        if name not in combined:
            combined[name] = empty_table(name)
    return combined, errors


def _add_maf(cohort: Cohort, maf: MafRead) -> None:
    """Put a read MAF into the cohort: somatic, germline and the dropped rows' reasons."""
    cohort.mutations = maf.mutations
    cohort.germline_mutations = maf.germline
    for reason, count in maf.dropped.items():
        key = f"{maf.path.name}: {reason}"
        cohort.load_report[key] = cohort.load_report.get(key, 0) + count


def _resolve_uris(frame: pd.DataFrame, folder: Path) -> None:
    """Make relative image/mask/radiomics paths absolute (relative to the data file's folder)."""
    for col in ("image_uri", "mask_uri", "radiomics_uri"):
        if col in frame.columns:
            frame[col] = frame[col].map(
                lambda v: v if not isinstance(v, str) or "://" in v or Path(v).is_absolute()
                else str((folder / v).resolve()))


def load_source(path: str | Path, *, centre: str | None = None,
                data_dir: str | Path | None = None, strict: bool = False) -> Cohort:
    """Load any supported source, chosen by what ``path`` is.

    - a folder with ``meta_study.txt`` -> cBioPortal study;
    - ``.yaml``/``.yml`` -> column map;
    - ``.maf``/``.maf.gz`` -> mutations only (a cohort whose other tables are empty).

    Parameters
    ----------
    strict
        Refuse values outside a vocabulary (cancer type, drug class, RECIST, panel, ...) instead
        of keeping them as ``OTHER``/missing with a warning (see
        :func:`icipredict.cohort._frame.vocabulary_policy`). Kept values are listed in the
        cohort's ``load_report``.

    Raises
    ------
    CohortError
        When the path is none of these.
    """
    with vocabulary_policy(strict=strict) as notes:
        cohort = _load_any(Path(path), centre=centre, data_dir=data_dir)
    for note, count in notes.items():
        cohort.load_report[note] = cohort.load_report.get(note, 0) + count
    return cohort


def _load_any(path: Path, *, centre: str | None, data_dir: str | Path | None) -> Cohort:
    path = Path(path)
    name = path.name.lower()
    if path.is_dir():
        if (path / "meta_study.txt").is_file():
            return load_cbioportal(path, centre=centre)
        raise CohortError("folder is not a cBioPortal study (no meta_study.txt); give a "
                          "cBioPortal folder, a column-map YAML or a MAF file", file=path)
    if not path.exists():
        raise CohortError("source not found", file=path)
    if name.endswith((".yaml", ".yml")):
        return load_column_map(path, centre=centre, data_dir=data_dir)
    if name.endswith((".maf", ".maf.gz")):
        cohort = Cohort()
        _add_maf(cohort, read_maf(path))
        return cohort
    raise CohortError("unknown source type; expected a cBioPortal study folder (with "
                      "meta_study.txt), a column-map .yaml/.yml, or a .maf/.maf.gz file",
                      file=path)
