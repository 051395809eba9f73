"""The loaders' shared engine: source columns -> harmonised canonical columns -> contract tables.

A source table is read as it is (mostly strings), each mapped column is converted by
:func:`harmonise_frame` (recoding, vocabularies, units, event coding) into one *wide* canonical
frame that keeps ``_source_row``; :func:`split_tables` cuts that into the contract tables and
:func:`validate_tables` checks them with :func:`icipredict.cohort.schema.validate_table`, naming
the source file, the source row and the *source* column. All problems are collected, not only the
first. Everything is vectorised over the unique values of a column.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Collection, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from icipredict.cohort import harmonise as hz
from icipredict.cohort.column_map import ColumnSpec
from icipredict.cohort.schema import (
    CONTRACTS,
    SOURCE_ROW,
    CohortError,
    Column,
    validate_table,
)

log = logging.getLogger(__name__)

#: canonical column -> function normalising one (recoded) source value
VOCABULARIES: dict[str, Callable[[object], object]] = {
    "cancer_type": hz.to_oncotree,
    "drug_class": hz.drug_class,
    "bor": hz.to_recist,
    "panel": hz.to_panel,
    "msi_status": hz.to_msi_status,
    "sex": hz.to_sex,
    "smoking": hz.to_smoking,
}
MAX_PER_COLUMN = 5

#: What an unknown value of a vocabulary becomes when ingest is not strict: cancer types go to
#: the catch-all code, panels keep their name (their size is then unknown), everything else is
#: missing ("unknown"). Each distinct unknown value is warned about once per file and column.
UNKNOWN_VALUE_POLICY: dict[str, Callable[[object], object]] = {
    "cancer_type": lambda v: hz.OTHER_CANCER_TYPE,
    "panel": lambda v: str(v).strip(),
}
_STRICT_VOCABULARY: ContextVar[bool] = ContextVar("strict_vocabulary", default=False)
_VOCABULARY_NOTES: ContextVar[dict[str, int] | None] = ContextVar("vocabulary_notes",
                                                                   default=None)


@contextmanager
def vocabulary_policy(*, strict: bool = False) -> Iterator[dict[str, int]]:
    """Choose how loaders inside the block treat values outside a vocabulary.

    Parameters
    ----------
    strict
        True: an unknown cancer type, drug class, response, panel, sex, MSI status or smoking
        value is an error naming the file, row and column. False (the default): it is kept as
        :data:`UNKNOWN_VALUE_POLICY` says, with a warning per distinct value.

    Yields
    ------
    dict
        Filled with ``"<file>: <column> value '<v>' unknown, kept as <x>"`` -> number of rows,
        for the ingest report.
    """
    notes: dict[str, int] = {}
    strict_token = _STRICT_VOCABULARY.set(strict)
    notes_token = _VOCABULARY_NOTES.set(notes)
    try:
        yield notes
    finally:
        _STRICT_VOCABULARY.reset(strict_token)
        _VOCABULARY_NOTES.reset(notes_token)
_STATUS = re.compile(r"^\s*([01])\s*:")  # cBioPortal "1:DECEASED", "0:LIVING"


def column_def(name: str) -> Column:
    """The contract definition of canonical column ``name`` (first table that has it)."""
    for contract in CONTRACTS.values():
        if name in contract.column_names:
            return contract.column(name)
    raise KeyError(name)


def norm_key(value: object) -> str:
    """Key for matching source values to map keys: 1, 1.0, '1' and ' 1 ' agree; case-insensitive."""
    if isinstance(value, (bool, np.bool_)):
        return str(int(value))
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    text = str(value).strip()
    try:
        number = float(text)
    except ValueError:
        return text.lower()
    if np.isfinite(number) and number.is_integer():
        return str(int(number))
    return repr(number)


@dataclass
class Harmonised:
    """Result of :func:`harmonise_frame`."""

    frame: pd.DataFrame
    column_names: dict[str, str]
    errors: list[CohortError] = field(default_factory=list)


def harmonise_frame(
    raw: pd.DataFrame,
    specs: Mapping[str, ColumnSpec],
    *,
    file: str | Path,
    rows: np.ndarray,
    constants: Mapping[str, object] | None = None,
    id_prefix: str | None = None,
) -> Harmonised:
    """Convert the mapped source columns of ``raw`` to canonical columns and units.

    Parameters
    ----------
    raw
        The source table as read (one row per source line).
    specs
        canonical column -> how to read it.
    file
        Source file, named in errors.
    rows
        1-based source line of each row of ``raw`` (kept as ``_source_row``).
    constants
        canonical column -> value given for every row (harmonised like a column).
    id_prefix
        Prepended to ``patient_id`` and ``sample_id``.

    Returns
    -------
    Harmonised
        The wide canonical frame, the canonical -> source column names, and every problem found.
    """
    out = pd.DataFrame({SOURCE_ROW: np.asarray(rows, dtype=np.int64)}, index=raw.index)
    names: dict[str, str] = {}
    errors: list[CohortError] = []
    items = [(k, spec, raw[spec.column] if spec.column in raw.columns else None)
             for k, spec in specs.items()]
    missing = [spec.column for _, spec, s in items if s is None]
    for col in missing:
        errors.append(CohortError(
            f"column not found in the file (the column map expects it); available columns: "
            f"{list(raw.columns)[:40]}", file=file, column=col))
    for name, value in (constants or {}).items():
        items.append((name, ColumnSpec(column=f"constants.{name}"),
                      pd.Series([value] * len(raw), index=raw.index, dtype=object)))
    for canonical, spec, series in items:
        if series is None:
            continue
        names[canonical] = spec.column
        col_errors: list[CohortError] = []

        def fail(msg: str, mask: pd.Series, values: pd.Series, *, spec=spec,
                 col_errors=col_errors) -> None:
            for idx in mask.index[mask.to_numpy()][:MAX_PER_COLUMN]:
                col_errors.append(CohortError(msg.format(value=values[idx]), file=file,
                                              row=int(out.at[idx, SOURCE_ROW]),
                                              column=spec.column))
            if mask.sum() > MAX_PER_COLUMN:
                col_errors.append(CohortError(
                    f"... and {int(mask.sum()) - MAX_PER_COLUMN} more such value(s)", file=file,
                    column=spec.column))

        out[canonical] = _convert(canonical, spec, series, fail, file, col_errors)
        errors.extend(col_errors)
    if id_prefix:
        for key in ("patient_id", "sample_id"):
            if key in out.columns:
                out[key] = id_prefix + out[key].astype(object).where(out[key].notna())
    _derive(out, names)
    return Harmonised(out, names, errors)


def _clean(series: pd.Series) -> pd.Series:
    """Strip strings and turn empty strings into missing values."""
    if series.dtype == object or pd.api.types.is_string_dtype(series):
        s = series.astype(object).where(series.notna())
        stripped = s.map(lambda v: v.strip() if isinstance(v, str) else v)
        return stripped.mask(stripped.eq(""))
    return series


def _map_values(series: pd.Series, mapping: Mapping[str, object]) -> tuple[pd.Series, pd.Series]:
    """Map non-missing values through ``mapping`` (keys already :func:`norm_key`'d).

    Returns the mapped series and the mask of present values not in the mapping.
    """
    present = series.notna()
    keys = {u: norm_key(u) for u in pd.unique(series[present])}
    keyed = series.map(keys)
    known = keyed.isin(list(mapping))
    return keyed.map(mapping).where(known), present & ~known


def _convert(canonical: str, spec: ColumnSpec, series: pd.Series, fail, file, col_errors):
    col = column_def(canonical)
    s = _clean(series)
    if spec.values is not None:
        mapping = {norm_key(k): v for k, v in spec.values.items()}
        s_mapped, unknown = _map_values(s, mapping)
        fail(f"unexpected value {{value!r}}; the column map's values expects one of "
             f"{sorted(spec.values, key=str)}", unknown, s)
        s = s_mapped.where(~unknown)
    if canonical in VOCABULARIES:
        return _vocabulary(s, VOCABULARIES[canonical], fail, canonical=canonical,
                           column=spec.column, file=file)
    if col.kind == "str":
        return _as_id_string(s) if canonical.endswith("_id") else s.map(
            lambda v: v if not isinstance(v, str) else (v.lower() if canonical == "drug" else v))
    if col.kind == "date":
        parsed = pd.to_datetime(s, errors="coerce")
        fail("expected a date, got {value!r}", s.notna() & parsed.isna(), s)
        return parsed
    if col.kind == "bool01":
        s = _flag(canonical, spec, s, fail)
    numeric = pd.to_numeric(s, errors="coerce")
    fail("expected a number, got {value!r}", s.notna() & numeric.isna(), s)
    numeric = numeric.astype(float)
    if spec.unit is not None:
        try:
            numeric = hz.convert_units(numeric, canonical, spec.unit)
        except CohortError as exc:
            col_errors.append(CohortError(exc.message, file=file, column=spec.column))
    return numeric


def _vocabulary(s: pd.Series, fn: Callable[[object], object], fail, *, canonical: str,
                column: str, file: str | Path) -> pd.Series:
    mapping: dict[object, object] = {}
    bad: dict[object, str] = {}
    for u in pd.unique(s[s.notna()]):
        try:
            mapping[u] = fn(u)
        except CohortError as exc:
            bad[u] = exc.message
    if bad and not _STRICT_VOCABULARY.get():
        fallback = UNKNOWN_VALUE_POLICY.get(canonical, lambda v: None)
        notes = _VOCABULARY_NOTES.get()
        for value, message in bad.items():
            mapping[value] = kept = fallback(value)
            n = int(s.eq(value).sum())
            what = "missing (unknown)" if kept is None else repr(kept)
            log.warning("%s: column %s: %s (%d row(s)); kept as %s (a --strict ingest refuses "
                        "it)", Path(file).name, column, message, n, what)
            if notes is not None:
                notes[f"{Path(file).name}: {column} value {value!r} unknown, kept as {what}"] = n
        bad = {}
    out = s.map(mapping).astype(object)
    for value, message in list(bad.items())[:MAX_PER_COLUMN]:
        fail(message.replace("{", "{{").replace("}", "}}"), s.eq(value), s)
    return out.where(out.notna(), None)


def _flag(canonical: str, spec: ColumnSpec, s: pd.Series, fail) -> pd.Series:
    """0/1 flags: cBioPortal '1:DECEASED', yes/no, roman stages, and declared event coding."""
    present = s[s.notna()]
    if present.empty:
        return s
    as_text = present.astype(str)
    status = as_text.str.extract(_STATUS, expand=False)
    s = s.copy().astype(object)
    s.loc[status.index[status.notna()]] = status[status.notna()]
    if spec.event_value is not None:
        event = norm_key(spec.event_value)
        censor = spec.censor_value
        if censor is None and event in ("0", "1"):
            censor = 1 - int(event)
        if censor is None:
            fail("the column map gives event_value without censor_value", s.notna(), s)
            return s.where(s.isna(), np.nan)
        mapping = {event: 1, norm_key(censor): 0}
        mapped, unknown = _map_values(s, mapping)
        fail(f"expected {spec.event_value!r} (event) or {censor!r} (censored), got {{value!r}}",
             unknown, s)
        return mapped
    text = s.where(s.isna(), s.astype(str).str.strip().str.lower())
    vocab = hz._STAGE_IV if canonical == "stage_iv" else hz._YES_NO
    words = text.isin(list(vocab))
    if words.any():
        s = s.where(~words, text.map(vocab))
    return s


def _as_id_string(s: pd.Series) -> pd.Series:
    """IDs as strings; integral floats (8384.0 from a numeric column) become '8384'."""
    def fmt(v: object) -> object:
        if v is None or (isinstance(v, float) and np.isnan(v)):
            return None
        if isinstance(v, (float, np.floating)) and float(v).is_integer():
            return str(int(v))
        return str(v).strip()
    uniq = {u: fmt(u) for u in pd.unique(s[s.notna()])}
    return s.map(uniq).astype(object).where(s.notna(), None)


def _derive(out: pd.DataFrame, names: dict[str, str]) -> None:
    """Fill canonical columns that follow from others when the source does not give them."""
    if "nlr" not in out and {"neutrophils", "lymphocytes"} <= set(out.columns):
        lymph = out["lymphocytes"].where(out["lymphocytes"] > 0)
        out["nlr"] = out["neutrophils"] / lymph
        names["nlr"] = f"{names['neutrophils']}/{names['lymphocytes']}"
    if "responder" not in out and "bor" in out:
        out["responder"] = out["bor"].map({"CR": 1.0, "PR": 1.0, "SD": 0.0, "PD": 0.0,
                                           "NE": 0.0})
        names["responder"] = names["bor"]
    if "drug_class" not in out and "drug" in out:
        out["drug_class"] = out["drug"].map(_safe(hz.drug_class))
        names["drug_class"] = names["drug"]
    if "panel_size_mb" not in out and "panel" in out:
        out["panel_size_mb"] = out["panel"].map(_safe(hz.panel_size_mb)).astype(float)
        names["panel_size_mb"] = names["panel"]


def _safe(fn: Callable[[Any], object]) -> Callable[[object], object]:
    def wrapped(v: object) -> object:
        if v is None or (isinstance(v, float) and np.isnan(v)):
            return None
        try:
            return fn(v)
        except CohortError:
            return None
    return wrapped


def tables_in(frame: pd.DataFrame) -> list[str]:
    """Contract tables that ``frame`` provides a non-key column of.

    A file of samples or lesions (several rows per patient) gives no ``patients`` rows."""
    found = []
    for name, contract in CONTRACTS.items():
        if name in ("mutations", "germline_mutations", "panel_genes", "radiomics", "cna"):
            continue
        cols = set(contract.column_names) - {"patient_id", "centre"}
        if cols & set(frame.columns):
            found.append(name)
    return found


def split_tables(frame: pd.DataFrame, *, centre: str | None = None) -> dict[str, pd.DataFrame]:
    """Cut a wide canonical frame into the contract tables it provides (with ``_source_row``).

    ``samples`` gets ``sample_id = patient_id`` when the frame has sample columns but no sample ID
    (one sample per patient).
    """
    frame = frame.copy()
    if centre is not None:
        frame["centre"] = centre
    out: dict[str, pd.DataFrame] = {}
    for name in tables_in(frame):
        contract = CONTRACTS[name]
        if name == "samples" and "sample_id" not in frame.columns and "patient_id" in frame:
            frame["sample_id"] = frame["patient_id"]
        cols = [c for c in contract.column_names if c in frame.columns]
        out[name] = frame[[*cols, SOURCE_ROW]].reset_index(drop=True)
    return out


def validate_tables(
    tables: Mapping[str, pd.DataFrame],
    *,
    file: str | Path,
    column_names: Mapping[str, str],
    units: Mapping[str, str] | None = None,
    provided_elsewhere: Collection[str] = frozenset(),
) -> list[CohortError]:
    """Validate each table with :func:`validate_table`, naming ``file`` and the source columns.

    Required columns listed in ``provided_elsewhere`` (given by another file of the same source)
    get a placeholder so the rest of the table can still be checked. A duplicated patient is
    reported once (by the patients table), not once per table. Range errors on a column whose
    unit the map declared say so, since a wrong declared unit is the usual cause.
    """
    errors: list[CohortError] = []
    units = units or {}
    for name, df in tables.items():
        contract = CONTRACTS[name]
        check = df
        for col in contract.columns:
            if col.required and col.name not in df.columns and col.name in provided_elsewhere:
                check = check.assign(**{col.name: "<elsewhere>"})
        found = validate_table(check, name, source=file, column_names=dict(column_names),
                               raise_errors=False)
        for e in found:
            if name != "patients" and "duplicate key" in e.message and "patients" in tables:
                continue
            canonical = next((k for k, v in column_names.items() if v == e.column), None)
            if (canonical is not None and canonical in units and "plausible" in e.message
                    and "minimum 0 " not in e.message):
                e = CohortError(f"{e.message}; the column map declares unit {units[canonical]!r} "
                                "- is that the unit of these values?", file=e.file, row=e.row,
                                column=e.column)
            errors.append(e)
    return errors


def cast_tables(tables: Mapping[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
    """Give validated tables their contract dtypes (Int64 for int/0-1 columns)."""
    out = {}
    for name, df in tables.items():
        df = df.copy()
        for col in CONTRACTS[name].columns:
            if col.name not in df.columns:
                continue
            if col.kind in ("int", "bool01"):
                df[col.name] = pd.to_numeric(df[col.name], errors="coerce").round().astype("Int64")
            elif col.kind == "float":
                df[col.name] = pd.to_numeric(df[col.name], errors="coerce").astype(float)
            elif col.kind == "str":
                df[col.name] = df[col.name].astype(object).where(df[col.name].notna(), None)
        if SOURCE_ROW in df.columns:
            df[SOURCE_ROW] = df[SOURCE_ROW].astype("Int64")
        out[name] = df
    return out


def dedupe(errors: list[CohortError]) -> list[CohortError]:
    """Drop later errors at a (file, row, column) already reported (e.g. an unknown cancer type
    that validation would report again as a missing value)."""
    seen: set[tuple] = set()
    out = []
    for e in errors:
        key = (e.file, e.row, e.column)
        if e.row is not None and key in seen:
            continue
        seen.add(key)
        out.append(e)
    return out
