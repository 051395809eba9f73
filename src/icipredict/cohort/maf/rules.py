"""cBioPortal's validator rules on one block, and the parsing of numbers (positions, VAF)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from icipredict.cohort.maf.layout import (
    COUNT_COLUMNS,
    INVALID_SAMPLE_ID,
    VARIANT_CLASSIFICATIONS,
    Layout,
)
from icipredict.cohort.maf.text import Text
from icipredict.cohort.schema import MUTATIONS, SOURCE_ROW, CohortError


def _rule(errors: list[CohortError], mask: np.ndarray, lines: np.ndarray, path: Path,
          column: str, message, value=None) -> None:
    """Add an error at the first row where ``mask`` holds; ``message`` may take its value."""
    hits = np.flatnonzero(mask)
    if not len(hits):
        return
    idx = int(hits[0])
    text = message(value(idx)) if callable(message) else message
    more = f" ({len(hits)} such rows in this block)" if len(hits) > 1 else ""
    errors.append(CohortError(text + more, file=path, row=int(lines[idx]), column=column))


def strict_errors(text: dict[str, Text], lines: np.ndarray, path: Path) -> list[CohortError]:
    """cBioPortal's rules on one block (see the module docstring)."""
    errors: list[CohortError] = []
    for name in ("Tumor_Sample_Barcode", "Hugo_Symbol", "Variant_Classification"):
        _rule(errors, text[name].empty, lines, path, name, "empty value where one is required")
    sample = text["Tumor_Sample_Barcode"]
    _rule(errors, sample.rows(pc.match_substring_regex(sample.values, INVALID_SAMPLE_ID)),
          lines, path, "Tumor_Sample_Barcode",
          lambda v: f"sample ID {v!r} holds a space or one of , ; * : (cBioPortal allows only "
                    "letters, digits, points, underscores and hyphens)", sample.value)
    vc = text["Variant_Classification"]
    known = pc.is_in(vc.values, value_set=pa.array(VARIANT_CLASSIFICATIONS))
    _rule(errors, vc.rows(pc.invert(known)), lines, path, "Variant_Classification",
          lambda v: f"{v!r} is not a MAF Variant_Classification (case-sensitive){_hint(v)}",
          vc.value)
    if "Chromosome" in text:
        _rule(errors, text["Chromosome"].empty, lines, path, "Chromosome",
              "chromosome empty or NA: a variant needs a location")
    _rule(errors, _no_change(text), lines, path, "Tumor_Seq_Allele2",
          lambda v: f"tumour allele equal to the reference allele {v!r}: not a variant",
          text["Reference_Allele"].value if "Reference_Allele" in text else None)
    return errors


def _hint(value: str | None) -> str:
    """'; did you mean X?' when ``value`` is a known class in another case."""
    if value is None:
        return ""
    match = next((c for c in VARIANT_CLASSIFICATIONS if c.lower() == value.lower()), None)
    return f"; did you mean {match!r}?" if match else ""


def _no_change(text: dict[str, Text]) -> np.ndarray:
    """Rows whose tumour alleles (2, and 1 when given) all equal the reference allele."""
    ref, alt2 = text.get("Reference_Allele"), text.get("Tumor_Seq_Allele2")
    if ref is None or alt2 is None:
        return np.zeros(0, dtype=bool)
    same = (ref.codes >= 0) & (_in_codes_of(alt2, ref) == ref.codes)
    alt1 = text.get("Tumor_Seq_Allele1")
    if alt1 is not None:
        codes1 = _in_codes_of(alt1, ref)
        same &= (alt1.codes < 0) | (codes1 == ref.codes)
    return same


def _in_codes_of(column: Text, reference: Text) -> np.ndarray:
    """``column``'s rows as codes of ``reference``'s values (-2 where it has no such value)."""
    where = pc.index_in(column.values, value_set=reference.values)
    remap = np.append(pc.fill_null(where, -2).to_numpy(zero_copy_only=False), -2)
    return remap[column.codes]


