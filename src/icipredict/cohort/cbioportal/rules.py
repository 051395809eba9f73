"""cBioPortal's validator rules on clinical values: ID characters and survival statuses."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd

from icipredict.cohort.schema import CohortError

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


#: Errors listed one by one before the rest are counted.
MAX_LISTED = 5


def errors_at(mask: pd.Series, rows: np.ndarray, path: Path, column: str,
              message: str, values: pd.Series) -> list[CohortError]:
    """One error per flagged row (the first few), then a count of the rest."""
    hits = np.flatnonzero(mask.to_numpy())
    errors = [CohortError(message.format(value=values.iloc[i]), file=path, row=int(rows[i]),
                          column=column) for i in hits[:MAX_LISTED]]
    if len(hits) > MAX_LISTED:
        errors.append(CohortError(f"... and {len(hits) - MAX_LISTED} more such value(s)",
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
        errors += errors_at(bad, rows, path, column,
                            f"{column} {{value!r}} has characters cBioPortal does not allow; "
                            "IDs may contain only letters, digits, '.', '_' and '-'", values)
        if column == "SAMPLE_ID":
            long = present & (text.str.len() > MAX_SAMPLE_ID_LENGTH)
            errors += errors_at(long, rows, path, column,
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
        errors += errors_at(bad, rows, path, column,
                            f"{column} value {{value!r}} is not one cBioPortal accepts; "
                            f"expected {expected}", values)
        raw[column] = coded.where(values.notna(), None)
    return raw, errors


def _status_codes(column: str, text: pd.Series) -> tuple[pd.Series, str]:
    """A status column as ``0``/``1`` (NaN where not accepted) and what is accepted."""
    if column == "OS_STATUS":
        return text.map(OS_STATUS), "'0:LIVING' or '1:DECEASED'"
    if column == "DFS_STATUS":
        return text.map(DFS_STATUS), "'0:DiseaseFree' or '1:Recurred/Progressed'"
    prefix = text.str.extract(r"^([01]):", expand=False)
    return prefix, "'0:<label>' (no event) or '1:<label>' (event), e.g. '1:PROGRESSION'"
