"""Reading patient records: one record (dict, JSON text or file), many rows, a weekly list file.

Every problem is reported at once (:class:`RecordError` lists them with the field path).
"""

from __future__ import annotations

import json
import logging
import math
import re
from pathlib import Path
from typing import Any

import pandas as pd
from pydantic import ValidationError

from icipredict.cohort.schema import CohortError, CohortErrors
from icipredict.predict.record.model import PatientRecord, record_model

logger = logging.getLogger(__name__)


class RecordError(CohortErrors):
    """An invalid patient record; ``problems`` lists every ``{"field", "message"}`` at once."""

    def __init__(self, problems: list[dict[str, str]], *, source: str | None = None) -> None:
        self.problems = problems
        self.source = source
        super().__init__([CohortError(p["message"], file=source, column=p["field"])
                          for p in problems])
        lines = "\n".join(f"  - {p['field']}: {p['message']}" for p in problems)
        where = f" ({source})" if source else ""
        self.message = f"{len(problems)} problem(s) in patient record{where}:\n{lines}"


def problems_from(exc: ValidationError) -> list[dict[str, str]]:
    """Turn a pydantic ValidationError into ``[{"field": "a.b", "message": ...}]``."""
    out = []
    for e in exc.errors():
        loc = [str(p) for p in e["loc"]]
        # Union members add their type name to the path; keep only the user's field path.
        loc = [p for p in loc if p not in ("float", "Quantity", "str", "int", "bool", "Mutation",
                                           "function-before[_quantity()]", "none")
               and not p.startswith(("function-", "constrained-"))]
        msg = e["msg"].removeprefix("Value error, ")
        if e["type"] == "extra_forbidden":
            msg = "unknown field (not in the patient record schema; check the spelling)"
        if e["type"] == "missing":
            msg = "required field is missing"
        out.append({"field": ".".join(loc) or "(record)", "message": msg})
    # Unions report one failure per member: keep the first message per field path.
    seen: dict[str, dict[str, str]] = {}
    for p in out:
        seen.setdefault(p["field"], p)
    return list(seen.values())


def parse_record(data: dict[str, Any] | str | Path, *, source: str | None = None
                 ) -> PatientRecord:
    """Validate and harmonise one patient record.

    Parameters
    ----------
    data
        The record as a dict, a JSON string, or a path to a JSON file.
    source
        Name used in error messages (defaults to the file path).

    Returns
    -------
    PatientRecord
        With canonical units and vocabularies.

    Raises
    ------
    RecordError
        Listing every problem in the record.
    """
    if isinstance(data, Path) or (isinstance(data, str) and not data.lstrip().startswith("{")):
        path = Path(data)
        source = source or str(path)
        try:
            data = json.loads(path.read_text())
        except FileNotFoundError:
            raise RecordError([{"field": "(file)", "message": f"no such file {path}"}]) from None
        except json.JSONDecodeError as exc:
            raise RecordError([{"field": "(file)", "message": f"not valid JSON: {exc}"}],
                              source=source) from None
    elif isinstance(data, str):
        try:
            data = json.loads(data)
        except json.JSONDecodeError as exc:
            raise RecordError([{"field": "(record)", "message": f"not valid JSON: {exc}"}],
                              source=source) from None
    if not isinstance(data, dict):
        raise RecordError([{"field": "(record)", "message": "expected a JSON object"}],
                          source=source)
    dropped = sorted(str(k) for k, v in data.items() if isinstance(v, float) and math.isnan(v))
    if dropped:  # field names only, never values
        logger.warning("patient record%s: NaN in %s read as missing", f" ({source})" if source
                       else "", ", ".join(dropped))
        data = {k: v for k, v in data.items() if str(k) not in dropped}
    try:
        return record_model().model_validate(data)
    except ValidationError as exc:
        raise RecordError(problems_from(exc), source=source) from None


def parse_records(rows: list[dict[str, Any]], *, source: str | None = None
                  ) -> list[PatientRecord]:
    """Validate many records; every problem of every row is reported (field ``row N.field``)."""
    out, problems = [], []
    for i, row in enumerate(rows, start=1):
        try:
            out.append(parse_record(row))
        except RecordError as exc:
            pid = row.get("patient_id") if isinstance(row, dict) else None
            label = f"record {i}" + (f" ({pid})" if pid else "")
            problems += [{"field": f"{label}.{p['field']}", "message": p["message"]}
                         for p in exc.problems]
    if problems:
        raise RecordError(problems, source=source)
    return out


def read_record_list(path: str | Path) -> list[dict[str, Any]]:
    """Read a weekly list: CSV (one patient per row, units as "38 g/L") or a JSON list.

    A CSV has a header row of record fields (``patient_id``, ``cancer_type`` required, then any
    of the patient record schema's fields); a value may carry its unit (``38 g/L``); an empty
    cell is missing; ``mutations`` lists genes separated by ``;``. An example ships in
    ``examples/weekly.csv``.

    Raises
    ------
    CohortError
        Naming the file, when it is missing, unreadable, not UTF-8, or not a CSV/JSON list.
    """
    import pandas.errors

    path = Path(path)
    try:
        if path.suffix.lower() == ".json":
            rows = json.loads(path.read_text(encoding="utf-8"))
            if not isinstance(rows, list):
                raise CohortError("expected a JSON list of patient records", file=path)
            return rows
        df = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8")
    except FileNotFoundError:
        raise CohortError("the patient list file does not exist", file=path) from None
    except IsADirectoryError:
        raise CohortError("expected a patient list file (CSV or JSON), got a folder",
                          file=path) from None
    except PermissionError:
        raise CohortError("the patient list file cannot be read (permission denied)",
                          file=path) from None
    except UnicodeDecodeError:
        raise CohortError("the patient list is not UTF-8 text", file=path) from None
    except json.JSONDecodeError as exc:
        raise CohortError(f"not valid JSON: {exc.msg}", file=path, row=exc.lineno) from None
    except pandas.errors.EmptyDataError:
        raise CohortError("the patient list is empty (expected a header row of record fields, "
                          "see examples/weekly.csv)", file=path) from None
    except (pandas.errors.ParserError, OSError) as exc:
        raise CohortError(f"not a readable CSV patient list: {str(exc).strip()}",
                          file=path) from None
    rows = []
    for _, r in df.iterrows():
        row = {k: v for k, v in r.items() if v.strip() != ""}
        if "mutations" in row:  # "STK11;KEAP1" in a CSV cell
            row["mutations"] = [g.strip() for g in re.split(r"[;,]", row["mutations"])
                                if g.strip()]
        rows.append(row)
    return rows