def _numbers(values: pa.Array, lines: np.ndarray, path: Path, column: str,
             errors: list[CohortError]) -> np.ndarray:
    """Parse numbers (float64, NaN for empty); on failure add an error at the first bad value."""
    if not pa.types.is_string(values.type):  # parsed by the reader
        return pc.cast(values, pa.float64()).to_numpy(zero_copy_only=False)
    trimmed = pc.utf8_trim_whitespace(values)
    dot = pc.equal(trimmed, ".")  # cBioPortal accepts '.' for a missing read count
    for candidate in (values, pc.if_else(dot, pa.scalar(None, pa.string()), trimmed)):
        try:
            return pc.cast(candidate, pa.float64()).to_numpy(zero_copy_only=False)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            continue
    raw = pd.Series(trimmed.to_pandas()).replace({"": None, ".": None})
    bad = (raw.notna() & pd.to_numeric(raw, errors="coerce").isna()).to_numpy()
    _rule(errors, bad, lines, path, column, lambda v: f"expected a number, got {v!r}",
          lambda i: raw.iloc[i])
    return np.full(len(values), np.nan)


def start_positions(raw: pa.Array | None, lines: np.ndarray, path: Path, validate: bool,
                    errors: list[CohortError]) -> tuple[np.ndarray, np.ndarray]:
    """Start positions (int64) and their missing mask; whole numbers only when validating."""
    n = len(lines)
    if raw is None:
        return np.zeros(n, dtype=np.int64), np.ones(n, dtype=bool)
    column = "Start_Position"
    missing = pc.is_null(raw).to_numpy(zero_copy_only=False)
    if validate:
        _rule(errors, missing, lines, path, column,
              "start position empty or NA: a variant needs a location")
        values = _whole_numbers(raw, lines, path, errors)
    elif pa.types.is_integer(raw.type):
        values = pc.fill_null(raw, 0).to_numpy(zero_copy_only=False)
    else:
        numbers = _numbers(raw, lines, path, column, errors)
        missing = np.isnan(numbers)
        values = np.where(missing, 0, np.round(numbers)).astype(np.int64)
    return values, missing


def _whole_numbers(raw: pa.Array, lines: np.ndarray, path: Path,
                   errors: list[CohortError]) -> np.ndarray:
    """Start positions written as whole non-negative numbers (cBioPortal: ``isdigit``)."""
    if pa.types.is_integer(raw.type):  # parsed by the reader
        values = pc.fill_null(raw, 0).to_numpy(zero_copy_only=False)
        _rule(errors, values < 0, lines, path, "Start_Position",
              lambda v: f"start position {v!r} is not a whole number", lambda i: int(values[i]))
        return values
    try:
        values = pc.fill_null(pc.cast(raw, pa.int64()), 0).to_numpy(zero_copy_only=False)
        if not len(values) or values.min() >= 0:
            return values
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        pass
    trimmed = pc.utf8_trim_whitespace(raw)
    whole = pc.fill_null(pc.match_substring_regex(trimmed, r"^[0-9]+$"), True)
    _rule(errors, pc.invert(whole).to_numpy(zero_copy_only=False), lines, path,
          "Start_Position", lambda v: f"start position {v!r} is not a whole number",
          lambda i: trimmed[i].as_py())
    if pc.all(whole).as_py():
        return pc.fill_null(pc.cast(trimmed, pa.int64()), 0).to_numpy(zero_copy_only=False)
    return np.zeros(len(raw), dtype=np.int64)


def vaf_values(raw: dict[str, pa.Array], layout: Layout, lines: np.ndarray, path: Path,
               errors: list[CohortError]) -> np.ndarray:
    """VAF as read (percent scaling is decided on the whole file), or from the read counts."""
    if layout.vaf is not None:
        return _numbers(raw[layout.vaf], lines, path, layout.vaf, errors)
    if all(c in raw for c in COUNT_COLUMNS):
        alt = _numbers(raw["t_alt_count"], lines, path, "t_alt_count", errors)
        ref = _numbers(raw["t_ref_count"], lines, path, "t_ref_count", errors)
        depth = alt + ref
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(depth > 0, alt / np.where(depth > 0, depth, 1), np.nan)
    return np.full(len(lines), np.nan)


def check_vaf(df: pd.DataFrame, path: Path, column: str) -> None:
    """VAF within the contract's range (after the percent rule)."""
    spec = MUTATIONS.column("vaf")
    vaf = df["vaf"].to_numpy()
    bad = (vaf < spec.minimum) | (vaf > spec.maximum)
    if bad.any():
        idx = int(np.flatnonzero(bad)[0])
        raise CohortError(f"mutations: VAF {vaf[idx]!r} outside [{spec.minimum}, {spec.maximum}]"
                          f" ({int(bad.sum())} such rows)", file=path,
                          row=int(df[SOURCE_ROW].iloc[idx]), column=column)
